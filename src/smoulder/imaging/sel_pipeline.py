"""File-to-file SEL run shared by ``smoulder sel``, the BIDS entry and the batch runner.

Reads and checks the images (:mod:`smoulder.imaging.io`) and the dates, runs the
engine (:func:`smoulder.imaging.sel.detect_sel`) and writes the outputs:
``lesions.tsv`` (+ JSON sidecar), ``summary.tsv`` (+ JSON), ``jacobian_<i>.nii.gz``
(Jacobian determinant of follow-up ``i`` = time point ``i + 1`` against baseline),
``expansion.nii.gz``, ``sel_mask.nii.gz`` and ``qc.html``, all on the baseline grid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.lesions import label_lesions
from smoulder.imaging.sel import SELResult, SELSettings, detect_sel
from smoulder.io import nifti
from smoulder.schema import images as iio

DAYS_PER_YEAR = 365.25

#: The per-lesion columns of lesions.tsv, with their descriptions for the JSON sidecar.
COLUMN_DESCRIPTIONS: dict[str, Any] = {
    "label": "Lesion label in the baseline lesion mask",
    "n_voxels": "Voxels of the baseline lesion",
    "volume_mm3": {"Description": "Baseline lesion volume", "Units": "mm^3"},
    "centroid_x_mm": {
        "Description": "Baseline lesion centroid, world x (RAS, baseline scanner space)",
        "Units": "mm",
    },
    "centroid_y_mm": {"Description": "Baseline lesion centroid, world y (RAS)", "Units": "mm"},
    "centroid_z_mm": {"Description": "Baseline lesion centroid, world z (RAS)", "Units": "mm"},
    "diameter_mm": {"Description": "Diameter of the sphere of equal volume", "Units": "mm"},
    "expansion_pct_per_year": {
        "Description": "The lesion's own volume change per year: the Jacobian integrated "
        "over the baseline lesion, divided by the brain's mean Jacobian (atrophy), "
        "log-linear fit over all follow-ups",
        "Units": "% per year",
    },
    "volume_change_pct": {
        "Description": "Atrophy-corrected lesion volume change from baseline to the last "
        "time point",
        "Units": "%",
    },
    "concentricity": "Share of the lesion boundary moving outward relative to the lesion's mean displacement "
    "(1 concentric growth, ~0.5 stable or one-sided, 0 shrinking)",
    "constancy": "Share of follow-up intervals in which the candidate (or lesion) expanded (n/a: 2 time points)",
    "min_interval_pct_per_year": {
        "Description": "Slowest interval expansion of the candidate (or lesion)",
        "Units": "% per year",
    },
    "candidate_voxels": "Voxels of the SEL candidate (seeded region growing of local expansion)",
    "candidate_volume_mm3": {"Description": "Volume of the SEL candidate", "Units": "mm^3"},
    "candidate_expansion_pct_per_year": {
        "Description": "Expansion of the candidate region",
        "Units": "% per year",
    },
    "t1_change_pct": {
        "Description": "Change of T1 signal inside the candidate (or lesion) relative to the "
        "perilesional white matter, baseline to last time point",
        "Units": "%",
    },
    "sel": "definite | possible | no (rules in docs/sel.md)",
    "note": "Why a lesion is not definite, or could not be measured",
}


@dataclass
class SELRun:
    """A finished run: the engine result and the inputs it was computed on."""

    result: SELResult
    t1: list[iio.Volume]
    flair: list[iio.Volume]
    lesions: iio.Volume
    dates: list[str]


def parse_dates(dates: Sequence[Any], n_images: int | None = None) -> tuple[list[str], np.ndarray]:
    """Check ISO dates (one per time point, increasing) and return them with years since the first.

    Raises
    ------
    SettingsError
        A date is missing or not ISO 8601 (``YYYY-MM-DD``), the count does not match the
        images, or the dates are not strictly increasing.
    """
    ds = list(dates)
    if n_images is not None and len(ds) != n_images:
        raise SettingsError(
            f"{n_images} time points (images) but {len(ds)} dates; give one ISO date "
            "(YYYY-MM-DD) per time point, in the order of the images"
        )
    parsed = []
    for i, d in enumerate(ds, start=1):
        if (
            d is None
            or (isinstance(d, float) and np.isnan(d))
            or str(d).strip().lower() in ("", "n/a", "nan", "na")
        ):
            raise SettingsError(
                f"date of time point {i} is missing; expected an ISO date YYYY-MM-DD"
            )
        if isinstance(d, dt.datetime):
            parsed.append(d.date())
            continue
        if isinstance(d, dt.date):
            parsed.append(d)
            continue
        try:
            parsed.append(dt.date.fromisoformat(str(d).strip()[:10]))
        except ValueError:
            raise SettingsError(
                f"date of time point {i} is not an ISO date: got {d!r}; expected YYYY-MM-DD"
            ) from None
    for i in range(1, len(parsed)):
        if parsed[i] <= parsed[i - 1]:
            raise SettingsError(
                f"dates must be strictly increasing in the order of the images: time point "
                f"{i + 1} ({parsed[i]}) is not after time point {i} ({parsed[i - 1]})"
            )
    days = np.array([(p - parsed[0]).days for p in parsed], dtype=float)
    return [p.isoformat() for p in parsed], days / DAYS_PER_YEAR


def run_sel_files(
    t1: Sequence[str | Path],
    flair: Sequence[str | Path],
    dates: Sequence[Any],
    lesions: str | Path,
    *,
    brain_mask: str | Path | None = None,
    settings: SELSettings | None = None,
) -> SELRun:
    """Read, check and analyse one subject's time points (see :func:`smoulder.imaging.sel.detect_sel`)."""
    t1 = list(t1)
    flair = list(flair)
    if len(t1) < 2:
        raise SettingsError(f"SEL needs at least two time points; got {len(t1)} T1 image(s)")
    if len(flair) != len(t1):
        raise SettingsError(
            f"{len(t1)} T1 images but {len(flair)} FLAIR images; give one of each per time point"
        )
    iso, years = parse_dates(dates, len(t1))
    t1v = [nifti.load_volume(p) for p in t1]
    flv = [nifti.load_volume(p) for p in flair]
    lv = nifti.load_label_volume(lesions)
    iio.check_same_grid(t1v[0], lv, "baseline lesion mask")
    labels, _ = label_lesions(lv.data, t1v[0].zooms, split=False)
    lab = iio.Volume(labels, lv.affine, lv.source)
    brain = None
    if brain_mask is not None:
        brain = nifti.load_label_volume(brain_mask)
    result = detect_sel(t1v, flv, [float(y) for y in years], lab, brain=brain, settings=settings)
    return SELRun(result=result, t1=t1v, flair=flv, lesions=lab, dates=iso)


def write_tsv(df: pd.DataFrame, path: Path, sidecar: dict[str, Any]) -> None:
    """TSV with ``n/a`` for missing values, and its JSON sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    path.with_suffix("").with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=str))


def summary_table(run: SELRun) -> pd.DataFrame:
    """One row per subject: SEL counts and volumes, brain change and registration quality."""
    s = run.result.summary
    return pd.DataFrame(
        [
            {
                "n_timepoints": s["n_timepoints"],
                "first_date": run.dates[0],
                "last_date": run.dates[-1],
                "n_lesions": s["n_lesions"],
                "n_definite": s["n_definite"],
                "n_possible": s["n_possible"],
                "definite_volume_mm3": s["definite_volume_mm3"],
                "possible_volume_mm3": s["possible_volume_mm3"],
                "candidate_volume_mm3": s["candidate_volume_mm3"],
                "brain_volume_change_pct_per_year": s["brain_volume_change_pct_per_year"],
                "min_similarity_rigid": float(min(s["similarity_rigid"][1:])),
                "min_similarity_syn": float(min(s["similarity_syn"][1:])),
            }
        ]
    )


def write_sel_outputs(
    run: SELRun,
    out_dir: str | Path,
    *,
    names: dict[str, str] | None = None,
    jacobian_labels: list[str] | None = None,
    title: str = "smoulder SEL QC",
) -> dict[str, Any]:
    """Write every output of a run and return the paths.

    ``names`` may rename ``table, summary, sel_mask, expansion, qc`` and ``jacobian`` (a pattern
    with ``{i}``, the follow-up number from 1, and ``{label}``, the matching entry of
    ``jacobian_labels``, e.g. a BIDS session). An absolute name is used as is.
    """
    from smoulder.imaging.sel_qc import sel_qc_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = {
        "table": "lesions.tsv",
        "summary": "summary.tsv",
        "sel_mask": "sel_mask.nii.gz",
        "expansion": "expansion.nii.gz",
        "qc": "qc.html",
        "jacobian": "jacobian_{i}.nii.gz",
    }
    n.update(names or {})
    res = run.result
    base = run.t1[0]
    meta = {
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__}],
        "Settings": res.settings,
        "Dates": run.dates,
        "Warnings": res.warnings,
        "Note": "Evidence for rating, not a diagnosis.",
    }
    paths: dict[str, Any] = {k: out / v for k, v in n.items() if k != "jacobian"}
    cols = {c: COLUMN_DESCRIPTIONS.get(c, c) for c in res.lesions.columns}
    write_tsv(res.lesions, paths["table"], {**cols, **meta})
    summ_meta = {k: v for k, v in res.summary.items()}
    write_tsv(summary_table(run), paths["summary"], {**meta, "Details": summ_meta})
    nifti.save_volume(paths["sel_mask"], base, res.sel_mask.astype(np.uint8), np.uint8)
    nifti.save_volume(paths["expansion"], base, res.expansion.astype(np.float32), np.float32)
    paths["jacobian"] = []
    for i, j in enumerate(res.jacobian, start=1):
        label = jacobian_labels[i - 1] if jacobian_labels else str(i)
        p = out / n["jacobian"].format(i=i, label=label)
        nifti.save_volume(p, base, j.astype(np.float32), np.float32)
        paths["jacobian"].append(p)
    paths["qc"].write_text(sel_qc_html(res, run.dates, title=title), encoding="utf-8")
    return paths


def check_out_dir(out_dir: str | Path) -> None:
    """Fail early when the output path exists and is not a directory."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputDataError(
            "output path exists and is not a directory", file=str(p), expected="a directory"
        )


__all__ = [
    "SELRun",
    "parse_dates",
    "run_sel_files",
    "write_sel_outputs",
    "summary_table",
    "COLUMN_DESCRIPTIONS",
    "check_out_dir",
]
