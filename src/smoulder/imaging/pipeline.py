"""File-to-file PRL run shared by ``smoulder prl`` and ``smoulder bids``.

Reads and checks the images (:mod:`smoulder.imaging.io`), aligns them when
asked (:mod:`smoulder.imaging.register`), labels the lesions, runs the engine
(:func:`smoulder.imaging.prl.detect_prl`) and writes the outputs. This module
is an outlet: the engines it calls never touch files.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.lesions import FALLBACK_METHOD, fallback_segmentation, label_lesions
from smoulder.imaging.prl import PRLResult, RimSettings, detect_prl
from smoulder.io import nifti
from smoulder.schema import images as iio

REGISTER_CHOICES = ("none", "resample", "rigid")

#: Descriptions of the per-lesion columns, written to the JSON sidecar.
COLUMN_DESCRIPTIONS = {
    "participant_id": "BIDS participant label",
    "session_id": "BIDS session label",
    "label": "Lesion label in lesions_dseg (1..N)",
    "n_voxels": "Number of voxels of the lesion",
    "volume_mm3": {"Description": "Lesion volume", "Units": "mm^3"},
    "centroid_x_mm": {
        "Description": "Lesion centroid, world x (RAS, scanner/affine space)",
        "Units": "mm",
    },
    "centroid_y_mm": {"Description": "Lesion centroid, world y (RAS)", "Units": "mm"},
    "centroid_z_mm": {"Description": "Lesion centroid, world z (RAS)", "Units": "mm"},
    "diameter_mm": {"Description": "Diameter of the sphere of equal volume", "Units": "mm"},
    "rim_z": "Mean paramagnetic signal in the rim band minus the perilesional median, in local robust SDs",
    "outer_z": "Mean signal in the shell just outside the lesion minus the perilesional median, in SDs",
    "core_z": "Median signal of the lesion core minus the perilesional median, in SDs (n/a: no core)",
    "rim_core_z": "Rim band mean minus core median, in SDs (n/a: no core)",
    "rim_positive_fraction": "Fraction of rim-band voxels above the reference + 1 local SD",
    "coverage_max": "Largest fraction of edge sectors showing the rim on one axial slice",
    "coverage_mean": "Mean fraction of edge sectors showing the rim over evaluable axial slices",
    "coverage_sustained": "Best, over runs of min_slices consecutive slices, of the run's smallest coverage",
    "rim_slices": "Longest run of consecutive axial slices whose coverage reaches min_coverage",
    "evaluable_slices": "Axial slices with enough edge sectors to judge coverage",
    "slice_contrast_max": "Largest slice mean of the rim band minus the reference, in SDs",
    "rim_score": "Rim score in [0, 1] (consensus: coverage_sustained; model: predicted probability)",
    "prl": "Paramagnetic rim lesion (rim_score >= threshold)",
    "classifier": "consensus rule or model:<name>",
    "input": "phase or qsm",
    "segmentation": "Source of the lesion mask (user mask or the labelled fallback)",
}


@dataclass
class PRLRun:
    """A finished run: the result and the images it was computed on."""

    result: PRLResult
    flair: iio.Volume
    susc: iio.Volume
    input_kind: str
    phase_convention: str | None


def run_prl_files(
    flair: str | Path,
    *,
    phase: str | Path | None = None,
    qsm: str | Path | None = None,
    lesions: str | Path | None = None,
    phase_convention: str = "paramagnetic-negative",
    qsm_units: str = "ppm",
    register: str = "none",
    magnitude: str | Path | None = None,
    settings: RimSettings | None = None,
    model: Any = None,
    split_confluent: bool | None = None,
) -> PRLRun:
    """Read, check, align and analyse one subject's images (see :func:`detect_prl`).

    ``magnitude`` is an optional image on the phase/QSM grid (e.g. the GRE
    magnitude) from which ``register="rigid"`` estimates the transform; its
    anatomy resembles the FLAIR more than phase or QSM do.
    """
    if (phase is None) == (qsm is None):
        raise SettingsError("give exactly one of a phase image or a QSM map")
    if register not in REGISTER_CHOICES:
        raise SettingsError(f"register must be one of {REGISTER_CHOICES}, got {register!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fl = nifti.load_volume(flair)
        kind = "phase" if phase is not None else "qsm"
        sv = nifti.load_volume(phase if phase is not None else qsm)  # type: ignore[arg-type]
        if not iio.same_grid(fl, sv):
            if register == "none":
                iio.check_same_grid(fl, sv, kind)
            from smoulder.imaging import registration as reg

            if register == "resample":
                sv = reg.resample_to(fl, sv)
            else:
                mag = None
                if magnitude is None:
                    warnings.warn(
                        "rigid registration was estimated from the phase/QSM itself, whose contrast "
                        "differs from FLAIR; check the alignment on the QC page or give --magnitude",
                        stacklevel=2,
                    )
                else:
                    mag = nifti.load_volume(magnitude)
                    iio.check_same_grid(sv, mag, "magnitude image (must share the phase/QSM grid)")
                sv = reg.rigid_register(fl, sv, moving_for_transform=mag)[0]
        if kind == "phase":
            iio.check_phase_units(sv)
            data = sv.data
        else:
            data = iio.check_qsm_units(sv, qsm_units)
        brain = fl.data > 0
        if lesions is not None:
            lv = nifti.load_label_volume(lesions)
            iio.check_same_grid(fl, lv, "lesion mask")
            labels, _ = label_lesions(lv.data, fl.zooms, split=split_confluent)
            seg = "user mask"
        else:
            labels, _ = label_lesions(
                fallback_segmentation(fl.data, fl.zooms), fl.zooms, split=split_confluent
            )
            seg = FALLBACK_METHOD
        result = detect_prl(
            data,
            labels,
            fl.affine,
            input_kind=kind,
            phase_convention=phase_convention,
            settings=settings,
            model=model,
            brain=brain,
            segmentation=seg,
        )
    for w in caught:
        msg = str(w.message)
        if msg not in result.warnings:
            result.warnings.append(msg)
    if seg == FALLBACK_METHOD:
        result.warnings.append("no lesion mask was given: lesions come from the " + FALLBACK_METHOD)
    susc = iio.Volume(np.asarray(data, dtype=np.float32), sv.affine, sv.source)
    return PRLRun(
        result=result,
        flair=fl,
        susc=susc,
        input_kind=kind,
        phase_convention=phase_convention if kind == "phase" else None,
    )


def to_bids_table(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as yes/no text is not BIDS-like: keep true/false; numbers as they are."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "true", False: "false"})
    return out


def write_table_tsv(df: pd.DataFrame, path: Path, sidecar: dict[str, Any]) -> None:
    """Write a TSV with ``n/a`` for missing values, and its JSON sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_bids_table(df).to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    path.with_suffix("").with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=str))


def sidecar_for(run: PRLRun) -> dict[str, Any]:
    """Column descriptions plus the settings, version and warnings of the run."""
    cols = {c: COLUMN_DESCRIPTIONS.get(c, c) for c in run.result.lesions.columns}
    return {
        **cols,
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__}],
        "Settings": run.result.settings,
        "Warnings": run.result.warnings,
        "MethodsParagraph": run.result.methods_paragraph(),
        "Note": "Evidence for rating, not a diagnosis.",
    }


def write_prl_outputs(
    run: PRLRun,
    out_dir: str | Path,
    *,
    names: dict[str, str] | None = None,
    title: str = "smoulder PRL QC",
) -> dict[str, Path]:
    """Write ``lesions.tsv`` (+ ``.json``), ``lesions_dseg.nii.gz``, ``prl_mask.nii.gz`` and ``qc.html``.

    ``names`` may rename any of the keys ``table, dseg, prl_mask, qc`` (BIDS naming; an
    absolute path is used as is).
    """
    from smoulder.imaging.qc import qc_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = {
        "table": "lesions.tsv",
        "dseg": "lesions_dseg.nii.gz",
        "prl_mask": "prl_mask.nii.gz",
        "qc": "qc.html",
    }
    n.update(names or {})
    paths = {k: out / v for k, v in n.items()}
    res = run.result
    write_table_tsv(res.lesions, paths["table"], sidecar_for(run))
    nifti.save_volume(paths["dseg"], run.flair, res.labels, np.int32)
    nifti.save_volume(paths["prl_mask"], run.flair, res.prl_mask.astype(np.uint8), np.uint8)
    page = qc_html(
        run.flair.data,
        run.susc.data,
        res.labels,
        run.flair.affine,
        res.lesions,
        input_kind=run.input_kind,
        phase_convention=run.phase_convention,
        settings=res.settings,
        warnings=res.warnings,
        title=title,
        methods=res.methods_paragraph(),
    )
    paths["qc"].write_text(page, encoding="utf-8")
    return paths


def check_writable(out_dir: str | Path) -> None:
    """Fail early when the output directory cannot be created."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputDataError(
            "output path exists and is not a directory", file=str(p), expected="a directory"
        )


__all__ = [
    "PRLRun",
    "run_prl_files",
    "write_prl_outputs",
    "write_table_tsv",
    "sidecar_for",
    "REGISTER_CHOICES",
    "COLUMN_DESCRIPTIONS",
]
