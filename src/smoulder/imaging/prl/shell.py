"""3-D evidence of a thin paramagnetic shell at a lesion's edge: a matched filter over patches.

The sector test (:mod:`~smoulder.imaging.prl.sectors`) judges each acquisition slice on its
own; at 1.5-2 mm voxels a faint or thin rim leaves few voxels per sector and slice, and a
0.5 mm rim in a 2 mm voxel keeps only about a quarter of its susceptibility. Here the whole
edge shell is pooled in 3-D, voxel by voxel weighted by the profile such a rim is expected to
have after partial volume:

- **signed distance** ``d`` to the lesion boundary in mm (negative inside; the boundary lies
  half a voxel beyond the edge voxels' centres);
- **template** ``T(d)``: a shell of thickness ``w`` just inside the boundary (``-w <= d <= 0``)
  seen through a voxel of size ``h`` (the share of the voxel's extent ``[d - h/2, d + h/2]``
  that lies in the shell); a bank of ``w`` (``shell_widths_mm``), the best one kept;
- **patches**: the shell is cut into ``shell_patches`` patches of equal solid angle around the
  lesion's centroid, in coordinates whitened by the lesion's own second moments (so an elongated
  lesion's edge is cut evenly); per patch the least-squares amplitude of the template above the
  reference ``A_p = sum T (s - ref) / sum T^2`` (``ref`` = the larger of the core median and the
  perilesional white matter median in that patch's direction);
- **coverage-honest pooling**: patches ranked by ``A_p``; the patches between the top
  ``1 - min_coverage`` and ``min_coverage`` of the shell (by template weight) are pooled. A rim
  over at least ``min_coverage`` of the edge fills them; a partial rim well under it, a vein
  along the edge (a few patches, very bright) or a central vein (inside the core) do not; a
  diffusely paramagnetic lesion has no shell above its own core. The pooled amplitude over its
  standard error (voxel noise over ``sqrt(sum T^2)``) is ``shell_z``.

Pure computation on one lesion's box.
"""

from __future__ import annotations

import numpy as np

#: Rim thicknesses (mm) of the template bank.
SHELL_WIDTHS_MM = (0.5, 1.0, 2.0)


def _fibonacci(n: int) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + 5.0**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


def _overlap(d: np.ndarray, h: float, w: float) -> np.ndarray:
    """Share of the interval ``[d - h/2, d + h/2]`` inside ``[-w, 0]``."""
    lo = np.maximum(d - h / 2.0, -w)
    hi = np.minimum(d + h / 2.0, 0.0)
    return np.clip(hi - lo, 0.0, None) / h


def shell_evidence(
    s: np.ndarray,
    L: np.ndarray,
    usable: np.ndarray,
    d_in: np.ndarray,
    d_out: np.ndarray,
    zooms: np.ndarray,
    voxel_mm: float,
    noise_sd: float,
    core_ref: float,
    bg: np.ndarray,
    bg_med: float,
    *,
    n_patches: int = 24,
    coverage: float = 2.0 / 3.0,
    widths: tuple[float, ...] = SHELL_WIDTHS_MM,
    n_scale: float = 1.0,
) -> dict[str, float]:
    """``shell_z``, ``shell_amp`` (in voxel-noise SDs), ``shell_all_z`` and ``shell_width_mm``.

    Parameters
    ----------
    s : numpy.ndarray
        Paramagnetic-positive signal in the lesion's box.
    L, usable : numpy.ndarray of bool
        The lesion; voxels outside it that may count (brain, not another lesion).
    d_in, d_out : numpy.ndarray
        Euclidean distances (mm) to the nearest voxel centre outside / inside the lesion.
    zooms : numpy.ndarray
        Voxel sizes of the box (mm).
    voxel_mm : float
        Size of the acquired voxel seen across the edge (the partial-volume width ``h``).
    noise_sd : float
        Voxel noise SD of the signal.
    core_ref, bg_med : float
        Core median (nan without a core) and perilesional median.
    bg : numpy.ndarray of bool
        Perilesional white matter (the patch references).
    """
    nan = float("nan")
    out = {"shell_z": nan, "shell_amp": nan, "shell_all_z": nan, "shell_width_mm": nan}
    if not L.any() or not np.isfinite(noise_sd) or noise_sd <= 0:
        return out
    h = float(voxel_mm)
    # signed distance to the boundary, half a voxel beyond the edge voxels' centres
    d = np.where(L, -(d_in - h / 2.0), d_out - h / 2.0)
    idx = np.indices(L.shape).reshape(3, -1).T * zooms
    li = L.ravel()
    c = idx[li].mean(axis=0)
    cov = np.cov((idx[li] - c).T) if li.sum() > 3 else np.eye(3)
    evals, evecs = np.linalg.eigh(cov + 1e-3 * np.eye(3))
    whiten = evecs / np.sqrt(evals)
    wmax = max(widths)
    near = (L | usable).ravel() & (d.ravel() >= -(wmax + h)) & (d.ravel() <= h)
    near |= bg.ravel()
    pts = (idx[near] - c) @ whiten
    norm = np.linalg.norm(pts, axis=1)
    dirs = _fibonacci(int(n_patches))
    patch = np.argmax(pts @ dirs.T / np.maximum(norm, 1e-9)[:, None], axis=1)
    sv = s.ravel()[near].astype(np.float64)
    dv = d.ravel()[near]
    is_bg = bg.ravel()[near]
    # per patch reference: the larger of the core median and the perilesional median there
    g_cnt = np.bincount(patch[is_bg], minlength=n_patches).astype(float)
    g_med = np.full(n_patches, bg_med)
    for p in np.flatnonzero(g_cnt >= 5):  # a few dozen patches per lesion
        g_med[p] = float(np.median(sv[is_bg & (patch == p)]))
    # the profile expected without a rim: the core inside, the white matter of the patch
    # outside, mixed across the boundary by partial volume (a lesion without a core: its median)
    c_ref = core_ref if np.isfinite(core_ref) else float(np.median(s[L]))
    inside = _overlap(dv, h, np.inf)
    base = g_med[patch] + (c_ref - g_med[patch]) * inside
    inshell = ~is_bg | (dv <= h)
    resid = np.where(inshell, sv - base, 0.0)
    sig = noise_sd / np.sqrt(max(n_scale, 1e-9))
    best = None
    for w in widths:
        T = np.where(inshell, _overlap(dv, h, w), 0.0)
        num = np.bincount(patch, weights=T * resid, minlength=n_patches)
        den = np.bincount(patch, weights=T * T, minlength=n_patches)
        area = np.bincount(patch, weights=T, minlength=n_patches)
        occ = den > 0
        if occ.sum() < 3:
            continue
        amp = np.where(occ, num / np.maximum(den, 1e-12), -np.inf)
        order = np.argsort(-amp)
        share = np.cumsum(area[order]) / area.sum()
        start = share - area[order] / area.sum()
        # the patches whose share of the shell lies within [1 - coverage, coverage] of the ranking
        lo, hi = min(1.0 - coverage, coverage), max(1.0 - coverage, coverage)
        mid = order[(share > lo + 1e-9) & (start < hi - 1e-9) & occ[order]]
        if mid.size == 0:
            continue
        a_mid = num[mid].sum() / den[mid].sum()
        z_mid = a_mid * np.sqrt(den[mid].sum()) / sig
        z_all = num[occ].sum() / np.sqrt(den[occ].sum()) / sig
        if best is None or z_mid > best[0]:
            best = (float(z_mid), float(a_mid / sig), float(z_all), float(w))
    if best is not None:
        out.update(shell_z=best[0], shell_amp=best[1], shell_all_z=best[2], shell_width_mm=best[3])
    return out


__all__ = ["SHELL_WIDTHS_MM", "shell_evidence"]
