"""New and enlarging T2 lesions between two FLAIR scans (MRI activity), pure computation.

The steps, each with its settings in :class:`~smoulder.imaging.activity.ActivitySettings`
(documented in ``docs/mri_activity.md``):

1. **Halfway space.** The follow-up is registered to the baseline (ANTs, Mattes mutual
   information, rigid or affine), giving the world transform ``T`` (baseline point -> follow-up
   point). Both scans are resampled on the baseline grid through the halfway transform
   ``M = T^(1/2)`` (log-Euclidean mean, :func:`smoulder.imaging.registration.halfway_matrix`):
   each moves half way and is interpolated once, so neither is blurred more than the other. The
   pair is refused when the aligned scans do not resemble each other (structural correlation
   below ``min_similarity``).
2. **Intensities.** N4 bias correction of each scan, division by its normal-appearing white
   matter level (a percentile of the brain, lesions excluded), then division of the follow-up by
   the smooth residual ratio between the visits (``bias_sigma_mm``), so the two scans are on one
   scale everywhere.
3. **Change.** The smoothed difference ``V2 - V1`` in units of its robust noise SD (z); seeds
   above ``z_seed`` grow through voxels above ``z_grow`` that are hyperintense at follow-up;
   regions of ``min_voxels`` voxels and ``min_volume_mm3`` are changes.
4. **New or enlarging.** A change away from every baseline lesion is a new lesion; a baseline
   lesion whose excess FLAIR signal grew by ``enlarging_pct`` and that holds a change is an
   enlarging lesion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder import __version__
from smoulder._progress import announce
from smoulder.exceptions import InputDataError
from smoulder.imaging import registration as sr
from smoulder.imaging.activity.classify import classify_changes
from smoulder.imaging.activity.result import ActivityResult
from smoulder.imaging.activity.settings import ActivitySettings
from smoulder.schema.images import Volume, check_has_signal, check_overlap, parse_dates

__all__ = ["detect_activity", "halfway_pair"]


def _check_volume(vol: Volume, what: str) -> None:
    if vol.data.ndim != 3:
        raise InputDataError(
            f"{what} has {vol.data.ndim} dimensions (shape {vol.data.shape})",
            file=vol.source,
            expected=f"a 3-D image for {what} (one volume, not a time series)",
        )
    check_has_signal(vol, what)


def _check_labels(lab: Volume | None, ref: Volume, what: str) -> np.ndarray | None:
    if lab is None:
        return None
    if lab.shape != ref.shape or not np.allclose(lab.affine, ref.affine, atol=1e-3):
        raise InputDataError(
            f"{what} is not on the baseline FLAIR's grid (shape {lab.shape} vs {ref.shape}, or "
            "another affine)",
            file=lab.source,
            expected=f"{what} drawn on the first --flair image (same shape and affine)",
        )
    d = np.asarray(lab.data)
    bad = (d < 0) | (d != np.round(d))
    if bad.any():
        v = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), d.shape))
        raise InputDataError(
            f"{what} holds a value that is not a whole number >= 0 at voxel {v}",
            file=lab.source,
            value=float(d[v]),
            expected=f"{what} as 0 (background) and whole-number labels or 1 (a binary mask)",
        )
    return d.astype(np.int32)


def halfway_pair(
    f1: Volume, f2: Volume, settings: ActivitySettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Register ``f2`` to ``f1`` and resample both half way, on ``f1``'s grid.

    Returns
    -------
    (a1, a2, support, T, M)
        The two scans in the halfway space, where both have data, the world transform ``T``
        (baseline point -> follow-up point) and the halfway matrix ``M``.
    """
    kind = "Rigid" if settings.registration == "rigid" else "Affine"
    tx = sr.linear_transform(f1, f2, kind=kind, seed=settings.seed, threads=settings.threads)
    m = sr.halfway_matrix([np.eye(4), tx])
    m_inv = np.linalg.inv(m)
    shape = f1.shape
    a1 = sr.resample(f1.data, f1.affine, shape, f1.affine, m_inv)
    a2 = sr.resample(f2.data, f2.affine, shape, f1.affine, tx @ m_inv)
    fov1 = sr.resample(np.ones(f1.shape, np.uint8), f1.affine, shape, f1.affine, m_inv, order=0)
    fov2 = sr.resample(
        np.ones(f2.shape, np.uint8), f2.affine, shape, f1.affine, tx @ m_inv, order=0
    )
    support = (fov1 > 0) & (fov2 > 0)
    return a1, a2, support, tx, m


def _brain(a1: np.ndarray, a2: np.ndarray, support: np.ndarray, thr: float) -> np.ndarray:
    """Head/brain voxels: both scans above ``thr`` of their 99th percentile, holes filled."""
    m = support.copy()
    for a in (a1, a2):
        pos = a[support & (a > 0)]
        lim = thr * float(np.percentile(pos, 99)) if pos.size else 0.0
        m &= ndimage.gaussian_filter(a, 1.0) > lim
    m = ndimage.binary_opening(m, iterations=1)
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        m = lab == int(np.argmax(sizes))
    filled: np.ndarray = ndimage.binary_fill_holes(m)
    return filled


def _hp_similarity(a: np.ndarray, b: np.ndarray, mask: np.ndarray, zooms: np.ndarray) -> float:
    sig = 8.0 / zooms

    def hp(x: np.ndarray) -> np.ndarray:
        return x - ndimage.gaussian_filter(x.astype(np.float32), sig)

    return sr.correlation(hp(a), hp(b), mask)


def _normalise(
    a1: np.ndarray,
    a2: np.ndarray,
    brain: np.ndarray,
    lesion_zone: np.ndarray,
    zooms: np.ndarray,
    s: ActivitySettings,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    ref = brain & ~lesion_zone
    levels = []
    out = []
    for a in (a1, a2):
        v = a[ref]
        level = float(np.percentile(v, s.nawm_percentile)) if v.size else 1.0
        levels.append(level)
        out.append((a / max(level, 1e-12)).astype(np.float32))
    n1, n2 = out
    ratio_sd = 0.0
    if s.bias_sigma_mm > 0:
        ok = ref & (n1 > 0.5) & (n2 > 0.5)
        r = np.zeros_like(n1)
        r[ok] = np.log(n2[ok] / n1[ok])
        ok &= np.abs(r) < 0.3
        w = ok.astype(np.float32)
        sig = s.bias_sigma_mm / zooms
        num = ndimage.gaussian_filter(r * w, sig)
        den = ndimage.gaussian_filter(w, sig)
        smooth = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0)
        ratio_sd = float(np.std(smooth[brain])) if brain.any() else 0.0
        n2 = (n2 / np.exp(smooth)).astype(np.float32)
    return n1, n2, {"level_1": levels[0], "level_2": levels[1], "ratio_field_sd": ratio_sd}


def _regions(
    lab: np.ndarray, zooms: np.ndarray, edge_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest baseline lesion of every voxel and the distance to it (mm)."""
    if not lab.any():
        z = np.zeros(lab.shape, np.int32)
        return z, np.full(lab.shape, np.inf, np.float32), np.zeros(0)
    dist, idx = ndimage.distance_transform_edt(lab == 0, sampling=zooms, return_indices=True)
    nearest = lab[tuple(idx)]
    n = int(lab.max())
    vols = np.bincount(lab.ravel(), minlength=n + 1).astype(float) * float(np.prod(zooms))
    return nearest.astype(np.int32), dist.astype(np.float32), vols


def detect_activity(
    flair1: Volume,
    flair2: Volume,
    dates: Sequence[Any],
    *,
    lesions: Volume | None = None,
    brain_mask: Volume | None = None,
    subject: str = "sub",
    settings: ActivitySettings | None = None,
) -> ActivityResult:
    """New and enlarging T2 lesions of a follow-up FLAIR against a baseline FLAIR.

    Parameters
    ----------
    flair1, flair2 : Volume
        Baseline and follow-up FLAIR (any grids and orientations: they are registered).
    dates : sequence of two dates
        ISO dates of the two scans, strictly increasing.
    lesions : Volume, optional
        Baseline lesion labels (or a binary mask) on ``flair1``'s grid. Without it every change
        is new (there is nothing to enlarge).
    brain_mask : Volume, optional
        Brain mask on ``flair1``'s grid (default: the voxels with signal in both scans).
    subject : str
        Subject id written in the activity table.
    settings : ActivitySettings, optional
        Every parameter (defaults in docs/mri_activity.md).

    Returns
    -------
    ActivityResult
        ``changes`` (one row per new lesion and per growing baseline lesion), ``activity`` (the
        table ``smoulder progression --mri-activity`` reads), the halfway-space maps for QC.

    Raises
    ------
    InputDataError
        An image that is not 3-D or is constant, images that do not overlap or do not resemble
        each other after registration, a lesion or brain mask off the baseline grid.
    SettingsError
        Dates missing, not ISO or not strictly increasing.

    Examples
    --------
    >>> res = detect_activity(v1, v2, ["2020-01-15", "2021-01-20"], lesions=les)  # doctest: +SKIP
    >>> res.activity  # doctest: +SKIP
    """
    s = settings or ActivitySettings()
    t0 = time.perf_counter()
    iso, years = parse_dates(dates, 2)
    _check_volume(flair1, "baseline FLAIR")
    _check_volume(flair2, "follow-up FLAIR")
    check_overlap(flair1, flair2, "the follow-up FLAIR", reference="the baseline FLAIR")
    lab0 = _check_labels(lesions, flair1, "the baseline lesion mask")
    bm0 = _check_labels(brain_mask, flair1, "the brain mask")
    zooms = flair1.zooms
    seconds: dict[str, float] = {}

    announce("registering the follow-up to the baseline (halfway space)")
    a1, a2, support, tx, m = halfway_pair(flair1, flair2, s)
    seconds["registration"] = time.perf_counter() - t0
    m_inv = np.linalg.inv(m)
    shape = flair1.shape
    if lab0 is not None:
        lab = sr.resample(lab0, flair1.affine, shape, flair1.affine, m_inv, order=0).astype(
            np.int32
        )
        if lab.max() > 0 and np.unique(lab0).size == 2:  # a binary mask: one label per component
            lab, _ = ndimage.label(lab > 0, structure=np.ones((3, 3, 3)))
    else:
        lab = np.zeros(shape, np.int32)
    if bm0 is not None:
        brain = sr.resample(bm0, flair1.affine, shape, flair1.affine, m_inv, order=0) > 0
        brain &= support
    else:
        brain = _brain(a1, a2, support, s.brain_threshold)
    if brain.sum() < 100:
        raise InputDataError(
            "the two scans share fewer than 100 voxels with signal after registration",
            file=flair2.source,
            expected="two FLAIR scans of the same head (overlapping fields of view)",
        )
    similarity = _hp_similarity(a1, a2, brain, zooms)
    if not similarity >= s.min_similarity:
        raise InputDataError(
            f"the follow-up does not resemble the baseline after registration (structural "
            f"correlation {similarity:.3f} < min_similarity {s.min_similarity:.3f})",
            file=flair2.source,
            expected="a FLAIR of the same person as the baseline FLAIR",
        )
    t1 = time.perf_counter()
    if s.n4:
        from smoulder.imaging.lesionseg.register import n4_correct

        announce("correcting the bias fields (N4)")

        a1 = n4_correct(a1, flair1.affine, mask=brain)[0]
        a2 = n4_correct(a2, flair1.affine, mask=brain)[0]
    seconds["bias"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    announce("finding new and enlarging lesions")
    nearest, dist, base_vols = _regions(lab, zooms, s.edge_mm)
    zone = dist <= s.edge_mm
    n1, n2, levels = _normalise(a1, a2, brain, zone, zooms, s)

    # change: smoothed difference in units of its robust noise SD
    diff = n2 - n1
    if s.smooth_mm > 0:
        diff = ndimage.gaussian_filter(diff, s.smooth_mm / zooms)
    inner = ndimage.binary_erosion(brain, iterations=1)
    vals = diff[inner]
    centre = float(np.median(vals))
    sd = float(1.4826 * np.median(np.abs(vals - centre)))
    sd = max(sd, 1e-6)
    z = np.where(brain, (diff - centre) / sd, 0.0).astype(np.float32)
    hyper = n2 >= s.min_followup_ratio
    grow = inner & hyper & (z >= s.z_grow)
    seeds = grow & (z >= s.z_seed)
    comp, n_comp = ndimage.label(grow, structure=np.ones((3, 3, 3)))
    vox_mm3 = float(np.prod(zooms))
    keep: list[int] = []
    if n_comp:
        has_seed = np.bincount(comp[seeds], minlength=n_comp + 1) > 0
        sizes = np.bincount(comp.ravel(), minlength=n_comp + 1)
        for c in range(1, n_comp + 1):
            if has_seed[c] and sizes[c] >= s.min_voxels and sizes[c] * vox_mm3 >= s.min_volume_mm3:
                keep.append(c)
    changes = np.zeros(shape, np.int32)
    for i, c in enumerate(keep, start=1):
        changes[comp == c] = i
    seconds["change"] = time.perf_counter() - t1

    rows, change_ids = classify_changes(
        changes, lab, nearest, dist, base_vols, n1, n2, z, brain, zooms, s
    )
    # centroids in the follow-up scanner space: halfway point x is follow-up point T M^-1 x
    to_v2 = tx @ m_inv
    for r in rows:
        cv = np.asarray(r.pop("_centroid_vox"), float)
        w = flair1.affine[:3, :3] @ cv + flair1.affine[:3, 3]
        p = to_v2[:3, :3] @ w + to_v2[:3, 3]
        r["centroid_x_mm"], r["centroid_y_mm"], r["centroid_z_mm"] = (round(float(v), 2) for v in p)
    seconds["total"] = time.perf_counter() - t0
    return ActivityResult(
        settings=s,
        version=__version__,
        subject=str(subject),
        dates=iso,
        years=float(years[1]),
        rows=rows,
        change_labels=change_ids,
        baseline_labels=lab,
        flair_halfway=(n1, n2),
        z=z,
        brain=brain,
        affine=np.asarray(flair1.affine, float),
        transform=tx,
        halfway=m,
        similarity=float(similarity),
        noise_sd=sd,
        levels=levels,
        n_baseline_lesions=int(np.unique(lab[lab > 0]).size),
        lesions_given=lesions is not None,
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )
