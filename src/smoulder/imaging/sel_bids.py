"""Longitudinal BIDS input (pybids) and BIDS Derivatives output for the SEL pipeline.

Inputs per subject, one session per time point:

- ``ses-<label>/anat/*_T1w.nii[.gz]`` and ``*_FLAIR.nii[.gz]`` (exactly one of each per session);
- the session dates: ``acq_time`` in ``sub-<label>/sub-<label>_sessions.tsv`` (preferred), or
  else ``acq_time`` of the T1w in the session's ``*_scans.tsv``; ISO 8601;
- a lesion mask of the *first* session: a ``*_mask`` or ``*_dseg`` whose ``label`` or
  ``desc`` entity contains "lesion" (raw dataset or a ``derivatives`` folder);
- optionally a brain mask of the first session (``desc-brain_mask``).

Sessions are ordered by date (not by label). Outputs in ``OUT_DIR`` (BIDS Derivatives, with
``dataset_description.json`` and ``GeneratedBy``), in the first session's folder
``sub-<label>/ses-<first>/anat/``: ``..._desc-sel_stats.tsv`` (per lesion, ``n/a`` for
missing values) with its JSON sidecar, ``..._desc-selsummary_stats.tsv``,
``..._desc-sel_mask.nii.gz`` (2 definite, 1 possible), ``..._desc-expansion_map.nii.gz`` and
``..._desc-jacobian<ses>_map.nii.gz`` per follow-up session, all on the first session's T1w
grid; the QC page ``sub-<label>_desc-sel_qc.html`` at the top level.

The BIDS App calls :func:`run_sel_participant` per participant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.imaging.sel import SELSettings
from smoulder.io import bids
from smoulder.io.bids import NII
from smoulder.io.bids import layout as _layout
from smoulder.io.bids import one_file as _one


@dataclass
class LongitudinalInputs:
    """One subject's sessions in time order."""

    subject: str
    sessions: list[str]
    dates: list[str]
    t1: list[str]
    flair: list[str]
    lesions: str
    brain_mask: str | None = None

    @property
    def prefix(self) -> str:
        return f"sub-{self.subject}_ses-{self.sessions[0]}"

    @property
    def anat_dir(self) -> str:
        return f"sub-{self.subject}/ses-{self.sessions[0]}/anat"


def _session_dates(
    bids_dir: Path, subject: str, sessions: list[str], t1: dict[str, str]
) -> dict[str, str]:
    dates: dict[str, str] = {}
    st = bids_dir / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
    if st.exists():
        df = pd.read_csv(st, sep="\t", dtype=str, keep_default_na=False)
        if "session_id" in df.columns and "acq_time" in df.columns:
            for _, r in df.iterrows():
                ses = str(r["session_id"]).removeprefix("ses-")
                if r["acq_time"].strip() and r["acq_time"].strip() != "n/a":
                    dates[ses] = r["acq_time"].strip()[:10]
    for ses in sessions:
        if ses in dates:
            continue
        scans = bids_dir / f"sub-{subject}" / f"ses-{ses}" / f"sub-{subject}_ses-{ses}_scans.tsv"
        if scans.exists():
            df = pd.read_csv(scans, sep="\t", dtype=str, keep_default_na=False)
            if "filename" in df.columns and "acq_time" in df.columns:
                name = Path(t1[ses]).name
                hit = df[[Path(f).name == name for f in df["filename"]]]
                if len(hit) and hit["acq_time"].iloc[0].strip() not in ("", "n/a"):
                    dates[ses] = hit["acq_time"].iloc[0].strip()[:10]
        if ses not in dates:
            raise InputDataError(
                f"no date for sub-{subject} ses-{ses}",
                file=str(st),
                expected="acq_time (ISO 8601) per session in sub-<label>_sessions.tsv, or for the "
                "T1w in the session's _scans.tsv",
            )
    return dates


def find_longitudinal_inputs(
    bids_dir: str | Path,
    participant_label: str,
    *,
    sessions: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
) -> LongitudinalInputs:
    """Discover one subject's T1w, FLAIR, dates and first-session lesion mask with pybids."""
    root = Path(bids_dir)
    layout = _layout(root, [Path(d) for d in (derivatives or [])])
    sub = participant_label.removeprefix("sub-")
    if sub not in layout.get_subjects():
        raise InputDataError(
            "participant not in the dataset",
            file=str(root),
            value=f"sub-{sub}",
            expected=", ".join("sub-" + s for s in sorted(layout.get_subjects())) or "(none)",
        )
    all_ses = sorted(layout.get_sessions(subject=sub))
    wanted = [s.removeprefix("ses-") for s in sessions] if sessions else all_ses
    missing = [s for s in wanted if s not in all_ses]
    if missing:
        raise InputDataError(
            f"session not found for sub-{sub}",
            file=str(root),
            value=f"ses-{missing[0]}",
            expected=", ".join("ses-" + s for s in all_ses) or "sessions (ses-<label> folders)",
        )
    if len(wanted) < 2:
        raise InputDataError(
            f"sub-{sub} has {len(wanted)} session(s)",
            file=str(root),
            expected="at least two sessions (time points) for slowly expanding lesions",
        )
    t1: dict[str, str] = {}
    fl: dict[str, str] = {}
    for ses in wanted:
        where = f"sub-{sub} ses-{ses}"
        q: dict[str, Any] = {"subject": sub, "session": ses, "extension": NII}
        t = _one(layout.get(suffix="T1w", **q), "T1w", where)
        f = _one(layout.get(suffix="FLAIR", **q), "FLAIR", where)
        if t is None or f is None:
            raise InputDataError(
                f"no {'T1w' if t is None else 'FLAIR'} image for {where}",
                file=str(root),
                expected=f"sub-{sub}/ses-{ses}/anat/*_{'T1w' if t is None else 'FLAIR'}.nii.gz",
            )
        t1[ses], fl[ses] = t, f
    dates = _session_dates(root, sub, wanted, t1)
    order = sorted(wanted, key=lambda s: dates[s])
    first = order[0]
    q = {"subject": sub, "session": first, "extension": NII}
    masks = [
        x
        for x in layout.get(**q)
        if x.entities.get("suffix") in ("mask", "dseg")
        and any("lesion" in str(x.entities.get(k, "")).lower() for k in ("label", "desc"))
    ]
    lesions = _one(masks, "lesion mask", f"sub-{sub} ses-{first}")
    if lesions is None:
        raise InputDataError(
            f"no lesion mask for the first session of sub-{sub} (ses-{first})",
            file=str(root),
            expected=f"sub-{sub}_ses-{first}_label-lesion_mask.nii.gz (raw or --derivatives)",
        )
    brains = [
        x
        for x in layout.get(**q)
        if x.entities.get("suffix") == "mask" and str(x.entities.get("desc", "")).lower() == "brain"
    ]
    brain = _one(brains, "brain mask", f"sub-{sub} ses-{first}")
    return LongitudinalInputs(
        subject=sub,
        sessions=order,
        dates=[dates[s] for s in order],
        t1=[t1[s] for s in order],
        flair=[fl[s] for s in order],
        lesions=lesions,
        brain_mask=brain,
    )


def dataset_description(bids_dir: str | Path) -> dict[str, Any]:
    """The SEL derivative dataset's description (BIDS 1.9 ``GeneratedBy``)."""
    return bids.dataset_description(
        bids_dir,
        "smoulder slowly expanding lesions",
        "SEL detection: halfway-space alignment, SyN Jacobians corrected for atrophy, seeded "
        "candidates, concentricity and constancy",
    )


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
    """
    from smoulder.imaging.sel_pipeline import run_sel_files, write_sel_outputs

    li = find_longitudinal_inputs(
        bids_dir, participant_label, sessions=sessions, derivatives=derivatives
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_description.json").write_text(
        json.dumps(dataset_description(bids_dir), indent=2)
    )
    run = run_sel_files(
        li.t1, li.flair, li.dates, li.lesions, brain_mask=li.brain_mask, settings=settings
    )
    table = run.result.lesions
    table.insert(0, "participant_id", f"sub-{li.subject}")
    table.insert(1, "session_id", f"ses-{li.sessions[0]}")
    anat = out / li.anat_dir
    p = li.prefix
    paths = write_sel_outputs(
        run,
        anat,
        names={
            "table": f"{p}_desc-sel_stats.tsv",
            "summary": f"{p}_desc-selsummary_stats.tsv",
            "sel_mask": f"{p}_desc-sel_mask.nii.gz",
            "expansion": f"{p}_desc-expansion_map.nii.gz",
            "qc": str((out / f"sub-{li.subject}_desc-sel_qc.html").resolve()),
            "jacobian": f"{p}_desc-jacobian{{label}}_map.nii.gz",
        },
        jacobian_labels=li.sessions[1:],
        title=f"smoulder SEL QC: sub-{li.subject}",
    )
    s = run.result.summary
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
    progress: Any = None,
) -> list[dict[str, Any]]:
    """:func:`run_sel_participant` for each listed participant (default: every subject with >= 2 sessions)."""
    if participant_labels:
        labels = [lab.removeprefix("sub-") for lab in participant_labels]
    else:
        layout = _layout(Path(bids_dir), [Path(d) for d in (derivatives or [])])
        labels = [
            sub
            for sub in sorted(layout.get_subjects())
            if len(layout.get_sessions(subject=sub)) >= 2
        ]
        if not labels:
            raise InputDataError(
                "no subject with two or more sessions",
                file=str(bids_dir),
                expected="sub-<label>/ses-<label>/anat/ folders, one session per time point",
            )
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
    ``group_desc-selsummary_stats.tsv`` (one row per subject)."""
    import pandas as pd

    out = Path(out_dir)
    files = sorted(out.glob("sub-*/**/*_desc-sel_stats.tsv"))
    if not files:
        raise InputDataError(
            "no SEL participant results found",
            file=str(out),
            expected="an OUT_DIR written by 'smoulder bids ... participant --analysis sel'",
        )
    read = {"sep": "\t", "na_values": ["n/a"], "keep_default_na": False}
    stats = pd.concat([pd.read_csv(f, **read) for f in files], ignore_index=True)
    summaries = []
    for f in sorted(out.glob("sub-*/**/*_desc-selsummary_stats.tsv")):
        df = pd.read_csv(f, **read)
        if "participant_id" not in df.columns:
            df.insert(0, "participant_id", f.name.split("_")[0])
        summaries.append(df)
    paths = {
        "stats": out / "group_desc-sel_stats.tsv",
        "summary": out / "group_desc-selsummary_stats.tsv",
    }
    stats.to_csv(paths["stats"], sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    summary.to_csv(paths["summary"], sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    return paths


__all__ = [
    "LongitudinalInputs",
    "find_longitudinal_inputs",
    "run_sel_participant",
    "run_sel_participants",
    "run_sel_group",
    "dataset_description",
]
