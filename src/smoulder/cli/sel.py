"""``smoulder sel``: slowly expanding lesions from T1 and FLAIR at two or more time points."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from smoulder.cli.prl import restate
from smoulder.exceptions import SettingsError

#: Settings parameter -> command-line flag, to restate settings errors in the user's words.
SEL_FLAGS = {
    "contrast": "--contrast",
    "flair_to_t1": "--flair-to-t1",
    "syn_metric": "--syn-metric",
    "syn_radius": "--syn-radius",
    "syn_iterations": "--syn-iterations",
    "syn_region": "--syn-region",
    "linear_finest_shrink": "--linear-finest-shrink",
    "registration_finest_mm": "--registration-finest-mm",
    "grad_step": "--grad-step",
    "flow_sigma": "--flow-sigma",
    "min_similarity": "--min-similarity",
    "seed_pct_per_year": "--seed-pct",
    "growth_pct_per_year": "--growth-pct",
    "seed": "--seed",
    "threads": "--threads",
    "atrophy_correction": "--atrophy-correction",
    "expansion_measure": "--expansion-measure",
    "lesion_seed_pct_per_year": "--lesion-seed-pct",
    "min_voxels": "--min-voxels",
    "min_concentricity": "--min-concentricity",
    "min_constancy": "--min-constancy",
    "definite_without_constancy": "--definite-without-constancy",
}


def add_sel_arguments(p: argparse.ArgumentParser) -> None:
    """Thresholds and registration options of the SEL pipeline (defaults in docs/sel.md).

    Every flag defaults to None (the settings' own default), so that ``--help`` answers without
    importing the engines.
    """
    g = p.add_argument_group("candidates and classification")
    g.add_argument(
        "--seed-pct",
        type=float,
        default=None,
        help="voxel expansion (%% per year, atrophy corrected) that seeds a candidate (default 12.5)",
    )
    g.add_argument(
        "--growth-pct",
        type=float,
        default=None,
        help="voxel expansion (%% per year) a candidate grows through (default 4)",
    )
    g.add_argument(
        "--min-voxels",
        type=int,
        default=None,
        help="smallest candidate in voxels (default 10)",
    )
    g.add_argument(
        "--min-concentricity",
        type=float,
        default=None,
        help="share of the lesion edge that must move outward for a definite SEL (default 0.75)",
    )
    g.add_argument(
        "--min-constancy",
        type=float,
        default=None,
        help="share of intervals that must show expansion for a definite SEL (default 1)",
    )
    g.add_argument(
        "--definite-without-constancy",
        action="store_true",
        help="with two time points, allow 'definite' although constancy cannot be measured",
    )
    g.add_argument(
        "--atrophy-correction",
        choices=["affine", "brain-mean", "none"],
        default=None,
        help="global volume change removed from the Jacobians (default affine: determinant of the "
        "affine best fitting the deformation over the brain)",
    )
    g.add_argument(
        "--expansion-measure",
        choices=["segmented", "jacobian", "signal", "ring"],
        default=None,
        help="what expansion_pct_per_year reports: the change of the lesion segmented on each "
        "visit's FLAIR (default), the Jacobian over the baseline lesion, the lesion's excess "
        "FLAIR signal, or the Jacobian over the lesion and its grown edge (all written)",
    )
    g.add_argument(
        "--lesion-seed-pct",
        type=_pct_or_off,
        default=None,
        help="a lesion whose expansion (expansion_pct_per_year) reaches this (%% per year) "
        "seeds its candidate from all its voxels above --growth-pct (default 3; 'off' turns "
        "it off)",
    )
    r = p.add_argument_group("registration")
    r.add_argument(
        "--contrast",
        choices=["flair", "t1", "both"],
        default=None,
        help="image(s) driving the registration (default flair)",
    )
    r.add_argument(
        "--flair-to-t1",
        choices=["rigid", "resample"],
        default=None,
        help="a FLAIR on another grid than its T1: register it rigidly (default) or trust the "
        "scanner's affines (resample)",
    )
    r.add_argument(
        "--syn-iterations",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="SyN iterations per level, coarse to fine (default 40 20 10)",
    )
    r.add_argument(
        "--syn-region",
        choices=["head", "lesions"],
        default=None,
        help="where the deformable (SyN) registration runs: head (default) the whole image; "
        "lesions only in boxes about the lesions (15 mm margin), faster by the share of the "
        "image the boxes leave out, outside them only the global (affine) change. Not the "
        "default because it was measured on a few phantoms only (docs/sel.md)",
    )
    r.add_argument(
        "--linear-finest-shrink",
        type=int,
        choices=[1, 2, 4],
        default=None,
        help="finest level of the rigid registrations (FLAIR to T1, follow-up to baseline): 1 "
        "(default) full resolution; 2 or 4 stop at half or a quarter, faster but possibly less "
        "exact (the affine step after them still sees full resolution). Not the default because "
        "it was measured on a few phantoms only (docs/sel.md)",
    )
    r.add_argument(
        "--registration-finest-mm",
        type=float,
        default=None,
        help="finest voxel size (mm) the registrations work at (default 2.5: scans of 1-1.25 mm "
        "are registered at half their resolution, several times faster; coarser scans at full "
        "resolution); 0 always registers at full resolution",
    )
    r.add_argument(
        "--syn-metric",
        choices=["CC", "mattes", "meansquares"],
        default=None,
        help="SyN similarity (default CC)",
    )
    r.add_argument("--syn-radius", type=int, default=None, help="CC radius in voxels (default 2)")
    r.add_argument(
        "--flow-sigma", type=float, default=None, help="update-field smoothing, voxels (default 2)"
    )
    r.add_argument("--grad-step", type=float, default=None, help="SyN gradient step (default 0.4)")
    r.add_argument(
        "--min-similarity",
        type=float,
        default=None,
        help="smallest structural correlation after rigid alignment (default 0.5)",
    )
    r.add_argument(
        "--seed", type=int, default=None, help="random seed of the registration, >= 1 (default 1)"
    )
    r.add_argument(
        "--threads",
        type=int,
        default=None,
        help="registration threads (1: bit-for-bit reproducible; default all cores)",
    )


def sel_settings_from_args(ns: argparse.Namespace) -> Any:
    """:class:`~smoulder.imaging.sel.SELSettings` from the parsed flags (errors name the flag)."""
    from smoulder.imaging.sel import SELSettings

    try:
        return _settings(SELSettings, ns)
    except SettingsError as exc:
        raise restate(exc, SEL_FLAGS) from None


def _pct_or_off(text: str) -> float:
    """A number (% per year) or ``off`` (a rate no lesion reaches)."""
    if text.strip().lower() == "off":
        return float("inf")
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number (% per year) or 'off', got {text!r}") from None


def _settings(cls: Any, ns: argparse.Namespace) -> Any:
    return cls.from_mapping(
        None,
        contrast=ns.contrast,
        flair_to_t1=ns.flair_to_t1,
        syn_metric=ns.syn_metric,
        syn_radius=ns.syn_radius,
        syn_iterations=None if ns.syn_iterations is None else tuple(ns.syn_iterations),
        syn_region=ns.syn_region,
        linear_finest_shrink=ns.linear_finest_shrink,
        registration_finest_mm=ns.registration_finest_mm,
        grad_step=ns.grad_step,
        flow_sigma=ns.flow_sigma,
        min_similarity=ns.min_similarity,
        seed=ns.seed,
        threads=ns.threads,
        atrophy_correction=ns.atrophy_correction,
        expansion_measure=ns.expansion_measure,
        lesion_seed_pct_per_year=ns.lesion_seed_pct,
        seed_pct_per_year=ns.seed_pct,
        growth_pct_per_year=ns.growth_pct,
        min_voxels=ns.min_voxels,
        min_concentricity=ns.min_concentricity,
        min_constancy=ns.min_constancy,
        definite_without_constancy=ns.definite_without_constancy,
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``smoulder sel`` and ``smoulder sel batch`` to the command line."""
    p = sub.add_parser(
        "sel",
        help="slowly expanding lesions from T1 + FLAIR at two or more time points",
        description=(
            "Detect slowly expanding lesions (SEL) after Elliott et al. 2019: halfway-space rigid alignment, "
            "SyN deformations, atrophy-corrected Jacobians, seeded candidates, concentricity and constancy. "
            "Writes OUT/lesions.tsv (+ .json), OUT/summary.tsv, OUT/jacobian_<i>.nii.gz (follow-up i vs "
            "baseline), OUT/expansion.nii.gz, OUT/sel_mask.nii.gz (2 definite, 1 possible) and OUT/qc.html."
        ),
    )
    p.add_argument(
        "--t1", type=Path, nargs="+", help="T1-weighted image per time point, in time order"
    )
    p.add_argument(
        "--flair", type=Path, nargs="+", help="FLAIR (or T2) image per time point, same order"
    )
    p.add_argument(
        "--dates", nargs="+", help="ISO date (YYYY-MM-DD) of each time point, same order"
    )
    p.add_argument(
        "--lesions",
        type=Path,
        help="baseline lesion mask (binary or labelled) on the first T1's or first FLAIR's grid "
        "(default: the first FLAIR segmented by 'smoulder lesions', written to "
        "OUT/lesions_auto_dseg.nii.gz)",
    )
    p.add_argument("--brain-mask", type=Path, help="baseline brain mask (default: non-zero voxels)")
    p.add_argument("--out", type=Path, help="output directory")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_sel_arguments(p)
    p.set_defaults(func=run)
    bsub = p.add_subparsers(dest="sel_command", metavar="batch")
    b = bsub.add_parser(
        "batch",
        help="many subjects in parallel with dask, resumable",
        description="Run SEL for every subject of a manifest (TSV/CSV: subject, date, t1, flair, "
        "lesions[, brain_mask]; one row per time point, the lesion mask on the earliest "
        "row) on a dask LocalCluster or a running scheduler. Finished subjects (same "
        "settings and inputs) are skipped; OUT/batch_summary.tsv lists every subject.",
    )
    b.add_argument("manifest", type=Path)
    b.add_argument(
        "--out", type=Path, required=True, help="output directory (one folder per subject)"
    )
    b.add_argument(
        "--scheduler", help="address of a running dask scheduler (default: a local cluster)"
    )
    b.add_argument(
        "--workers", type=int, default=None, help="local workers (default: one per core)"
    )
    b.add_argument("--quiet", action="store_true")
    b.add_argument("--json", action="store_true")
    add_sel_arguments(b)
    b.set_defaults(func=run_batch_cmd)


def run(ns: argparse.Namespace) -> int:
    """``smoulder sel``: one subject through :func:`smoulder.pipelines.sel.run`."""
    from smoulder.cli._progress import steps_shown

    missing = [f"--{k}" for k in ("t1", "flair", "dates", "out") if getattr(ns, k) is None]
    if missing:
        raise SettingsError(f"smoulder sel needs {', '.join(missing)}; see smoulder sel --help")
    from smoulder.pipelines import sel

    settings = sel_settings_from_args(ns)
    t0 = time.perf_counter()
    with steps_shown(ns):
        result = sel.run(
            ns.t1,
            ns.flair,
            ns.dates,
            ns.lesions,
            brain_mask=ns.brain_mask,
            settings=settings,
            out=ns.out,
        )
    paths = sel.plan_outputs(ns.out, len(result.jacobian))
    s = result.details
    summary = {
        "timepoints": s["n_timepoints"],
        "lesions": s["n_lesions"],
        "definite": s["n_definite"],
        "possible": s["n_possible"],
        "definite_volume_mm3": round(s["definite_volume_mm3"], 1),
        "seconds": round(time.perf_counter() - t0, 2),
        "warnings": result.warnings,
        "outputs": {
            k: ([str(x) for x in v] if isinstance(v, list) else str(v)) for k, v in paths.items()
        },
    }
    for w in result.warnings:
        print(f"smoulder sel: warning: {w}", file=sys.stderr)
    if ns.json:
        print(json.dumps(summary))
    elif not ns.quiet:
        print(
            f"{summary['lesions']} lesions over {summary['timepoints']} time points: {summary['definite']} "
            f"definite SEL, {summary['possible']} possible; wrote {ns.out} in {summary['seconds']} s"
        )
    return 0


def run_batch_cmd(ns: argparse.Namespace) -> int:
    """``smoulder sel batch``: :func:`smoulder.pipelines.sel_batch.run_batch` over a manifest."""
    from smoulder.pipelines.sel_batch import read_manifest, run_batch

    settings = sel_settings_from_args(ns)
    jobs = read_manifest(ns.manifest)

    def progress(i: int, n: int, rec: dict[str, Any]) -> None:
        if not ns.quiet and not ns.json:
            print(
                f"[{i}/{n}] {rec['subject']}: {rec['status']}"
                + (f" ({rec['error']})" if rec.get("error") else ""),
                file=sys.stderr,
            )

    table = run_batch(
        jobs, ns.out, settings, scheduler=ns.scheduler, n_workers=ns.workers, progress=progress
    )
    counts = table["status"].value_counts().to_dict()
    if ns.json:
        print(
            json.dumps(
                {
                    "subjects": len(table),
                    **{k: int(v) for k, v in counts.items()},
                    "summary": str(ns.out / "batch_summary.tsv"),
                }
            )
        )
    elif not ns.quiet:
        print(
            f"{len(table)} subjects: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f"; wrote {ns.out / 'batch_summary.tsv'}"
        )
    return 1 if counts.get("failed") else 0


__all__ = ["register", "run", "run_batch_cmd", "add_sel_arguments", "sel_settings_from_args"]
