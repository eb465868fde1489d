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
from smoulder.imaging.dipole import b0_direction, tkd_inversion
from smoulder.imaging.prl.frame import acquisition_frame
from smoulder.imaging.prl.mimics import central_vein, diffuse_evidence
from smoulder.imaging.prl.sectors import LesionBox, rim_evidence, sector_coverage
from smoulder.imaging.prl.settings import PRLSettings
from smoulder.imaging.prl.shell import shell_evidence
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
    "edge_vein_sectors",
    "central_vein_slices",
    "central_vein_z",
    "diffuse_z",
    "rim_q_se",
    "rim_evidence",
    "coverage_soft",
    "shell_z",
    "shell_amp",
    "shell_all_z",
    "shell_balance",
]

#: Evidence columns a rater can check (not classifier inputs): per-slice coverage, the slices of
#: the longest qualifying run, and the mimic flags.
EVIDENCE = [
    "coverage_by_slice",
    "rim_sectors_by_slice",
    "rim_slice_range",
    "central_vein",
    "diffuse",
    "edge_vein",
]

#: Descriptions of the feature and evidence columns (the pipeline writes them to the sidecar).
COLUMN_DESCRIPTIONS: dict[str, object] = {
    "rim_q_se": (
        "Rim level sustained on min_slices consecutive acquisition slices: the largest q such that "
        "sectors covering min_coverage of each slice's edge exceed the reference by q standard "
        "errors (n/a: no evaluable run)"
    ),
    "rim_evidence": "The consensus rule's continuous rim score: Phi(rim_q_se - k_sd) when the rim covers min_coverage of the edge at k_sd standard errors on min_slices consecutive slices (then >= 0.5), otherwise coverage_soft / 2 (< 0.5); halved without a core",
    "shell_z": "3-D rim evidence: a thin-shell template (partial-volumed by the voxel) fitted to the edge in patches around the lesion, against the lesion's own profile without a rim; the pooled amplitude of the patches ranked between the top 1 - min_coverage and min_coverage of the edge, in standard errors (n/a: too small)",
    "shell_amp": "That pooled shell amplitude, in voxel-noise SDs",
    "shell_all_z": "The shell template's amplitude over the whole edge, in standard errors",
    "shell_balance": "Shell amplitude of the lower half of the pooled patches over that of the top third (about 1 for a complete rim, about 0 for a half rim or a vein along the edge)",
    "coverage_soft": "Soft share of the edge showing the rim (each sector weighted Phi(t - k_sd), t its excess in standard errors), the best over runs of min_slices consecutive slices of the run's smallest (no such run: half the best slice's)",
    "rim_z": "Mean paramagnetic signal in the rim band minus the perilesional median, in local robust SDs",
    "outer_z": "Mean signal in the shell just outside the lesion minus the perilesional median, in SDs",
    "core_z": "Median signal of the lesion core minus the perilesional median, in SDs (n/a: no core)",
    "rim_core_z": "Rim band mean minus core median, in SDs (n/a: no core)",
    "rim_positive_fraction": "Fraction of rim-band voxels above the reference + 1 local SD",
    "coverage_max": "Largest fraction of the edge showing the rim on one acquisition slice",
    "coverage_mean": "Mean fraction of the edge showing the rim over evaluable acquisition slices",
    "coverage_sustained": "Best, over runs of min_slices consecutive acquisition slices, of the run's smallest coverage",
    "rim_slices": "Longest run of consecutive acquisition slices whose coverage reaches min_coverage",
    "evaluable_slices": "Acquisition slices through the lesion's well-cut part with enough edge sectors to judge coverage",
    "slice_contrast_max": "Largest slice mean of the rim band minus the reference, in SDs",
    "edge_vein_sectors": "Edge sectors refused because the shell just outside the lesion was brighter than the rim band (a vein along the edge)",
    "central_vein_slices": "Longest run of consecutive slices with a bright spot near the lesion centre at aligned positions",
    "central_vein_z": "Median contrast of those central spots, in voxel-noise SDs",
    "diffuse_z": "Median of the whole lesion minus the perilesional median, in local SDs",
    "coverage_by_slice": (
        "Coverage of the edge by the rim on each acquisition slice through the lesion, as "
        "'slice:percent' (slice = 0-based voxel index along the slice axis; n/e = not evaluable: "
        "a cap of the lesion or too few edge sectors)"
    ),
    "rim_sectors_by_slice": (
        "Which edge sectors count as rim on each acquisition slice, as 'slice:code' with one "
        "character per angular sector (R rim, . no rim, v refused: a vein along the edge, - no "
        "rim-band voxels); sector k spans angles -180 + k x 360/n degrees from the first in-plane "
        "voxel axis towards the second, around the slice's lesion centroid"
    ),
    "rim_slice_range": "Acquisition slices (0-based voxel indices) of the longest run reaching min_coverage (n/a: none)",
    "central_vein": "A central vein is seen (a paramagnetic line through the core on >= cv_min_slices aligned slices); not counted as rim",
    "diffuse": "The lesion is diffusely paramagnetic (its median and core exceed the perilesional white matter by >= diffuse_min_z SDs)",
    "edge_vein": "A vein runs along the lesion edge (>= edge_vein_min_sectors sectors refused for a brighter shell outside)",
}

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
    b0_vector: np.ndarray | None = None,
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
        Voxel axis along B0 (when ``b0_vector`` is None).
    b0_vector : numpy.ndarray, optional
        B0 along the voxel axes (:func:`~smoulder.imaging.dipole.b0_direction` of the affine).
    """
    s = np.asarray(signal, dtype=np.float32)
    mask = (s != 0) if brain is None else np.asarray(brain, dtype=bool)
    if chi is None:
        chi = tkd_inversion(np.where(mask, s, 0.0), zooms, b0_axis=b0_axis, b0_direction=b0_vector)
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
    """Voxel axis closest to B0 (world z): the slice axis of an axial 3-D acquisition."""
    return int(np.argmax(np.abs(b0_direction(grid.affine))))


def _upsample_inplane(
    s: np.ndarray,
    L: np.ndarray,
    other: np.ndarray,
    b: np.ndarray,
    zooms: np.ndarray,
    inplane: tuple[int, int],
    target_mm: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """A lesion box interpolated within its slices to about ``target_mm`` (integer factors)."""
    f = np.ones(3, int)
    for j in inplane:
        f[j] = max(1, int(np.ceil(zooms[j] / target_mm - 1e-6)))
    if f.max() == 1:
        return s, L, other, b, zooms, 1.0
    coords = np.meshgrid(
        *[(np.arange(n * k) + 0.5) / k - 0.5 for n, k in zip(s.shape, f, strict=True)],
        indexing="ij",
        sparse=False,
    )
    c = np.stack(coords)
    up = ndimage.map_coordinates(s, c, order=1, mode="nearest").astype(np.float32)
    lu = ndimage.map_coordinates(L.astype(np.float32), c, order=1, mode="nearest") >= 0.5
    ou = ndimage.map_coordinates(other.astype(np.float32), c, order=0, mode="nearest") > 0.5
    bu = ndimage.map_coordinates(b.astype(np.float32), c, order=0, mode="nearest") > 0.5
    return up, lu, ou & ~lu, bu, zooms / f, 1.0 / float(f.prod())


def lesion_features(
    signal: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray,
    settings: PRLSettings,
    brain: np.ndarray | None = None,
) -> pd.DataFrame:
    """Spatial rim features and mimic evidence of every lesion.

    For each lesion, in its bounding box: the distance to the edge inside (``d_in``) and outside
    (``d_out``) in mm; the *rim band* (``d_in <= w``, ``w`` = ``rim_inner_mm`` but at most
    ``band_max_fraction`` of the lesion's greatest depth and at least one voxel, plus ``d_out <=
    rim_outer_mm``), the *core* (deeper than the band), the *outer shell* (``0 < d_out <=
    outer_width_mm``) and the *perilesional white matter* (``gap < d_out <= gap + width``, other
    lesions and voxels outside ``brain`` excluded). The local scale ``sd`` is the robust SD
    (1.4826 MAD) of the perilesional signal, floored at half the brain-wide robust SD. Coverage
    is measured on the acquisition's slices (:mod:`~smoulder.imaging.prl.sectors`), mimics by
    :mod:`~smoulder.imaging.prl.mimics`.

    Parameters
    ----------
    signal : numpy.ndarray
        Paramagnetic-positive signal (or a susceptibility estimate) on the labels' grid.
    labels : numpy.ndarray of int
        Lesion labels (0 = background).
    affine : numpy.ndarray
        Voxel-to-world affine (mm): voxel sizes, the slice axis and B0.
    settings : PRLSettings
        Band widths, sectors and thresholds.
    brain : numpy.ndarray of bool, optional
        Voxels that may serve as perilesional background (default: non-zero signal).

    Returns
    -------
    pandas.DataFrame
        One row per lesion: ``label``, :data:`FEATURES` but ``diameter_mm`` (``rim_z``, ``outer_z``,
        ``core_z``: band, shell and core minus the perilesional median, in ``sd``; ``rim_core_z``;
        ``rim_positive_fraction``: band voxels above the reference + 1 sd; the coverage features of
        :func:`~smoulder.imaging.prl.sectors.sector_coverage`; the mimic features) and
        :data:`EVIDENCE`.
    """
    st = settings
    signal = np.asarray(signal, dtype=np.float32)
    labels = np.asarray(labels)
    frame = acquisition_frame(np.asarray(affine, dtype=float), st.slice_axis)
    zooms = frame.zooms
    if brain is None:
        brain = signal != 0
    bg_all = brain & (labels == 0)
    global_sd = _robust_sd(signal[bg_all]) if bg_all.any() else float("nan")
    noise_sd = noise_level(signal, bg_all) if bg_all.any() else float("nan")
    outer_w = st.rim_outer_mm + 1e-6 if st.rim_outer_mm > 0 else 0.0
    margin_mm = (
        max(st.background_gap_mm + st.background_width_mm, st.outer_width_mm, st.rim_outer_mm) + 1.0
    )
    margin = np.ceil(margin_mm / zooms).astype(int)
    objs = ndimage.find_objects(labels)
    # the sector test of the acquired in-plane resolution (fewer sectors on coarse grids)
    st_sec = st.sector_settings(float(max(zooms[j] for j in frame.inplane)))
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
        bz = zooms
        n_scale = 1.0
        if st.feature_inplane_mm is not None:
            s, L, other, b, bz, n_scale = _upsample_inplane(
                s, L, other, b, zooms, frame.inplane, st.feature_inplane_mm
            )
        d_in = ndimage.distance_transform_edt(np.pad(L, 1), sampling=bz)[1:-1, 1:-1, 1:-1]
        d_out = ndimage.distance_transform_edt(~L, sampling=bz)
        depth = float(d_in.max()) if L.any() else 0.0
        inplane_vox = float(max(zooms[j] for j in frame.inplane))  # acquired voxels
        inner_w = max(min(st.rim_inner_mm, st.band_max_fraction * depth), inplane_vox) + 1e-6
        band = L & (d_in <= inner_w)
        if outer_w:
            band |= (~L) & (~other) & b & (d_out <= outer_w)
        # the core: deeper than the band and in the lesion's deep part (a thick rim is no core)
        core = L & (d_in > inner_w) & (d_in >= st.core_depth_fraction * depth - 1e-6)
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
        feats: dict[str, object] = {
            "label": lab,
            "rim_z": (rim_mean - bg_med) / sd,
            "outer_z": (float(s[outer].mean()) - bg_med) / sd if outer.any() else float("nan"),
            "core_z": (core_med - bg_med) / sd,
            "rim_core_z": (rim_mean - core_med) / sd,
            "rim_positive_fraction": float((band_vals > ref + sd).mean())
            if band_vals.size
            else 0.0,
        }
        lb = LesionBox(
            s=s,
            L=L,
            band=band,
            core=core,
            shell=outer,
            bg=bg,
            ax=frame.slice_axis,
            inplane=frame.inplane,
            zooms=bz,
            z0=int(box[frame.slice_axis].start),
            core_ref=core_med,
            bg_med=bg_med,
            sd=sd,
            noise_sd=noise_sd,
            se_sd=noise_sd if st.sector_noise == "voxel" else sd,
            n_scale=n_scale,
        )
        feats.update(sector_coverage(lb, st_sec))
        feats.update(central_vein(lb, st))
        feats.update(diffuse_evidence(lb, st))
        feats.update(
            shell_evidence(
                s,
                L,
                b & ~other & ~L,
                d_in,
                d_out,
                bz,
                inplane_vox,
                noise_sd,
                bg,
                bg_med,
                n_patches=st.shell_patches,
                coverage=st.min_coverage,
                n_scale=n_scale,
            )
        )
        feats["rim_evidence"] = rim_evidence(feats, bool(np.isfinite(core_med)), st_sec)
        feats["edge_vein"] = bool(int(feats["edge_vein_sectors"]) >= st.edge_vein_min_sectors)  # type: ignore[call-overload]
        rows.append(feats)
    cols = ["label", *[f for f in FEATURES if f != "diameter_mm"], *EVIDENCE]
    return pd.DataFrame(rows, columns=cols)


__all__ = [
    "FEATURES",
    "EVIDENCE",
    "COLUMN_DESCRIPTIONS",
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
