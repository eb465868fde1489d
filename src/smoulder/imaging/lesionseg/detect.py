"""Seeds, lesion growth, labelling and location classes (pure numpy/scipy on the FLAIR grid)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.imaging.lesionseg.settings import LesionSegSettings

__all__ = ["detect", "label", "label_stat", "location_classes", "lesion_table", "LOCATION_CLASSES"]

LOCATION_CLASSES = ("periventricular", "juxtacortical", "infratentorial", "deep white matter")


def _structure(connectivity: int) -> np.ndarray:
    return ndimage.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])


def _sigma_vox(mm: float, zooms: np.ndarray) -> list[float]:
    return [mm / float(z) for z in zooms]


def label_stat(values: np.ndarray, labels: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-label ``max``, ``min``, ``mean`` or ``sum`` of ``values`` for labels 0..n (0 unused).

    Works on the labelled voxels only (scipy's labelled maximum sorts the whole volume).
    """
    m = labels > 0
    lab = labels[m].astype(np.intp)
    v = np.asarray(values)[m].astype(np.float64)
    if how == "max":
        out = np.full(n + 1, -np.inf)
        np.maximum.at(out, lab, v)
    elif how == "min":
        out = np.full(n + 1, np.inf)
        np.minimum.at(out, lab, v)
    else:
        tot = np.bincount(lab, weights=v, minlength=n + 1)
        if how == "sum":
            return tot
        cnt = np.bincount(lab, minlength=n + 1)
        out = tot / np.maximum(cnt, 1)
    return out


def wm_surround(
    pw: np.ndarray, brain: np.ndarray, sigma_mm: float, zooms: np.ndarray
) -> np.ndarray:
    """Share of white matter around each voxel (hard WM class smoothed over ``sigma_mm``)."""
    wm = ((pw > 0.5) & brain).astype(np.float32)
    return ndimage.gaussian_filter(wm, _sigma_vox(sigma_mm, zooms))


def detect(
    z: np.ndarray,
    zg: np.ndarray,
    pw: np.ndarray,
    pc: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    settings: LesionSegSettings,
    *,
    wm_extra: np.ndarray | None = None,
    contrast: np.ndarray | None = None,
    infratentorial: np.ndarray | None = None,
    ventricles: np.ndarray | None = None,
    t1_ratio: np.ndarray | None = None,
    cortex: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Binary lesion mask: seeds at high z, grown at lower z inside white matter's surroundings.

    Steps (all distances in mm, so thick slices are handled as they are):

    1. *Where lesions may be*: inside the brain, at least ``edge_margin_mm`` from its edge, not
       CSF (``pc < 0.5``), and with at least ``wm_fraction`` white matter around
       (:func:`wm_surround`): this keeps detection out of cortex and off CSF edges while keeping
       periventricular and juxtacortical lesions, whose surroundings are still mostly white matter.
    2. *Seeds*: voxels with ``z >= z_seed`` and ``zg >= zg_seed`` (brighter than white matter and
       than cortex; the second test is waived where the surroundings are at least
       ``deep_fraction`` white matter, or, with ``cortex_free_mm`` > 0 and the subject's
       ``cortex`` (grey matter inside the registered cortex prior), at least ``cortex_free_mm``
       from it: there a FLAIR-bright voxel cannot be cortex, whatever its brightness relative to
       cortex); a seed region needs ``min_seed_voxels`` voxels unless its peak reaches
       ``z_strong``. A seed may be a single voxel: there is no morphological opening.
       *Small-lesion seeds*: where ``z_seed_low < z_seed``, weaker seed regions
       (``z >= z_seed_low``) count too when they are confirmed on ``low_seed_slices`` consecutive
       slices of the acquisition (the axis with the thickest voxels) and, with a T1
       (``t1_ratio``: T1 over its local white matter), are not brighter than white matter on it
       (``t1_ratio <= t1_max_ratio`` at their median): lesions are hypo- or isointense on T1.
    3. *Growth*: each seed floods (watershed on -z) the connected voxels with ``z >= z_grow``
       (grey-matter-like voxels only where they are also brighter than cortex, ``zg >= zg_grow``);
       of its basin it keeps the voxels whose unsmoothed ``contrast`` to white matter is at least
       ``grow_fraction`` of the basin's peak contrast (0.5: the half-maximum edge), so the
       smoothing used for detection does not widen the lesion.
    4. Lesions smaller than ``min_lesion_voxels`` are dropped, and so are those whose ring of
       ``shell_mm`` around them holds less than ``shell_wm_min`` white matter (or CSF of the
       ventricles when ``shell_counts_csf``) unless their peak zg reaches ``zg_keep``: a lesion
       sits in white matter, a bright strip along the inner edge of the cortex does not.

    Returns
    -------
    mask, counts
        The lesion mask and how many seeds / lesions each step kept.
    """
    from skimage.segmentation import watershed

    s = settings
    zooms = np.asarray(zooms, float)
    st = _structure(s.connectivity)
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
    wm_hard = (pw >= 0.5) if wm_extra is None else ((pw >= 0.5) | wm_extra)
    # lesion-bright voxels (brighter than cortex) count as white matter's: a large lesion's own
    # core must not make its surroundings look like grey matter
    surround = wm_surround(
        (wm_hard | (zg >= s.zg_seed)).astype(np.float32), brain, s.wm_sigma_mm, zooms
    )
    region = brain & (depth >= s.edge_margin_mm) & (pc < 0.5) & (surround >= s.wm_fraction)
    z_need: np.ndarray | float = float(s.z_seed)
    if infratentorial is not None:
        # brainstem and cerebellum are brighter and more variable on FLAIR: stronger seeds there
        z_need = np.where(infratentorial, s.z_seed + s.infratentorial_z_extra, s.z_seed)
    no_zg = surround >= s.deep_fraction
    if s.cortex_free_mm > 0 and cortex is not None:
        if np.asarray(cortex).any():
            d_c = ndimage.distance_transform_edt(~np.asarray(cortex, bool), sampling=zooms)
            no_zg |= d_c >= s.cortex_free_mm
        else:
            no_zg |= True
    where_ok = region & ((zg >= s.zg_seed) | no_zg)
    seeds = where_ok & (z >= z_need)
    n_low = 0
    if s.z_seed_low < s.z_seed:
        low = where_ok & (z >= np.asarray(z_need) - (s.z_seed - s.z_seed_low)) & ~seeds
        ml, nl = ndimage.label(low | seeds, structure=st)
        if nl:
            axis = int(np.argmax(zooms)) if float(np.ptp(zooms)) > 1e-3 else 2
            ok_low = np.zeros(nl + 1, bool)
            objs = ndimage.find_objects(ml)
            for i, sl in enumerate(objs, start=1):
                if sl is None:
                    continue
                part = ml[sl] == i
                ok_low[i] = int(part.any(axis=tuple(a for a in range(3) if a != axis)).sum()) >= (
                    s.low_seed_slices
                )
            if t1_ratio is not None:
                med = label_stat(np.asarray(t1_ratio, np.float32), ml, nl, "mean")
                ok_low &= med <= s.t1_max_ratio
            had = np.zeros(nl + 1, bool)
            had[np.unique(ml[seeds])] = True
            ok_low &= ~had
            ok_low[0] = False
            n_low = int(ok_low.sum())
            seeds = seeds | (ok_low[ml] & low)
    mk, n_seed = ndimage.label(seeds, structure=st)
    counts = {"seed_regions": int(n_seed), "low_seed_regions": n_low}
    if n_seed == 0:
        counts.update(seeds_kept=0, lesions=0)
        return np.zeros(z.shape, bool), counts
    size = label_stat(np.ones(z.shape, np.float32), mk, n_seed, "sum")[1:]
    peak = label_stat(z, mk, n_seed, "max")[1:]
    ok = (size >= s.min_seed_voxels) | (peak >= s.z_strong)
    if n_low:
        # a confirmed low seed spans two slices already: its size test is passed
        ok |= peak < float(s.z_seed)
    lut = np.zeros(n_seed + 1, np.int32)
    lut[1:][ok] = np.arange(1, int(ok.sum()) + 1)
    markers = lut[mk]
    n_kept = int(ok.sum())
    counts["seeds_kept"] = n_kept
    if n_kept == 0:
        counts["lesions"] = 0
        return np.zeros(z.shape, bool), counts
    grow_ok = region & (z >= s.z_grow) & (wm_hard | (zg >= s.zg_grow))
    grow_ok |= markers > 0
    basins = watershed(-z, markers, mask=grow_ok, connectivity=st)
    # the edge: where the unsmoothed contrast falls below grow_fraction of the basin's peak
    edge_map = z if contrast is None else contrast
    peaks = np.zeros(n_kept + 1, np.float32)
    peaks[:] = label_stat(edge_map, basins, n_kept, "max")
    floor = float(s.grow_contrast_min) if contrast is not None else -np.inf
    keep = (basins > 0) & (edge_map >= np.maximum(s.grow_fraction * peaks[basins], floor))
    # a seed voxel was judged by its z already: the contrast floor applies to growth only
    keep |= (markers > 0) & (edge_map >= s.grow_fraction * peaks[markers])
    lab, n = ndimage.label(keep, structure=st)
    if n == 0:
        counts.update(grown=0, lesions=0)
        return keep, counts
    counts["grown"] = int(n)
    sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
    good = sizes >= s.min_lesion_voxels
    # surrounded by white matter (or ventricles)? the ring of shell_mm around each lesion
    accept = (wm_hard | (pc >= 0.5)) & brain if s.shell_counts_csf else wm_hard & brain
    wm_share = shell_share(lab, n, accept, zooms, s.shell_mm)
    zg_peak = label_stat(zg, lab, n, "max")
    good &= (wm_share >= s.shell_wm_min) | (zg_peak >= s.zg_keep)
    if ventricles is not None and np.asarray(ventricles).any():
        # a thin bright band lining the ventricles (ependyma, caps) is not a lesion: drop lesions
        # that stay within lining_mm of the ventricles with most of their voxels at the wall
        d_v = ndimage.distance_transform_edt(~np.asarray(ventricles, bool), sampling=zooms)
        far = label_stat(d_v, lab, n, "max")
        wall = label_stat(
            (d_v <= 1.5 * float(zooms.min()) + 1e-6).astype(np.float32), lab, n, "mean"
        )
        lining = (far <= s.lining_mm) & (wall >= 0.5)
        good &= ~lining | (zg_peak >= s.zg_keep)
        counts["lining_dropped"] = int((lining[1:] & (sizes[1:] >= s.min_lesion_voxels)).sum())
        if s.band_radius_mm > 0:
            # a thin band along the ventricle wall (ependymal lining, a septum or a thin cap):
            # at most 2 * band_radius_mm thick, elongated, mostly within band_near_mm of the
            # ventricles; an ovoid periventricular lesion is thicker than it is near the wall
            band = thin_bands(
                lab, n, d_v, zooms, s.band_radius_mm, s.band_near_mm, s.band_length_mm
            )
            band &= sizes >= s.min_lesion_voxels
            counts["band_dropped"] = int((band[1:] & good[1:]).sum())
            good &= ~band
    good[0] = False
    counts["lesions"] = int(good.sum())
    return good[lab], counts


def thin_bands(
    lab: np.ndarray,
    n: int,
    d_v: np.ndarray,
    zooms: np.ndarray,
    radius_mm: float,
    near_mm: float,
    length_mm: float,
) -> np.ndarray:
    """Labels 0..n that are thin bands along the ventricles (index 0 unused, False).

    A band's inscribed radius (largest in-lesion distance to its edge, mm) is at most
    ``radius_mm``, at least half of its voxels lie within ``near_mm`` of the ventricles
    (``d_v``: distance to them in mm), and its bounding box is at least ``length_mm`` long.
    """
    zooms = np.asarray(zooms, float)
    inside = ndimage.distance_transform_edt(np.pad(lab > 0, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
    radius = label_stat(inside, lab, n, "max")
    near = label_stat((np.asarray(d_v) <= near_mm).astype(np.float32), lab, n, "mean")
    length = np.zeros(n + 1)
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is not None:
            length[i] = max((b.stop - b.start) * float(z) for b, z in zip(sl, zooms, strict=True))
    out = (radius <= radius_mm + 1e-6) & (near >= 0.5) & (length >= length_mm)
    out[0] = False
    return out


def shell_share(
    lab: np.ndarray, n: int, accept: np.ndarray, zooms: np.ndarray, shell_mm: float
) -> np.ndarray:
    """For each label 1..n, the share of its surrounding ring (``shell_mm`` wide) in ``accept``.

    Index 0 of the result is unused. Where two rings meet, the voxel counts for the larger label
    (grey dilation); that is rare and only at the meeting point.
    """
    zooms = np.asarray(zooms, float)
    rad = [int(np.ceil(shell_mm / float(z))) for z in zooms]
    g = np.ogrid[tuple(slice(-r, r + 1) for r in rad)]
    foot = (
        sum((gi * float(z) / max(shell_mm, 1e-6)) ** 2 for gi, z in zip(g, zooms, strict=True))
        <= 1.0
    )
    dil = ndimage.grey_dilation(lab, footprint=foot)
    ring = (dil > 0) & (lab == 0)
    tot = np.bincount(dil[ring], minlength=n + 1).astype(float)
    ok = np.bincount(dil[ring & accept], minlength=n + 1).astype(float)
    share = np.where(tot > 0, ok / np.maximum(tot, 1), 1.0)
    return share


def label(mask: np.ndarray, connectivity: int = 26) -> np.ndarray:
    """Connected lesions numbered 1..N in memory order of their first voxel (deterministic)."""
    lab, n = ndimage.label(mask, structure=_structure(connectivity))
    return lab.astype(np.int32)


def location_classes(
    labels: np.ndarray,
    zooms: np.ndarray,
    *,
    ventricles: np.ndarray,
    cortex: np.ndarray,
    infratentorial: np.ndarray,
    periventricular_mm: float,
    juxtacortical_mm: float,
) -> dict[int, str]:
    """Location class of each lesion (MAGNIMS 2021 / McDonald 2017 topography).

    In order of precedence: *infratentorial* when at least half of the lesion lies in the
    brainstem/cerebellum region; *periventricular* when any voxel is within ``periventricular_mm``
    of the lateral ventricles; *juxtacortical* when any voxel is within ``juxtacortical_mm`` of
    cortex; otherwise *deep white matter*.
    """
    zooms = np.asarray(zooms, float)
    present = np.unique(labels[labels > 0])
    if present.size == 0:
        return {}
    d_v = ndimage.distance_transform_edt(~np.asarray(ventricles, bool), sampling=zooms)
    d_c = ndimage.distance_transform_edt(~np.asarray(cortex, bool), sampling=zooms)
    if not np.asarray(ventricles, bool).any():
        d_v = np.full(labels.shape, np.inf)
    if not np.asarray(cortex, bool).any():
        d_c = np.full(labels.shape, np.inf)
    nl = int(labels.max())
    infra = label_stat(np.asarray(infratentorial, bool).astype(np.float32), labels, nl, "mean")[
        present
    ]
    dv = label_stat(d_v, labels, nl, "min")[present]
    dc = label_stat(d_c, labels, nl, "min")[present]
    out = {}
    for lab_, fi, v, c in zip(present, infra, dv, dc, strict=True):
        if fi >= 0.5:
            out[int(lab_)] = "infratentorial"
        elif v <= periventricular_mm:
            out[int(lab_)] = "periventricular"
        elif c <= juxtacortical_mm:
            out[int(lab_)] = "juxtacortical"
        else:
            out[int(lab_)] = "deep white matter"
    return out


def lesion_table(
    labels: np.ndarray,
    affine: np.ndarray,
    locations: dict[int, str],
    z: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per lesion: label, voxels, volume (mm3), centroid (world mm), location class, peak z."""
    affine = np.asarray(affine, float)
    vox = float(abs(np.linalg.det(affine[:3, :3])))
    present = np.unique(labels[labels > 0])
    cols = [
        "label",
        "n_voxels",
        "volume_mm3",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "location",
        "peak_z",
    ]
    if present.size == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c == "location" else float) for c in cols}
        ).astype({"label": int, "n_voxels": int})
    nl = int(labels.max())
    ones = np.ones(labels.shape, np.float32)
    counts = label_stat(ones, labels, nl, "sum")[present]
    idx = np.indices(labels.shape, dtype=np.float32)
    cent = np.stack([label_stat(idx[k], labels, nl, "mean")[present] for k in range(3)], axis=1)
    world = cent @ affine[:3, :3].T + affine[:3, 3]
    peak = (
        label_stat(z, labels, nl, "max")[present]
        if z is not None
        else np.full(present.size, np.nan)
    )
    return pd.DataFrame(
        {
            "label": present.astype(int),
            "n_voxels": counts.astype(int),
            "volume_mm3": counts * vox,
            "centroid_x_mm": world[:, 0],
            "centroid_y_mm": world[:, 1],
            "centroid_z_mm": world[:, 2],
            "location": [locations.get(int(v), "deep white matter") for v in present],
            "peak_z": np.asarray(peak, float),
        }
    )
