"""3-D evidence of a thin paramagnetic shell at a lesion's edge: a matched filter over patches.

The sector test (:mod:`~smoulder.imaging.prl.sectors`) judges each acquisition slice on its
own; at 1.5-2 mm voxels a faint or thin rim leaves few voxels per sector and slice, and a
0.5 mm rim in a 2 mm voxel keeps only about a quarter of its susceptibility. Here the whole
edge shell is pooled in 3-D, each voxel weighted by the profile such a rim has after partial
volume, and compared with the profile the lesion would have without a rim:

- **signed distance** ``d`` to the lesion boundary in mm (negative inside; the boundary lies
  half a voxel beyond the edge voxels' centres);
- **profile without a rim**: ``g (1 - P(d)) + c P(d)``, where ``P(d)`` is the share of a voxel
  of size ``h`` (the acquired in-plane voxel) centred at ``d`` that lies inside the lesion,
  ``g`` the perilesional white matter median in the patch's direction and ``c`` the lesion's own
  level, fitted jointly with the rim amplitudes (deep voxels winsorised at 3 noise SDs, so a
  central vein does not lift it; a lesion too small to tell its level from its rim takes its
  median);
- **rim template** ``T(d)``: a shell of thickness ``w`` just inside the boundary
  (``-w <= d <= 0``) seen through the same voxel (the share of ``[d - h/2, d + h/2]`` in the
  shell); a bank of ``w`` (:data:`SHELL_WIDTHS_MM`), the best one kept;
- **patches**: the edge is cut into ``n_patches`` patches of about equal solid angle around the
  lesion's centroid, in coordinates whitened by the lesion's own second moments (so an elongated
  lesion's edge is cut evenly); per patch the least-squares amplitude of the template,
  ``A_p = sum T r / sum T^2`` (``r`` the signal minus the profile without a rim);
- **coverage-honest pooling**: the patches are ranked by ``A_p`` and those between the top
  ``1 - coverage`` and ``coverage`` of the edge (by template weight; the middle third for 2/3)
  are pooled. A rim over at least ``coverage`` of the edge fills them; a partial rim well under
  it, a vein along the edge (a few very bright patches) or a central vein (inside) do not; a
  diffusely paramagnetic lesion has no shell above its own level. The pooled amplitude over its
  standard error (the voxel noise over ``sqrt(sum T^2)``) is ``shell_z``; ``shell_balance`` is
  the amplitude of the lower half of those patches over that of the top third (near 1 for a
  complete rim, near 0 for a rim over half the edge or a vein).

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
    return np.asarray(np.clip(hi - lo, 0.0, None) / h)


def _residuals(
    sv: np.ndarray,
    P: np.ndarray,
    T: np.ndarray,
    g: np.ndarray,
    patch: np.ndarray,
    n_patches: int,
    sig: float,
    fallback: float,
) -> np.ndarray:
    """The signal minus the profile without a rim, the lesion level fitted with the rim.

    Model: ``s = g_p (1 - P) + c P + A_p T``, ``c`` shared by the lesion, ``A_p`` per patch
    (``c`` by least squares after projecting out each patch's ``T``). Deep voxels (``T = 0``,
    wholly inside) are winsorised at 3 noise SDs around their median. When ``P`` and ``T``
    cannot be told apart (no voxel deeper than the rim), ``c`` is ``fallback``.
    """
    r = sv - g * (1.0 - P)
    deep = (T == 0) & (P > 0.999)
    if deep.sum() >= 3:
        m = float(np.median(r[deep]))
        r = np.where(deep, np.clip(r, m - 3 * sig, m + 3 * sig), r)
    den = np.maximum(np.bincount(patch, weights=T * T, minlength=n_patches), 1e-12)
    a0 = np.bincount(patch, weights=T * r, minlength=n_patches) / den
    b0 = np.bincount(patch, weights=T * P, minlength=n_patches) / den
    rt = r - a0[patch] * T
    pt = P - b0[patch] * T
    ss = float((pt * pt).sum())
    c = float((rt * pt).sum() / ss) if ss > 0.05 * float((P * P).sum()) and ss > 0 else fallback
    return np.asarray(r - c * P)


def shell_evidence(
    s: np.ndarray,
    L: np.ndarray,
    usable: np.ndarray,
    d_in: np.ndarray,
    d_out: np.ndarray,
    zooms: np.ndarray,
    voxel_mm: float,
    noise_sd: float,
    bg: np.ndarray,
    bg_med: float,
    *,
    n_patches: int = 48,
    coverage: float = 2.0 / 3.0,
    widths: tuple[float, ...] = SHELL_WIDTHS_MM,
    n_scale: float = 1.0,
) -> dict[str, float]:
    """``shell_z``, ``shell_amp``, ``shell_all_z``, ``shell_balance`` and ``shell_width_mm``.

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
        Voxel noise SD of the signal (``n_scale``: acquired voxels per box voxel).
    bg : numpy.ndarray of bool
        Perilesional white matter (each patch's reference ``g``).
    bg_med : float
        Perilesional median (the reference of a patch with fewer than 5 such voxels).

    Returns
    -------
    dict
        ``shell_z`` (pooled amplitude of the middle patches over its standard error),
        ``shell_amp`` (that amplitude in voxel-noise SDs), ``shell_all_z`` (all patches),
        ``shell_balance`` and ``shell_width_mm`` (the template kept); nan when the lesion has
        fewer than 3 patches or no noise level.
    """
    nan = float("nan")
    out = {
        "shell_z": nan,
        "shell_amp": nan,
        "shell_all_z": nan,
        "shell_balance": nan,
        "shell_width_mm": nan,
    }
    if not L.any() or not np.isfinite(noise_sd) or noise_sd <= 0:
        return out
    h = float(voxel_mm)
    d = np.where(L, -(d_in - h / 2.0), d_out - h / 2.0)
    idx = np.indices(L.shape).reshape(3, -1).T * zooms
    li = L.ravel()
    c = idx[li].mean(axis=0)
    cov = np.cov((idx[li] - c).T) if li.sum() > 3 else np.eye(3)
    evals, evecs = np.linalg.eigh(cov + 1e-3 * np.eye(3))
    whiten = evecs / np.sqrt(evals)
    fit = (L | (usable & (d <= h))).ravel()  # the lesion and the voxels straddling its edge
    is_bg = bg.ravel()
    near = fit | is_bg
    pts = (idx[near] - c) @ whiten
    norm = np.maximum(np.linalg.norm(pts, axis=1), 1e-9)
    patch = np.argmax(pts @ _fibonacci(int(n_patches)).T / norm[:, None], axis=1)
    sv = s.ravel()[near].astype(np.float64)
    dv = d.ravel()[near]
    fit, is_bg = fit[near], is_bg[near]
    g_med = np.full(n_patches, bg_med)
    g_cnt = np.bincount(patch[is_bg], minlength=n_patches)
    for p in np.flatnonzero(g_cnt >= 5):  # a few dozen patches per lesion
        g_med[p] = float(np.median(sv[is_bg & (patch == p)]))
    pf, sf, df = patch[fit], sv[fit], dv[fit]
    P = _overlap(df, h, np.inf)
    sig = noise_sd / np.sqrt(max(n_scale, 1e-9))
    median = float(np.median(s[L]))
    lo, hi = sorted((1.0 - coverage, coverage))
    best: tuple[float, ...] | None = None
    for w in widths:
        T = _overlap(df, h, w)
        r = _residuals(sf, P, T, g_med[pf], pf, n_patches, sig, median)
        num = np.bincount(pf, weights=T * r, minlength=n_patches)
        den = np.bincount(pf, weights=T * T, minlength=n_patches)
        area = np.bincount(pf, weights=T, minlength=n_patches)
        occ = den > 0
        if occ.sum() < 3:
            continue
        amp = np.where(occ, num / np.maximum(den, 1e-12), -np.inf)
        order = np.argsort(-amp)
        share = np.cumsum(area[order]) / area.sum()
        start = share - area[order] / area.sum()
        ok = occ[order]
        mid = order[(share > lo + 1e-9) & (start < hi - 1e-9) & ok]
        if mid.size == 0:
            continue
        a_mid = num[mid].sum() / den[mid].sum()
        top = order[(start < lo - 1e-9) & ok]
        low = order[(share > 0.5 * (lo + hi) + 1e-9) & (start < hi - 1e-9) & ok]
        a_top = num[top].sum() / max(den[top].sum(), 1e-12) if top.size else a_mid
        a_low = num[low].sum() / max(den[low].sum(), 1e-12) if low.size else a_mid
        z_mid = a_mid * np.sqrt(den[mid].sum()) / sig
        if best is None or z_mid > best[0]:
            best = (
                float(z_mid),
                float(a_mid / sig),
                float(num[occ].sum() / np.sqrt(den[occ].sum()) / sig),
                float(a_low / a_top) if a_top > 0 else 0.0,
                float(w),
            )
    if best is not None:
        out.update(zip(out, best, strict=True))
    return out


__all__ = ["SHELL_WIDTHS_MM", "shell_evidence"]
