"""Slowly expanding lesions (SEL) across MRI time points, after Elliott et al. (Mult Scler 2019).

The engine of the SEL analysis. Pure computation on arrays (no file access). The steps, each
with its settings in :class:`~smoulder.imaging.sel.SELSettings` (documented in ``docs/sel.md``):

0. **FLAIR onto T1.** A visit whose FLAIR is on another grid than its T1 (as clinical scans
   always are) has its FLAIR registered rigidly to the T1 (mutual information) and resampled
   on the T1's grid; a baseline lesion mask drawn on the FLAIR follows the same transform.
1. **Halfway space.** Every follow-up is registered rigidly to the baseline and
   all time points are resampled into the log-Euclidean mean position of the
   scans (:mod:`smoulder.imaging.registration`), so no time point is favoured.
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

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder import __version__
from smoulder._progress import announce
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging import registration as sr
from smoulder.imaging.sel.boxes import lesion_boxes, syn_register_boxes
from smoulder.imaging.sel.result import SELResult
from smoulder.imaging.sel.scores import log_fit_pct, score_lesions, seeded_candidates
from smoulder.imaging.sel.settings import SELSettings, registration_shrink, syn_levels
from smoulder.imaging.sel.volume import lesion_ratios
from smoulder.schema.images import Volume, check_has_signal, check_overlap, same_grid


class _Clock:
    """Wall-clock and CPU seconds of each step (``details["seconds"]``, ``details["cpu_seconds"]``).

    CPU seconds are the process's, summed over its threads (ITK's included): on a shared machine
    they are what a step costs, whatever the load.
    """

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t = time.perf_counter()
        self._c = time.process_time()

    def lap(self, name: str) -> None:
        now, cnow = time.perf_counter(), time.process_time()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._t, 3)
        self.cpu[name] = round(self.cpu.get(name, 0.0) + cnow - self._c, 3)
        self._t, self._c = now, cnow


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
        check_has_signal(t1[i], f"T1 of time point {i + 1}")
        check_has_signal(flair[i], f"FLAIR of time point {i + 1}")
        if not same_grid(flair[i], t1[i]):
            check_overlap(
                t1[i],
                flair[i],
                f"FLAIR of time point {i + 1}",
                reference="its T1",
                min_fraction=0.3,
            )
        if t1[i].orientation != t1[0].orientation:
            raise InputDataError(
                f"orientation {t1[i].orientation} differs from the baseline's {t1[0].orientation}",
                file=t1[i].source,
                expected="all time points in one orientation (reorient them first, e.g. "
                "nibabel.as_closest_canonical), so a left-right flip cannot pass unnoticed",
            )
    for i in range(1, n):
        check_overlap(t1[0], t1[i], f"time point {i + 1}", reference="the baseline")
    _check_baseline_grid(t1[0], flair[0], labels, "baseline lesion mask")
    if brain is not None:
        _check_baseline_grid(t1[0], flair[0], brain, "brain mask")
        if not (brain.data > 0).any():
            raise InputDataError(
                "the brain mask is empty",
                file=brain.source,
                expected="the baseline brain (voxels > 0), or no --brain-mask to use the images' "
                "non-zero voxels",
            )
    if not (labels.data > 0).any():
        raise InputDataError(
            "the baseline lesion mask is empty",
            file=labels.source,
            expected="at least one lesion voxel (label > 0)",
        )
    return yrs - yrs[0]


def _check_baseline_grid(t1: Volume, flair: Volume, mask: Volume, what: str) -> None:
    """A baseline mask must lie on the baseline T1's grid or on the baseline FLAIR's."""
    if same_grid(t1, mask) or same_grid(flair, mask):
        return
    grids = f"T1 {t1.shape} {t1.zooms.round(3).tolist()} mm ({t1.source})"
    if not same_grid(t1, flair):
        grids += f" or FLAIR {flair.shape} {flair.zooms.round(3).tolist()} mm ({flair.source})"
    raise InputDataError(
        f"the {what} (shape {mask.shape}, voxels {mask.zooms.round(3).tolist()} mm) is on neither "
        f"baseline grid: {grids}",
        file=mask.source,
        expected=f"the {what} drawn on (or resampled with nearest-neighbour interpolation to) the "
        "first --t1 or the first --flair image",
    )


def _flair_on_t1(t1: Volume, flair: Volume, s: SELSettings) -> tuple[Volume, np.ndarray | None]:
    """The visit's FLAIR on its T1's grid, and the world transform used (None: already there).

    ``flair_to_t1="rigid"`` estimates a rigid transform (mutual information, the two contrasts
    differ) with the T1 fixed; ``"resample"`` trusts the scanner's affines (no motion between the
    two sequences). The transform maps T1 world points to FLAIR world points.
    """
    if same_grid(t1, flair):
        return flair, None
    if s.flair_to_t1 == "rigid":
        tx = sr.linear_transform(
            Volume(_normalise(t1.data), t1.affine, t1.source),
            Volume(_normalise(flair.data), flair.affine, flair.source),
            kind="Rigid",
            metric="mattes",
            seed=s.seed,
            threads=s.threads,
            finest=max(
                s.linear_finest_shrink, registration_shrink(t1.zooms, s.registration_finest_mm)
            ),
        )
    else:
        tx = np.eye(4)
    data = sr.resample(flair.data, flair.affine, t1.shape, t1.affine, tx)
    return Volume(np.clip(data, 0, None).astype(np.float32), t1.affine, flair.source), tx


def _mask_on_t1(mask: Volume, t1: Volume, tx: np.ndarray | None) -> Volume:
    """A baseline mask on the baseline T1's grid (nearest neighbour when it is on the FLAIR's)."""
    if same_grid(t1, mask):
        return mask
    world = np.eye(4) if tx is None else tx
    data = sr.resample(
        np.asarray(mask.data).astype(np.int32), mask.affine, t1.shape, t1.affine, world, order=0
    )
    return Volume(data.astype(np.int32), t1.affine, mask.source)


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


def detect_sel(
    t1: Sequence[Volume],
    flair: Sequence[Volume],
    years: Sequence[float],
    lesions: Volume,
    *,
    brain: Volume | None = None,
    settings: SELSettings | None = None,
    dates: Sequence[str] | None = None,
) -> SELResult:
    """Find slowly expanding lesions across two or more time points.

    Parameters
    ----------
    t1, flair : sequence of Volume
        T1-weighted and FLAIR (or T2) images per time point. A FLAIR on another grid than its T1
        is brought onto it first (rigid registration, ``flair_to_t1``); the visits may differ in
        voxel size and field of view (every image is resampled through world coordinates).
    years : sequence of float
        Time of each scan in years (e.g. days since baseline / 365.25), strictly increasing.
    lesions : Volume
        Baseline lesion labels (int, 0 = background) on the baseline T1's or FLAIR's grid (the
        latter carried to the T1 with the FLAIR's transform, nearest neighbour).
    brain : Volume, optional
        Baseline brain mask on either baseline grid; default: voxels where the baseline images
        are non-zero.
    settings : SELSettings, optional
    dates : sequence of str, optional
        ISO dates of the time points, only echoed in the result (summary, QC page, sidecars).

    Returns
    -------
    SELResult

    Raises
    ------
    SettingsError
        Fewer than two time points, counts that do not match, times out of order, bad settings.
    InputDataError
        Images that are empty or constant, do not share grids or orientation, do not overlap the
        baseline, an empty lesion or brain mask, or a follow-up that cannot be registered (its
        similarity is named).

    Examples
    --------
    A tiny synthetic head (16 voxels of 2 mm a side, smooth texture) with one bright lesion
    whose radius grows from 5 to 6 mm in a year, scanned twice (FLAIR-like contrast for both
    images; SyN iterations cut down to keep the example quick):

    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from smoulder.imaging import SELSettings, Volume, detect_sel
    >>> g = np.indices((16, 16, 16)) - 7.5
    >>> r = np.sqrt((g**2).sum(axis=0))
    >>> texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=r.shape), 1.0)
    >>> def scan(radius):
    ...     head = np.where(r <= 7, 100 + 400 * texture, 0) + 150 * (r <= radius)
    ...     return Volume(head.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> scans = [scan(2.5), scan(3.0)]
    >>> lesion = Volume((r <= 2.5).astype(np.int32), scans[0].affine)
    >>> fast = SELSettings(syn_iterations=(4, 2), threads=1)
    >>> res = detect_sel(scans, scans, [0.0, 1.0], lesion, settings=fast)
    >>> bool(res.lesions.loc[0, "expansion_pct_per_year"] > fast.seed_pct_per_year)
    True
    >>> res.lesions.loc[0, ["sel", "note"]].tolist()
    ['possible', 'constancy needs >= 3 time points']
    """
    s = settings if settings is not None else SELSettings()
    yrs = _check_inputs(t1, flair, years, lesions, brain)
    n = len(t1)
    warnings: list[str] = []
    clock = _Clock()
    # 0. each visit's FLAIR onto its own T1 (rigid when the grids differ)
    flair_tx: list[np.ndarray | None] = []
    on_t1 = []
    for i in range(n):
        if not same_grid(flair[i], t1[i]):
            announce(f"time point {i + 1} of {n}: FLAIR onto its T1 (rigid registration)")
        fl_i, tx_i = _flair_on_t1(t1[i], flair[i], s)
        on_t1.append(fl_i)
        flair_tx.append(tx_i)
    lesions = _mask_on_t1(lesions, t1[0], flair_tx[0])
    if brain is not None:
        brain = _mask_on_t1(brain, t1[0], flair_tx[0])
    flair = on_t1
    clock.lap("flair_to_t1")
    aff = t1[0].affine
    shape = t1[0].shape
    zooms = t1[0].zooms
    drives: dict[str, list[Sequence[Volume]]] = {
        "flair": [flair],
        "t1": [t1],
        "both": [flair, t1],
    }
    drive = drives[s.contrast]
    # the finest registration level: half resolution on 1-1.25 mm scans (registration_finest_mm)
    shrink = registration_shrink(zooms, s.registration_finest_mm)
    details_shrink = int(shrink)

    # 1. rigid registration of each follow-up to baseline, then the halfway space
    tx = [np.eye(4)]
    for i in range(1, n):
        announce(f"time point {i + 1} of {n}: rigid registration to the baseline")
        tx.append(
            sr.rigid_transform(
                Volume(_normalise(drive[0][0].data), aff, drive[0][0].source),
                Volume(_normalise(drive[0][i].data), drive[0][i].affine, drive[0][i].source),
                metric=s.rigid_metric,
                seed=s.seed,
                threads=s.threads,
                finest=max(s.linear_finest_shrink, shrink),
            )
        )
    clock.lap("rigid")
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
    refs: dict[str, list[list[np.ndarray]]] = {
        "flair": [ref_fl],
        "t1": [ref_t1],
        "both": [ref_fl, ref_t1],
    }
    ref = refs[s.contrast]

    # where every scan has data (a follow-up's field of view moves with the head)
    support = brain_ref.copy()
    for i in range(1, n):
        support &= ref[0][i] > 0
    support = ndimage.binary_erosion(support)
    sim_rigid = [1.0]
    for i in range(1, n):
        r = _structural_similarity(ref[0][0], ref[0][i], support, zooms)
        sim_rigid.append(r)
        if not np.isfinite(r):
            raise InputDataError(
                f"time point {i + 1} cannot be registered to the baseline: after rigid alignment "
                "the two scans share no brain voxels, so their similarity cannot be measured; no "
                "SELs are reported",
                file=drive[0][i].source,
                expected="a scan of the same head (check the file order, the subject, the brain "
                "mask and the image content)",
            )
        if r < s.min_similarity:
            raise InputDataError(
                f"time point {i + 1} cannot be registered to the baseline: structural correlation after rigid "
                f"alignment {r:.3f} is below min_similarity {s.min_similarity:.3f}; no SELs are reported",
                file=drive[0][i].source,
                value=round(float(r), 4),
                expected="a scan of the same head (check the file order, the subject and the image content)",
            )

    clock.lap("halfway_resampling")
    # 2. SyN of each follow-up onto the baseline in the halfway space
    jac, disp, warped_t1, sim_syn, folding, glob_aff = [], [], [ref_t1[0]], [1.0], [], []
    if s.syn_region == "lesions":
        # SyN's coarsest level (shrink 2^(levels-1)) keeps >= 10 voxels a side
        side = 10 * 2 ** (len(s.syn_iterations) - 1)
        boxes = lesion_boxes(labels_ref, zooms, s.syn_margin_mm, min_side=side)
        in_boxes = np.zeros(shape, bool)
        for b in boxes:
            in_boxes[b] = True
    else:
        in_boxes = np.ones(shape, bool)
    for i in range(1, n):
        announce(
            f"time point {i + 1} of {n}: deformable registration (SyN) to the baseline"
            " (the longest step)"
        )
        register: Any = (
            partial(syn_register_boxes, boxes=boxes)
            if s.syn_region == "lesions"
            else sr.syn_register
        )
        out = register(
            [c[0] for c in ref],
            [c[i] for c in ref],
            aff,
            metric=s.syn_metric,
            radius=s.syn_radius,
            iterations=syn_levels(s.syn_iterations, shrink),
            affine_finest=shrink,
            grad_step=s.grad_step,
            flow_sigma=s.flow_sigma,
            total_sigma=s.total_sigma,
            seed=s.seed,
            threads=s.threads,
            also_warp=[ref_t1[i]],
            mask=ndimage.binary_dilation(support, iterations=2),
            source=drive[0][i].source,
        )
        glob_aff.append(out["global_volume_ratio"])
        jac.append(out["jacobian"] * out["global_volume_ratio"])  # total = local x global
        disp.append(out["displacement"])
        warped_t1.append(out["warped_extra"][0])
        sim_syn.append(_structural_similarity(ref[0][0], out["warped"][0], support, zooms))
        fold = float((out["jacobian"][brain_ref & in_boxes] <= 0).mean())
        folding.append(fold)
        if fold > 0:
            warnings.append(
                f"time point {i + 1}: the deformation folds in {fold:.2%} of brain voxels "
                "(Jacobian <= 0); results near those voxels are unreliable"
            )

    clock.lap("affine_and_syn")
    announce("measuring each lesion's expansion and scoring it")
    # 3. atrophy correction
    lesion_any = ndimage.binary_dilation(labels_ref > 0, iterations=2)
    core = (
        ndimage.binary_erosion(
            support, iterations=max(int(round(s.brain_erosion_mm / zooms.min())), 0)
        )
        if s.brain_erosion_mm > 0
        else support
    )
    core &= ~lesion_any & in_boxes
    if core.sum() < 100:
        core = support & ~lesion_any & in_boxes
    glob = {
        "affine": glob_aff,
        "brain-mean": [float(j[core].mean()) for j in jac],
        "none": [1.0] * len(jac),
    }[s.atrophy_correction]
    jc = [j / g for j, g in zip(jac, glob, strict=True)]
    t_fu = yrs[1:]
    brain_change = log_fit_pct(t_fu, np.array(glob_aff))

    # 4. each lesion's own volume change, by every measure (docs/sel.md, step 7)
    ratios = lesion_ratios(ref_fl, labels_ref, support, zooms, jc, glob, s)
    measured = ratios[s.expansion_measure]
    growing = []
    if s.lesion_seed_pct_per_year is not None:
        growing = [
            k
            for k, r in measured.items()
            if np.isfinite(r).all() and log_fit_pct(t_fu, r) >= s.lesion_seed_pct_per_year
        ]

    # 5. candidates on the annualised, corrected last Jacobian
    T = float(t_fu[-1])
    expansion = (np.power(np.clip(jc[-1], 1e-6, None), 1.0 / T) - 1.0) * 100.0
    expansion = np.where(brain_ref, expansion, 0.0).astype(np.float32)
    cand = seeded_candidates(expansion, labels_ref, s, growing)

    # 6. per-lesion scores and classes
    table = score_lesions(
        lesions.data,
        labels_ref,
        cand,
        jc,
        disp,
        warped_t1,
        brain_ref,
        yrs,
        aff,
        s,
        ratios,
    )

    clock.lap("measures_and_scores")
    # 7. maps back on the baseline grid
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
    details = {
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
        "flair_to_t1": [None if t is None else t.tolist() for t in flair_tx],
        "syn_share_of_grid": float(in_boxes.mean()),
        "registration_shrink": details_shrink,
        "version": __version__,
    }
    clock.lap("maps_to_baseline")
    details["seconds"] = clock.laps
    details["cpu_seconds"] = clock.cpu
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
        details=details,
        jacobian=jac_base,
        expansion=exp_base,
        sel_mask=sel_mask,
        halfway=halfway,
        affine=aff,
        settings=s,
        dates=None if dates is None else [str(d) for d in dates],
        warnings=warnings,
    )


__all__ = ["detect_sel"]
