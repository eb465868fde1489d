"""New or enlarging: the changes of :mod:`smoulder.imaging.activity.engine` against the baseline lesions.

A change region that does not reach within ``edge_mm`` of a baseline lesion is a **new** lesion.
The changes that do are gathered per baseline lesion (the nearest one), and that lesion's volume
change is measured from its *excess FLAIR signal* in the halfway space,

    S_t = sum over R of (I_t - b_t),

over its region ``R`` (voxels nearer to this lesion than to any other, within ``edge_mm`` plus half
its equivalent radius), ``b_t`` the median of a shell just outside ``R`` at visit ``t``, voxels
darker than 0.7 of the white-matter level at either visit left out. Blurring and partial volume
move signal across the lesion edge but conserve it, so ``S_2 / S_1`` is the volume ratio even for
growth thinner than a voxel. The lesion is **enlarging** when it grew by ``enlarging_pct`` or more
(50 % by default) and holds a change region; otherwise its row says ``growing_below_threshold``
and it is not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from smoulder.imaging.activity.settings import ActivitySettings

__all__ = ["classify_changes", "excess_growth_pct"]


def excess_growth_pct(
    k: int,
    lab: np.ndarray,
    nearest: np.ndarray,
    dist: np.ndarray,
    base_vols: np.ndarray,
    n1: np.ndarray,
    n2: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    edge_mm: float,
) -> float:
    """Volume change (%) of baseline lesion ``k`` from its excess FLAIR signal at the two visits."""
    r_eq = float(np.cbrt(3.0 * base_vols[k] / (4.0 * np.pi)))
    reach = edge_mm + 0.5 * r_eq
    own = (nearest == k) & brain
    region = own & (dist <= reach)
    shell = own & (dist > reach) & (dist <= reach + 2.0 * float(zooms.max()))
    ok = (n1 >= 0.7) & (n2 >= 0.7)
    region &= ok | (lab == k)
    shell &= ok
    if shell.sum() < 5:
        shell = (ndimage.binary_dilation(region, iterations=2) & ~region & brain) & ok
    b1 = float(np.median(n1[shell])) if shell.any() else 1.0
    b2 = float(np.median(n2[shell])) if shell.any() else 1.0
    s1 = float(np.sum(n1[region] - b1))
    s2 = float(np.sum(n2[region] - b2))
    if s1 <= 0:
        return float("nan")
    return 100.0 * (s2 / s1 - 1.0)


def classify_changes(
    changes: np.ndarray,
    lab: np.ndarray,
    nearest: np.ndarray,
    dist: np.ndarray,
    base_vols: np.ndarray,
    n1: np.ndarray,
    n2: np.ndarray,
    z: np.ndarray,
    brain: np.ndarray,
    zooms: np.ndarray,
    s: ActivitySettings,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One row per new lesion and per baseline lesion holding a change; the map of row ids.

    Returns
    -------
    (rows, ids)
        ``rows``: dicts with ``change, kind, counted, baseline_label, n_voxels, volume_mm3,
        baseline_volume_mm3, growth_pct, peak_z`` and the centroid (voxels, ``_centroid_vox``);
        ``ids``: an int32 map, the voxels of row ``change`` hold its number.
    """
    vox_mm3 = float(np.prod(zooms))
    n = int(changes.max())
    zone = dist <= s.edge_mm
    new: list[int] = []
    attached: dict[int, list[int]] = {}
    for c in range(1, n + 1):
        m = changes == c
        hit = nearest[m & zone]
        if hit.size == 0 or not lab.any():
            new.append(c)
        else:
            k = int(np.bincount(hit).argmax())
            attached.setdefault(k, []).append(c)
    rows: list[dict[str, Any]] = []
    ids = np.zeros(changes.shape, np.int32)
    for c in new:
        m = changes == c
        rows.append(
            {
                "kind": "new",
                "counted": True,
                "baseline_label": None,
                "n_voxels": int(m.sum()),
                "volume_mm3": round(float(m.sum()) * vox_mm3, 2),
                "baseline_volume_mm3": None,
                "growth_pct": None,
                "peak_z": round(float(z[m].max()), 2),
                "_centroid_vox": ndimage.center_of_mass(m),
                "_mask": m,
            }
        )
    for k in sorted(attached):
        m = np.isin(changes, attached[k])
        g = excess_growth_pct(k, lab, nearest, dist, base_vols, n1, n2, brain, zooms, s.edge_mm)
        enlarging = bool(np.isfinite(g) and g >= s.enlarging_pct)
        rows.append(
            {
                "kind": "enlarging" if enlarging else "growing_below_threshold",
                "counted": enlarging,
                "baseline_label": int(k),
                "n_voxels": int(m.sum()),
                "volume_mm3": round(float(m.sum()) * vox_mm3, 2),
                "baseline_volume_mm3": round(float(base_vols[k]), 2),
                "growth_pct": round(g, 1) if np.isfinite(g) else None,
                "peak_z": round(float(z[m].max()), 2),
                "_centroid_vox": ndimage.center_of_mass(m | (lab == k)),
                "_mask": m,
            }
        )
    # counted first (new, then enlarging), then the rest; number them in that order
    rows.sort(key=lambda r: (not r["counted"], r["kind"] != "new"))
    for i, r in enumerate(rows, start=1):
        r["change"] = i
        ids[r.pop("_mask")] = i
    return rows, ids
