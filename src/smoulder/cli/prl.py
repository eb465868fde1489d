"""``smoulder prl``: paramagnetic rim lesions from phase or QSM; ``smoulder prl train``: fit a classifier."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from smoulder.exceptions import SettingsError

#: Settings parameter -> command-line flag, to restate settings errors in the user's words.
RIM_FLAGS = {
    "min_coverage": "--min-coverage",
    "min_slices": "--min-slices",
    "k_sd": "--k-sd",
    "n_sectors": "--n-sectors",
    "rim_inner_mm": "--rim-inner-mm",
    "rim_outer_mm": "--rim-outer-mm",
    "phase_mode": "--phase-mode",
    "threshold": "--threshold",
}


def restate(exc: SettingsError, flags: dict[str, str]) -> SettingsError:
    """The same settings error in the user's words: parameter names replaced by their flags.

    The parameter that starts the message and every parameter name with an underscore in it
    (never an ordinary word such as "seed") are replaced.
    """
    import re

    msg = str(exc)
    name = str(getattr(exc, "parameter", None) or "")
    new = flags[name] + msg[len(name) :] if name in flags and msg.startswith(name) else msg
    joined = [k for k in flags if "_" in k]
    if joined:
        pattern = r"\b(" + "|".join(re.escape(k) for k in sorted(joined, key=len, reverse=True))
        new = re.sub(pattern + r")\b", lambda m: flags[m.group(1)], new)
    if new == msg:
        return exc
    out = SettingsError(new)
    out.parameter, out.given = exc.parameter, exc.given
    return out


def add_rim_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the rim features and the consensus rule (defaults in docs/prl.md).

    Every flag defaults to None (the settings' own default), so that ``--help`` answers without
    importing the engines.
    """
    g = p.add_argument_group("rim features and consensus rule")
    g.add_argument(
        "--min-coverage",
        type=float,
        default=None,
        help="fraction of the lesion edge the rim must cover (default 2/3)",
    )
    g.add_argument(
        "--min-slices",
        type=int,
        default=None,
        help="consecutive axial slices that must show the rim (default 2)",
    )
    g.add_argument(
        "--k-sd",
        type=float,
        default=None,
        help="a sector shows the rim when its mean exceeds the reference by K standard errors (default 1.5)",
    )
    g.add_argument(
        "--n-sectors", type=int, default=None, help="angular sectors per slice (default 12)"
    )
    g.add_argument(
        "--rim-inner-mm",
        type=float,
        default=None,
        help="rim band width inside the lesion edge (default 2 mm, at least one voxel)",
    )
    g.add_argument(
        "--rim-outer-mm",
        type=float,
        default=None,
        help="rim band width outside the lesion edge (default 0)",
    )
    g.add_argument(
        "--phase-mode",
        choices=["dipole-inversion", "direct"],
        default=None,
        help="phase features on a TKD susceptibility estimate (default dipole-inversion) or on "
        "the phase itself (direct)",
    )
    g.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="rim_score threshold for prl=yes (default: 0.5 for the consensus rule, or the "
        "model's threshold)",
    )


#: Raw-phase settings parameter -> command-line flag.
RAW_PHASE_FLAGS = {
    "echo_time_ms": "--echo-time-ms",
    "field_strength_t": "--field-strength-t",
    "encoding": "--phase-encoding",
    "unwrap": "--unwrap",
    "background": "--background-removal",
}


def add_raw_phase_arguments(p: argparse.ArgumentParser) -> None:
    """Options of raw scanner phase (docs/raw_phase.md); every default is the settings' own."""
    g = p.add_argument_group(
        "raw scanner phase (--raw-phase)",
        "Phase as the scanner writes it: wrapped, integers -4096..4095 or 0..4095 or radians, "
        "background field not removed. Values not given come from the phase's JSON sidecar "
        "(dcm2niix writes one for a DICOM folder).",
    )
    g.add_argument(
        "--raw-phase",
        action="store_true",
        help="--phase is raw scanner phase (NIfTI or DICOM folder): rescale, unwrap and remove "
        "the background field before the PRL steps",
    )
    g.add_argument(
        "--echo-time-ms", type=float, default=None, metavar="MS", help="echo time of the phase (ms)"
    )
    g.add_argument(
        "--field-strength-t",
        type=float,
        default=None,
        metavar="T",
        help="main field strength (tesla)",
    )
    g.add_argument(
        "--phase-encoding",
        choices=["auto", "siemens", "12bit", "milliradians", "radians"],
        default=None,
        help="how the phase values are written (default auto: recognised from their range)",
    )
    g.add_argument(
        "--unwrap",
        choices=["laplacian", "quality-guided"],
        default=None,
        help="phase unwrapping (default laplacian)",
    )
    g.add_argument(
        "--background-removal",
        choices=["vsharp", "pdf", "homodyne"],
        default=None,
        help="background field removal (default vsharp; homodyne as SWI does, without unwrapping)",
    )
    g.add_argument(
        "--phase-series",
        type=int,
        default=None,
        metavar="N",
        help="series number of the phase when a DICOM folder holds several",
    )
    g.add_argument(
        "--magnitude-series",
        type=int,
        default=None,
        metavar="N",
        help="series number of the magnitude when a DICOM folder holds several",
    )


def raw_phase_settings_from_args(ns: argparse.Namespace) -> Any:
    """:class:`~smoulder.imaging.phase.RawPhaseSettings` values from the flags (None: not given).

    Returned as a mapping of the given values, so that the phase's sidecar fills the others;
    each given value is checked here and its error names the flag.
    """
    from smoulder.imaging.phase import RawPhaseSettings

    given = {
        "echo_time_ms": ns.echo_time_ms,
        "field_strength_t": ns.field_strength_t,
        "encoding": ns.phase_encoding,
        "unwrap": ns.unwrap,
        "background": ns.background_removal,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if given and not ns.raw_phase:
        flags = ", ".join(RAW_PHASE_FLAGS[k] for k in given)
        raise SettingsError(f"{flags} apply to raw scanner phase: add --raw-phase")
    try:
        RawPhaseSettings.from_mapping(given)
    except SettingsError as exc:
        raise restate(exc, RAW_PHASE_FLAGS) from None
    return given


def rim_settings_from_args(ns: argparse.Namespace) -> Any:
    """:class:`~smoulder.imaging.prl.PRLSettings` from the parsed flags (errors name the flag)."""
    from smoulder.imaging.prl import PRLSettings

    try:
        return PRLSettings.from_mapping(
            None,
            min_coverage=ns.min_coverage,
            min_slices=ns.min_slices,
            k_sd=ns.k_sd,
            n_sectors=ns.n_sectors,
            min_sectors=None if ns.n_sectors is None else min(6, ns.n_sectors),
            rim_inner_mm=ns.rim_inner_mm,
            rim_outer_mm=ns.rim_outer_mm,
            phase_mode=ns.phase_mode,
            threshold=ns.threshold,
        )
    except SettingsError as exc:
        raise restate(exc, RIM_FLAGS) from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``smoulder prl`` and ``smoulder prl train`` to the command line."""
    p = sub.add_parser(
        "prl",
        help="paramagnetic rim lesions from FLAIR + phase or QSM",
        description=(
            "Detect paramagnetic rim lesions (PRL). Writes OUT/lesions.tsv (+ .json sidecar), "
            "OUT/lesions_dseg.nii.gz, OUT/prl_mask.nii.gz and OUT/qc.html. "
            "'smoulder prl train' fits a classifier on rated lesions."
        ),
    )
    p.add_argument(
        "--flair",
        type=Path,
        help="FLAIR (or T2) image: NIfTI, or a DICOM folder (every image flag takes one)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--phase",
        type=Path,
        help="unwrapped, high-pass-filtered phase in radians; with --raw-phase, phase as the "
        "scanner writes it",
    )
    src.add_argument("--qsm", type=Path, help="QSM map in ppm")
    p.add_argument(
        "--phase-convention",
        choices=["paramagnetic-negative", "paramagnetic-positive"],
        default="paramagnetic-negative",
        help="sign of paramagnetic tissue in the phase (default paramagnetic-negative: left-handed)",
    )
    p.add_argument(
        "--qsm-units",
        choices=["ppm", "ppb"],
        default="ppm",
        help="units of the QSM map (default ppm)",
    )
    p.add_argument(
        "--lesions",
        type=Path,
        help="lesion mask, binary or labelled; without it the FLAIR is segmented by 'smoulder "
        "lesions' (a FLAIR-threshold FALLBACK on less than a whole brain), written to "
        "OUT/lesions_dseg.nii.gz",
    )
    p.add_argument(
        "--no-split", action="store_true", help="do not split confluent lesions of a binary mask"
    )
    p.add_argument(
        "--register",
        choices=["none", "resample", "rigid"],
        default="none",
        help="when the images are on different grids: resample through the affines, or register "
        "rigidly with antspyx (default none: stop with an error)",
    )
    p.add_argument(
        "--magnitude",
        type=Path,
        help="GRE magnitude on the phase/QSM grid: with --raw-phase it makes the mask of "
        "reliable phase (found in the phase's DICOM folder when not given); with --register "
        "rigid the transform is estimated from it",
    )
    p.add_argument("--model", type=Path, help="trained model file from 'smoulder prl train'")
    p.add_argument("--out", type=Path, help="output directory")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_rim_arguments(p)
    add_raw_phase_arguments(p)
    p.set_defaults(func=run)
    tsub = p.add_subparsers(dest="prl_command", metavar="train")
    t = tsub.add_parser(
        "train",
        help="train a classifier on rated lesions",
        description="Fit a random-forest classifier on lesions tables (from 'smoulder prl') "
        "with a rating column, and save a versioned model file.",
    )
    t.add_argument("tables", nargs="+", type=Path, help="lesions.tsv files with a rating column")
    t.add_argument(
        "--rating-col", default="rating", help="column with the rating: yes/no, 1/0, true/false"
    )
    t.add_argument("--out", type=Path, required=True, help="model file to write (.joblib)")
    t.add_argument("--name", default=None, help="model name (default: the file stem)")
    t.add_argument("--threshold", type=float, default=0.5, help="probability threshold for prl=yes")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--demo", action="store_true", help="mark the model as a demo (e.g. trained on phantoms)"
    )
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=run_train)


def run(ns: argparse.Namespace) -> int:
    """``smoulder prl``: one subject through :func:`smoulder.pipelines.prl.run`."""
    if ns.flair is None or ns.out is None or (ns.phase is None and ns.qsm is None):
        raise SettingsError("smoulder prl needs --flair, one of --phase or --qsm, and --out")
    from smoulder.pipelines import prl

    settings = rim_settings_from_args(ns)
    raw_settings = raw_phase_settings_from_args(ns)
    if ns.raw_phase and ns.phase is None:
        raise SettingsError("--raw-phase applies to --phase (raw scanner phase), not to --qsm")
    model = prl.load_model(ns.model) if ns.model is not None else None
    paths = prl.plan_outputs(ns.out, raw_phase=ns.raw_phase)
    t0 = time.perf_counter()
    try:
        res = _run_pipeline(prl, ns, settings, raw_settings, model)
    except SettingsError as exc:
        raise restate(exc, {**RIM_FLAGS, **RAW_PHASE_FLAGS}) from None
    summary = {
        "lesions": int(len(res.lesions)),
        "prl": res.n_prl,
        "classifier": res.classifier,
        "seconds": round(time.perf_counter() - t0, 2),
        "warnings": res.warnings,
        "outputs": {k: str(v) for k, v in paths.items()},
    }
    for w in res.warnings:
        print(f"smoulder prl: warning: {w}", file=sys.stderr)
    if ns.json:
        print(json.dumps(summary))
    elif not ns.quiet:
        print(
            f"{summary['lesions']} lesions, {summary['prl']} PRL ({summary['classifier']}); "
            f"wrote {ns.out} in {summary['seconds']} s"
        )
    return 0


def _run_pipeline(
    prl: Any, ns: argparse.Namespace, settings: Any, raw_settings: Any, model: Any
) -> Any:
    """:func:`smoulder.pipelines.prl.run` with the parsed flags."""
    return prl.run(
        ns.flair,
        phase=ns.phase,
        qsm=ns.qsm,
        lesions=ns.lesions,
        phase_convention=ns.phase_convention,
        qsm_units=ns.qsm_units,
        register=ns.register,
        magnitude=ns.magnitude,
        settings=settings,
        model=model,
        split_confluent=False if ns.no_split else None,
        out=ns.out,
        raw_phase=ns.raw_phase,
        raw_phase_settings=raw_settings,
        phase_series=ns.phase_series,
        magnitude_series=ns.magnitude_series,
    )


def run_train(ns: argparse.Namespace) -> int:
    """``smoulder prl train``: :func:`smoulder.pipelines.prl.train`."""
    from smoulder.pipelines import prl

    model, n = prl.train(
        ns.tables,
        out=ns.out,
        rating_col=ns.rating_col,
        name=ns.name,
        threshold=ns.threshold,
        seed=ns.seed,
        demo=ns.demo,
    )
    info = {
        "model": str(ns.out),
        "lesions": n,
        "prl": int(model.metadata["n_prl"]),
        "input": model.input_kind,
        "cv_auc": model.metadata.get("cv_auc"),
    }
    print(
        json.dumps(info)
        if ns.json
        else f"trained on {info['lesions']} lesions ({info['prl']} rated PRL, {info['input']}); wrote {ns.out}"
    )
    return 0


__all__ = ["register", "run", "run_train"]
