"""``smoulder spms``: conversion to secondary progressive MS (Lorscheider 2016, CORe rule)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

#: flag -> (settings field, MSoutcomes spmsDx name or None, help)
_NUMERIC = {
    "--min-edss": ("min_edss", "minEDSS", "minimum EDSS at conversion (default 4)"),
    "--min-pyramidal": (
        "min_pyramidal",
        "minFSpyr",
        "minimum pyramidal FS score at conversion (default 2; 0 = no requirement)",
    ),
    "--pyramidal-waived-from": (
        "pyramidal_waived_from",
        None,
        "EDSS from which the pyramidal requirement counts as met (default 5.5; 'inf' = never)",
    ),
    "--relapse-free-days": (
        "relapse_free_days",
        "tRelapse",
        "days after a relapse onset during which visits are near the relapse (default 30)",
    ),
    "--confirmation-days": (
        "confirmation_days",
        "tProgression",
        "days the worsening and the leading FS must last (default 3 x 30.25 = 90.75)",
    ),
    "--improvement-days": (
        "improvement_days",
        "tRegression",
        "days an improvement must last to move the baseline (default 9 x 30.25 = 272.25)",
    ),
    "--rebaseline-days": (
        "rebaseline_days",
        "tRelProg",
        "days a post-relapse EDSS must stay within one step to become the baseline "
        "(default 6 x 30.25 = 181.5)",
    ),
    "--step-from-zero": ("step_from_zero", None, "minimal worsening from EDSS 0 (default 1.5)"),
    "--step": ("step", None, "minimal worsening below --half-step-from (default 1.0)"),
    "--step-high": ("step_high", None, "minimal worsening from --half-step-from (default 0.5)"),
    "--half-step-from": (
        "half_step_from",
        None,
        "baseline EDSS from which --step-high applies (default 6.0)",
    ),
    "--improvement-step": (
        "improvement_step",
        None,
        "EDSS decrease that counts as improvement (default 0.5)",
    ),
    "--tolerated-dips": (
        "tolerated_dips",
        None,
        "consecutive non-worsened visits a worsening bridges (default 1)",
    ),
    "--min-visits": ("min_visits", None, "visits with an EDSS needed to be assessed (default 3)"),
}
_FLAG_OF = {field: flag for flag, (field, _, _) in _NUMERIC.items()}
_FLAG_OF.update(
    {
        "confirm_leading_fs": "--no-leading-fs-confirmation",
        "sustained_to_end": "--not-sustained",
        "missing_fs_confirms": "--strict-fs",
    }
)


def _number(text: str) -> float:
    if text.strip().lower() in ("inf", "infinity", "never"):
        return float("inf")
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spms",
        help="conversion to secondary progressive MS (Lorscheider 2016, as MSoutcomes' spmsDx)",
        description=(
            "Identify conversion to secondary progressive MS with the objective definition of "
            "Lorscheider et al. (Brain 2016) as CORe operationalised it in MSoutcomes' spmsDx: "
            "EDSS worsening without relapse reaching EDSS 4 with a pyramidal score of 2, "
            "confirmed for 3 months including in the leading functional system and sustained "
            "to the last visit. Writes one row per subject."
        ),
    )
    p.add_argument("visits", type=Path, help="visits table (CSV, TSV or Parquet)")
    p.add_argument("--relapses", type=Path, help="relapse onsets (subject and onset date)")
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date", help="visit date column (ISO dates)")
    p.add_argument("--edss-col", default="edss")
    p.add_argument(
        "--fs-cols",
        nargs="+",
        metavar="COL",
        default=None,
        help="functional-system columns in the order pyramidal cerebellar brainstem sensory "
        "bowel/bladder visual cerebral ('none' for a system not recorded)",
    )
    p.add_argument("--ambulation-col", default=None, help="ambulation score column")
    p.add_argument(
        "--ambulation-scale",
        choices=["neurostatus", "imed"],
        default="neurostatus",
        help="range of the ambulation score: 0-16 (Neurostatus) or 0-13 (MSBase iMed)",
    )
    p.add_argument(
        "--days-since-relapse-col",
        default=None,
        help="column of days since the most recent relapse (MSoutcomes' daysPostRelapse; "
        "the sign is ignored)",
    )
    p.add_argument("--relapse-subject-col", default=None, help="default --subject-col")
    p.add_argument("--relapse-date-col", default=None, help="onset column (default --date-col)")
    p.add_argument(
        "--on-duplicate",
        choices=["error", "first", "last", "max", "min", "mean"],
        default="error",
        help="several visits of one subject on one day",
    )
    g = p.add_argument_group("definition (MSoutcomes spmsDx names in brackets)")
    for flag, (field, peer, text) in _NUMERIC.items():
        kind = int if field in ("tolerated_dips", "min_visits") else _number
        g.add_argument(
            flag, dest=field, type=kind, default=None, help=text + (f" [{peer}]" if peer else "")
        )
    g.add_argument(
        "--no-leading-fs-confirmation",
        dest="confirm_leading_fs",
        action="store_const",
        const=False,
        default=None,
        help="do not require confirmation within the leading functional system",
    )
    g.add_argument(
        "--not-sustained",
        dest="sustained_to_end",
        action="store_const",
        const=False,
        default=None,
        help="do not require the worsening to last to the last visit",
    )
    g.add_argument(
        "--strict-fs",
        dest="missing_fs_confirms",
        action="store_const",
        const=False,
        default=None,
        help="the leading system must be scored at the confirming visit (spmsDx counts visits "
        "without scores as confirming)",
    )
    g.add_argument(
        "--settings", type=Path, default=None, help="TOML settings file ([spms]); flags win"
    )
    p.add_argument("--out", type=Path, required=True, help="output table (.csv or .parquet)")
    p.add_argument("--no-plots", action="store_true", help="skip the conversion curve")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print counts and files as JSON")
    p.set_defaults(func=run)


def restate(exc: Any, flags: dict[str, str]) -> Any:
    """A settings error restated with the command-line flag of its parameter."""
    from smoulder.exceptions import SettingsError

    param = getattr(exc, "parameter", None) or ""
    flag = flags.get(param.split(".")[0])
    if not flag:
        return exc
    text = str(exc)
    if text.startswith(param):
        text = flag + text[len(param) :]
    else:
        text = f"{flag}: {text}"
    out = SettingsError(text)
    out.parameter, out.given = exc.parameter, exc.given
    return out


def run(ns: argparse.Namespace) -> int:
    from smoulder.clinical.spms import SPMSSettings
    from smoulder.exceptions import SettingsError
    from smoulder.pipelines import spms as pipeline

    t0 = time.perf_counter()
    fields = [f for f, _, _ in _NUMERIC.values()] + [
        "confirm_leading_fs",
        "sustained_to_end",
        "missing_fs_confirms",
    ]
    overrides = {f: getattr(ns, f) for f in fields if getattr(ns, f) is not None}
    try:
        base = SPMSSettings.from_toml(_read(ns.settings)) if ns.settings else SPMSSettings()
        s = base.replace(**overrides) if overrides else base
    except SettingsError as exc:
        raise restate(exc, _FLAG_OF) from None
    result = pipeline.run(
        ns.visits,
        ns.relapses,
        subject_col=ns.subject_col,
        date_col=ns.date_col,
        edss_col=ns.edss_col,
        fs_cols=ns.fs_cols,
        ambulation_col=ns.ambulation_col,
        days_since_relapse_col=ns.days_since_relapse_col,
        relapse_subject_col=ns.relapse_subject_col,
        relapse_date_col=ns.relapse_date_col,
        ambulation_scale=ns.ambulation_scale,
        on_duplicate=ns.on_duplicate,
        settings=s,
        out=ns.out,
        plots=not ns.no_plots,
    )
    summary = result.summary
    counts = {
        "subjects": int(len(summary)),
        "assessed": int(summary["status"].isin(["converted", "not met"]).sum()),
        "converted": result.n_converted,
    }
    stem = ns.out.with_suffix("")
    files = {
        "spms": str(ns.out),
        "settings": f"{stem}_settings.toml",
        "methods": f"{stem}_methods.txt",
    }
    elapsed = time.perf_counter() - t0
    if ns.json:
        print(json.dumps({"counts": counts, "files": files, "seconds": round(elapsed, 3)}))
    elif not ns.quiet:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"{counts['subjects']:,} subjects ({counts['assessed']:,} assessed): "
            f"{counts['converted']:,} met the SPMS definition in {elapsed:.2f} s\n"
            f"table: {ns.out}\nsettings: {files['settings']}\nmethods: {files['methods']}"
        )
    return 0


def _read(path: Path) -> str:
    from smoulder.exceptions import SettingsError

    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"--settings {path}: cannot read ({exc.strerror})") from None
