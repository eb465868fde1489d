"""``smoulder bids BIDS_DIR OUT_DIR participant|group [--analysis prl|sel]``: the BIDS-App entry.

``--analysis prl`` (default) finds paramagnetic rim lesions per subject and session;
``--analysis sel`` finds slowly expanding lesions across each subject's sessions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smoulder.cli.prl import add_rim_arguments, rim_settings_from_args
from smoulder.cli.sel import add_sel_arguments, sel_settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``smoulder bids`` to the command line."""
    p = sub.add_parser(
        "bids",
        help="BIDS App: rim lesions or slowly expanding lesions for a BIDS dataset, as BIDS Derivatives",
        description=(
            "--analysis prl (default): find FLAIR, QSM (*_Chimap) or filtered phase "
            "(*_part-phase_desc-hpfilt_*) and an optional lesion mask (*_label-lesion_mask) with pybids, "
            "run 'smoulder prl' per subject/session. --analysis sel: find T1w and FLAIR in every session "
            "of a subject (dates from sessions.tsv acq_time) and the first session's lesion mask, run "
            "'smoulder sel'. Both write BIDS Derivatives to OUT_DIR; the group level collects all "
            "subjects' tables into one."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="root of the BIDS dataset")
    p.add_argument("output_dir", type=Path, help="where the derivatives go")
    p.add_argument("analysis_level", choices=["participant", "group"])
    p.add_argument(
        "--analysis",
        choices=["prl", "sel"],
        default="prl",
        help="prl: rim lesions per session (default); sel: slowly expanding lesions across "
        "sessions",
    )
    p.add_argument(
        "--participant-label",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="subjects to process (with or without 'sub-'); default all",
    )
    p.add_argument(
        "--derivatives",
        nargs="+",
        type=Path,
        default=[],
        metavar="DIR",
        help="derivatives datasets holding QSM maps, filtered phase or lesion masks",
    )
    p.add_argument(
        "--susceptibility",
        choices=["qsm", "phase"],
        default="qsm",
        help="which susceptibility image to use (default qsm)",
    )
    p.add_argument(
        "--phase-desc", default="hpfilt", help="desc entity of the filtered phase (default hpfilt)"
    )
    p.add_argument(
        "--phase-convention",
        choices=["paramagnetic-negative", "paramagnetic-positive"],
        default="paramagnetic-negative",
    )
    p.add_argument("--qsm-units", choices=["ppm", "ppb"], default="ppm")
    p.add_argument("--register", choices=["none", "resample", "rigid"], default="none")
    p.add_argument("--model", type=Path, help="trained model file from 'smoulder prl train'")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_rim_arguments(p)
    add_sel_arguments(p)
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    """``smoulder bids``: the BIDS App through :mod:`smoulder.pipelines.bids`."""
    from smoulder.pipelines import bids, prl

    if ns.analysis == "sel":
        return _run_sel(ns)
    if ns.analysis_level == "group":
        return _report_group(ns, bids.run_group(ns.output_dir))
    model = prl.load_model(ns.model) if ns.model is not None else None
    kw = {
        "phase_convention": ns.phase_convention,
        "qsm_units": ns.qsm_units,
        "register": ns.register,
        "settings": rim_settings_from_args(ns),
        "model": model,
    }

    def progress(i: int, n: int, name: str) -> None:
        if not ns.quiet and not ns.json:
            print(f"[{i}/{n}] subjects/sessions done", file=sys.stderr)

    summaries = bids.run_participant(
        ns.bids_dir,
        ns.output_dir,
        participant_labels=ns.participant_label,
        derivatives=ns.derivatives,
        susceptibility=ns.susceptibility,
        phase_desc=ns.phase_desc,
        run_kwargs=kw,
        progress=progress,
    )
    if ns.json:
        print(json.dumps(summaries))
    elif not ns.quiet:
        for s in summaries:
            ses = f" {s['session_id']}" if s["session_id"] else ""
            print(f"{s['participant_id']}{ses}: {s['n_lesions']} lesions, {s['n_prl']} PRL")
    return 0


def _report_group(ns: argparse.Namespace, paths: dict[str, Path]) -> int:
    if ns.json:
        print(json.dumps({k: str(v) for k, v in paths.items()}))
    elif not ns.quiet:
        print(f"wrote {paths['stats']} and {paths['summary']}")
    return 0


def _run_sel(ns: argparse.Namespace) -> int:
    from smoulder.pipelines import bids

    if ns.analysis_level == "group":
        return _report_group(ns, bids.run_sel_group(ns.output_dir))

    def progress(i: int, n: int, name: str) -> None:
        if not ns.quiet and not ns.json:
            print(f"[{i}/{n}] subjects done", file=sys.stderr)

    res = bids.run_sel_participants(
        ns.bids_dir,
        ns.output_dir,
        participant_labels=ns.participant_label,
        derivatives=ns.derivatives,
        settings=sel_settings_from_args(ns),
        progress=progress,
    )
    if ns.json:
        print(json.dumps(res, default=str))
    elif not ns.quiet:
        for r in res:
            print(
                f"{r['participant_id']}: {r['n_lesions']} lesions, {r['n_definite']} definite SEL"
            )
    return 0


__all__ = ["register", "run"]
