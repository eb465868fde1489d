"""antspyx steps of the lesion segmentation: N4, template registration, warping of the priors.

Everything takes and returns numpy arrays with a voxel-to-world (RAS mm) affine; antspyx (LPS)
images exist only inside these functions. antspyx writes its transforms to temporary files of
its own; they are deleted as soon as the priors are warped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder.imaging.registration import ants_determinism, ants_image, rigid_register
from smoulder.schema.images import Volume


def zooms_of(affine: np.ndarray) -> np.ndarray:
    """Voxel sizes (mm) of a grid: :attr:`smoulder.schema.images.Volume.zooms` of its affine."""
    return Volume(np.zeros((1, 1, 1), np.float32), np.asarray(affine, float)).zooms


def to_ants(data: np.ndarray, affine: np.ndarray, shift_mm: np.ndarray | None = None) -> Any:
    """An antspyx image of ``data`` placed by ``affine`` (RAS), optionally shifted by ``shift_mm``.

    A thin use of :func:`smoulder.imaging.registration.ants_image`; the shift moves the image in
    world space (a pure translation carried in its origin).
    """
    a = np.array(affine, dtype=float)
    if shift_mm is not None:
        a[:3, 3] += np.asarray(shift_mm, float)
    return ants_image(Volume(np.asarray(data, np.float32), a))


def n4_correct(
    data: np.ndarray,
    affine: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    spline_mm: float = 100.0,
    shrink_mm: float = 5.0,
    iterations: tuple[int, ...] = (50, 40, 30),
) -> tuple[np.ndarray, np.ndarray]:
    """N4 bias-field correction (Tustison et al., IEEE TMI 2010) with antspyx.

    Parameters
    ----------
    data, affine : numpy.ndarray
        The image and its affine.
    mask : numpy.ndarray of bool, optional
        Voxels the field is fitted on (default: voxels above a tenth of the 99th percentile).
    spline_mm : float
        B-spline mesh distance of the field (mm): the field is smooth over this scale.
    shrink_mm : float
        The field is fitted on the image shrunk to about this voxel size (of its finest axis).
    iterations : tuple of int
        Iterations per fitting level.

    Returns
    -------
    corrected, field : numpy.ndarray
        The corrected image (same mean inside the mask as the input) and the multiplicative field.
    """
    import ants

    d = np.asarray(data, dtype=np.float32)
    pos = d[d > 0]
    if pos.size == 0:
        return d.copy(), np.ones_like(d)
    if mask is None:
        mask = d > 0.1 * float(np.percentile(pos, 99))
    img = to_ants(np.clip(d, 0, None), affine)
    msk = to_ants(mask.astype(np.float32), affine)
    z = zooms_of(affine)
    # one shrink factor for all axes (ITK): the finest axis ends near shrink_mm
    f = int(max(1, min(8, int(shrink_mm / max(float(z.min()), 1e-3)))))
    extent = np.array(d.shape) * z
    spline = [int(max(1, round(e / spline_mm))) for e in extent]
    field = ants.n4_bias_field_correction(
        img,
        mask=msk,
        shrink_factor=f,
        convergence={"iters": list(iterations), "tol": 1e-7},
        spline_param=spline,
        return_bias_field=True,
    ).numpy()
    field = np.where(field > 1e-6, field, 1.0).astype(np.float32)
    inside = mask & (d > 0)
    # keep the image's scale: the field is normalised to a mean of one over the mask
    scale = float(np.mean(field[inside])) if inside.any() else 1.0
    field /= scale
    return (d / field).astype(np.float32), field


def brain_center_guess(
    data: np.ndarray, affine: np.ndarray, *, depth_mm: float = 70.0
) -> np.ndarray:
    """Where the brain's centre probably is (world mm), even with a neck in the field of view.

    The head is the foreground (voxels above a fifth of the median of the bright half). The top of
    the head is its most superior voxel along world S; the brain centre of an adult lies about
    ``depth_mm`` below it (MNI152: vertex of the scalp ~ z = +80 mm, brain centre of mass ~ z = +10
    mm). Left-right and front-back come from the head's centre in the slab 20-60 mm below the top.
    A skull-stripped image gives the same answer, its top being the top of the brain (about 10 mm
    lower, well within what affine registration corrects).
    """
    d = np.asarray(data, dtype=np.float32)
    pos = d[d > 0]
    if pos.size == 0:
        return np.asarray(affine, float)[:3, 3]
    thr = 0.2 * float(np.median(pos[pos >= np.median(pos)]))
    fg = ndimage.binary_opening(d > thr, iterations=1)
    lab, n = ndimage.label(fg)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        fg = lab == int(np.argmax(sizes))
    ijk = np.argwhere(fg)
    if ijk.size == 0:
        ijk = np.argwhere(d > 0)
    a = np.asarray(affine, float)
    xyz = ijk @ a[:3, :3].T + a[:3, 3]
    top = float(np.percentile(xyz[:, 2], 99.9))
    slab = (xyz[:, 2] < top - 20) & (xyz[:, 2] > top - 60)
    xy = xyz[slab, :2].mean(axis=0) if slab.any() else xyz[:, :2].mean(axis=0)
    return np.array([xy[0], xy[1], top - depth_mm])


@dataclass
class Warped:
    """Template images warped onto the subject's grid, and how the registration went."""

    images: dict[str, np.ndarray]
    metric_affine: float
    transform: str
    start: str


def _resample_iso(img: Any, mm: float) -> Any:
    import ants

    sp = np.array(img.spacing)
    if np.allclose(sp, mm, atol=1e-3):
        return img
    return ants.resample_image(img, (mm, mm, mm), use_voxels=False, interp_type=0)


def _cleanup(files: list[str]) -> None:
    for f in set(files):
        if isinstance(f, str) and os.path.isfile(f):
            try:
                os.unlink(f)
            except OSError:  # pragma: no cover - a temporary file that is already gone
                pass


def _foreground_com(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    d = np.asarray(data, np.float32)
    pos = d[d > 0]
    thr = 0.2 * float(np.median(pos)) if pos.size else 0.0
    c = np.asarray(ndimage.center_of_mass(d > thr), float)
    return np.asarray(affine, float)[:3, :3] @ c + np.asarray(affine, float)[:3, 3]


def _register_template(
    fixed: np.ndarray,
    fixed_affine: np.ndarray,
    moving: np.ndarray,
    moving_affine: np.ndarray,
    moving_mask: np.ndarray,
    warp: dict[str, np.ndarray],
    *,
    transform: str = "syn",
    resolution_mm: float = 2.0,
    syn_metric: str = "mattes",
    fixed_mask: np.ndarray | None = None,
    center_guess: np.ndarray | None = None,
    syn_iterations: tuple[int, ...] = (40, 20, 0),
) -> Warped:
    """The body of :func:`register_template` (inside its ANTs seed)."""
    import ants

    m_mask = np.asarray(moving_mask, bool)
    t_com = np.asarray(ndimage.center_of_mass(m_mask), float)
    t_com_w = moving_affine[:3, :3] @ t_com + moving_affine[:3, 3]
    starts: dict[str, np.ndarray] = {}
    if center_guess is not None:
        starts["top of head"] = np.asarray(center_guess, float) - t_com_w
    src = fixed if fixed_mask is None else np.where(fixed_mask, fixed, 0)
    starts["centre of mass"] = _foreground_com(src, fixed_affine) - t_com_w
    f_img = to_ants(fixed, fixed_affine)
    f_low = _resample_iso(f_img, resolution_mm)
    dil = ndimage.binary_dilation(m_mask, iterations=int(round(6 / zooms_of(moving_affine).min())))
    fm_img = None
    if fixed_mask is not None:
        fm = ndimage.binary_dilation(fixed_mask, iterations=2).astype(np.float32)
        fm_img = _resample_iso(to_ants(fm, fixed_affine), resolution_mm).threshold_image(0.5, 1e9)
    files: list[str] = []
    try:
        best: tuple[float, str, Any, Any, list[str]] | None = None
        for name, shift in starts.items():
            m_img = _resample_iso(to_ants(moving, moving_affine, shift), resolution_mm)
            mm_img = _resample_iso(
                to_ants(dil.astype(np.float32), moving_affine, shift), resolution_mm
            )
            mm_img = mm_img.threshold_image(0.5, 1e9)
            aff = ants.registration(
                fixed=f_low,
                moving=m_img,
                type_of_transform="Affine",
                initial_transform="Identity",
                mask=fm_img,
                moving_mask=mm_img,
                mask_all_stages=True,
                aff_metric="mattes",
                aff_iterations=(1000, 500, 250, 0),
                aff_shrink_factors=(6, 4, 2, 1),
                aff_smoothing_sigmas=(3, 2, 1, 0),
                verbose=False,
            )
            files += list(aff["fwdtransforms"]) + list(aff["invtransforms"])
            tx = list(aff["fwdtransforms"])
            region = ants.apply_transforms(f_low, mm_img, tx, interpolator="nearestNeighbor")
            metric = float(
                ants.image_similarity(
                    f_low,
                    aff["warpedmovout"],
                    metric_type="MattesMutualInformation",
                    fixed_mask=region,
                )
            )
            if best is None or metric < best[0]:
                best = (metric, name, m_img, mm_img, tx)
        assert best is not None
        metric, start, m_img, mm_img, tx = best
        shift = starts[start]
        if transform == "syn":
            syn = ants.registration(
                fixed=f_low,
                moving=m_img,
                type_of_transform="SyNOnly",
                initial_transform=tx[0],
                mask=fm_img,
                moving_mask=mm_img,
                syn_metric=syn_metric,
                syn_sampling=4 if syn_metric == "CC" else 32,
                reg_iterations=syn_iterations,
                verbose=False,
            )
            files += list(syn["fwdtransforms"]) + list(syn["invtransforms"])
            tx = list(syn["fwdtransforms"])
        out = {}
        for name, arr in warp.items():
            # warped on the registration grid, then interpolated onto the subject's grid: the
            # priors are smooth at that scale, and this costs a fraction of a full-grid warp
            w = ants.apply_transforms(
                fixed=f_low,
                moving=to_ants(np.asarray(arr, np.float32), moving_affine, shift),
                transformlist=tx,
                interpolator="linear",
            )
            w = ants.resample_image_to_target(w, f_img, interp_type="linear")
            out[name] = np.asarray(w.numpy(), dtype=np.float32)
    finally:
        _cleanup(files)
    return Warped(images=out, metric_affine=metric, transform=transform, start=start)


def register_template(
    fixed: np.ndarray,
    fixed_affine: np.ndarray,
    moving: np.ndarray,
    moving_affine: np.ndarray,
    moving_mask: np.ndarray,
    warp: dict[str, np.ndarray],
    *,
    seed: int = 1,
    **options: Any,
) -> Warped:
    """Register a template (moving) to the subject (fixed) and warp ``warp`` images onto its grid.

    The template's brain centre is first placed on each of two starting points (``center_guess``,
    see :func:`brain_center_guess`, and the centre of mass of the subject's foreground): a pure
    translation carried in the template's origin. From each, an affine registration (Mattes mutual
    information) runs; the one with the better metric over the template's brain wins. When
    ``transform="syn"``, a deformable SyN stage (Avants et al., Med Image Anal 2008) follows at
    ``resolution_mm``. The metric is sampled only where the template's (dilated) brain lands, so
    the skull, neck and background do not pull on the fit. Runs inside
    :func:`smoulder.imaging.registration.ants_determinism` (``seed`` >= 1: reproducible).

    Options: ``transform`` ("syn" or "affine"), ``resolution_mm``, ``syn_metric``, ``fixed_mask``,
    ``center_guess``, ``syn_iterations``.

    Returns
    -------
    Warped
        The ``warp`` images (linear interpolation) on the fixed grid.
    """
    with ants_determinism(seed, None):
        return _register_template(
            fixed, fixed_affine, moving, moving_affine, moving_mask, warp, **options
        )


def rigid_to(
    fixed: np.ndarray,
    fixed_affine: np.ndarray,
    moving: np.ndarray,
    moving_affine: np.ndarray,
    *,
    seed: int = 1,
    source: str = "T1",
) -> np.ndarray:
    """Rigidly register ``moving`` to ``fixed`` and resample it onto the fixed grid.

    :func:`smoulder.imaging.registration.rigid_register` (Mattes mutual information, linear
    interpolation) on the two grids.
    """
    ref = Volume(np.asarray(fixed, np.float32), np.asarray(fixed_affine, float), "FLAIR")
    mov = Volume(np.asarray(moving, np.float32), np.asarray(moving_affine, float), source)
    out, _ = rigid_register(ref, mov, seed=seed)
    return np.asarray(out.data, np.float32)


__all__ = [
    "to_ants",
    "n4_correct",
    "brain_center_guess",
    "register_template",
    "rigid_to",
    "Warped",
    "zooms_of",
]
