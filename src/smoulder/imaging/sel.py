"""Slowly expanding lesions (SEL) across MRI time points, after Elliott et al. (Mult Scler 2019).

Pure computation on arrays (no file access). The steps, each with its settings in
:class:`SELSettings` (documented in ``docs/sel.md``):

1. **Halfway space.** Every follow-up is registered rigidly to the baseline and
   all time points are resampled into the log-Euclidean mean position of the
   scans (:mod:`smoulder.imaging.sel_register`), so no time point is favoured.
   A follow-up that does not resemble the baseline after alignment (structural
   correlation below ``min_similarity``) stops the run with the value found.
2. **Deformation.** Each follow-up is registered to the baseline with ANTs
   (affine, then SyN), giving the Jacobian determinant ``J_i`` and the
   displacement field.
3. **Atrophy correction.** An affine registration (12 parameters) precedes
   SyN and takes up the global change of the brain; ``J_i`` is divided by its
   determinant (the global scaling factor). What remains is local volume
   change *relative to the brain*, so atrophy is not read as lesion shrinkage
   (nor brain swelling as expansion).
4. **Candidates.** The corrected last-follow-up Jacobian is annualised
   (``100 (J^(1/T) - 1)`` % per year); voxels of a baseline lesion at or above
   ``seed_pct_per_year`` seed regions that grow through contiguous lesion voxels
   at or above ``growth_pct_per_year``; regions of at least ``min_voxels`` voxels
   are SEL candidates.
5. **Scores.** Per lesion: expansion (the corrected Jacobian integrated over the
   baseline lesion, a log-linear fit over all follow-ups, % per year),
   concentricity (share of the lesion boundary that moves outward relative to
   the lesion's own mean displacement), constancy (share of intervals with
   expansion, needs >= 3 time points) and the change in T1 signal inside the
   candidate relative to the perilesional white matter.
6. **Classification.** ``definite``: a candidate whose lesion is concentric
   (``>= min_concentricity``) and constant (``>= min_constancy``; with two time
   points only if ``definite_without_constancy``). ``possible``: a candidate that
   fails either. ``no``: no candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging import registration as sr
from smoulder.imaging.lesions import lesion_geometry
from smoulder.schema.images import Volume, check_same_grid

CONTRASTS = ("flair", "t1", "both")
ATROPHY_METHODS = ("affine", "brain-mean", "none")


@dataclass
class SELSettings:
    """Every threshold and registration parameter of the SEL pipeline (see ``docs/sel.md``).

    Parameters
    ----------
    contrast : {"flair", "t1", "both"}
        Image(s) driving the registrations (``both``: FLAIR and T1 as two SyN metric terms).
    rigid_metric : str
        ANTs metric of the rigid step (``mattes`` mutual information).
    syn_metric, syn_radius : str, int
        SyN similarity and its neighbourhood radius in voxels (``CC``) or bins (``mattes``).
    syn_iterations : tuple of int
        SyN iterations per level, coarse to fine.
    grad_step, flow_sigma, total_sigma : float
        SyN gradient step and Gaussian regularisation (voxels) of the update and total fields.
    min_similarity : float
        Smallest structural correlation (Pearson r of high-pass-filtered images in the brain)
        between the rigidly aligned baseline and a follow-up; below it the run stops.
    seed : int
        Random seed of ANTs' metric sampling, >= 1 (ANTs reads 0 as "seed from the clock", which
        would make every run differ).
    threads : int or None
        ITK thread count during registration (1 gives bit-for-bit reproducible results).
    atrophy_correction : {"affine", "brain-mean", "none"}
        Remove the global volume change of the brain from each Jacobian: ``affine`` (default)
        divides by the determinant of the 12-parameter affine registration that precedes SyN
        (the global scaling factor); ``brain-mean`` by the mean Jacobian over the brain (eroded,
        lesions excluded; exact only when the whole brain edge is in the field of view);
        ``none`` keeps the total Jacobian.
    brain_erosion_mm : float
        Erosion of the brain mask before the atrophy mean (avoids the brain edge).
    seed_pct_per_year, growth_pct_per_year : float
        Voxel expansion (annualised, atrophy corrected) that seeds a candidate / lets it grow
        (12.5 and 4 after Elliott 2019; *unverified*).
    min_voxels : int
        Smallest candidate (voxels, 10 after Elliott 2019; *unverified*).
    connectivity : {6, 18, 26}
        Neighbourhood of the region growing.
    min_concentricity : float
        Share of the lesion boundary that must move outward for a definite SEL.
    outward_fraction : float
        A boundary voxel moves outward when its outward displacement reaches this share of the
        lesion boundary's mean outward displacement (see :func:`concentricity`).
    min_constancy : float
        Share of follow-up intervals that must show expansion for a definite SEL.
    min_interval_pct_per_year : float
        An interval shows expansion when the candidate grew faster than this (% per year).
    definite_without_constancy : bool
        With two time points constancy cannot be measured; allow ``definite`` anyway.
    """

    contrast: str = "flair"
    rigid_metric: str = "mattes"
    syn_metric: str = "CC"
    syn_radius: int = 2
    syn_iterations: tuple[int, ...] = (40, 20, 10)
    grad_step: float = 0.4
    flow_sigma: float = 2.0
    total_sigma: float = 0.0
    min_similarity: float = 0.5
    seed: int = 1
    threads: int | None = None
    atrophy_correction: str = "affine"
    brain_erosion_mm: float = 4.0
    seed_pct_per_year: float = 12.5
    growth_pct_per_year: float = 4.0
    min_voxels: int = 10
    connectivity: int = 18
    min_concentricity: float = 0.75
    outward_fraction: float = 0.5
    min_constancy: float = 1.0
    min_interval_pct_per_year: float = 0.0
    definite_without_constancy: bool = False

    def validate(self) -> SELSettings:
        """Check every value; raise :class:`SettingsError` naming the parameter, allowed values and value."""

        def bad(name: str, allowed: str) -> SettingsError:
            return SettingsError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

        if self.contrast not in CONTRASTS:
            raise bad("contrast", f"one of {CONTRASTS}")
        if self.atrophy_correction not in ATROPHY_METHODS:
            raise bad("atrophy_correction", f"one of {ATROPHY_METHODS}")
        if self.syn_metric not in ("CC", "mattes", "meansquares"):
            raise bad("syn_metric", "'CC', 'mattes' or 'meansquares'")
        if self.connectivity not in (6, 18, 26):
            raise bad("connectivity", "6, 18 or 26")
        self.syn_iterations = tuple(int(i) for i in self.syn_iterations)
        if not self.syn_iterations or any(i < 0 for i in self.syn_iterations):
            raise bad("syn_iterations", "one or more non-negative whole numbers")
        if self.seed_pct_per_year < self.growth_pct_per_year:
            raise SettingsError(
                f"seed_pct_per_year ({self.seed_pct_per_year}) must be >= growth_pct_per_year "
                f"({self.growth_pct_per_year}); a seed below the growth threshold grows nothing"
            )
        if self.min_voxels < 1:
            raise bad("min_voxels", ">= 1")
        for name in ("min_concentricity", "min_constancy", "outward_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "between 0 and 1")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise bad("min_similarity", "between -1 and 1")
        for name in ("grad_step", "syn_radius"):
            if getattr(self, name) <= 0:
                raise bad(name, "> 0")
        if int(self.seed) < 1:
            raise bad("seed", '>= 1 (ANTs reads 0 as "seed from the clock")')
        if self.threads is not None and self.threads < 1:
            raise bad("threads", ">= 1 or None")
        return self

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["syn_iterations"] = list(self.syn_iterations)
        return d


@dataclass
class SELResult:
    """Outcome of :func:`detect_sel`.

    Attributes
    ----------
    lesions : pandas.DataFrame
        One row per baseline lesion (columns in ``docs/sel.md``), with ``sel`` in
        ``definite | possible | no``.
    summary : dict
        Per-subject counts and volumes, global brain change, registration similarities.
    jacobian : list of numpy.ndarray
        Jacobian determinant of each follow-up against baseline (not atrophy corrected), on the
        baseline grid.
    expansion : numpy.ndarray
        Annualised, atrophy-corrected voxel expansion (% per year) at the last follow-up,
        on the baseline grid.
    sel_mask : numpy.ndarray
        Candidate voxels on the baseline grid: 2 in definite SELs, 1 in possible ones.
    halfway : dict
        Images in the halfway space for QC: ``t1``, ``flair`` (lists), ``labels``,
        ``expansion``, ``candidates``.
    affine : numpy.ndarray
        Baseline (and halfway-space) grid affine.
    """

    lesions: pd.DataFrame
    summary: dict[str, Any]
    jacobian: list[np.ndarray]
    expansion: np.ndarray
    sel_mask: np.ndarray
    halfway: dict[str, Any]
    affine: np.ndarray
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def n_definite(self) -> int:
        return int((self.lesions["sel"] == "definite").sum()) if len(self.lesions) else 0


def _check_inputs(
    t1: Sequence[Volume],
    flair: Sequence[Volume],
    years: Sequence[float],
    labels: Volume,
    brain: Volume | None,
) -> np.ndarray:
    n = len(t1)
    if n < 2:
        raise SettingsError(f"SEL needs at least two time points, got {n} T1 image(s)")
    if len(flair) != n:
        raise SettingsError(
            f"{n} T1 images but {len(flair)} FLAIR images; give one of each per time point"
        )
    if len(years) != n:
        raise SettingsError(f"{n} time points but {len(years)} dates; give one date per time point")
    yrs = np.asarray(years, dtype=float)
    if not np.all(np.isfinite(yrs)):
        raise SettingsError(f"time points must be finite numbers of years, got {list(yrs)}")
    for i in range(1, n):
        if yrs[i] <= yrs[i - 1]:
            raise SettingsError(
                f"time points must be in increasing order: time point {i + 1} "
                f"({yrs[i] - yrs[0]:.3f} y after baseline) is not after time point {i} "
                f"({yrs[i - 1] - yrs[0]:.3f} y)"
            )
    for i in range(n):
        check_same_grid(flair[i], t1[i], f"T1 of time point {i + 1}")
        if t1[i].orientation != t1[0].orientation:
            raise InputDataError(
                f"orientation {t1[i].orientation} differs from the baseline's {t1[0].orientation}",
                file=t1[i].source,
                expected="all time points in one orientation (reorient them first, e.g. "
                "nibabel.as_closest_canonical), so a left-right flip cannot pass unnoticed",
            )
    check_same_grid(t1[0], labels, "baseline lesion mask")
    if brain is not None:
        check_same_grid(t1[0], brain, "brain mask")
    if not (labels.data > 0).any():
        raise InputDataError(
            "the baseline lesion mask is empty",
            file=labels.source,
            expected="at least one lesion voxel (label > 0)",
        )
    return yrs - yrs[0]


def _normalise(a: np.ndarray) -> np.ndarray:
    nz = a[a > 0]
    scale = float(np.median(nz)) if nz.size else 1.0
    return (a / max(scale, 1e-12)).astype(np.float32)


def _structural_similarity(
    a: np.ndarray, b: np.ndarray, mask: np.ndarray, zooms: np.ndarray
) -> float:
    """Pearson r of two images inside ``mask`` after removing smooth intensity trends (8 mm high-pass)."""
    sig = 8.0 / zooms

    def hp(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return x - ndimage.gaussian_filter(x, sig)

    return sr.correlation(hp(a), hp(b), mask)


def _log_fit_pct(years: np.ndarray, ratios: np.ndarray) -> float:
    """Annual % change from ratios to baseline by a log-linear least-squares fit through the origin."""
    ok = np.isfinite(ratios) & (ratios > 0) & (years > 0)
    if not ok.any():
        return float("nan")
    t, lr = years[ok], np.log(ratios[ok])
    return float((np.exp((t * lr).sum() / (t * t).sum()) - 1.0) * 100.0)


def _outward_normals(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    pad = np.pad(mask, 2)
    sd = ndimage.distance_transform_edt(~pad, sampling=zooms) - ndimage.distance_transform_edt(
        pad, sampling=zooms
    )
    sd = ndimage.gaussian_filter(sd, 0.7)[2:-2, 2:-2, 2:-2]
    g = np.stack(np.gradient(sd, *zooms), axis=-1)  # along voxel axes, per mm
    rot = affine[:3, :3] / zooms
    gw = g @ rot.T
    norm = np.linalg.norm(gw, axis=-1, keepdims=True)
    return np.where(norm > 0, gw / np.maximum(norm, 1e-12), 0.0)


def concentricity(
    lesion: np.ndarray, displacement: np.ndarray, affine: np.ndarray, *, fraction: float = 0.5
) -> float:
    """Share of a lesion's boundary voxels that move outward, relative to the lesion's mean displacement.

    A boundary voxel counts when its outward displacement reaches ``fraction`` of the boundary's
    mean outward displacement (the uniform edge shift that would give the same volume change), so
    growth concentrated on one side (a new lesion merging) scores low while growth all around
    scores near 1. For a lesion that does not grow on average, any outward movement counts.

    Parameters
    ----------
    lesion : numpy.ndarray of bool
        The lesion (a crop around it is enough).
    displacement : numpy.ndarray
        RAS mm displacement (baseline point ``x`` -> follow-up ``x + u``), shape ``(*lesion.shape, 3)``.
    affine : numpy.ndarray
        Voxel-to-RAS affine of the grid.
    fraction : float
        Share of the mean outward displacement a boundary voxel needs to count (0..1).

    Returns
    -------
    float
        In [0, 1]: 1 when the whole edge moves out (concentric growth), about 0.5 for a stable lesion
        or growth on one side only, 0 for a shrinking lesion; NaN for a lesion without boundary voxels.
    """
    les = np.asarray(lesion, bool)
    edge = les & ~ndimage.binary_erosion(les)
    if not edge.any():
        return float("nan")
    n = _outward_normals(les, affine)[edge]
    u = displacement[edge] - displacement[les].mean(axis=0)
    out = (u * n).sum(axis=1)
    valid = np.linalg.norm(n, axis=1) > 0
    if not valid.any():
        return float("nan")
    mean_out = float(out[valid].mean())
    thr = fraction * mean_out if mean_out > 0 else 0.0
    return float((out[valid] > thr).mean())


def _candidates(expansion: np.ndarray, lesion_labels: np.ndarray, s: SELSettings) -> np.ndarray:
    """Seeded region growing inside the lesions; returns the lesion label at candidate voxels, else 0."""
    rank = {6: 1, 18: 2, 26: 3}[s.connectivity]
    st = ndimage.generate_binary_structure(3, rank)
    inside = lesion_labels > 0
    grow = inside & (expansion >= s.growth_pct_per_year)
    seeds = inside & (expansion >= s.seed_pct_per_year)
    comp, n = ndimage.label(grow, structure=st)
    if n == 0:
        return np.zeros(lesion_labels.shape, np.int32)
    # region growing must stay within one lesion: split components by lesion label
    key = comp.astype(np.int64) * (int(lesion_labels.max()) + 1) + lesion_labels
    key[~grow] = 0
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(key.shape)
    seeded = np.zeros(uniq.size, bool)
    seeded[np.unique(inv[seeds])] = True
    sizes = np.bincount(inv.ravel(), minlength=uniq.size)
    keep = seeded & (sizes >= s.min_voxels)
    keep[uniq == 0] = False
    out = np.where(keep[inv] & grow, lesion_labels, 0)
    return out.astype(np.int32)


def detect_sel(
    t1: Sequence[Volume],
    flair: Sequence[Volume],
    years: Sequence[float],
    lesions: Volume,
    *,
    brain: Volume | None = None,
    settings: SELSettings | None = None,
) -> SELResult:
    """Find slowly expanding lesions across two or more time points.

    Parameters
    ----------
    t1, flair : sequence of Volume
        T1-weighted and FLAIR (or T2) images per time point; each time point's pair on one grid.
    years : sequence of float
        Time of each scan in years (e.g. days since baseline / 365.25), strictly increasing.
    lesions : Volume
        Baseline lesion labels (int, 0 = background) on the baseline grid.
    brain : Volume, optional
        Baseline brain mask; default: voxels where the baseline images are non-zero.
    settings : SELSettings, optional

    Returns
    -------
    SELResult

    Raises
    ------
    SettingsError
        Fewer than two time points, counts that do not match, times out of order, bad settings.
    InputDataError
        Images that do not share grids or orientation, an empty lesion mask, or a follow-up that
        cannot be registered (its similarity is named).
    """
    s = (settings or SELSettings()).validate()
    yrs = _check_inputs(t1, flair, years, lesions, brain)
    n = len(t1)
    warnings: list[str] = []
    aff = t1[0].affine
    shape = t1[0].shape
    zooms = t1[0].zooms
    drive = {"flair": [flair], "t1": [t1], "both": [flair, t1]}[s.contrast]

    # 1. rigid registration of each follow-up to baseline, then the halfway space
    tx = [np.eye(4)]
    for i in range(1, n):
        tx.append(
            sr.rigid_transform(
                Volume(_normalise(drive[0][0].data), aff),
                Volume(_normalise(drive[0][i].data), drive[0][i].affine),
                metric=s.rigid_metric,
                seed=s.seed,
                threads=s.threads,
            )
        )
    m = sr.halfway_matrix(tx)
    m_inv = np.linalg.inv(m)
    ref_t1 = [
        _normalise(sr.resample(t1[i].data, t1[i].affine, shape, aff, tx[i] @ m_inv))
        for i in range(n)
    ]
    ref_fl = [
        _normalise(sr.resample(flair[i].data, flair[i].affine, shape, aff, tx[i] @ m_inv))
        for i in range(n)
    ]
    labels_ref = sr.resample(lesions.data.astype(np.int32), aff, shape, aff, m_inv, order=0).astype(
        np.int32
    )
    brain0 = (brain.data > 0) if brain is not None else ((t1[0].data > 0) | (flair[0].data > 0))
    brain_ref = sr.resample(brain0.astype(np.float32), aff, shape, aff, m_inv) >= 0.5
    ref = {"flair": [ref_fl], "t1": [ref_t1], "both": [ref_fl, ref_t1]}[s.contrast]

    # where every scan has data (a follow-up's field of view moves with the head)
    support = brain_ref.copy()
    for i in range(1, n):
        support &= ref[0][i] > 0
    support = ndimage.binary_erosion(support)
    sim_rigid = [1.0]
    for i in range(1, n):
        r = _structural_similarity(ref[0][0], ref[0][i], support, zooms)
        sim_rigid.append(r)
        if not np.isfinite(r) or r < s.min_similarity:
            raise InputDataError(
                f"time point {i + 1} cannot be registered to the baseline: structural correlation after rigid "
                f"alignment {r:.3f} is below min_similarity {s.min_similarity:.3f}; no SELs are reported",
                file=drive[0][i].source,
                value=round(float(r), 4),
                expected="a scan of the same head (check the file order, the subject and the image content)",
            )

    # 2. SyN of each follow-up onto the baseline in the halfway space
    jac, disp, warped_t1, sim_syn, folding, glob_aff = [], [], [ref_t1[0]], [1.0], [], []
    for i in range(1, n):
        out = sr.syn_register(
            [c[0] for c in ref],
            [c[i] for c in ref],
            aff,
            metric=s.syn_metric,
            radius=s.syn_radius,
            iterations=s.syn_iterations,
            grad_step=s.grad_step,
            flow_sigma=s.flow_sigma,
            total_sigma=s.total_sigma,
            seed=s.seed,
            threads=s.threads,
            also_warp=[ref_t1[i]],
            mask=ndimage.binary_dilation(support, iterations=2),
        )
        glob_aff.append(out["global_volume_ratio"])
        jac.append(out["jacobian"] * out["global_volume_ratio"])  # total = local x global
        disp.append(out["displacement"])
        warped_t1.append(out["warped_extra"][0])
        sim_syn.append(_structural_similarity(ref[0][0], out["warped"][0], support, zooms))
        fold = float((out["jacobian"][brain_ref] <= 0).mean())
        folding.append(fold)
        if fold > 0:
            warnings.append(
                f"time point {i + 1}: the deformation folds in {fold:.2%} of brain voxels "
                "(Jacobian <= 0); results near those voxels are unreliable"
            )

    # 3. atrophy correction
    lesion_any = ndimage.binary_dilation(labels_ref > 0, iterations=2)
    core = (
        ndimage.binary_erosion(
            support, iterations=max(int(round(s.brain_erosion_mm / zooms.min())), 0)
        )
        if s.brain_erosion_mm > 0
        else support
    )
    core &= ~lesion_any
    if core.sum() < 100:
        core = support & ~lesion_any
    glob = {
        "affine": glob_aff,
        "brain-mean": [float(j[core].mean()) for j in jac],
        "none": [1.0] * len(jac),
    }[s.atrophy_correction]
    jc = [j / g for j, g in zip(jac, glob, strict=True)]
    t_fu = yrs[1:]
    brain_change = _log_fit_pct(t_fu, np.array(glob_aff))

    # 4. candidates on the annualised, corrected last Jacobian
    T = float(t_fu[-1])
    expansion = (np.power(np.clip(jc[-1], 1e-6, None), 1.0 / T) - 1.0) * 100.0
    expansion = np.where(brain_ref, expansion, 0.0).astype(np.float32)
    cand = _candidates(expansion, labels_ref, s)

    # 5. per-lesion scores
    geom = lesion_geometry(lesions.data.astype(np.int32), aff)
    shell_out = ndimage.binary_dilation(
        labels_ref > 0, iterations=max(1, int(round(5.0 / zooms.min())))
    )
    other = ndimage.binary_dilation(labels_ref > 0, iterations=1)
    rows = []
    objs = ndimage.find_objects(labels_ref)
    pad = np.maximum(np.ceil(6.0 / zooms).astype(int), 2)
    for lab in geom["label"].astype(int):
        row: dict[str, Any] = {"label": lab}
        sl = objs[lab - 1] if lab - 1 < len(objs) else None
        if sl is None:
            rows.append(
                row | {"note": "lesion vanished when resampled to the halfway space (too small)"}
            )
            continue
        box = tuple(
            slice(max(a.start - p, 0), min(a.stop + p, dim))
            for a, p, dim in zip(sl, pad, shape, strict=True)
        )
        les = labels_ref[box] == lab
        cl = cand[box] == lab
        ratios = np.array([float(j[box][les].mean()) for j in jc])
        row["expansion_pct_per_year"] = _log_fit_pct(t_fu, ratios)
        row["volume_change_pct"] = float((ratios[-1] - 1.0) * 100.0)
        sub_aff = aff.copy()
        sub_aff[:3, 3] = aff[:3, :3] @ np.array([b.start for b in box]) + aff[:3, 3]
        row["concentricity"] = concentricity(
            les, disp[-1][box], sub_aff, fraction=s.outward_fraction
        )
        region = cl if cl.any() else les
        series = np.concatenate([[1.0], [float(j[box][region].mean()) for j in jc]])
        if n >= 3:
            dt = np.diff(yrs)
            rates = (
                np.power(np.clip(series[1:] / series[:-1], 1e-6, None), 1.0 / dt) - 1.0
            ) * 100.0
            row["constancy"] = float((rates > s.min_interval_pct_per_year).mean())
            row["min_interval_pct_per_year"] = float(rates.min())
        else:
            row["constancy"] = float("nan")
            row["min_interval_pct_per_year"] = float("nan")
        row["candidate_voxels"] = int(cl.sum())
        row["candidate_volume_mm3"] = float(cl.sum() * np.prod(zooms))
        row["candidate_expansion_pct_per_year"] = (
            _log_fit_pct(t_fu, series[1:]) if cl.any() else float("nan")
        )
        # T1 signal inside the candidate (or lesion) relative to perilesional white matter, warped to baseline
        shell = shell_out[box] & ~other[box] & brain_ref[box]
        if shell.sum() >= 5:
            r0 = np.median(warped_t1[0][box][region]) / max(
                np.median(warped_t1[0][box][shell]), 1e-6
            )
            rl = np.median(warped_t1[-1][box][region]) / max(
                np.median(warped_t1[-1][box][shell]), 1e-6
            )
            row["t1_change_pct"] = float((rl / r0 - 1.0) * 100.0) if r0 > 0 else float("nan")
        else:
            row["t1_change_pct"] = float("nan")
        rows.append(row)
    scores = pd.DataFrame(rows)
    table = geom.merge(scores, on="label", how="left")
    for c in (
        "expansion_pct_per_year",
        "volume_change_pct",
        "concentricity",
        "constancy",
        "min_interval_pct_per_year",
        "candidate_volume_mm3",
        "candidate_expansion_pct_per_year",
        "t1_change_pct",
    ):
        if c not in table:
            table[c] = np.nan
        table[c] = table[c].astype(float)
    table["candidate_voxels"] = (
        table.get("candidate_voxels", pd.Series(0, index=table.index)).fillna(0).astype(int)
    )
    if "note" not in table:
        table["note"] = ""
    table["note"] = table["note"].fillna("")
    sel, notes = [], []
    for _, r in table.iterrows():
        v, why = classify(r, n_timepoints=n, settings=s)
        sel.append(v)
        notes.append("; ".join(x for x in (r["note"], why) if x))
    table["sel"] = sel
    table["note"] = notes
    table = table[[c for c in table.columns if c != "note"] + ["note"]]

    # 6. maps back on the baseline grid
    status = {
        int(r.label): (2 if r.sel == "definite" else 1) for r in table.itertuples() if r.sel != "no"
    }
    lut = np.zeros(int(max(labels_ref.max(), lesions.data.max())) + 1, np.uint8)
    for lab_k, code in status.items():
        lut[lab_k] = code
    cand_status = lut[cand]
    sel_mask = sr.resample(cand_status, aff, shape, aff, m, order=0).astype(np.uint8)
    jac_base = [sr.resample(j, aff, shape, aff, m) for j in jac]
    exp_base = sr.resample(expansion, aff, shape, aff, m)
    summary = {
        "n_timepoints": n,
        "years": [float(y) for y in yrs],
        "n_lesions": int(len(table)),
        "n_definite": int((table["sel"] == "definite").sum()),
        "n_possible": int((table["sel"] == "possible").sum()),
        "definite_volume_mm3": float(table.loc[table["sel"] == "definite", "volume_mm3"].sum()),
        "possible_volume_mm3": float(table.loc[table["sel"] == "possible", "volume_mm3"].sum()),
        "candidate_volume_mm3": float(table["candidate_volume_mm3"].fillna(0).sum()),
        "brain_volume_change_pct_per_year": brain_change,
        "global_jacobian": glob,
        "similarity_rigid": sim_rigid,
        "similarity_syn": sim_syn,
        "folding_fraction": folding,
        "halfway_matrix": m.tolist(),
        "rigid_transforms": [t.tolist() for t in tx],
        "version": __version__,
    }
    halfway = {
        "t1": ref_t1,
        "flair": ref_fl,
        "labels": labels_ref,
        "expansion": expansion,
        "candidates": cand_status,
        "warped_t1": warped_t1,
    }
    return SELResult(
        lesions=table,
        summary=summary,
        jacobian=jac_base,
        expansion=exp_base,
        sel_mask=sel_mask,
        halfway=halfway,
        affine=aff,
        settings=s.as_dict(),
        warnings=warnings,
    )


def classify(row: Any, *, n_timepoints: int, settings: SELSettings) -> tuple[str, str]:
    """The documented rule: ``(class, reason)`` for one lesion row (see module docstring)."""
    s = settings
    if not row.get("candidate_voxels", 0):
        return "no", "no expansion candidate"
    conc = row.get("concentricity", np.nan)
    const = row.get("constancy", np.nan)
    reasons = []
    if not (np.isfinite(conc) and conc >= s.min_concentricity):
        reasons.append(f"not concentric ({conc:.2f} < {s.min_concentricity:.2f})")
    if n_timepoints < 3:
        if not s.definite_without_constancy:
            reasons.append("constancy needs >= 3 time points")
    elif not (np.isfinite(const) and const >= s.min_constancy):
        reasons.append(f"not constant ({const:.2f} < {s.min_constancy:.2f})")
    if reasons:
        return "possible", "; ".join(reasons)
    return "definite", ""


__all__ = ["SELSettings", "SELResult", "detect_sel", "classify", "concentricity", "CONTRASTS"]
