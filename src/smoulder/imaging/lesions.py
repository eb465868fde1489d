"""Lesion labelling, splitting of confluent lesions, per-lesion geometry, fallback segmentation.

Pure computation on arrays: no file access.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.exceptions import SettingsError

#: Label of the fallback segmentation method, written into every output that used it.
FALLBACK_METHOD = (
    "fallback: FLAIR hyperintensity threshold in deep white matter (not a validated segmentation)"
)


def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in (6, 18, 26):
        raise SettingsError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    rank = {6: 1, 18: 2, 26: 3}[connectivity]
    return ndimage.generate_binary_structure(3, rank)


def split_confluent(
    mask: np.ndarray, zooms: np.ndarray, *, min_depth_mm: float = 1.5, connectivity: int = 26
) -> np.ndarray:
    """Split one connected lesion into parts by a distance-transform watershed.

    Markers are the regional maxima of the distance to the lesion edge (in mm)
    that stand at least ``min_depth_mm`` above the saddle joining them (h-maxima),
    so a smooth ellipsoid stays whole while two blobs joined by a neck are split.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        One connected lesion (a crop around it is enough).
    zooms : numpy.ndarray
        Voxel sizes in mm (:attr:`smoulder.schema.images.Volume.zooms`).
    min_depth_mm : float
        Depth of the saddle between two markers that makes them two lesions.
    connectivity : {6, 18, 26}
        Neighbourhood of the markers.

    Returns
    -------
    numpy.ndarray of int32
        Labels 1..k inside ``mask`` (k = 1 when nothing is split), 0 outside.
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    mask = np.asarray(mask, dtype=bool)
    dist = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
    # h-maxima on a grid quantised to 0.1 mm keeps it stable against float noise
    q = np.round(dist * 10).astype(np.int32)
    peaks = h_maxima(q, int(round(min_depth_mm * 10)))
    markers, n = ndimage.label(peaks & mask, structure=_structure(connectivity))
    if n <= 1:
        return mask.astype(np.int32)
    return watershed(-dist, markers, mask=mask, connectivity=1).astype(np.int32)


def label_lesions(
    mask: np.ndarray,
    zooms: np.ndarray | tuple[float, ...],
    *,
    split: bool | None = None,
    min_depth_mm: float = 1.5,
    connectivity: int = 26,
) -> tuple[np.ndarray, int]:
    """Label lesions of a binary or labelled mask.

    A binary mask (one non-zero value) is split into connected components
    (``connectivity`` 6/18/26) numbered 1..N in order of their first voxel in
    memory order (deterministic), and each component is split into its
    confluent parts (:func:`split_confluent`). A labelled mask (several
    non-zero values) keeps the user's labels unchanged: the user has already
    decided what one lesion is. ``split=True``/``False`` forces or disables
    the splitting for both kinds of mask (a forced split renumbers).

    Parameters
    ----------
    mask : numpy.ndarray
        Binary or labelled lesion mask (0 = background).
    zooms : sequence of float
        Voxel sizes in mm (:attr:`smoulder.schema.images.Volume.zooms`).
    split : bool, optional
        Force (True) or disable (False) the splitting of confluent lesions; default: split
        binary masks only.
    min_depth_mm : float
        See :func:`split_confluent`.
    connectivity : {6, 18, 26}
        Neighbourhood of a connected component.

    Returns
    -------
    labels : numpy.ndarray of int32
    n_split : int
        How many extra lesions the splitting of confluent lesions created.
    """
    mask = np.asarray(mask)
    zooms = np.asarray(zooms, dtype=float)
    st = _structure(connectivity)
    values = np.unique(mask[mask > 0])
    if values.size > 1 and not split:
        return mask.astype(np.int32), 0
    do_split = True if split is None else bool(split)
    out = np.zeros(mask.shape, dtype=np.int32)
    n = 0
    n_split = 0
    for v in values:
        comp, _ = ndimage.label(mask == v, structure=st)
        for j, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is None:
                continue
            sub = comp[sl] == j
            if do_split and sub.sum() > 8:
                parts = split_confluent(
                    sub, zooms, min_depth_mm=min_depth_mm, connectivity=connectivity
                )
            else:
                parts = sub.astype(np.int32)
            m = int(parts.max())
            n_split += m - 1
            region = out[sl]
            region[parts > 0] = parts[parts > 0] + n
            n += m
    flat = out.ravel()
    nz = flat[flat > 0]
    if nz.size:
        uniq, first = np.unique(nz, return_index=True)
        order = uniq[np.argsort(first)]
        lut = np.zeros(n + 1, dtype=np.int32)
        lut[order] = np.arange(1, len(order) + 1, dtype=np.int32)
        out = lut[out]
    return out, n_split


def lesion_geometry(labels: np.ndarray, affine: np.ndarray) -> pd.DataFrame:
    """Per-lesion size and position.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Lesion labels (0 = background).
    affine : numpy.ndarray
        4x4 voxel-to-world affine (mm).

    Returns
    -------
    pandas.DataFrame
        ``label, n_voxels, volume_mm3, centroid_x_mm, centroid_y_mm, centroid_z_mm``
        (world RAS millimetres from the affine) and ``diameter_mm`` (of the
        sphere of equal volume), one row per label 1..N present in ``labels``.
    """
    affine = np.asarray(affine, dtype=float)
    vox_vol = float(abs(np.linalg.det(affine[:3, :3])))
    present = np.unique(labels[labels > 0])
    cols = [
        "label",
        "n_voxels",
        "volume_mm3",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "diameter_mm",
    ]
    if present.size == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if c not in ("label", "n_voxels") else int) for c in cols}
        )
    counts = ndimage.sum_labels(np.ones(labels.shape, np.float64), labels, present)
    cent = np.array(ndimage.center_of_mass(np.ones(labels.shape, np.float64), labels, present))
    world = cent @ affine[:3, :3].T + affine[:3, 3]
    vol = counts * vox_vol
    return pd.DataFrame(
        {
            "label": present.astype(int),
            "n_voxels": counts.astype(int),
            "volume_mm3": vol,
            "centroid_x_mm": world[:, 0],
            "centroid_y_mm": world[:, 1],
            "centroid_z_mm": world[:, 2],
            "diameter_mm": np.cbrt(6.0 * vol / np.pi),
        }
    )


def fallback_segmentation(
    flair: np.ndarray,
    zooms: np.ndarray | tuple[float, ...],
    *,
    z_threshold: float = 3.0,
    min_ratio: float = 1.35,
    min_volume_mm3: float = 10.0,
    edge_margin_mm: float = 6.0,
) -> np.ndarray:
    """A classical FLAIR-hyperintensity segmentation, used only when no lesion mask is given.

    Steps: brain = voxels above 10 % of the 99th-percentile intensity (holes
    filled); white-matter reference = the mode of the brain histogram's upper
    half (white matter is the largest tissue class of a FLAIR); robust SD
    from the median absolute deviation of voxels within +-25 % of that mode;
    lesion voxels = intensity above both mode + ``z_threshold`` x SD and
    ``min_ratio`` x mode (grey matter is about 1.2 x white matter), at least
    ``edge_margin_mm`` inside the brain (which avoids the cortical ribbon and
    the brain edge); components smaller than ``min_volume_mm3`` are removed.
    This is a fallback for demonstration and quick looks, not a validated
    lesion segmentation; outputs that used it say so.

    Parameters
    ----------
    flair : numpy.ndarray
        The FLAIR image.
    zooms : sequence of float
        Voxel sizes in mm.
    z_threshold, min_ratio, min_volume_mm3, edge_margin_mm : float
        The thresholds above.

    Returns
    -------
    numpy.ndarray of bool
    """
    zooms = np.asarray(zooms, dtype=float)
    f = np.asarray(flair, dtype=np.float32)
    hi = float(np.percentile(f, 99))
    if hi <= 0:
        return np.zeros(f.shape, dtype=bool)
    brain = ndimage.binary_fill_holes(f > 0.1 * hi)
    vals = f[brain]
    hist, edges = np.histogram(vals[vals > np.median(vals) * 0.5], bins=128)
    mode = float((edges[np.argmax(hist)] + edges[np.argmax(hist) + 1]) / 2)
    near = vals[np.abs(vals - mode) < 0.25 * mode]
    sd = 1.4826 * float(np.median(np.abs(near - np.median(near)))) if near.size else 0.0
    sd = max(sd, 1e-6 * hi)
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
    cand = (f > max(mode + z_threshold * sd, min_ratio * mode)) & (depth >= edge_margin_mm)
    cand = ndimage.binary_opening(cand, structure=ndimage.generate_binary_structure(3, 1))
    lab, n = ndimage.label(cand, structure=_structure(26))
    if n == 0:
        return cand
    vox_vol = float(np.prod(zooms))
    sizes = ndimage.sum_labels(np.ones(f.shape), lab, np.arange(1, n + 1)) * vox_vol
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = sizes >= min_volume_mm3
    return keep[lab]


__all__ = [
    "label_lesions",
    "split_confluent",
    "lesion_geometry",
    "fallback_segmentation",
    "FALLBACK_METHOD",
]
