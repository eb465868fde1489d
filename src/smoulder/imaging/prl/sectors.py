"""Angular coverage of a lesion's edge by a paramagnetic rim, slice by slice in the acquisition plane.

On each acquisition slice through a lesion, the rim band's voxels are grouped into angular sectors
around the slice's lesion centroid (in millimetres of the slice plane, so an oblique or anisotropic
grid gives the angles a rater sees). A sector *shows the rim* when its mean exceeds the reference
(the larger of the lesion core and the perilesional white matter of that direction) by enough
standard errors, most of its voxels lie above the reference, and the shell just outside the lesion
in that direction is not brighter than the band (a vein along the edge, not a rim). Voxels near
the slice centroid never count (a central vein is not a rim). Coverage of a slice is the share of
occupied sectors showing the rim; the consensus rule needs it on consecutive slices.

Pure computation on the arrays of one lesion's bounding box (:class:`LesionBox`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from smoulder.imaging.prl.settings import PRLSettings


@dataclass
class LesionBox:
    """One lesion's bounding box: signal, masks, distances and scales (see features.py)."""

    s: np.ndarray  # signal
    L: np.ndarray  # the lesion
    band: np.ndarray  # rim band
    core: np.ndarray  # lesion deeper than the band
    shell: np.ndarray  # just outside the lesion (0 < d_out <= outer_width_mm)
    bg: np.ndarray  # perilesional white matter
    ax: int  # slice axis
    inplane: tuple[int, int]
    zooms: np.ndarray
    z0: int  # index of the box's first slice in the image
    core_ref: float  # core median (nan without a core)
    bg_med: float
    sd: float  # local scale of the signal
    noise_sd: float  # voxel noise of the signal
    se_sd: float = float("nan")  # SD behind a sector mean's standard error (default: sd)
    n_scale: float = 1.0  # acquired voxels per box voxel (< 1 when the box was interpolated)


@dataclass
class SliceGeometry:
    """Per slice of the box: voxels of the lesion, centroid (mm), equivalent radius (mm)."""

    n: np.ndarray
    cu: np.ndarray
    cv: np.ndarray
    radius: np.ndarray

    @property
    def has_lesion(self) -> np.ndarray:
        return np.asarray(self.n > 0)


def slice_geometry(box: LesionBox) -> SliceGeometry:
    """Lesion voxels, centroid and equivalent radius of each slice of the box."""
    ax, (a, b), zooms = box.ax, box.inplane, box.zooms
    nz = box.L.shape[ax]
    li = np.nonzero(box.L)
    z = li[ax]
    n = np.bincount(z, minlength=nz).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cu = np.bincount(z, weights=li[a] * zooms[a], minlength=nz) / n
        cv = np.bincount(z, weights=li[b] * zooms[b], minlength=nz) / n
    radius = np.sqrt(n * zooms[a] * zooms[b] / np.pi)
    return SliceGeometry(n=n, cu=cu, cv=cv, radius=radius)


def _polar(
    mask: np.ndarray, box: LesionBox, geo: SliceGeometry, ns: int
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Voxels of ``mask`` on slices through the lesion: index tuple, slice, sector, radius (mm)."""
    ax, (a, b), zooms = box.ax, box.inplane, box.zooms
    idx = np.nonzero(mask)
    z = idx[ax]
    keep = geo.n[z] > 0
    idx = tuple(i[keep] for i in idx)
    z = z[keep]
    du = idx[a] * zooms[a] - geo.cu[z]
    dv = idx[b] * zooms[b] - geo.cv[z]
    sector = np.floor((np.arctan2(dv, du) + np.pi) / (2 * np.pi) * ns).astype(int) % ns
    return idx, z, sector, np.sqrt(du * du + dv * dv)


def _sums(
    key: np.ndarray, vals: np.ndarray, size: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    cnt = np.bincount(key, minlength=size).reshape(shape).astype(float)
    tot = np.bincount(key, weights=vals, minlength=size).reshape(shape)
    return cnt, tot


def _neighbours(a: np.ndarray) -> np.ndarray:
    """Sum of each sector with its two neighbours (sectors wrap around)."""
    return np.asarray(a + np.roll(a, 1, axis=1) + np.roll(a, -1, axis=1))


_DEBUG = False


def _pool(a: np.ndarray, h: int) -> np.ndarray:
    """Sum over slices z-h..z+h of a (slice, sector) array (the analysis slab)."""
    if h <= 0:
        return a
    k = np.ones(2 * h + 1)
    return np.asarray(np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, a))


def _coverage_quantile(
    z: np.ndarray, occupied: np.ndarray, evaluable: np.ndarray, coverage: float
) -> np.ndarray:
    """Per slice: the ``ceil(coverage * occupied)``-th largest sector z (-inf if not evaluable).

    A slice's coverage at threshold ``k`` reaches ``coverage`` exactly when this value exceeds
    ``k``, so it is the rule's per-slice coverage test made continuous.
    """
    zz = np.where(occupied, z, -np.inf)
    srt = -np.sort(-zz, axis=1)  # descending per slice
    m = np.ceil(coverage * occupied.sum(axis=1) - 1e-9).astype(int)
    m = np.clip(m, 1, zz.shape[1])
    q = srt[np.arange(zz.shape[0]), m - 1]
    return np.where(evaluable, q, -np.inf)


def sector_coverage(box: LesionBox, st: PRLSettings) -> dict[str, object]:
    """Coverage of the edge by the rim on every slice of one lesion, and its runs over slices.

    Returns
    -------
    dict
        ``rim_q_se`` (the best, over runs of ``min_slices`` consecutive evaluable slices, of the
        run's smallest per-slice rim level: the largest q such that sectors covering
        ``min_coverage`` of that slice's edge each exceed the reference by q standard errors;
        nan without such a run), ``rim_evidence`` (``Phi(rim_q_se - k_sd)`` in [0, 1], 0 without
        a run; at least 0.5 exactly when those sectors pass the sector test), ``coverage_max``, ``coverage_mean`` (evaluable slices), ``coverage_sustained`` (the best,
        over runs of ``min_slices`` consecutive evaluable slices, of the run's smallest coverage),
        ``rim_slices`` (longest run of consecutive slices reaching ``min_coverage``),
        ``evaluable_slices``, ``slice_contrast_max``, ``edge_vein_sectors`` (sectors refused because
        the shell outside the lesion was brighter than the band), and the evidence strings
        ``coverage_by_slice``, ``rim_sectors_by_slice`` and ``rim_slice_range`` (voxel indices
        along the slice axis).
    """
    s = box.s
    ns = int(st.n_sectors)
    geo = slice_geometry(box)
    nz = box.L.shape[box.ax]
    size, shape = nz * ns, (nz, ns)
    # rim band, without the voxels near the slice's centroid
    bi, bz, bk, brho = _polar(box.band, box, geo, ns)
    central = brho < st.central_exclusion * geo.radius[bz]
    bi = tuple(i[~central] for i in bi)
    bz, bk = bz[~central], bk[~central]
    vals = s[bi].astype(np.float64)
    key = bz * ns + bk
    cnt, tot = _sums(key, vals, size, shape)
    # the analysis slab: each slice's sectors pooled with its neighbours within slab_mm
    h = max(0, int(np.floor((st.slab_mm / float(box.zooms[box.ax]) - 1.0) / 2.0 + 0.5)))
    cnt, tot = _pool(cnt, h), _pool(tot, h)
    # references: the core (lesion-wide) and the perilesional white matter in this direction
    gi, gz, gk, _ = _polar(box.bg, box, geo, ns)
    gv = np.clip(s[gi].astype(np.float64), box.bg_med - 2.5 * box.sd, box.bg_med + 2.5 * box.sd)
    g_cnt, g_tot = _sums(gz * ns + gk, gv, size, shape)
    g_cnt, g_tot = _neighbours(_pool(g_cnt, h)), _neighbours(_pool(g_tot, h))
    with np.errstate(invalid="ignore", divide="ignore"):
        bg_local = np.where(g_cnt >= 3, g_tot / g_cnt, box.bg_med)
    if st.background_reference == "local":
        bg_ref = bg_local
    else:
        bg_ref = np.full(shape, box.bg_med)
    ref = bg_ref if not np.isfinite(box.core_ref) else np.maximum(bg_ref, box.core_ref)
    if st.local_core:
        ci, cz, ck, _ = _polar(box.core, box, geo, ns)
        c_cnt, c_tot = _sums(cz * ns + ck, s[ci].astype(np.float64), size, shape)
        c_cnt, c_tot = _neighbours(_pool(c_cnt, h)), _neighbours(_pool(c_tot, h))
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = np.where(c_cnt >= 2, np.maximum(ref, c_tot / c_cnt), ref)
    above = vals > ref[bz, bk]
    n_above = _pool(
        np.bincount(key, weights=above.astype(np.float64), minlength=size).reshape(shape), h
    )
    occupied = cnt > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = tot / cnt
        excess = mean - ref
        se_sd = box.se_sd if np.isfinite(box.se_sd) else box.sd
        t = excess / (se_sd / np.sqrt(np.maximum(cnt * box.n_scale, 1e-9)))
    # the shell just outside the lesion in this direction: brighter than the band = a vein there
    oi, oz, ok, _ = _polar(box.shell, box, geo, ns)
    o_cnt, o_tot = _sums(oz * ns + ok, s[oi].astype(np.float64), size, shape)
    o_cnt, o_tot = _pool(o_cnt, h), _pool(o_tot, h)
    with np.errstate(invalid="ignore", divide="ignore"):
        o_mean = np.where(o_cnt > 0, o_tot / o_cnt, -np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        # the shell must beat the band by edge_vein_margin standard errors of the difference: a
        # rim that straddles the mask's edge brightens the shell about as much as the band, a
        # vein (several times a rim's susceptibility) far more
        se_diff = se_sd * np.sqrt(
            1.0 / np.maximum(cnt * box.n_scale, 1e-9) + 1.0 / np.maximum(o_cnt * box.n_scale, 1e-9)
        )
        outside = (
            occupied
            & (o_mean - mean > st.edge_vein_margin * se_diff)
            & (o_mean - ref > st.k_sd * box.sd / np.sqrt(np.maximum(o_cnt, 1)))
        )
    if st.soft_sectors > 0:
        w = np.clip((t - st.k_sd) / st.soft_sectors + 0.5, 0.0, 1.0)
    else:
        w = (t > st.k_sd).astype(float)
    gate = occupied & (n_above > st.min_above_fraction * cnt) & (excess > st.min_excess_sd * box.sd)
    if st.amplitude_fraction > 0:
        # the rim's own amplitude (a high quantile of the sector excesses of well-cut slices):
        # a sector must reach a fraction of it, so a strong rim's gaps are not covered by noise
        well = geo.n >= st.min_area_fraction * geo.n.max() if geo.n.max() > 0 else geo.n > 0
        e_ok = excess[occupied & well[:, None]]
        amp = float(np.quantile(e_ok, 0.75)) if e_ok.size else 0.0
        if amp > 0:
            gate &= excess >= st.amplitude_fraction * amp
    if st.reject_edge_veins:
        gate &= ~outside
    w = np.where(gate, w, 0.0)
    n_occ = occupied.sum(axis=1)
    well_cut = geo.n >= st.min_area_fraction * geo.n.max() if geo.n.max() > 0 else geo.n > 0
    evaluable = (n_occ >= int(st.min_sectors)) & well_cut
    cov = np.where(evaluable, w.sum(axis=1) / np.maximum(n_occ, 1), np.nan)
    ev = cov[evaluable]
    if _DEBUG:
        np.set_printoptions(linewidth=250, precision=2, suppress=True)
        for z in np.flatnonzero(geo.has_lesion):
            print(
                z,
                "ev" if evaluable[z] else "--",
                f"cov={cov[z]:.2f}",
                "n",
                cnt[z].astype(int),
                "\n   t",
                t[z],
                "\n   above",
                (n_above[z] / np.maximum(cnt[z], 1)),
                "\n   ref",
                ref[z],
                "out",
                outside[z].astype(int),
            )
    # the continuous rim evidence: on each evaluable slice the largest q such that sectors
    # covering min_coverage of the edge each exceed the reference by q standard errors (gated or
    # refused sectors count at most 0), then its best over runs of min_slices consecutive slices
    t_eff = np.where(gate, t, np.minimum(t, 0.0))
    q_slice = _coverage_quantile(t_eff, occupied, evaluable, st.min_coverage)
    # the soft share of the edge that passes: each sector weighted Phi(t - k_sd) (gated or
    # refused sectors at most Phi(-k_sd)), so a lesion whose rim falls short ranks by how much
    # of its edge nearly passes, not by one sector's noise
    with np.errstate(invalid="ignore"):
        soft = np.where(occupied, ndtr(t_eff - st.k_sd), 0.0).sum(axis=1) / np.maximum(n_occ, 1)
    soft = np.where(evaluable, soft, -1.0)
    out: dict[str, object] = {
        "rim_q_se": float("nan"),
        "rim_evidence": 0.0,
        "coverage_soft": 0.0,
        "coverage_max": 0.0,
        "coverage_mean": 0.0,
        "coverage_sustained": 0.0,
        "rim_slices": 0,
        "evaluable_slices": int(evaluable.sum()),
        "slice_contrast_max": 0.0,
        "edge_vein_sectors": int((outside & evaluable[:, None]).sum()),
        "coverage_by_slice": "",
        "rim_slice_range": None,
    }
    zs = np.flatnonzero(geo.has_lesion)
    out["coverage_by_slice"] = " ".join(
        f"{box.z0 + z}:{cov[z] * 100:.0f}%" if evaluable[z] else f"{box.z0 + z}:n/e" for z in zs
    )
    # which sectors count as rim, per slice (drawn on the QC page): R rim, . no rim,
    # v refused for a vein along the edge, - no rim-band voxels
    code = np.where(occupied, ".", "-")
    code = np.where(outside & occupied, "v", code)
    code = np.where(occupied & (w >= 0.5), "R", code)
    out["rim_sectors_by_slice"] = " ".join(f"{box.z0 + z}:{''.join(code[z])}" for z in zs)
    if ev.size == 0:
        return out
    n_band = cnt.sum(axis=1)
    slice_mean = tot.sum(axis=1) / np.maximum(n_band, 1)
    with warnings.catch_warnings():  # slices without occupied sectors: nan, not evaluable
        warnings.simplefilter("ignore", RuntimeWarning)
        ref_slice = (
            np.nanmedian(np.where(occupied, ref, np.nan), axis=1) if occupied.any() else ref[:, 0]
        )
    with np.errstate(invalid="ignore"):
        contrast = (slice_mean - ref_slice) / box.sd
    k = int(st.min_slices)
    c0 = np.where(evaluable, cov, -1.0)
    sustained = 0.0
    if nz >= k:
        win = np.lib.stride_tricks.sliding_window_view(c0, k).min(axis=1)
        sustained = float(max(win.max(), 0.0))
    runs = False
    if nz >= k:
        swin = np.lib.stride_tricks.sliding_window_view(soft, k).min(axis=1)
        qwin = np.lib.stride_tricks.sliding_window_view(q_slice, k).min(axis=1)
        q_best = float(qwin.max())
        if np.isfinite(q_best):
            runs = True
            out["rim_q_se"] = q_best
            out["coverage_soft"] = float(max(swin.max(), 0.0))
    if not runs:
        # no min_slices consecutive evaluable slices: a lone slice's soft coverage counts half
        out["coverage_soft"] = 0.5 * float(max(soft.max(), 0.0))
    hit = c0 >= st.min_coverage - 1e-9
    longest = run = 0
    best_end = -1
    for z, h in enumerate(hit):  # over slices of one lesion (a handful), not voxels
        run = run + 1 if h else 0
        if run > longest:
            longest, best_end = run, z
    if longest:
        first, last = box.z0 + best_end - longest + 1, box.z0 + best_end
        out["rim_slice_range"] = f"{first}-{last}" if longest > 1 else f"{first}"
    out.update(
        coverage_max=float(ev.max()),
        coverage_mean=float(ev.mean()),
        coverage_sustained=sustained,
        rim_slices=int(longest),
        slice_contrast_max=float(np.nanmax(np.where(evaluable, contrast, np.nan))),
    )
    return out


def rim_evidence(feats: dict[str, object], has_core: bool, st: PRLSettings) -> float:
    """The consensus rule's continuous rim score of one lesion, in [0, 1].

    ``Phi(rim_q_se - k_sd)`` when that reaches 0.5 (the sectors covering ``min_coverage`` of
    the edge pass the sector test on ``min_slices`` consecutive slices: the call). Below the call
    (``evidence_below_call = "soft-coverage"``): ``coverage_soft / 2``, how much of the edge
    nearly passes, mixed with the 3-D shell evidence (``shell_weight`` of
    ``Phi(shell_z - shell_offset)``, :mod:`~smoulder.imaging.prl.shell`); always below 0.5. Without a core (``require_core``) the score is halved:
    a rim cannot be told from a diffusely paramagnetic lesion, so it is never called.
    """
    q = float(feats.get("rim_q_se", float("nan")))  # type: ignore[arg-type]
    above = float(ndtr(q - st.k_sd)) if np.isfinite(q) else 0.0
    if above >= 0.5 or st.evidence_below_call == "quantile":
        ev = above
    else:
        soft = max(float(feats.get("coverage_soft", 0.0)), 0.0)  # type: ignore[arg-type]
        ev = 0.5 * soft
        z = float(feats.get("shell_z", float("nan")))  # type: ignore[arg-type]
        if st.shell_weight > 0:
            shell = float(ndtr(z - st.shell_offset)) if np.isfinite(z) else 0.0
            ev = min(0.5 * ((1.0 - st.shell_weight) * soft + st.shell_weight * shell), 0.4999)
    if st.require_core and not has_core:
        ev *= 0.5
    return float(min(ev, 1.0))


__all__ = ["LesionBox", "SliceGeometry", "slice_geometry", "sector_coverage", "rim_evidence"]
