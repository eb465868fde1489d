"""Per-lesion measures of slowly expanding lesions and the classification rule.

Pure computation on arrays in the halfway space (see :mod:`smoulder.imaging.sel.engine`):
expansion by a log-linear fit of the Jacobian integrated over the lesion, concentricity of the
boundary's displacement, constancy over intervals, the T1 change, seeded candidates and the
``definite | possible | no`` rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.imaging.lesions import lesion_geometry
from smoulder.imaging.sel.settings import SELSettings
from smoulder.schema.images import Volume

#: The FLAIR and edge measures written beside the Jacobian one (docs/sel.md, step 7).
MEASURES = ("segmented", "signal", "ring")


def log_fit_pct(years: np.ndarray, ratios: np.ndarray) -> float:
    """Annual % change from ratios to baseline by a log-linear least-squares fit through the origin."""
    ok = np.isfinite(ratios) & (ratios > 0) & (years > 0)
    if not ok.any():
        return float("nan")
    t, lr = years[ok], np.log(ratios[ok])
    return float((np.exp((t * lr).sum() / (t * t).sum()) - 1.0) * 100.0)


def _outward_normals(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Unit outward normals (world RAS directions) of a mask, from its smoothed signed distance."""
    zooms = Volume(mask, affine).zooms
    pad = np.pad(mask, 2)
    sd = ndimage.distance_transform_edt(~pad, sampling=zooms) - ndimage.distance_transform_edt(
        pad, sampling=zooms
    )
    sd = ndimage.gaussian_filter(sd, 0.7)[2:-2, 2:-2, 2:-2]
    g = np.stack(np.gradient(sd, *zooms), axis=-1)  # along voxel axes, per mm
    rot = affine[:3, :3] / zooms
    gw = g @ rot.T
    norm = np.linalg.norm(gw, axis=-1, keepdims=True)
    return np.where(norm > 0, gw / np.maximum(norm, 1e-12), 0.0)


def concentricity(
    lesion: np.ndarray, displacement: np.ndarray, affine: np.ndarray, *, fraction: float = 0.5
) -> float:
    """Share of a lesion's boundary voxels that move outward, relative to the lesion's mean displacement.

    A boundary voxel counts when its outward displacement reaches ``fraction`` of the boundary's
    mean outward displacement (the uniform edge shift that would give the same volume change), so
    growth concentrated on one side (a new lesion merging) scores low while growth all around
    scores near 1. For a lesion that does not grow on average, any outward movement counts.

    Parameters
    ----------
    lesion : numpy.ndarray of bool
        The lesion (a crop around it is enough).
    displacement : numpy.ndarray
        RAS mm displacement (baseline point ``x`` -> follow-up ``x + u``), shape ``(*lesion.shape, 3)``.
    affine : numpy.ndarray
        Voxel-to-RAS affine of the grid.
    fraction : float
        Share of the mean outward displacement a boundary voxel needs to count (0..1).

    Returns
    -------
    float
        In [0, 1]: 1 when the whole edge moves out (concentric growth), about 0.5 for a stable lesion
        or growth on one side only, 0 for a shrinking lesion; NaN for a lesion without boundary voxels.
    """
    les = np.asarray(lesion, bool)
    edge = les & ~ndimage.binary_erosion(les)
    if not edge.any():
        return float("nan")
    n = _outward_normals(les, affine)[edge]
    u = displacement[edge] - displacement[les].mean(axis=0)
    out = (u * n).sum(axis=1)
    valid = np.linalg.norm(n, axis=1) > 0
    if not valid.any():
        return float("nan")
    mean_out = float(out[valid].mean())
    thr = fraction * mean_out if mean_out > 0 else 0.0
    return float((out[valid] > thr).mean())


def seeded_candidates(
    expansion: np.ndarray,
    lesion_labels: np.ndarray,
    s: SELSettings,
    seed_lesions: Sequence[int] = (),
) -> np.ndarray:
    """Seeded region growing inside the lesions; returns the lesion label at candidate voxels, else 0.

    Voxels of a lesion with ``expansion >= seed_pct_per_year`` seed regions that grow through
    contiguous (``connectivity``) voxels of the same lesion with ``expansion >=
    growth_pct_per_year``; regions of at least ``min_voxels`` voxels are kept. Every growing voxel
    of a lesion in ``seed_lesions`` (lesions that expand as a whole) is a seed too.
    """
    rank = {6: 1, 18: 2, 26: 3}[s.connectivity]
    st = ndimage.generate_binary_structure(3, rank)
    inside = lesion_labels > 0
    grow = inside & (expansion >= s.growth_pct_per_year)
    seeds = inside & (expansion >= s.seed_pct_per_year)
    if len(seed_lesions):
        seeds |= grow & np.isin(lesion_labels, np.asarray(list(seed_lesions), int))
    comp, n = ndimage.label(grow, structure=st)
    if n == 0:
        return np.zeros(lesion_labels.shape, np.int32)
    # region growing must stay within one lesion: split components by lesion label
    key = comp.astype(np.int64) * (int(lesion_labels.max()) + 1) + lesion_labels
    key[~grow] = 0
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(key.shape)
    seeded = np.zeros(uniq.size, bool)
    seeded[np.unique(inv[seeds])] = True
    sizes = np.bincount(inv.ravel(), minlength=uniq.size)
    keep = seeded & (sizes >= s.min_voxels)
    keep[uniq == 0] = False
    out = np.where(keep[inv] & grow, lesion_labels, 0)
    return out.astype(np.int32)


def score_lesions(
    lesions: np.ndarray,
    labels_ref: np.ndarray,
    cand: np.ndarray,
    jc: list[np.ndarray],
    disp: list[np.ndarray],
    warped_t1: list[np.ndarray],
    brain_ref: np.ndarray,
    yrs: np.ndarray,
    aff: np.ndarray,
    s: SELSettings,
    measures: Mapping[str, Mapping[int, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Per-lesion scores and classes of a registered series (all arrays in the halfway space).

    Parameters
    ----------
    lesions : numpy.ndarray of int
        Baseline lesion labels on the baseline grid (geometry is measured there).
    labels_ref, cand : numpy.ndarray of int
        Lesion labels and candidate voxels (their lesion's label) in the halfway space.
    jc : list of numpy.ndarray
        Atrophy-corrected Jacobian of each follow-up.
    disp : list of numpy.ndarray
        RAS mm displacement of each follow-up (the last drives concentricity).
    warped_t1 : list of numpy.ndarray
        T1 of every time point warped onto the baseline.
    brain_ref : numpy.ndarray of bool
        Brain in the halfway space.
    yrs : numpy.ndarray
        Years since baseline of every time point (0 first).
    aff : numpy.ndarray
        Affine of the grid.
    s : SELSettings
    measures : mapping, optional
        Measure name (``segmented``, ``signal``, ``ring``) -> label -> atrophy-corrected volume
        ratio of every follow-up to baseline (:func:`smoulder.imaging.sel.volume.lesion_ratios`);
        each is written as ``<name>_expansion_pct_per_year``.

    Returns
    -------
    pandas.DataFrame
        Geometry, ``expansion_pct_per_year`` (the measure of ``s.expansion_measure``; the
        Jacobian where it cannot be measured), ``jacobian_``, ``segmented_``, ``signal_`` and
        ``ring_expansion_pct_per_year``, ``volume_change_pct``, ``concentricity``,
        ``constancy``, ``min_interval_pct_per_year``, ``candidate_voxels``,
        ``candidate_volume_mm3``, ``candidate_expansion_pct_per_year``, ``t1_change_pct``, ``sel``
        and ``note``, one row per baseline lesion.
    """
    n = len(yrs)
    t_fu = yrs[1:]
    shape = labels_ref.shape
    zooms = Volume(labels_ref, aff).zooms
    geom = lesion_geometry(lesions.astype(np.int32), aff)
    shell_out = ndimage.binary_dilation(
        labels_ref > 0, iterations=max(1, int(round(5.0 / zooms.min())))
    )
    other = ndimage.binary_dilation(labels_ref > 0, iterations=1)
    rows = []
    objs = ndimage.find_objects(labels_ref)
    pad = np.maximum(np.ceil(6.0 / zooms).astype(int), 2)
    for lab in geom["label"].astype(int):
        row: dict[str, Any] = {"label": lab}
        sl = objs[lab - 1] if lab - 1 < len(objs) else None
        if sl is None:
            rows.append(
                row | {"note": "lesion vanished when resampled to the halfway space (too small)"}
            )
            continue
        box = tuple(
            slice(max(a.start - p, 0), min(a.stop + p, dim))
            for a, p, dim in zip(sl, pad, shape, strict=True)
        )
        les = labels_ref[box] == lab
        cl = cand[box] == lab
        ratios = np.array([float(j[box][les].mean()) for j in jc])
        row["jacobian_expansion_pct_per_year"] = log_fit_pct(t_fu, ratios)
        for name in MEASURES:
            got = (measures or {}).get(name, {}).get(lab)
            r_k = np.full(len(t_fu), np.nan) if got is None else np.asarray(got, float)
            ok = bool(np.isfinite(r_k).all())
            row[f"{name}_expansion_pct_per_year"] = log_fit_pct(t_fu, r_k) if ok else np.nan
            if ok and s.expansion_measure == name:
                ratios = r_k
        row["expansion_pct_per_year"] = log_fit_pct(t_fu, ratios)
        row["volume_change_pct"] = float((ratios[-1] - 1.0) * 100.0)
        sub_aff = aff.copy()
        sub_aff[:3, 3] = aff[:3, :3] @ np.array([b.start for b in box]) + aff[:3, 3]
        row["concentricity"] = concentricity(
            les, disp[-1][box], sub_aff, fraction=s.outward_fraction
        )
        region = cl if cl.any() else les
        series = np.concatenate([[1.0], [float(j[box][region].mean()) for j in jc]])
        if n >= 3:
            dt = np.diff(yrs)
            rates = (
                np.power(np.clip(series[1:] / series[:-1], 1e-6, None), 1.0 / dt) - 1.0
            ) * 100.0
            row["constancy"] = float((rates > s.min_interval_pct_per_year).mean())
            row["min_interval_pct_per_year"] = float(rates.min())
        else:
            row["constancy"] = float("nan")
            row["min_interval_pct_per_year"] = float("nan")
        row["candidate_voxels"] = int(cl.sum())
        row["candidate_volume_mm3"] = float(cl.sum() * np.prod(zooms))
        row["candidate_expansion_pct_per_year"] = (
            log_fit_pct(t_fu, series[1:]) if cl.any() else float("nan")
        )
        # T1 signal inside the candidate (or lesion) relative to perilesional white matter, warped to baseline
        shell = shell_out[box] & ~other[box] & brain_ref[box]
        if shell.sum() >= 5:
            r0 = np.median(warped_t1[0][box][region]) / max(
                np.median(warped_t1[0][box][shell]), 1e-6
            )
            rl = np.median(warped_t1[-1][box][region]) / max(
                np.median(warped_t1[-1][box][shell]), 1e-6
            )
            row["t1_change_pct"] = float((rl / r0 - 1.0) * 100.0) if r0 > 0 else float("nan")
        else:
            row["t1_change_pct"] = float("nan")
        rows.append(row)
    scores = pd.DataFrame(rows)
    table = geom.merge(scores, on="label", how="left")
    for c in (
        "expansion_pct_per_year",
        "jacobian_expansion_pct_per_year",
        *(f"{m}_expansion_pct_per_year" for m in MEASURES),
        "volume_change_pct",
        "concentricity",
        "constancy",
        "min_interval_pct_per_year",
        "candidate_volume_mm3",
        "candidate_expansion_pct_per_year",
        "t1_change_pct",
    ):
        if c not in table:
            table[c] = np.nan
        table[c] = table[c].astype(float)
    table["candidate_voxels"] = (
        table.get("candidate_voxels", pd.Series(0, index=table.index)).fillna(0).astype(int)
    )
    if "note" not in table:
        table["note"] = ""
    table["note"] = table["note"].fillna("")
    sel, notes = [], []
    for _, r in table.iterrows():
        v, why = classify(r, n_timepoints=n, settings=s)
        sel.append(v)
        notes.append("; ".join(x for x in (r["note"], why) if x))
    table["sel"] = sel
    table["note"] = notes
    table = table[[c for c in table.columns if c != "note"] + ["note"]]

    return table


def classify(row: Any, *, n_timepoints: int, settings: SELSettings) -> tuple[str, str]:
    """The documented rule: ``(class, reason)`` for one lesion row (see module docstring)."""
    s = settings
    if not row.get("candidate_voxels", 0):
        return "no", "no expansion candidate"
    conc = row.get("concentricity", np.nan)
    const = row.get("constancy", np.nan)
    reasons = []
    if not (np.isfinite(conc) and conc >= s.min_concentricity):
        reasons.append(f"not concentric ({conc:.2f} < {s.min_concentricity:.2f})")
    if n_timepoints < 3:
        if not s.definite_without_constancy:
            reasons.append("constancy needs >= 3 time points")
    elif not (np.isfinite(const) and const >= s.min_constancy):
        reasons.append(f"not constant ({const:.2f} < {s.min_constancy:.2f})")
    if reasons:
        return "possible", "; ".join(reasons)
    return "definite", ""


__all__ = ["log_fit_pct", "concentricity", "seeded_candidates", "score_lesions", "classify"]
