"""Evidence for the PRL mimics raters exclude: a central vein, a diffusely paramagnetic lesion.

- **Central vein**: a paramagnetic line through the lesion's core, seen as a bright spot near the
  centroid of consecutive acquisition slices at positions that line up. It is reported (a PRL may
  have one) but never counted as rim: the sector analysis leaves out the voxels near the centroid.
- **Diffusely paramagnetic**: the whole lesion, core included, is paramagnetic relative to the
  perilesional white matter; a rim must then exceed the core, which the sector test demands.

Veins along the edge are handled in :mod:`smoulder.imaging.prl.sectors` (a sector whose outer shell
is brighter than its band is refused). Pure computation on one lesion's bounding box.
"""

from __future__ import annotations

import numpy as np

from smoulder.imaging.prl.sectors import LesionBox, slice_geometry
from smoulder.imaging.prl.settings import PRLSettings


def central_vein(box: LesionBox, st: PRLSettings) -> dict[str, object]:
    """Look for a central vein: bright spots near the slice centroids that line up across slices.

    On each slice through the lesion, the brightest lesion voxel within ``cv_radius`` of the
    slice's equivalent radius from its centroid is a *spot* when it exceeds the reference (the
    larger of the core and perilesional medians) by ``cv_min_z`` voxel-noise SDs. Spots on
    consecutive slices belong to one line when they shift by at most the larger of 1.5 mm and
    one slice thickness.

    Returns
    -------
    dict
        ``central_vein`` (a run of at least ``cv_min_slices`` aligned spots), ``central_vein_slices``
        (the longest run), ``central_vein_z`` (median spot contrast in noise SDs over that run; 0
        without spots).
    """
    ax, (a, b), zooms = box.ax, box.inplane, box.zooms
    geo = slice_geometry(box)
    ref = box.bg_med if not np.isfinite(box.core_ref) else max(box.bg_med, box.core_ref)
    sd = box.noise_sd if np.isfinite(box.noise_sd) and box.noise_sd > 0 else box.sd
    li = np.nonzero(box.L)
    z = li[ax]
    du = li[a] * zooms[a] - geo.cu[z]
    dv = li[b] * zooms[b] - geo.cv[z]
    rho = np.sqrt(du * du + dv * dv)
    near = rho <= np.maximum(st.cv_radius * geo.radius[z], 0.75 * max(zooms[a], zooms[b]))
    vals = box.s[li].astype(np.float64)
    nz = box.L.shape[ax]
    spot_z = np.full(nz, -np.inf)
    pos = np.full((nz, 2), np.nan)
    order = np.lexsort((-vals, z))  # by slice, brightest first
    zs, first = np.unique(z[order][near[order]], return_index=True)
    cand = order[near[order]][first] if zs.size else np.zeros(0, int)
    for zz, i in zip(zs, cand, strict=True):
        spot_z[zz] = (vals[i] - ref) / sd
        pos[zz] = (du[i] + geo.cu[zz], dv[i] + geo.cv[zz])
    spot = spot_z >= st.cv_min_z
    tol = max(1.5, float(zooms[ax]))
    longest = run = 0
    best: list[int] = []
    cur: list[int] = []
    for zz in range(nz):  # over slices of one lesion
        if spot[zz] and run and np.hypot(*(pos[zz] - pos[zz - 1])) <= tol:
            run += 1
            cur.append(zz)
        elif spot[zz]:
            run = 1
            cur = [zz]
        else:
            run = 0
            cur = []
        if run > longest:
            longest, best = run, list(cur)
    return {
        "central_vein": bool(longest >= st.cv_min_slices),
        "central_vein_slices": int(longest),
        "central_vein_z": float(np.median(spot_z[best])) if best else 0.0,
    }


def diffuse_evidence(box: LesionBox, st: PRLSettings) -> dict[str, object]:
    """Whether the whole lesion is paramagnetic: ``diffuse_z`` and the ``diffuse`` flag.

    ``diffuse_z`` is the median of the whole lesion minus the perilesional median, in local SDs;
    the lesion is flagged diffusely paramagnetic when it and its core (where there is one) both
    reach ``diffuse_min_z``.
    """
    lv = box.s[box.L]
    dz = (float(np.median(lv)) - box.bg_med) / box.sd if lv.size else 0.0
    core_z = (box.core_ref - box.bg_med) / box.sd if np.isfinite(box.core_ref) else dz
    return {"diffuse_z": dz, "diffuse": bool(dz >= st.diffuse_min_z and core_z >= st.diffuse_min_z)}


__all__ = ["central_vein", "diffuse_evidence"]
