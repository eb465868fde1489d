"""Spatial rim features of each lesion, the paramagnetic-positive signal and the phase-sign check.

The susceptibility image is first turned into a *paramagnetic-positive* signal
``s``: QSM as is (ppm), phase negated under the ``paramagnetic-negative``
convention (the default: a left-handed system, as SWI phase is usually shown,
where paramagnetic tissue is dark) and kept under ``paramagnetic-positive``.
All rim features compare ``s`` in bands around each lesion's edge with the
lesion core and the perilesional normal-appearing white matter, in units of
the local robust standard deviation, so they are free of the input's units.
Pure computation on arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.exceptions import SettingsError
from smoulder.imaging.dipole import tkd_inversion
from smoulder.imaging.prl.settings import PRLSettings
from smoulder.schema.images import Volume

CONVENTIONS = ("paramagnetic-negative", "paramagnetic-positive")
INPUT_KINDS = ("phase", "qsm")

#: Feature columns computed per lesion (inputs of the trainable classifier).
FEATURES = [
    "diameter_mm",
    "rim_z",
    "outer_z",
    "core_z",
    "rim_core_z",
    "rim_positive_fraction",
    "coverage_max",
    "coverage_mean",
    "coverage_sustained",
    "rim_slices",
    "evaluable_slices",
    "slice_contrast_max",
]

#: ``convention_agreement`` below this value triggers a :class:`ConventionWarning`.
CONVENTION_WARN_BELOW = -0.25


class ConventionWarning(UserWarning):
    """The phase image seems to follow the other sign convention than the one declared."""


def paramagnetic_signal(
    image: np.ndarray, input_kind: str, phase_convention: str = "paramagnetic-negative"
) -> np.ndarray:
    """The susceptibility image with paramagnetic tissue positive (see module docstring).

    Parameters
    ----------
    image : numpy.ndarray
        Phase (radians) or QSM (ppm).
    input_kind : {"phase", "qsm"}
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of paramagnetic tissue in the phase (QSM is paramagnetic-positive by definition).

    Returns
    -------
    numpy.ndarray of float32

    Examples
    --------
    >>> import numpy as np
    >>> paramagnetic_signal(np.array([[[1.0, -2.0]]]), "phase").tolist()
    [[[-1.0, 2.0]]]
    """
    if input_kind not in INPUT_KINDS:
        raise SettingsError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    if phase_convention not in CONVENTIONS:
        raise SettingsError(
            f"phase convention must be one of {CONVENTIONS}, got {phase_convention!r}"
        )
    s = np.asarray(image, dtype=np.float32)
    if input_kind == "phase" and phase_convention == "paramagnetic-negative":
        return -s
    return s


def convention_agreement(
    signal: np.ndarray,
    zooms: np.ndarray,
    brain: np.ndarray | None = None,
    chi: np.ndarray | None = None,
    b0_axis: int = 2,
) -> float:
    """How strongly the image's strongest sources are paramagnetic, for phase in its declared sign.

    The paramagnetic-positive signal is inverted to an approximate
    susceptibility map (thresholded k-space division, B0 along ``b0_axis``).
    The brain's strongest sources are veins and iron-rich deep
    grey matter, both paramagnetic, so in the right sign the map's upper tail
    (99.9th percentile, inside the brain mask eroded by 3 voxels to skip edge
    artefacts) outweighs its lower tail (0.1th). Returns
    ``log(upper / |lower|)``: positive agrees with the declared convention,
    negative disagrees. On 1 mm phantoms the right sign gives +0.5 to +1.0;
    at 2 mm veins blur and the value shrinks towards 0, so the check is
    informative only at about 1 mm or finer.

    Parameters
    ----------
    signal : numpy.ndarray
        Paramagnetic-positive signal (:func:`paramagnetic_signal`).
    zooms : numpy.ndarray
        Voxel sizes in mm.
    brain : numpy.ndarray of bool, optional
        Brain mask (default: non-zero signal).
    chi : numpy.ndarray, optional
        A susceptibility estimate already computed from ``signal``.
    b0_axis : int
        Voxel axis along B0.
    """
    s = np.asarray(signal, dtype=np.float32)
    mask = (s != 0) if brain is None else np.asarray(brain, dtype=bool)
    if chi is None:
        chi = tkd_inversion(np.where(mask, s, 0.0), zooms, b0_axis=b0_axis)
    inner = ndimage.binary_erosion(mask, iterations=3)
    v = chi[inner]
    if v.size < 1000:
        return 0.0
    v = v - np.median(v)
    hi, lo = np.percentile(v, [99.9, 0.1])
    if hi <= 0 or lo >= 0:
        return 0.0
    return float(np.log(hi / -lo))


def _robust_sd(x: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


def noise_level(signal: np.ndarray, mask: np.ndarray) -> float:
    """Robust SD of voxel noise: from each voxel minus the mean of its 6 neighbours.

    For white noise of SD sigma that difference has SD ``sigma * sqrt(7/6)``;
    smooth tissue structure largely cancels, so this measures noise rather than anatomy.

    Parameters
    ----------
    signal : numpy.ndarray
    mask : numpy.ndarray of bool
        Voxels to measure in (eroded by one voxel).
    """
    s = np.asarray(signal, dtype=np.float32)
    k = np.zeros((3, 3, 3), np.float32)
    k[1, 1, 0] = k[1, 1, 2] = k[1, 0, 1] = k[1, 2, 1] = k[0, 1, 1] = k[2, 1, 1] = 1.0 / 6.0
    resid = s - ndimage.convolve(s, k, mode="nearest")
    inner = ndimage.binary_erosion(mask, iterations=1)
    v = resid[inner]
    if v.size < 50:
        return float("nan")
    return _robust_sd(v) / float(np.sqrt(7.0 / 6.0))


def axial_axis(grid: Volume) -> int:
    """Voxel axis closest to the world superior-inferior direction (B0 on an axial scanner)."""
    return int(np.argmax(np.abs(np.asarray(grid.affine, float)[2, :3]) / grid.zooms))


def lesion_features(
    signal: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray,
    settings: PRLSettings,
    brain: np.ndarray | None = None,
    reference: str = "max",
) -> pd.DataFrame:
    """Spatial rim features of every lesion.

    For each lesion, in its bounding box: the distance to the edge inside
    (``d_in``) and outside (``d_out``) in mm; the *rim band* (``d_in <=
    rim_inner_mm``, plus ``d_out <= rim_outer_mm``), the *core* (deeper than
    the rim band), the *outer shell* (``0 < d_out <= outer_width_mm``) and the
    *perilesional white matter* (``gap < d_out <= gap + width``, other lesions
    and voxels outside ``brain`` excluded). The local scale ``sd`` is the
    robust SD (1.4826 MAD) of the perilesional signal, floored at half the
    brain-wide robust SD. Then, per axial slice, the rim-band voxels are
    grouped into ``n_sectors`` angular sectors around the slice's lesion
    centroid; a sector shows the rim when its mean exceeds ``ref + k_sd *
    sd / sqrt(n)`` (``n`` voxels in the sector) and more than half of its
    voxels exceed ``ref``, with ``ref`` the larger of the perilesional and
    core medians. Coverage of
    a slice = positive sectors / occupied sectors (slices with fewer than
    ``min_sectors`` occupied sectors are not evaluable).

    Parameters
    ----------
    signal : numpy.ndarray
        Paramagnetic-positive signal (or a susceptibility estimate) on the labels' grid.
    labels : numpy.ndarray of int
        Lesion labels (0 = background).
    affine : numpy.ndarray
        Voxel-to-world affine (mm); gives the voxel sizes and the axial axis.
    settings : PRLSettings
        Band widths, sectors and thresholds.
    brain : numpy.ndarray of bool, optional
        Voxels that may serve as perilesional background (default: non-zero signal).
    reference : {"max", "slice-core"}
        ``max``: the larger of the perilesional and core medians; ``slice-core``: each slice's
        own core median (raw phase, whose dipole pattern flips sign along B0).

    Returns
    -------
    pandas.DataFrame
        One row per lesion: ``label`` and :data:`FEATURES`:
        ``rim_z``/``outer_z``/``core_z`` (band means minus perilesional median,
        in ``sd``), ``rim_core_z``, ``rim_positive_fraction`` (rim-band voxels
        above ``ref + sd``), ``coverage_max``, ``coverage_mean`` (over
        evaluable slices), ``coverage_sustained`` (the best, over runs of
        ``min_slices`` consecutive evaluable slices, of the run's smallest
        coverage), ``rim_slices`` (longest run of consecutive slices with
        coverage >= ``min_coverage``), ``evaluable_slices``.
    """
    st = settings
    signal = np.asarray(signal, dtype=np.float32)
    labels = np.asarray(labels)
    grid = Volume(labels, np.asarray(affine, dtype=float))
    zooms = grid.zooms
    if brain is None:
        brain = signal != 0
    global_sd = _robust_sd(signal[brain & (labels == 0)]) if brain.any() else float("nan")
    noise_sd = (
        noise_level(signal, brain & (labels == 0)) if reference == "slice-core" else float("nan")
    )
    ax = axial_axis(grid)
    inplane = [a for a in range(3) if a != ax]
    inner_w = max(st.rim_inner_mm, float(zooms.min())) + 1e-6
    outer_w = st.rim_outer_mm + 1e-6 if st.rim_outer_mm > 0 else 0.0
    margin_mm = (
        max(st.background_gap_mm + st.background_width_mm, st.outer_width_mm, st.rim_outer_mm) + 1.0
    )
    margin = np.ceil(margin_mm / zooms).astype(int)
    objs = ndimage.find_objects(labels)
    rows = []
    for lab0, sl in enumerate(objs):
        if sl is None:
            continue
        lab = lab0 + 1
        box = tuple(
            slice(max(s.start - m, 0), min(s.stop + m, n))
            for s, m, n in zip(sl, margin, labels.shape, strict=True)
        )
        L = labels[box] == lab
        other = (labels[box] > 0) & ~L
        s = signal[box]
        b = brain[box]
        d_in = ndimage.distance_transform_edt(np.pad(L, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
        d_out = ndimage.distance_transform_edt(~L, sampling=zooms)
        band = L & (d_in <= inner_w)
        if outer_w:
            band |= (~L) & (~other) & b & (d_out <= outer_w)
        core = L & (d_in > inner_w)
        outer = (~L) & (~other) & b & (d_out <= st.outer_width_mm + 1e-6)
        bg = (
            (~L)
            & (~other)
            & b
            & (d_out > st.background_gap_mm)
            & (d_out <= st.background_gap_mm + st.background_width_mm + 1e-6)
        )
        bg_vals = s[bg]
        bg_med = float(np.median(bg_vals)) if bg_vals.size else 0.0
        if np.isfinite(noise_sd):
            sd = noise_sd
        else:
            sd = _robust_sd(bg_vals)
            floor = 0.5 * global_sd if np.isfinite(global_sd) else 0.0
            if not np.isfinite(sd) or sd < floor:
                sd = floor
        sd = max(sd, 1e-12)
        core_vals = s[core]
        core_med = float(np.median(core_vals)) if core_vals.size else float("nan")
        ref = bg_med if not np.isfinite(core_med) else max(bg_med, core_med)
        band_vals = s[band]
        rim_mean = float(band_vals.mean()) if band_vals.size else float("nan")
        feats = {
            "label": lab,
            "rim_z": (rim_mean - bg_med) / sd,
            "outer_z": (float(s[outer].mean()) - bg_med) / sd if outer.any() else float("nan"),
            "core_z": (core_med - bg_med) / sd,
            "rim_core_z": (rim_mean - core_med) / sd,
            "rim_positive_fraction": float((band_vals > ref + sd).mean())
            if band_vals.size
            else 0.0,
        }
        nzs = s.shape[ax]
        if reference == "slice-core":
            # phase: the rim's dipole pattern flips sign along B0 and the lesion's own field
            # makes the surroundings uneven, so each slice is compared with its own core
            ci = np.nonzero(core)
            zc = ci[ax]
            n_c = np.bincount(zc, minlength=nzs)
            med = np.full(nzs, ref)
            for z in np.flatnonzero(n_c >= 3):  # over slices of one lesion
                med[z] = float(np.median(core_vals[zc == z]))
            ref_z = med
        else:
            ref_z = np.full(nzs, ref)
        feats.update(_coverage(s, L, band, ax, inplane, zooms, ref_z, sd, st))
        rows.append(feats)
    cols = ["label", *[f for f in FEATURES if f != "diameter_mm"]]
    return pd.DataFrame(rows, columns=cols)


def _coverage(
    s: np.ndarray,
    L: np.ndarray,
    band: np.ndarray,
    ax: int,
    inplane: list[int],
    zooms: np.ndarray,
    ref_z: np.ndarray,
    sd: float,
    st: PRLSettings,
) -> dict[str, float]:
    """Per-slice angular coverage of the rim band, vectorised with bincount over (slice, sector)."""
    nz_slices = s.shape[ax]
    li = np.nonzero(L)
    z_l = li[ax]
    n_l = np.bincount(z_l, minlength=nz_slices)
    with np.errstate(invalid="ignore", divide="ignore"):
        cu = np.bincount(z_l, weights=li[inplane[0]] * zooms[inplane[0]], minlength=nz_slices) / n_l
        cv = np.bincount(z_l, weights=li[inplane[1]] * zooms[inplane[1]], minlength=nz_slices) / n_l
    bi = np.nonzero(band)
    z_b = bi[ax]
    has_lesion = n_l[z_b] > 0
    z_b = z_b[has_lesion]
    u = bi[inplane[0]][has_lesion] * zooms[inplane[0]] - cu[z_b]
    v = bi[inplane[1]][has_lesion] * zooms[inplane[1]] - cv[z_b]
    vals = s[tuple(i[has_lesion] for i in bi)]
    ns = int(st.n_sectors)
    sector = np.floor((np.arctan2(v, u) + np.pi) / (2 * np.pi) * ns).astype(int) % ns
    key = z_b * ns + sector
    cnt = np.bincount(key, minlength=nz_slices * ns).reshape(nz_slices, ns)
    tot = np.bincount(key, weights=vals, minlength=nz_slices * ns).reshape(nz_slices, ns)
    occupied = cnt > 0
    # a sector shows the rim when its mean exceeds the reference by k_sd standard errors
    # (sd / sqrt(voxels in the sector)) and most of its voxels lie above the reference (its
    # median does): a sector only grazed by a partial rim or a vein does not count
    above = vals > ref_z[z_b]
    n_above = np.bincount(key, weights=above.astype(np.float64), minlength=nz_slices * ns).reshape(
        nz_slices, ns
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = tot / cnt - ref_z[:, None]
    positive = (
        occupied & (n_above > 0.5 * cnt) & (excess > st.k_sd * sd / np.sqrt(np.maximum(cnt, 1)))
    )
    n_occ = occupied.sum(axis=1)
    evaluable = n_occ >= int(st.min_sectors)
    cov = np.where(evaluable, positive.sum(axis=1) / np.maximum(n_occ, 1), np.nan)
    ev = cov[evaluable]
    if ev.size == 0:
        return {
            "coverage_max": 0.0,
            "coverage_mean": 0.0,
            "coverage_sustained": 0.0,
            "rim_slices": 0,
            "evaluable_slices": 0,
            "slice_contrast_max": 0.0,
        }
    n_band = cnt.sum(axis=1)
    slice_mean = tot.sum(axis=1) / np.maximum(n_band, 1)
    contrast = float(((slice_mean - ref_z) / sd)[evaluable].max())
    # runs over consecutive slices: non-evaluable slices break a run
    k = int(st.min_slices)
    c0 = np.where(evaluable, cov, -1.0)
    if nz_slices >= k:
        win = np.lib.stride_tricks.sliding_window_view(c0, k).min(axis=1)
        sustained = float(max(win.max(), 0.0))
    else:
        sustained = 0.0
    hit = c0 >= st.min_coverage - 1e-9
    longest = run = 0
    for h in hit:  # over slices of one lesion (a handful), not voxels
        run = run + 1 if h else 0
        longest = max(longest, run)
    return {
        "coverage_max": float(ev.max()),
        "coverage_mean": float(ev.mean()),
        "coverage_sustained": sustained,
        "rim_slices": int(longest),
        "evaluable_slices": int(evaluable.sum()),
        "slice_contrast_max": contrast,
    }


__all__ = [
    "FEATURES",
    "CONVENTIONS",
    "INPUT_KINDS",
    "CONVENTION_WARN_BELOW",
    "ConventionWarning",
    "paramagnetic_signal",
    "convention_agreement",
    "noise_level",
    "axial_axis",
    "lesion_features",
]
