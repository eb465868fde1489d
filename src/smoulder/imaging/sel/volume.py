"""Lesion volume change measured where it happens: the lesion's own FLAIR signal at every visit.

A smooth deformation spreads a small lesion's growth beyond its edge, so the Jacobian
integrated over the baseline lesion under-reads it (and the Jacobian over a wider region reads
tissue that is compressed or replaced, not the lesion). This module measures the lesion itself
instead, in the halfway space where every visit is aligned rigidly (not warped):

for a lesion ``k`` and a visit ``t``, the *excess signal*

    S_k(t) = sum over R_k of (I_t / b_t - 1),

where ``R_k`` is the lesion and its possible grown edge (voxels nearer to lesion ``k`` than to
any other lesion, within ``margin_mm + growth_share * r_k`` of it, ``r_k`` its equivalent radius),
``b_t`` the median FLAIR signal of a shell just outside ``R_k`` at visit ``t`` (the perilesional
white matter: a scanner gain, a bias field or a global drift cancel), and voxels that are dark
(``I_t / b_t < dark``: CSF, a ventricle that grows with atrophy) at any visit are left out at
every visit. ``S_k(t)`` is the lesion volume times its mean contrast: blurring (the scanner's
point-spread function, resampling, partial volume) moves signal across the edge but conserves
it, so ``S_k(t) / S_k(0)`` is the lesion's volume ratio whatever its size and however it grows
(pushing the tissue aside or replacing it), provided its contrast stays the same. The ratio is
divided by the global volume change of the brain (atrophy) before the annual rate is fitted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from smoulder.imaging.sel.settings import SELSettings


def _nearest_lesion(
    labels: np.ndarray, zooms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Voxel size (mm), the labels, and each voxel's distance (mm) to the nearest lesion and that
    lesion's label: the territories the measures below share. ``None`` without a lesion."""
    z = np.asarray(zooms, float)
    lab = np.asarray(labels)
    inside = lab > 0
    if not inside.any():
        return None
    dist, idx = ndimage.distance_transform_edt(~inside, sampling=z, return_indices=True)
    return z, lab, dist, lab[tuple(idx)]


def excess_signal(
    flair: Sequence[np.ndarray],
    labels: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    *,
    margin_mm: float = 3.0,
    growth_share: float = 0.25,
    shell_mm: float = 3.0,
    dark: float = 0.7,
    cores: dict[int, np.ndarray] | None = None,
) -> dict[int, np.ndarray]:
    """Excess FLAIR signal of every lesion at every visit (see the module docstring).

    Parameters
    ----------
    flair : sequence of numpy.ndarray
        FLAIR of every visit on one grid, rigidly aligned (the halfway space).
    labels : numpy.ndarray of int
        Baseline lesion labels on that grid (0 background).
    brain : numpy.ndarray of bool
        Voxels inside the brain at every visit.
    zooms : numpy.ndarray
        Voxel size (mm).
    margin_mm, growth_share : float
        Reach of the region beyond the baseline lesion: ``margin_mm`` plus ``growth_share`` of the
        lesion's equivalent radius (room for the blurred edge and for growth).
    shell_mm : float
        Width of the perilesional shell whose median is the reference signal ``b_t``.
    dark : float
        Voxels below this share of ``b_t`` at any visit are left out.
    cores : dict, optional
        Filled with label -> median excess ``I_t / b_t - 1`` of the lesion's core (the baseline
        lesion eroded by one voxel) at every visit, for :func:`contrast_factors`.

    Returns
    -------
    dict
        Label -> array of ``S_k(t)`` for every visit (NaN when the lesion has no shell voxels).

    Examples
    --------
    A ball of contrast 1 (radius 4 voxels) that grows to radius 5, blurred differently at the
    two visits; the excess-signal ratio is the ratio of the balls' voxel counts:

    >>> import numpy as np
    >>> from scipy import ndimage
    >>> r = np.sqrt(((np.indices((40, 40, 40)) - 19.5) ** 2).sum(axis=0))
    >>> v0 = ndimage.gaussian_filter(1.0 + (r <= 4), 0.6)
    >>> v1 = ndimage.gaussian_filter(1.0 + (r <= 5), 1.2)
    >>> s = excess_signal([v0, v1], (r <= 4).astype(int), r < 19, np.ones(3))
    >>> round(float(s[1][1] / s[1][0]), 2), round(float((r <= 5).sum() / (r <= 4).sum()), 2)
    (1.96, 1.97)
    """
    out: dict[int, np.ndarray] = {}
    near = _nearest_lesion(labels, zooms)
    if near is None:
        return out
    z, lab, dist, nearest = near
    voxel_mm3 = float(np.prod(z))
    objs = ndimage.find_objects(lab)
    for k, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        n_vox = int((lab[sl] == k).sum())
        radius = (3.0 * n_vox * voxel_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
        reach = margin_mm + growth_share * radius
        pad = np.ceil((reach + shell_mm + 1.0) / z).astype(int)
        box = tuple(
            slice(max(a.start - p, 0), min(a.stop + p, n))
            for a, p, n in zip(sl, pad, lab.shape, strict=True)
        )
        mine = (nearest[box] == k) & brain[box]
        d = dist[box]
        region = mine & (d <= reach)
        shell = mine & (d > reach) & (d <= reach + shell_mm)
        if shell.sum() < 5 or not region.any():
            out[k] = np.full(len(flair), np.nan)
            continue
        rel = []
        for img in flair:
            a = np.asarray(img[box], np.float64)
            b = float(np.median(a[shell]))
            rel.append(a / b if b > 0 else np.full(a.shape, np.nan))
        keep = region.copy()
        for r_t in rel:
            keep &= np.isfinite(r_t) & (r_t >= dark)
        out[k] = np.array([float((r_t[keep] - 1.0).sum()) for r_t in rel])
        core = ndimage.binary_erosion(lab[box] == k) & keep
        if cores is not None and core.sum() >= 3:
            cores[k] = np.array([float(np.median(r_t[core] - 1.0)) for r_t in rel])
    return out


def contrast_factors(cores: dict[int, np.ndarray]) -> np.ndarray | None:
    """Per-visit lesion contrast relative to baseline, the median over lesions' cores.

    A change of the scanner's contrast (another sequence version, a power law of the signal)
    changes every lesion's excess signal by about the same factor; the cores of the lesions
    (their voxels one voxel inside the baseline edge, lesion at every visit) show it. None when no
    lesion has a core.
    """
    rows = [v / v[0] for v in cores.values() if v[0] > 0 and np.isfinite(v).all()]
    if not rows:
        return None
    return np.median(np.array(rows), axis=0)


def ring_jacobian(
    jacobians: Sequence[np.ndarray],
    labels: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    *,
    margin_mm: float = 4.0,
    growth_share: float = 0.5,
    exclude: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """Lesion volume ratio from the Jacobian integrated over the lesion and its grown edge.

    For lesion ``k`` with ``n_k`` voxels and region ``R_k`` (the lesion and the voxels nearer to
    it than to any other lesion, within ``margin_mm + growth_share * r_k``, in ``brain`` and not
    in ``exclude``), the ratio at a follow-up with Jacobian ``J`` is

        1 + sum over R_k of (J - 1) / n_k,

    the volume the region gains, given to the lesion. ``sum_R J`` is the volume of the region's
    image, set by where its outer boundary goes, not by how the registration spreads the change
    inside it: a smooth deformation that spreads a small lesion's growth over its surroundings
    is read in full, provided the surroundings themselves keep their volume.

    Parameters
    ----------
    jacobians : sequence of numpy.ndarray
        Atrophy-corrected Jacobian determinant of each follow-up (one grid).
    labels : numpy.ndarray of int
        Baseline lesion labels on that grid.
    brain : numpy.ndarray of bool
        Brain voxels.
    zooms : numpy.ndarray
        Voxel size (mm).
    margin_mm, growth_share : float
        Reach of the region beyond the lesion.
    exclude : numpy.ndarray of bool, optional
        Voxels never counted (e.g. CSF, whose volume changes with atrophy).

    Returns
    -------
    dict
        Label -> volume ratio of every follow-up.

    Examples
    --------
    A deformation that adds 10 voxels of volume to lesion 1 but spreads it over 30 voxels of its
    edge (J = 1 + 1/3 there) reads 1 + 10 / n:

    >>> lab = np.zeros((20, 20, 20), int)
    >>> lab[8:12, 8:12, 8:12] = 1
    >>> j = np.ones(lab.shape)
    >>> j[6, 6:12, 6:11] = 1 + 1 / 3
    >>> round(float(ring_jacobian([j], lab, lab >= 0, np.ones(3))[1][0]), 4), 1 + 10 / 64
    (1.1562, 1.15625)
    """
    out: dict[int, np.ndarray] = {}
    near = _nearest_lesion(labels, zooms)
    if near is None:
        return out
    z, lab, dist, nearest = near
    usable = np.asarray(brain, bool) if exclude is None else np.asarray(brain, bool) & ~exclude
    voxel_mm3 = float(np.prod(z))
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        n_vox = int((lab[sl] == k).sum())
        radius = (3.0 * n_vox * voxel_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
        reach = margin_mm + growth_share * radius
        pad = np.ceil((reach + 1.0) / z).astype(int)
        box = tuple(
            slice(max(a.start - p, 0), min(a.stop + p, n))
            for a, p, n in zip(sl, pad, lab.shape, strict=True)
        )
        region = (nearest[box] == k) & (dist[box] <= reach) & (usable[box] | (lab[box] == k))
        out[k] = np.array(
            [
                1.0 + float((np.asarray(j[box], np.float64)[region] - 1.0).sum()) / n_vox
                for j in jacobians
            ]
        )
    return out


def _contrast_of(rel0: np.ndarray, lesion: np.ndarray) -> float:
    """A lesion's own baseline contrast: the median excess of its core (the lesion eroded by one
    voxel), or the 75th percentile of the whole lesion when it has fewer than 8 core voxels."""
    core = ndimage.binary_erosion(lesion)
    vals = rel0[core] if core.sum() >= 8 else rel0[lesion]
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return float("nan")
    return float(np.median(vals) if core.sum() >= 8 else np.percentile(vals, 75))


def segmented_volume(
    flair: Sequence[np.ndarray],
    labels: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    *,
    margin_mm: float = 3.0,
    growth_share: float = 0.5,
    shell_mm: float = 3.0,
    level: float = 0.5,
    edge_mm: float = 2.5,
    contrast: str = "visit",
    blur_voxels: float = 0.0,
    noise_floor: float = 0.0,
    union: bool = False,
) -> dict[int, np.ndarray]:
    """Volume of every lesion at every visit from its segmentation in the rigidly aligned visits.

    For lesion ``k`` and visit ``t`` (FLAIR ``I_t`` in the halfway space, not warped):

    1. ``e_t = I_t / b_t - 1``, the excess over ``b_t``, the median FLAIR of a shell just outside
       the lesion's region ``R_k`` (as in :func:`excess_signal`): gain, bias field and drift cancel;
       ``R_k`` is the voxels nearer to lesion ``k`` than to any other baseline lesion (neighbours are
       left out) within ``margin_mm + growth_share * r_k`` of it;
    2. ``c`` is the lesion's own baseline contrast (the median excess of its core), times, with
       ``contrast="visit"``, the visit's lesion contrast relative to baseline (the median over the
       lesions with a deep core, eroded by 2 mm, of its change: a scanner change of contrast
       affects every lesion alike, growth changes only a small lesion's core);
    3. the lesion at visit ``t`` is the voxels of ``R_k`` with ``e_t >= level * c`` connected to the
       baseline lesion, grown by ``edge_mm`` (its partial-volume edge); with ``union`` every visit
       is counted over the union of these masks over the visits, so each visit is read over the
       same voxels (a visit blurred more by its resampling would otherwise have a smaller mask and
       lose the tail of its signal);
    4. its volume is the sum over that mask of ``clip(e_t / c, -noise_floor * s_t / c, 1)``: each
       voxel counts with the share of it the lesion fills, so blur and resampling (which move signal
       across the edge but keep it) do not change the volume, and tissue outside the lesion counts
       nothing. ``s_t`` is the noise SD of visit ``t`` (robust, from the shell): clipping at 0
       would count the positive half of the noise of every edge voxel, a bias that differs between
       visits as their resampling smooths the noise differently.

    The point-spread function and the resampling spread a lesion's signal over a number of
    *voxels*, not millimetres, so the edge band is at least ``blur_voxels`` of the largest voxel
    side and the margin keeps its distance beyond the edge band (with 2.5: unchanged at 1 mm, 5
    and 5.5 mm at 2 mm). ``blur_voxels``, ``noise_floor`` and ``union`` are off by default (0, 0,
    False: the round-4 measure): on synthetic balls and the tuning family they remove the small
    lesions' under-read at 2 mm, but on a held-out 2 mm phantom they read worse (docs/sel.md,
    "Issue 12 §6, round 6").

    The ratio ``V_k(t) / V_k(0)`` is read where the lesion is, whatever the deformation does around
    it; it assumes the lesion's contrast stays the same, and a new lesion touching it adds to it.

    Returns
    -------
    dict
        Label -> volume (voxels) of every visit; NaN where the lesion has no contrast or no shell.

    Examples
    --------
    A ball of contrast 1 and radius 4 voxels grows to radius 5 (no deformation: the second visit
    is a new ball, blurred more); the ratio is that of the balls' voxel counts:

    >>> import numpy as np
    >>> from scipy import ndimage
    >>> r = np.sqrt(((np.indices((40, 40, 40)) - 19.5) ** 2).sum(axis=0))
    >>> v0 = ndimage.gaussian_filter(1.0 + (r <= 4), 0.6)
    >>> v1 = ndimage.gaussian_filter(1.0 + (r <= 5), 1.0)
    >>> v = segmented_volume([v0, v1], (r <= 4).astype(int), r < 19, np.ones(3))[1]
    >>> round(float(v[1] / v[0]), 2), round(float((r <= 5).sum() / (r <= 4).sum()), 2)
    (1.96, 1.97)
    """
    out: dict[int, np.ndarray] = {}
    near = _nearest_lesion(labels, zooms)
    if near is None:
        return out
    z, lab, dist, nearest = near
    voxel_mm3 = float(np.prod(z))
    deep = max(int(np.ceil(2.0 / float(z.min()) - 1e-9)), 1)
    wide = max(edge_mm, blur_voxels * float(z.max()))
    margin_mm += wide - edge_mm
    edge_mm = wide
    work: dict[int, tuple[np.ndarray, np.ndarray, list[np.ndarray], float, list[float]]] = {}
    changes = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        out[k] = np.full(len(flair), np.nan)
        n_vox = int((lab[sl] == k).sum())
        reach = margin_mm + growth_share * (3.0 * n_vox * voxel_mm3 / (4.0 * np.pi)) ** (1 / 3)
        pad = np.ceil((reach + shell_mm + 1.0) / z).astype(int)
        box = tuple(
            slice(max(a.start - p, 0), min(a.stop + p, n))
            for a, p, n in zip(sl, pad, lab.shape, strict=True)
        )
        mine = (nearest[box] == k) & brain[box]
        les = lab[box] == k
        region = (mine & (dist[box] <= reach)) | les
        shell = mine & (dist[box] > reach) & (dist[box] <= reach + shell_mm)
        if shell.sum() < 5:
            continue
        rel = []
        for img in flair:
            a = np.asarray(img[box], np.float64)
            b = float(np.median(a[shell]))
            rel.append(a / b - 1.0 if b > 0 else np.full(a.shape, np.nan))
        c0 = _contrast_of(rel[0], les)
        if not (np.isfinite(c0) and c0 > 0):
            continue
        sd = [1.4826 * float(np.median(np.abs(e[shell] - np.median(e[shell])))) for e in rel]
        work[k] = (les, region, rel, c0, sd)
        core = ndimage.binary_erosion(les, iterations=deep)
        if core.sum() >= 8:
            changes.append(
                [float(np.median(e[core])) / float(np.median(rel[0][core])) for e in rel]
            )
    factors = np.ones(len(flair))
    if contrast == "visit" and changes:
        factors = np.median(np.array(changes), axis=0)
    st = ndimage.generate_binary_structure(3, 1)
    for k, (les, region, rel, c0, sd) in work.items():
        touch = ndimage.binary_dilation(les)
        cs = [c0 * float(f) for f in factors]
        masks = []
        for e, c in zip(rel, cs, strict=True):
            above = region & np.isfinite(e) & (e >= level * c)
            comp, _ = ndimage.label(above, structure=st)
            ids = np.unique(comp[touch & above])
            seg = np.isin(comp, ids[ids > 0])
            masks.append((ndimage.distance_transform_edt(~seg, sampling=z) <= edge_mm) & region)
        if union:
            masks = [np.logical_or.reduce(masks)] * len(masks)
        vols = []
        for e, c, s_t, m in zip(rel, cs, sd, masks, strict=True):
            mt = m & np.isfinite(e)
            vols.append(float(np.clip(e[mt] / c, -noise_floor * s_t / c, 1.0).sum()))
        out[k] = np.array(vols)
    return out


def lesion_ratios(
    flair: Sequence[np.ndarray],
    labels: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    jacobians: Sequence[np.ndarray],
    glob: Sequence[float],
    s: SELSettings,
) -> dict[str, dict[int, np.ndarray]]:
    """Every lesion's atrophy-corrected volume ratio to baseline at each follow-up, by measure.

    ``signal`` (:func:`excess_signal`), ``segmented`` (:func:`segmented_volume`), ``ring`` (:func:`ring_jacobian`, on the
    corrected Jacobians ``jacobians``) and ``jacobian`` (their mean over the baseline lesion). The
    FLAIR measures are divided by the brain's volume ratio ``glob`` of each follow-up.
    """
    g = np.asarray(glob, float)
    signal = excess_signal(
        flair,
        labels,
        brain,
        zooms,
        margin_mm=s.edge_margin_mm,
        growth_share=s.edge_growth_share,
    )
    seg = segmented_volume(
        flair,
        labels,
        brain,
        zooms,
        margin_mm=s.segmented_margin_mm,
        growth_share=s.segmented_growth_share,
        level=s.segmented_level,
        edge_mm=s.segmented_edge_mm,
        contrast=s.segmented_contrast,
        blur_voxels=s.segmented_blur_voxels,
        noise_floor=s.segmented_noise_floor,
        union=s.segmented_union,
    )

    def ratio(v: np.ndarray) -> np.ndarray:
        return np.asarray(v[1:] / v[0] if v[0] > 0 else np.full(len(g), np.nan)) / g

    dark = np.zeros(np.shape(labels), bool)
    for img in flair:
        dark |= img < s.dark_share
    ring = ring_jacobian(
        jacobians,
        labels,
        brain,
        zooms,
        margin_mm=s.ring_margin_mm,
        growth_share=s.ring_growth_share,
        exclude=dark,
    )
    jac = {k: np.array([float(j[labels == k].mean()) for j in jacobians]) for k in signal}
    return {
        "signal": {k: ratio(v) for k, v in signal.items()},
        "segmented": {k: ratio(v) for k, v in seg.items()},
        "ring": ring,
        "jacobian": jac,
    }


__all__ = [
    "excess_signal",
    "contrast_factors",
    "ring_jacobian",
    "segmented_volume",
    "lesion_ratios",
]
