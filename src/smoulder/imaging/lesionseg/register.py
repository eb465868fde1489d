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


def to_ants(data: np.ndarray, affine: np.ndarray, pose: np.ndarray | None = None) -> Any:
    """An antspyx image of ``data`` placed by ``affine`` (RAS), optionally moved by ``pose``.

    A thin use of :func:`smoulder.imaging.registration.ants_image`. ``pose`` moves the image in
    world space: a 3-vector is a translation (mm), a 4 x 4 matrix a world transform applied before
    the affine (``pose @ affine``), carried in the image's origin and direction.
    """
    a = np.array(affine, dtype=float)
    if pose is not None:
        p = np.asarray(pose, float)
        if p.shape == (4, 4):
            a = p @ a
        else:
            a[:3, 3] += p
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


def foreground_threshold(data: np.ndarray) -> float:
    """Intensity separating the head from the background (noise) of a scanner image.

    Otsu's threshold (maximal between-class variance) of the positive voxels, clipped at their
    99.5th percentile so a few very bright voxels do not move it. A fraction of the median of the
    brighter half, as used before, falls inside the noise when the background fills most of the
    field of view (a large field of view with a neck): then the "head" was the whole image.
    """
    from skimage.filters import threshold_otsu

    d = np.asarray(data, np.float32)
    pos = d[d > 0]
    if pos.size < 2:
        return 0.0
    hi = float(np.percentile(pos, 99.5))
    v = np.clip(pos, None, hi)
    if float(v.max()) <= float(v.min()):
        return float(v.min()) * 0.5
    return float(threshold_otsu(v))


def brain_center_guess(
    data: np.ndarray, affine: np.ndarray, *, depth_mm: float = 70.0
) -> np.ndarray:
    """Where the brain's centre probably is (world mm), even with a neck in the field of view.

    The head is the foreground (voxels above :func:`foreground_threshold`). The top of
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
    fg = ndimage.binary_opening(d > foreground_threshold(d), iterations=1)
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
    check: StartCheck | None = None
    n_starts: int = 1


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
    c = np.asarray(ndimage.center_of_mass(d > foreground_threshold(d)), float)
    return np.asarray(affine, float)[:3, :3] @ c + np.asarray(affine, float)[:3, 3]


#: Plausible volume (litres) of the template's brain mask once registered to an adult head.
BRAIN_LITRES = (0.9, 2.1)
#: Share of the registered brain that must lie inside the subject's head (or stripped brain).
INSIDE_MIN = 0.85


@dataclass
class StartCheck:
    """How one starting pose ended after the affine stage."""

    name: str
    metric: float
    inside: float
    litres: float

    @property
    def ok(self) -> bool:
        """The registered brain lies inside the head and has a plausible volume."""
        return self.inside >= INSIDE_MIN and BRAIN_LITRES[0] <= self.litres <= BRAIN_LITRES[1]

    def describe(self) -> str:
        """One line: start, metric, share inside the head, volume."""
        return (
            f"{self.name}: mutual information {self.metric:.3f}, {self.inside:.0%} of the brain "
            f"inside the head, {self.litres:.2f} L"
        )


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def start_poses(
    centres: dict[str, np.ndarray],
    template_centre: np.ndarray,
    *,
    shifts_mm: tuple[float, ...] = (-15.0, 15.0),
    angles_deg: tuple[float, ...] = (-15.0, 15.0),
) -> dict[str, np.ndarray]:
    """Starting poses of the template: 4 x 4 world transforms applied to its affine.

    Each places the template's brain centre on a subject centre (``centres``), plus, around each,
    shifts of ``shifts_mm`` along world S (the brain's height in a head with a neck is the least
    certain) and rotations of ``angles_deg`` about the left-right axis (nodding, the commonest
    tilt), about the brain centre.
    """
    out: dict[str, np.ndarray] = {}
    tc = np.asarray(template_centre, float)

    def pose(c: np.ndarray, rot: tuple[float, float, float]) -> np.ndarray:
        m = np.eye(4)
        r = _rotation(rot)
        m[:3, :3] = r
        m[:3, 3] = np.asarray(c, float) - r @ tc
        return m

    for name, c in centres.items():
        out[name] = pose(c, (0.0, 0.0, 0.0))
    for name, c in centres.items():
        for dz in shifts_mm:
            out[f"{name} {dz:+g} mm S"] = pose(np.asarray(c, float) + [0, 0, dz], (0, 0, 0))
        for a in angles_deg:
            out[f"{name} pitch {a:+g} deg"] = pose(c, (a, 0.0, 0.0))
    return out


def _affine(f_low: Any, m_img: Any, fm_img: Any, mm_img: Any, *, coarse: bool, init: Any) -> Any:
    import ants

    return ants.registration(
        fixed=f_low,
        moving=m_img,
        type_of_transform="Affine",
        initial_transform=init,
        mask=fm_img,
        moving_mask=mm_img,
        mask_all_stages=True,
        aff_metric="mattes",
        aff_iterations=(200, 100) if coarse else (1000, 500, 250, 0),
        aff_shrink_factors=(8, 4) if coarse else (6, 4, 2, 1),
        aff_smoothing_sigmas=(4, 2) if coarse else (3, 2, 1, 0),
        verbose=False,
    )


def _check(
    name: str, f_low: Any, aff: dict[str, Any], b_img: Any, head_low: np.ndarray, mm_img: Any
) -> StartCheck:
    """The brain check of one affine result (on the registration grid)."""
    import ants

    tx = list(aff["fwdtransforms"])
    w = ants.apply_transforms(f_low, b_img, tx, interpolator="nearestNeighbor").numpy() > 0.5
    region = ants.apply_transforms(f_low, mm_img, tx, interpolator="nearestNeighbor")
    metric = float(
        ants.image_similarity(
            f_low, aff["warpedmovout"], metric_type="MattesMutualInformation", fixed_mask=region
        )
    )
    n = int(w.sum())
    inside = float((w & head_low).sum() / n) if n else 0.0
    litres = n * float(np.prod(f_low.spacing)) / 1e6
    return StartCheck(name=name, metric=metric, inside=inside, litres=litres)


class RegistrationFailed(ValueError):
    """No starting pose gave a registered brain inside the head with a plausible volume."""

    def __init__(self, checks: list[StartCheck]) -> None:
        self.checks = checks
        best = max(checks, key=lambda c: (min(c.inside / INSIDE_MIN, 1.0), -c.metric))
        super().__init__(
            f"the MNI152 template could not be placed on this head: none of {len(checks)} "
            f"starting poses gave a brain inside the head with a plausible volume "
            f"({BRAIN_LITRES[0]:g}-{BRAIN_LITRES[1]:g} L, >= {INSIDE_MIN:.0%} inside); the best "
            f"was {best.describe()}"
        )


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
    head_mask: np.ndarray | None = None,
    center_guess: np.ndarray | None = None,
    syn_iterations: tuple[int, ...] = (40, 20, 0),
    refine: int = 2,
    grid: bool = True,
) -> Warped:
    """The body of :func:`register_template` (inside its ANTs seed)."""
    import ants

    m_mask = np.asarray(moving_mask, bool)
    t_com = np.asarray(ndimage.center_of_mass(m_mask), float)
    t_com_w = moving_affine[:3, :3] @ t_com + moving_affine[:3, 3]
    centres: dict[str, np.ndarray] = {}
    if center_guess is not None:
        centres["top of head"] = np.asarray(center_guess, float)
    src = fixed if fixed_mask is None else np.where(fixed_mask, fixed, 0)
    centres["centre of mass"] = _foreground_com(src, fixed_affine)
    poses = (
        start_poses(centres, t_com_w)
        if grid
        else start_poses(centres, t_com_w, shifts_mm=(), angles_deg=())
    )
    f_img = to_ants(fixed, fixed_affine)
    f_low = _resample_iso(f_img, resolution_mm)
    dil = ndimage.binary_dilation(m_mask, iterations=int(round(6 / zooms_of(moving_affine).min())))
    fm_img = None
    if fixed_mask is not None:
        fm = ndimage.binary_dilation(fixed_mask, iterations=2).astype(np.float32)
        fm_img = _resample_iso(to_ants(fm, fixed_affine), resolution_mm).threshold_image(0.5, 1e9)
    head = fixed_mask if head_mask is None else head_mask
    if head is None:
        head = np.ones(np.shape(fixed), bool)
    # the head on the registration grid, a voxel of slack at its edge
    head_img = ants.resample_image_to_target(
        to_ants(np.asarray(head, np.float32), fixed_affine), f_low, interp_type="linear"
    )
    head_low = ndimage.binary_dilation(head_img.numpy() > 0.5, iterations=1)
    files: list[str] = []
    imgs: dict[str, tuple[Any, Any, Any]] = {}

    def images(name: str) -> tuple[Any, Any, Any]:
        if name not in imgs:
            pose = poses[name]
            m_img = _resample_iso(to_ants(moving, moving_affine, pose), resolution_mm)
            mm_img = _resample_iso(
                to_ants(dil.astype(np.float32), moving_affine, pose), resolution_mm
            )
            b_img = _resample_iso(
                to_ants(m_mask.astype(np.float32), moving_affine, pose), resolution_mm
            )
            imgs[name] = (m_img, mm_img.threshold_image(0.5, 1e9), b_img)
        return imgs[name]

    try:
        coarse: list[tuple[StartCheck, Any]] = []
        for name in poses:
            m_img, mm_img, b_img = images(name)
            aff = _affine(f_low, m_img, fm_img, mm_img, coarse=True, init="Identity")
            files += list(aff["fwdtransforms"]) + list(aff["invtransforms"])
            coarse.append((_check(name, f_low, aff, b_img, head_low, mm_img), aff))
        # refine the best few: passing starts first, by mutual information
        coarse.sort(key=lambda c: (not c[0].ok, c[0].metric))
        checks: list[StartCheck] = []
        best: tuple[StartCheck, list[str]] | None = None
        for chk0, aff0 in coarse[: max(1, refine)]:
            m_img, mm_img, b_img = images(chk0.name)
            aff = _affine(
                f_low, m_img, fm_img, mm_img, coarse=False, init=list(aff0["fwdtransforms"])[0]
            )
            files += list(aff["fwdtransforms"]) + list(aff["invtransforms"])
            chk = _check(chk0.name, f_low, aff, b_img, head_low, mm_img)
            checks.append(chk)
            if best is None or (chk.ok, -chk.metric) > (best[0].ok, -best[0].metric):
                best = (chk, list(aff["fwdtransforms"]))
        assert best is not None
        if not best[0].ok and fixed_mask is None:
            raise RegistrationFailed([c for c, _ in coarse] + checks)
        chk, tx = best
        start = chk.name
        m_img, mm_img, _ = images(start)
        pose = poses[start]
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
                moving=to_ants(np.asarray(arr, np.float32), moving_affine, pose),
                transformlist=tx,
                interpolator="linear",
            )
            w = ants.resample_image_to_target(w, f_img, interp_type="linear")
            out[name] = np.asarray(w.numpy(), dtype=np.float32)
    finally:
        _cleanup(files)
    return Warped(
        images=out,
        metric_affine=chk.metric,
        transform=transform,
        start=start,
        check=chk,
        n_starts=len(poses),
    )


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
    "foreground_threshold",
    "start_poses",
    "StartCheck",
    "RegistrationFailed",
    "register_template",
    "rigid_to",
    "Warped",
    "zooms_of",
]
