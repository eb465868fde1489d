"""``smoulder neda``: NEDA-3 / NEDA-4 per person and period, and treatment epochs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

_FLAGS = {
    "periods": "--periods",
    "bvl_threshold_pct": "--bvl-threshold",
    "min_bvl_days": "--min-bvl-days",
    "bvl_anchor_days": "--bvl-anchor-days",
    "lag_days": "--lag-days",
    "lag_attribution": "--lag-attribution",
    "confidence": "--confidence",
    "progression": "--conf-days / --baseline",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "neda",
        help="no evidence of disease activity (NEDA-3/4) per period; treatment epochs and rates",
        description=(
            "NEDA-3 (no relapse, no confirmed disability worsening, no MRI activity) and NEDA-4 "
            "(plus annualised brain volume loss below 0.4 %%/year) per person and per period. "
            "With --treatments, every relapse, PIRA/RAW worsening and active scan is labelled "
            "with the treatment it happened on, and annualised rates per drug, class and "
            "efficacy group are written with exact Poisson confidence intervals."
        ),
    )
    p.add_argument("visits", type=Path, help="visits table: subject, date, EDSS")
    p.add_argument("--relapses", type=Path, help="relapse onsets")
    p.add_argument("--mri", type=Path, help="MRI scans: subject, date, activity [, brain volume]")
    p.add_argument("--treatments", type=Path, help="treatment courses: subject, drug, start, stop")
    p.add_argument(
        "--periods",
        choices=["calendar_year", "whole", "treatment", "custom"],
        default=None,
        help="how each subject's follow-up is cut (default calendar_year)",
    )
    p.add_argument("--periods-table", type=Path, help="custom periods: subject, period, start, end")
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument("--edss-col", default="edss")
    p.add_argument("--relapse-date-col", default=None)
    p.add_argument("--mri-date-col", default=None)
    p.add_argument("--mri-active-col", default="active")
    p.add_argument("--volume-col", default=None, help="brain volume column of --mri (NEDA-4)")
    p.add_argument("--drug-col", default="drug")
    p.add_argument("--start-col", default="start")
    p.add_argument("--stop-col", default="stop")
    p.add_argument("--class-col", default=None, help="drug class column (for drugs not listed)")
    p.add_argument(
        "--on-duplicate",
        choices=["error", "first", "last", "max", "min", "mean"],
        default="error",
    )
    g = p.add_argument_group("definitions")
    g.add_argument("--bvl-threshold", dest="bvl_threshold_pct", type=float, default=None,
                   help="annualised brain volume loss (%%/year) that fails NEDA-4 (default 0.4)")  # fmt: skip
    g.add_argument("--min-bvl-days", type=float, default=None, help="default 180")
    g.add_argument("--bvl-anchor-days", type=float, default=None, help="default 400")
    g.add_argument("--lag-days", type=float, default=None,
                   help="days after a start, switch or stop that belong to what came before")  # fmt: skip
    g.add_argument("--lag-attribution", choices=["previous", "exclude"], default=None)
    g.add_argument("--confidence", type=float, default=None, help="default 0.95")
    g.add_argument("--conf-days", type=float, nargs="+", default=None,
                   help="confirmation of disability worsening in days (progression engine; default 84)")  # fmt: skip
    g.add_argument("--baseline", choices=["fixed", "roving", "roving_impr", "roving_wors"],
                   default=None, help="baseline scheme for confirmed worsening")  # fmt: skip
    g.add_argument("--settings", type=Path, default=None,
                   help="TOML settings ([neda], [epochs] tables); flags win")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="per-period table (.csv or .parquet)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    import tomllib

    from smoulder.cli.spms import restate
    from smoulder.clinical.epochs import EpochSettings
    from smoulder.clinical.neda import NEDASettings
    from smoulder.exceptions import SettingsError
    from smoulder.pipelines import neda as pipeline

    t0 = time.perf_counter()
    data: dict = {}
    if ns.settings is not None:
        try:
            data = tomllib.loads(ns.settings.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"--settings {ns.settings}: cannot read ({exc})") from None
    prog = dict(data.get("neda", {}).get("progression", {}))
    if ns.conf_days is not None:
        prog["conf_days"] = ns.conf_days
    if ns.baseline is not None:
        prog["baseline"] = ns.baseline
    periods = ns.periods or ("custom" if ns.periods_table else None)
    try:
        s = NEDASettings.from_mapping(
            data.get("neda", {}),
            periods=periods,
            bvl_threshold_pct=ns.bvl_threshold_pct,
            min_bvl_days=ns.min_bvl_days,
            bvl_anchor_days=ns.bvl_anchor_days,
            progression=prog or None,
        )
        es = EpochSettings.from_mapping(
            data.get("epochs", {}),
            lag_days=ns.lag_days,
            lag_attribution=ns.lag_attribution,
            confidence=ns.confidence,
        )
    except SettingsError as exc:
        raise restate(exc, _FLAGS) from None
    if s.periods == "treatment" and ns.treatments is None:
        raise SettingsError("--periods treatment needs --treatments")
    if s.periods == "custom" and ns.periods_table is None:
        raise SettingsError("--periods custom needs --periods-table")
    result = pipeline.run(
        ns.visits, ns.relapses, ns.mri, ns.treatments, ns.periods_table,
        subject_col=ns.subject_col, date_col=ns.date_col, edss_col=ns.edss_col,
        relapse_date_col=ns.relapse_date_col, mri_date_col=ns.mri_date_col,
        mri_active_col=ns.mri_active_col, volume_col=ns.volume_col, drug_col=ns.drug_col,
        start_col=ns.start_col, stop_col=ns.stop_col or None, class_col=ns.class_col,
        on_duplicate=ns.on_duplicate, settings=s, epoch_settings=es, out=ns.out,
        plots=not ns.no_plots,
    )  # fmt: skip
    persons = result.persons
    known = persons["neda3"].dropna()
    counts = {
        "subjects": int(len(persons)),
        "periods": int(len(result.periods)),
        "neda3_known": int(len(known)),
        "neda3": int(known.astype(bool).sum()),
    }
    elapsed = time.perf_counter() - t0
    if ns.json:
        print(json.dumps({"counts": counts, "out": str(ns.out), "seconds": round(elapsed, 3)}))
    elif not ns.quiet:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"{counts['subjects']:,} subjects, {counts['periods']:,} periods; NEDA-3 over the "
            f"whole follow-up: {counts['neda3']:,} of {counts['neda3_known']:,} with known status "
            f"({elapsed:.2f} s)\ntable: {ns.out}"
        )
    return 0
