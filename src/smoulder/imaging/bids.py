"""BIDS-App input discovery (pybids) and BIDS Derivatives output for the PRL pipeline.

Inputs per subject (and session):

- FLAIR: ``anat/*_FLAIR.nii[.gz]`` in the raw dataset.
- QSM (default): ``*_Chimap.nii[.gz]`` (the BIDS suffix of susceptibility maps,
  in ppm), usually in a derivatives dataset (e.g. QSMxT output) given with
  ``derivatives``.
- Phase (``susceptibility="phase"``): ``*_part-phase_*.nii[.gz]`` whose ``desc``
  entity equals ``phase_desc`` (default ``hpfilt``): unwrapped, high-pass
  filtered phase in radians. Raw multi-echo phase is not accepted.
- Lesion mask (optional): a ``*_mask`` or ``*_dseg`` file whose ``label`` or
  ``desc`` entity contains "lesion" (any case), e.g.
  ``sub-01_label-lesion_mask.nii.gz``; without one the labelled FLAIR fallback runs.

Outputs (``OUT_DIR``): ``dataset_description.json`` (``DatasetType``
derivative, ``GeneratedBy``), and per subject/session in ``sub-<label>[/ses-<label>]/anat/``:
``..._desc-lesions_dseg.nii.gz``, ``..._desc-prl_mask.nii.gz``,
``..._desc-lesions_stats.tsv`` with its JSON sidecar (``n/a`` for missing
values), and a QC page ``sub-<label>[_ses-<label>]_desc-prl_qc.html`` at the top
level. The group level writes ``group_desc-lesions_stats.tsv`` (all lesions)
and ``group_desc-prl_summary.tsv`` (one row per subject/session).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError

NII = [".nii", ".nii.gz"]


@dataclass
class SubjectInputs:
    """The files found for one subject/session."""

    subject: str
    session: str | None
    flair: str
    susceptibility: str
    lesions: str | None

    @property
    def prefix(self) -> str:
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def anat_dir(self) -> str:
        return f"sub-{self.subject}" + (f"/ses-{self.session}" if self.session else "") + "/anat"


def _layout(bids_dir: Path, derivatives: list[Path]) -> Any:
    from bids import BIDSLayout

    if not (bids_dir / "dataset_description.json").exists():
        raise InputDataError(
            "not a BIDS dataset (no dataset_description.json)",
            file=str(bids_dir),
            expected="the root folder of a BIDS dataset",
        )
    for d in derivatives:
        if not (d / "dataset_description.json").exists():
            raise InputDataError(
                "derivatives folder has no dataset_description.json",
                file=str(d),
                expected="a BIDS derivatives dataset (with DatasetType 'derivative')",
            )
    return BIDSLayout(
        str(bids_dir), validate=False, derivatives=[str(d) for d in derivatives] or False
    )


def _one(files: list[Any], what: str, where: str) -> str | None:
    paths = sorted({f.path for f in files})
    if len(paths) > 1:
        raise InputDataError(
            f"{len(paths)} candidate {what} images for {where}",
            file=paths[0],
            value=[Path(p).name for p in paths],
            expected=f"exactly one {what} per subject/session (remove or rename the others)",
        )
    return paths[0] if paths else None


def find_inputs(
    bids_dir: str | Path,
    *,
    participant_labels: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    susceptibility: str = "qsm",
    phase_desc: str = "hpfilt",
    exclude_dir: str | Path | None = None,
) -> list[SubjectInputs]:
    """Discover each subject/session's FLAIR, phase or QSM, and lesion mask with pybids.

    Subjects without a FLAIR are skipped only if not asked for by label; a
    requested subject without the needed images is an error naming it. Files
    under ``exclude_dir`` (the output folder) are never taken as inputs, so a
    rerun does not read its own previous lesion labels as a user mask.
    """
    excluded = Path(exclude_dir).resolve() if exclude_dir is not None else None

    def keep(files: list[Any]) -> list[Any]:
        if excluded is None:
            return files
        return [f for f in files if not Path(f.path).resolve().is_relative_to(excluded)]

    if susceptibility not in ("qsm", "phase"):
        raise SettingsError(f"susceptibility must be 'qsm' or 'phase', got {susceptibility!r}")
    bids_dir = Path(bids_dir)
    layout = _layout(bids_dir, [Path(d) for d in (derivatives or [])])
    subjects = sorted(layout.get_subjects())
    wanted = (
        [lab.removeprefix("sub-") for lab in participant_labels] if participant_labels else subjects
    )
    missing = [s for s in wanted if s not in subjects]
    if missing:
        raise InputDataError(
            "participant not in the dataset",
            file=str(bids_dir),
            value=f"sub-{missing[0]}",
            expected=f"one of {', '.join('sub-' + s for s in subjects) or '(none)'}",
        )
    found = []
    for sub in wanted:
        sessions = layout.get_sessions(subject=sub) or [None]
        for ses in sessions:
            q: dict[str, Any] = {"subject": sub, "extension": NII}
            if ses is not None:
                q["session"] = ses
            where = f"sub-{sub}" + (f" ses-{ses}" if ses else "")
            flair = _one(keep(layout.get(suffix="FLAIR", **q)), "FLAIR", where)
            if flair is None:
                if participant_labels:
                    raise InputDataError(
                        f"no FLAIR image for {where}",
                        file=str(bids_dir),
                        expected=f"{where.replace(' ', '/')}/anat/*_FLAIR.nii.gz",
                    )
                continue
            if susceptibility == "qsm":
                susc = _one(keep(layout.get(suffix="Chimap", **q)), "QSM (Chimap)", where)
                hint = "a *_Chimap.nii.gz map in ppm (raw dataset or --derivatives)"
            else:
                susc = _one(keep(layout.get(part="phase", desc=phase_desc, **q)), "phase", where)
                hint = f"a *_part-phase_desc-{phase_desc}_*.nii.gz phase (unwrapped, high-pass filtered, radians)"
            if susc is None:
                raise InputDataError(
                    f"no {susceptibility} image for {where}", file=str(bids_dir), expected=hint
                )
            masks = [
                f
                for f in keep(layout.get(**q))
                if f.entities.get("suffix") in ("mask", "dseg")
                and any("lesion" in str(f.entities.get(k, "")).lower() for k in ("label", "desc"))
            ]
            lesions = _one(masks, "lesion mask", where)
            found.append(SubjectInputs(sub, ses, flair, susc, lesions))
    return found


def dataset_description(
    bids_dir: str | Path,
    name: str = "smoulder paramagnetic rim lesions",
    description: str = "PRL detection: spatial rim features + consensus rule or trained model",
) -> dict[str, Any]:
    """The derivative dataset's description (BIDS 1.9 ``GeneratedBy``); shared by every analysis."""
    return {
        "Name": name,
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__, "Description": description}],
        "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}],
    }


def run_participant(
    bids_dir: str | Path,
    out_dir: str | Path,
    *,
    participant_labels: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    susceptibility: str = "qsm",
    phase_desc: str = "hpfilt",
    run_kwargs: dict[str, Any] | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Run the PRL pipeline for each subject/session and write BIDS Derivatives; return a summary per run."""
    from smoulder.imaging.pipeline import run_prl_files, write_prl_outputs

    inputs = find_inputs(
        bids_dir,
        participant_labels=participant_labels,
        derivatives=derivatives,
        susceptibility=susceptibility,
        phase_desc=phase_desc,
        exclude_dir=out_dir,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_description.json").write_text(
        json.dumps(dataset_description(bids_dir), indent=2)
    )
    summaries = []
    for i, si in enumerate(inputs):
        kw = dict(run_kwargs or {})
        kw["phase" if susceptibility == "phase" else "qsm"] = si.susceptibility
        run = run_prl_files(si.flair, lesions=si.lesions, **kw)
        table = run.result.lesions
        table.insert(0, "participant_id", f"sub-{si.subject}")
        if si.session:
            table.insert(1, "session_id", f"ses-{si.session}")
        anat = out / si.anat_dir
        write_prl_outputs(
            run,
            anat,
            names={
                "table": f"{si.prefix}_desc-lesions_stats.tsv",
                "dseg": f"{si.prefix}_desc-lesions_dseg.nii.gz",
                "prl_mask": f"{si.prefix}_desc-prl_mask.nii.gz",
                "qc": str((out / f"{si.prefix}_desc-prl_qc.html").resolve()),
            },
            title=f"smoulder PRL QC: {si.prefix}",
        )
        summaries.append(
            {
                "participant_id": f"sub-{si.subject}",
                "session_id": f"ses-{si.session}" if si.session else None,
                "n_lesions": int(len(table)),
                "n_prl": run.result.n_prl,
                "susceptibility": susceptibility,
                "segmentation": run.result.settings["segmentation"],
                "warnings": len(run.result.warnings),
            }
        )
        if progress is not None:
            progress(i + 1, len(inputs), si.prefix)
    return summaries


def run_group(out_dir: str | Path) -> dict[str, Path]:
    """Collect every subject's lesions table into one group table and a per-subject summary."""
    out = Path(out_dir)
    files = sorted(out.glob("sub-*/**/*_desc-lesions_stats.tsv"))
    if not files:
        raise InputDataError(
            "no participant results found",
            file=str(out),
            expected="an OUT_DIR written by 'smoulder bids ... participant'",
        )
    frames = [pd.read_csv(f, sep="\t", na_values=["n/a"], keep_default_na=False) for f in files]
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
    stats[keys + [c for c in stats.columns if c not in keys]].to_csv(
        paths["stats"], sep="\t", index=False, na_rep="n/a", float_format="%.6g"
    )
    summ.to_csv(paths["summary"], sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    side = {
        "participant_id": "BIDS participant",
        "session_id": "BIDS session (n/a: none)",
        "n_lesions": "Lesions in the mask",
        "n_prl": "Lesions classified as PRL",
        "lesion_volume_mm3": {"Description": "Total lesion volume", "Units": "mm^3"},
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__}],
    }
    paths["summary"].with_suffix(".json").write_text(json.dumps(side, indent=2))
    return paths


__all__ = ["SubjectInputs", "find_inputs", "run_participant", "run_group", "dataset_description"]
