"""The BIDS App pipeline: ``smoulder bids BIDS_DIR OUT_DIR participant|group [--analysis prl|sel]``.

Participant level: inputs are discovered with pybids (:mod:`smoulder.io.bids`), every subject's
output paths are planned before the first subject runs, then each subject (PRL: each
subject/session) goes through the analysis's own pipeline (:mod:`smoulder.pipelines.prl`,
:mod:`smoulder.pipelines.sel`) and is written as BIDS Derivatives, with
``dataset_description.json`` (``DatasetType`` derivative, ``GeneratedBy``) at the top.

PRL outputs per subject/session in ``sub-<label>[/ses-<label>]/anat/``:
``..._desc-lesions_dseg.nii.gz``, ``..._desc-prl_mask.nii.gz``, ``..._desc-lesions_stats.tsv``
with its JSON sidecar, and a QC page ``sub-<label>[_ses-<label>]_desc-prl_qc.html`` at the top
level. SEL outputs per subject in the first session's folder ``sub-<label>/ses-<first>/anat/``:
``..._desc-sel_stats.tsv`` (+ JSON), ``..._desc-selsummary_stats.tsv``, ``..._desc-sel_mask.nii.gz``
(2 definite, 1 possible), ``..._desc-expansion_map.nii.gz`` and ``..._desc-jacobian<ses>_map.nii.gz``
per follow-up session, all on the first session's T1w grid; ``sub-<label>_desc-sel_qc.html``.

Group level: PRL writes ``group_desc-lesions_stats.tsv`` (all lesions) and
``group_desc-prl_summary.tsv`` (one row per subject/session); SEL writes
``group_desc-sel_stats.tsv`` and ``group_desc-selsummary_stats.tsv``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError
from smoulder.imaging.sel import SELSettings
from smoulder.io import bids as bio
from smoulder.pipelines import prl as prl_pipeline
from smoulder.pipelines import sel as sel_pipeline
from smoulder.pipelines._auto_lesions import segment_to_file

Progress = Callable[[int, int, str], None]


def run_participant(
    bids_dir: str | Path,
    out_dir: str | Path,
    *,
    participant_labels: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    susceptibility: str = "qsm",
    phase_desc: str = "hpfilt",
    run_kwargs: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Run the PRL pipeline for each subject/session and write BIDS Derivatives; one summary per run.

    Parameters
    ----------
    bids_dir : path
        Root of the raw BIDS dataset.
    out_dir : path
        Root of the derivatives dataset to write (files under it are never taken as inputs).
    participant_labels : list of str, optional
        Subjects to process (with or without ``sub-``); default all with a FLAIR.
    derivatives : list of path, optional
        Derivatives datasets holding QSM maps, filtered phase or lesion masks.
    susceptibility : {"qsm", "phase"}
        Which susceptibility image to use.
    phase_desc : str
        ``desc`` entity of the filtered phase.
    run_kwargs : mapping, optional
        Further arguments of :func:`smoulder.pipelines.prl.run` (settings, model, ...).
    progress : callable, optional
        Called as ``progress(done, total, prefix)`` after each subject/session.

    Returns
    -------
    list of dict
        One summary per subject/session: ``participant_id``, ``session_id``, ``n_lesions``,
        ``n_prl``, ``susceptibility``, ``segmentation`` and ``warnings`` (their number).

    Raises
    ------
    InputDataError
        Inputs missing from the dataset, a bad image, or an ``out_dir`` that is a file.
    SettingsError
        An unknown ``susceptibility``, or invalid options in ``run_kwargs``.
    """
    inputs = bio.find_inputs(
        bids_dir,
        participant_labels=participant_labels,
        derivatives=derivatives,
        susceptibility=susceptibility,
        phase_desc=phase_desc,
        exclude_dir=out_dir,
    )
    out = Path(out_dir)
    bio.check_out_dir(out)
    plan = [(si, out / si.anat_dir, bio.prl_derivative_names(si, out)) for si in inputs]
    out.mkdir(parents=True, exist_ok=True)
    bio.write_json(out / "dataset_description.json", bio.dataset_description(bids_dir))
    summaries = []
    for i, (si, anat, names) in enumerate(plan):
        kw = dict(run_kwargs or {})
        kw["phase" if susceptibility == "phase" else "qsm"] = si.susceptibility
        result = prl_pipeline.run(si.flair, lesions=si.lesions, **kw)
        table = result.lesions
        table.insert(0, "participant_id", f"sub-{si.subject}")
        if si.session:
            table.insert(1, "session_id", f"ses-{si.session}")
        prl_pipeline.write(result, anat, names=names, title=f"smoulder PRL QC: {si.prefix}")
        summaries.append(
            {
                "participant_id": f"sub-{si.subject}",
                "session_id": f"ses-{si.session}" if si.session else None,
                "n_lesions": int(len(table)),
                "n_prl": result.n_prl,
                "susceptibility": susceptibility,
                "segmentation": result.segmentation,
                "warnings": len(result.warnings),
            }
        )
        if progress is not None:
            progress(i + 1, len(plan), si.prefix)
    return summaries


def run_group(out_dir: str | Path) -> dict[str, Path]:
    """Collect every subject's PRL lesions table into one group table and a per-subject summary.

    Parameters
    ----------
    out_dir : path
        The derivatives folder written at participant level (the group files go there too).

    Returns
    -------
    dict of str to Path
        ``stats`` (``group_desc-lesions_stats.tsv``, every lesion) and ``summary``
        (``group_desc-prl_summary.tsv``, one row per subject/session with lesion and PRL counts
        and the total lesion volume).

    Raises
    ------
    InputDataError
        No participant results found in ``out_dir``.
    """
    out = Path(out_dir)
    files = sorted(out.glob("sub-*/**/*_desc-lesions_stats.tsv"))
    if not files:
        raise InputDataError(
            "no participant results found",
            file=str(out),
            expected="an OUT_DIR written by 'smoulder bids ... participant'",
        )
    frames = [bio.read_tsv(f) for f in files]
    stats = pd.concat(frames, ignore_index=True)
    if "session_id" not in stats.columns:
        stats.insert(1, "session_id", pd.NA)
    keys = ["participant_id", "session_id"]
    summary = []
    for f, df in zip(files, frames, strict=True):
        prl = df["prl"].astype(str).str.lower().eq("true") if len(df) else pd.Series([], dtype=bool)
        parts = f.name.split("_")
        summary.append(
            {
                "participant_id": parts[0],
                "session_id": parts[1] if parts[1].startswith("ses-") else pd.NA,
                "n_lesions": int(len(df)),
                "n_prl": int(prl.sum()),
                "lesion_volume_mm3": float(df["volume_mm3"].sum()) if len(df) else 0.0,
            }
        )
    summ = pd.DataFrame(summary)
    paths = {
        "stats": out / "group_desc-lesions_stats.tsv",
        "summary": out / "group_desc-prl_summary.tsv",
    }
    bio.write_tsv(stats[keys + [c for c in stats.columns if c not in keys]], paths["stats"])
    side = {
        "participant_id": "BIDS participant",
        "session_id": "BIDS session (n/a: none)",
        "n_lesions": "Lesions in the mask",
        "n_prl": "Lesions classified as PRL",
        "lesion_volume_mm3": {"Description": "Total lesion volume", "Units": "mm^3"},
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__}],
    }
    bio.write_tsv(summ, paths["summary"], side)
    return paths


def run_sel_participant(
    bids_dir: str | Path,
    out_dir: str | Path,
    participant_label: str,
    *,
    sessions: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    settings: SELSettings | None = None,
) -> dict[str, Any]:
    """Run SEL for one participant's sessions and write BIDS Derivatives; return a summary.

    Parameters
    ----------
    bids_dir : path
        Root of the raw BIDS dataset.
    out_dir : path
        Root of the derivatives dataset to write.
    participant_label : str
        With or without ``sub-``.
    sessions : list of str, optional
        Sessions to use (default all); they are ordered by date.
    derivatives : list of path, optional
        Derivatives datasets holding lesion or brain masks.
    settings : SELSettings, optional

    Returns
    -------
    dict
        ``participant_id``, ``sessions``, ``dates``, ``n_lesions``, ``n_definite``,
        ``n_possible`` and ``outputs`` (the path of every output by key).
    """
    li = bio.find_longitudinal_inputs(
        bids_dir, participant_label, sessions=sessions, derivatives=derivatives
    )
    out = Path(out_dir)
    bio.check_out_dir(out)
    names = bio.sel_derivative_names(li, out)
    anat = out / li.anat_dir
    paths = sel_pipeline.plan_outputs(anat, len(li.t1) - 1, names, li.sessions[1:])
    out.mkdir(parents=True, exist_ok=True)
    bio.write_json(
        out / "dataset_description.json",
        bio.dataset_description(bids_dir, *bio.SEL_DESCRIPTION),
    )
    lesions: str | Path | None = li.lesions
    auto = None
    if lesions is None:  # no lesion mask: the first FLAIR segmented by smoulder lesions
        lesions, auto = segment_to_file(
            li.flair[0], anat / f"{li.prefix}_desc-autolesions_dseg.nii.gz", t1=li.t1[0]
        )
    result = sel_pipeline.run(
        li.t1, li.flair, li.dates, lesions, brain_mask=li.brain_mask, settings=settings
    )
    if auto is not None:
        result.warnings.append(auto.message)
    table = result.lesions
    table.insert(0, "participant_id", f"sub-{li.subject}")
    table.insert(1, "session_id", f"ses-{li.sessions[0]}")
    sel_pipeline.write(
        result,
        anat,
        names=names,
        jacobian_labels=li.sessions[1:],
        title=f"smoulder SEL QC: sub-{li.subject}",
    )
    s = result.details
    return {
        "participant_id": f"sub-{li.subject}",
        "sessions": [f"ses-{x}" for x in li.sessions],
        "dates": li.dates,
        "n_lesions": s["n_lesions"],
        "n_definite": s["n_definite"],
        "n_possible": s["n_possible"],
        "outputs": {
            k: ([str(x) for x in v] if isinstance(v, list) else str(v)) for k, v in paths.items()
        },
    }


def run_sel_participants(
    bids_dir: str | Path,
    out_dir: str | Path,
    *,
    participant_labels: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    settings: SELSettings | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """:func:`run_sel_participant` for each listed participant (default: every subject with >= 2 sessions).

    Parameters
    ----------
    bids_dir : path
        Root of the raw BIDS dataset.
    out_dir : path
        Root of the derivatives dataset to write.
    participant_labels : list of str, optional
        Subjects to process (with or without ``sub-``); each uses all its sessions.
    derivatives : list of path, optional
        Derivatives datasets holding lesion or brain masks.
    settings : SELSettings, optional
        The SEL settings of every subject.
    progress : callable, optional
        Called as ``progress(done, total, "sub-<label>")`` after each subject.

    Returns
    -------
    list of dict
        One summary per subject, as :func:`run_sel_participant` returns it.

    Raises
    ------
    InputDataError
        A subject's inputs missing or bad, or an ``out_dir`` that is a file; subjects before it
        are already written.
    """
    if participant_labels:
        labels = [lab.removeprefix("sub-") for lab in participant_labels]
    else:
        labels = bio.longitudinal_subjects(bids_dir, derivatives)
    out = []
    for i, lab in enumerate(labels):
        out.append(
            run_sel_participant(bids_dir, out_dir, lab, derivatives=derivatives, settings=settings)
        )
        if progress is not None:
            progress(i + 1, len(labels), f"sub-{lab}")
    return out


def run_sel_group(out_dir: str | Path) -> dict[str, Path]:
    """Collect every subject's SEL tables into ``group_desc-sel_stats.tsv`` (one row per lesion) and
    ``group_desc-selsummary_stats.tsv`` (one row per subject).

    Parameters
    ----------
    out_dir : path
        The derivatives folder written at participant level (the group files go there too).

    Returns
    -------
    dict of str to Path
        ``stats`` and ``summary``, the two group tables.

    Raises
    ------
    InputDataError
        No SEL participant results found in ``out_dir``.
    """
    out = Path(out_dir)
    files = sorted(out.glob("sub-*/**/*_desc-sel_stats.tsv"))
    if not files:
        raise InputDataError(
            "no SEL participant results found",
            file=str(out),
            expected="an OUT_DIR written by 'smoulder bids ... participant --analysis sel'",
        )
    stats = pd.concat([bio.read_tsv(f) for f in files], ignore_index=True)
    summaries = []
    for f in sorted(out.glob("sub-*/**/*_desc-selsummary_stats.tsv")):
        df = bio.read_tsv(f)
        if "participant_id" not in df.columns:
            df.insert(0, "participant_id", f.name.split("_")[0])
        summaries.append(df)
    paths = {
        "stats": out / "group_desc-sel_stats.tsv",
        "summary": out / "group_desc-selsummary_stats.tsv",
    }
    bio.write_tsv(stats, paths["stats"])
    bio.write_tsv(
        pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame(), paths["summary"]
    )
    return paths


__all__ = [
    "run_participant",
    "run_group",
    "run_sel_participant",
    "run_sel_participants",
    "run_sel_group",
]
