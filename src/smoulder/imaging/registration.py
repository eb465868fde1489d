"""The one set of antspyx wrappers: ANTs images, rigid, affine and SyN registration, the halfway
space and resampling through world coordinates.

Conventions
-----------
Arrays are voxel data with a voxel-to-RAS affine (as NIfTI stores them); ANTs works in LPS, so
affines and displacement vectors are flipped in x and y at the boundary (:func:`ants_image`).
Every registration runs inside :func:`ants_determinism`, which fixes ANTs' random seed (>= 1:
ANTs reads 0 as "seed from the clock") and optionally ITK's thread count; with one thread the
results are bit-for-bit reproducible. ANTs writes its transforms to temporary files; they are
removed before each function returns.

Halfway space
-------------
Each follow-up ``i`` is registered rigidly to the baseline, giving a world (RAS mm) transform
``T_i`` that maps baseline points to follow-up points (``T_0`` is the identity). The reference
space is the *log-Euclidean mean* of all time points' transforms,

    M = expm( mean_i logm(T_i) ),

and time point ``i`` is resampled on the baseline grid through ``T_i M^-1``. With two time
points ``M = T^(1/2)``: baseline and follow-up each move half way, so both are interpolated once
and equally (no time point is favoured, which would otherwise bias the Jacobian by the blur
difference). With more time points ``M`` is the rigid "average position" of all scans.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.linalg import expm, logm

from smoulder.exceptions import InputDataError
from smoulder.schema.images import Volume, check_overlap

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


def ants_image(vol: Volume) -> Any:
    """An ANTs image of ``vol`` (voxel-to-RAS affine converted to ANTs' LPS), as float32."""
    import ants

    a = np.asarray(vol.affine, float)
    zooms = vol.zooms
    direction = _FLIP[:3, :3] @ (a[:3, :3] / zooms)
    origin = _FLIP[:3, :3] @ a[:3, 3]
    return ants.from_numpy(
        np.ascontiguousarray(vol.data, dtype=np.float32),
        origin=tuple(origin.tolist()),
        spacing=tuple(zooms.tolist()),
        direction=direction,
    )


@contextmanager
def ants_determinism(seed: int, threads: int | None) -> Iterator[None]:
    """Fix ANTs' random seed (metric sampling) and, optionally, its thread count, for one block.

    ``seed`` must be >= 1: ANTs reads 0 as "seed from the clock" (a different result every run).
    """
    import ants

    if int(seed) < 1:
        raise ValueError(f"ANTs random seed must be >= 1, got {seed!r} (0 means 'from the clock')")
    old_seed = ants.config._random_seed
    old_threads = os.environ.get("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")
    ants.config._random_seed = int(seed)
    if threads is not None:
        os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(int(threads))
    try:
        yield
    finally:
        ants.config._random_seed = old_seed
        if threads is not None:
            if old_threads is None:
                os.environ.pop("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", None)
            else:
                os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = old_threads


def _registration(moving_source: str, **kwargs: Any) -> dict[str, Any]:
    """``ants.registration`` whose failures (ITK errors) become an error naming the moving image."""
    import ants

    try:
        return ants.registration(**kwargs)  # type: ignore[no-any-return]
    except RuntimeError as exc:
        raise InputDataError(
            f"the registration failed in ANTs ({exc})",
            file=moving_source,
            expected="an image of the same head with anatomy to align (not empty, not constant)",
        ) from None


def _remove_outputs(*registrations: dict[str, Any]) -> None:
    """Delete the transform files ANTs wrote for these registrations (its own temporary names)."""
    for reg in registrations:
        for path in {*reg.get("fwdtransforms", []), *reg.get("invtransforms", [])}:
            try:
                os.remove(path)
            except OSError:
                pass


def _itk_affine_to_ras(path: str) -> np.ndarray:
    """A 4x4 RAS world matrix from an ITK affine transform file (ANTs ``GenericAffine.mat``)."""
    import ants

    tx = ants.read_transform(path)
    p = np.asarray(tx.parameters, dtype=float)
    c = np.asarray(tx.fixed_parameters, dtype=float)[:3]
    a = p[:9].reshape(3, 3)
    t = p[9:12]
    lps = np.eye(4)
    lps[:3, :3] = a
    lps[:3, 3] = t + c - a @ c
    return _FLIP @ lps @ _FLIP


def _levels(*shapes: tuple[int, ...], finest: int = 1) -> list[tuple[int, int, int]]:
    """(shrink, smoothing sigma, iterations) per level of a linear registration.

    ANTs' defaults (shrink 6, 4, 2, 1) are kept only while the coarsest image keeps enough voxels
    along its shortest axis (>= 10): a coarser level on a small image converges to nonsense.
    ``finest`` > 1 stops at that shrink factor (the full-resolution level is the costliest).
    """
    levels = [(6, 3, 2100), (4, 2, 1200), (2, 1, 1200), (1, 0, 100)]
    smallest = min(min(sh) for sh in shapes)
    keep = [lv for lv in levels if smallest / lv[0] >= 10 or lv[0] == 1]
    if finest > 1:
        coarse = [lv for lv in keep if lv[0] >= finest]
        keep = coarse if coarse else keep
    return keep


def _linear(
    fixed: Volume,
    moving: Volume,
    *,
    kind: str,
    metric: str,
    mask: np.ndarray | None,
    finest: int = 1,
) -> dict[str, Any]:
    """One ANTs linear registration (inside the caller's :func:`ants_determinism`)."""
    keep = _levels(fixed.shape, moving.shape, finest=finest)
    return _registration(
        moving.source,
        fixed=ants_image(fixed),
        moving=ants_image(moving),
        type_of_transform=kind,
        aff_metric=metric,
        aff_shrink_factors=tuple(lv[0] for lv in keep),
        aff_smoothing_sigmas=tuple(lv[1] for lv in keep),
        aff_iterations=tuple(lv[2] for lv in keep),
        mask=None if mask is None else ants_image(fixed.like(np.asarray(mask, np.float32))),
        mask_all_stages=mask is not None,
        verbose=False,
    )


def linear_transform(
    fixed: Volume,
    moving: Volume,
    *,
    kind: str = "Rigid",
    metric: str = "mattes",
    seed: int = 1,
    threads: int | None = None,
    mask: np.ndarray | None = None,
    finest: int = 1,
) -> np.ndarray:
    """World transform (4x4, RAS) mapping points of ``fixed`` to corresponding points of ``moving``.

    ``kind`` is ``Rigid`` (6 degrees of freedom) or ``Affine`` (12). ``mask`` (on the fixed grid)
    limits the metric to a region, e.g. where both images have data. ``finest`` > 1 stops the
    multi-resolution schedule at that shrink factor (2: half resolution, several times faster on
    1 mm images; for a starting point that a finer registration refines).
    """
    with ants_determinism(seed, threads):
        reg = _linear(fixed, moving, kind=kind, metric=metric, mask=mask, finest=finest)
        try:
            return _itk_affine_to_ras(reg["fwdtransforms"][0])
        finally:
            _remove_outputs(reg)


def rigid_transform(
    fixed: Volume,
    moving: Volume,
    *,
    metric: str = "mattes",
    seed: int = 1,
    threads: int | None = None,
    finest: int = 1,
) -> np.ndarray:
    """Rigid world transform (4x4, RAS) mapping points of ``fixed`` to corresponding points of ``moving``.

    ``finest`` as in :func:`linear_transform`.
    """
    return linear_transform(
        fixed, moving, kind="Rigid", metric=metric, seed=seed, threads=threads, finest=finest
    )


def halfway_matrix(transforms: list[np.ndarray]) -> np.ndarray:
    """Log-Euclidean mean ``expm(mean(logm(T_i)))`` of rigid 4x4 transforms (the halfway space)."""
    logs = [np.real(logm(np.asarray(t, float))) for t in transforms]
    m = np.real(expm(np.mean(logs, axis=0)))
    m[3] = (0.0, 0.0, 0.0, 1.0)
    return m


def resample(
    data: np.ndarray,
    src_affine: np.ndarray,
    out_shape: tuple[int, ...],
    out_affine: np.ndarray,
    world_tx: np.ndarray | None = None,
    *,
    order: int = 1,
) -> np.ndarray:
    """Sample ``data`` at the world points ``world_tx @ x`` of each output voxel ``x``.

    ``order`` 0 is nearest neighbour (labels), 1 trilinear, 3 cubic spline.
    Outside the source field of view the result is 0.
    """
    tx = np.eye(4) if world_tx is None else np.asarray(world_tx, float)
    m = np.linalg.inv(src_affine) @ tx @ out_affine
    src = np.asarray(data)
    if order > 0:
        src = src.astype(np.float32)
    return ndimage.affine_transform(
        src,
        m[:3, :3],
        offset=m[:3, 3],
        output_shape=tuple(out_shape),
        order=order,
        mode="constant",
        cval=0,
        prefilter=order > 1,
    )


def resample_to(ref: Volume, moving: Volume, *, order: int = 1) -> Volume:
    """Resample ``moving`` onto ``ref``'s grid through world coordinates (affines trusted).

    Parameters
    ----------
    ref : Volume
        The grid to resample onto (the FLAIR).
    moving : Volume
        The image to resample (phase or QSM).
    order : int
        Interpolation order (0 nearest, 1 trilinear).

    Raises
    ------
    InputDataError
        When less than half of ``ref``'s field of view lies inside ``moving`` in world space.
    """
    check_overlap(ref, moving, "the image")
    out = resample(
        moving.data.astype(np.float32), moving.affine, ref.shape, ref.affine, order=order
    )
    return Volume(out.astype(np.float32), ref.affine.copy(), moving.source)


def rigid_register(
    ref: Volume, moving: Volume, *, moving_for_transform: Volume | None = None, seed: int = 1
) -> tuple[Volume, np.ndarray]:
    """Rigidly register ``moving`` (or a companion image of it) to ``ref`` with antspyx.

    Parameters
    ----------
    ref : Volume
        The FLAIR (fixed image).
    moving : Volume
        The image to bring onto ``ref``'s grid (phase or QSM).
    moving_for_transform : Volume, optional
        An image on ``moving``'s grid with anatomy closer to the FLAIR (e.g. a
        magnitude image) to estimate the transform from; default ``moving``.
    seed : int
        Random seed of the metric sampling, >= 1 (deterministic results; ANTs reads 0 as "seed
        from the clock").

    Returns
    -------
    (Volume, numpy.ndarray)
        ``moving`` resampled on ``ref``'s grid (linear interpolation) and the
        4x4 ITK (LPS) rigid matrix found.
    """
    import ants

    check_overlap(ref, moving, "the image")
    fixed = ants_image(ref)
    est = ants_image(moving_for_transform or moving)
    with ants_determinism(seed, None):
        reg = _registration(
            (moving_for_transform or moving).source,
            fixed=fixed,
            moving=est,
            type_of_transform="Rigid",
            aff_metric="mattes",
            verbose=False,
        )
    try:
        warped = ants.apply_transforms(
            fixed=fixed,
            moving=ants_image(moving),
            transformlist=reg["fwdtransforms"],
            interpolator="linear",
        )
        tx = ants.read_transform(reg["fwdtransforms"][0])
    finally:
        _remove_outputs(reg)
    mat = np.eye(4)
    p = np.asarray(tx.parameters, dtype=float)
    mat[:3, :3] = p[:9].reshape(3, 3)
    mat[:3, 3] = p[9:12]
    return Volume(
        np.asarray(warped.numpy(), dtype=np.float32), ref.affine.copy(), moving.source
    ), mat


def syn_only(
    source: str,
    fixed: Sequence[Any],
    moving: Sequence[Any],
    initial: str,
    *,
    metric: str,
    radius: int,
    iterations: Sequence[int],
    grad_step: float,
    flow_sigma: float,
    total_sigma: float,
    mask: Any = None,
) -> dict[str, Any]:
    """ANTs' SyN stage alone, started from the affine transform file ``initial``.

    ``fixed`` and ``moving`` are ANTs images of the same contrasts in the same order: the first
    pair drives the metric, the others are added with equal weight (multivariate SyN).
    """
    extras = None
    if len(fixed) > 1:
        extras = [[metric, f, m, 1.0, radius] for f, m in zip(fixed[1:], moving[1:], strict=True)]
    return _registration(
        source,
        fixed=fixed[0],
        moving=moving[0],
        type_of_transform="SyNOnly",
        syn_metric=metric,
        initial_transform=[initial],
        syn_sampling=radius,
        reg_iterations=tuple(iterations),
        grad_step=grad_step,
        flow_sigma=flow_sigma,
        total_sigma=total_sigma,
        multivariate_extras=extras,
        mask=mask,
        verbose=False,
    )


def syn_register(
    fixed: Sequence[np.ndarray],
    moving: Sequence[np.ndarray],
    affine: np.ndarray,
    *,
    metric: str = "CC",
    radius: int = 3,
    iterations: tuple[int, ...] = (60, 40, 20),
    grad_step: float = 0.2,
    flow_sigma: float = 3.0,
    total_sigma: float = 0.0,
    seed: int = 1,
    threads: int | None = None,
    also_warp: Sequence[np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    affine_metric: str = "mattes",
    source: str = "<array>",
    affine_finest: int = 1,
) -> dict[str, Any]:
    """Affine then deformable (SyN) registration of ``moving`` onto ``fixed`` on one grid.

    The affine stage (12 degrees of freedom, on the first contrast) takes up global change of
    size and shape, above all brain atrophy; SyN then models what is left, the local change.

    Parameters
    ----------
    fixed, moving : sequence of numpy.ndarray
        One or more contrasts (e.g. FLAIR, T1) of the two time points on the same grid,
        already rigidly aligned; the first drives the registration, the others are added as
        further metric terms of equal weight.
    affine : numpy.ndarray
        The common voxel-to-RAS affine.
    metric, radius : str, int
        SyN similarity (``CC`` with a neighbourhood ``radius`` in voxels, or ``mattes`` with
        ``radius`` bins).
    iterations : tuple of int
        Iterations per resolution level (coarse to fine, each level halves the resolution).
    grad_step, flow_sigma, total_sigma : float
        SyN gradient step and the Gaussian regularisation of the update and total fields (voxels).
    seed, threads : int
        Random seed of ANTs (>= 1) and, optionally, ITK's thread count (1 for bit-for-bit
        reproducibility).
    also_warp : sequence of numpy.ndarray, optional
        Further moving-space images to bring onto the fixed image (linear interpolation).
    mask : numpy.ndarray of bool, optional
        Fixed-space region where the similarity is evaluated (e.g. where both scans have data).
    affine_metric : str
        ANTs metric of the affine stage.
    source : str
        Name of the moving image in error messages.
    affine_finest : int
        Finest shrink factor of the affine stage (1: full resolution; 2: stop at half).

    Returns
    -------
    dict
        ``jacobian`` (determinant of the local, SyN part of the deformation: > 1 where baseline
        tissue occupies more volume at follow-up than the global affine change predicts),
        ``global_volume_ratio`` (determinant of the affine stage: follow-up / baseline volume of
        the whole image content, i.e. brain atrophy), ``affine`` (its RAS 4x4 world matrix),
        ``displacement`` (RAS mm vectors of the SyN part, shape ``(*grid, 3)``: baseline point
        ``x`` corresponds to ``x + u(x)`` before the affine), ``warped`` (the moving contrasts on
        the fixed grid) and ``warped_extra``.
    """
    import ants

    grid = Volume(np.asarray(fixed[0]), np.asarray(affine, float))
    fx = [ants_image(grid.like(f)) for f in fixed]
    mv = [ants_image(grid.like(m)) for m in moving]
    amask = ants_image(grid.like(np.asarray(mask, np.float32))) if mask is not None else None
    with ants_determinism(seed, threads):
        lin = _linear(
            grid.like(fixed[0]),
            grid.like(moving[0]),
            kind="Affine",
            metric=affine_metric,
            mask=mask,
            finest=affine_finest,
        )
        reg: dict[str, Any] = {}
        try:
            aff_file = lin["fwdtransforms"][0]
            aff_ras = _itk_affine_to_ras(aff_file)
            reg = syn_only(
                source,
                fx,
                mv,
                aff_file,
                metric=metric,
                radius=radius,
                iterations=iterations,
                grad_step=grad_step,
                flow_sigma=flow_sigma,
                total_sigma=total_sigma,
                mask=amask,
            )
            warp = [p for p in reg["fwdtransforms"] if p.endswith("Warp.nii.gz")]
            jac = ants.create_jacobian_determinant_image(fx[0], warp[0], do_log=False).numpy()
            disp = ants.image_read(warp[0]).numpy().astype(np.float32)
            disp[..., 0] *= -1.0
            disp[..., 1] *= -1.0
            chain = list(reg["fwdtransforms"])
            warped = [
                ants.apply_transforms(
                    fixed=fx[0], moving=m, transformlist=chain, interpolator="linear"
                ).numpy()
                for m in mv
            ]
            extra = [
                ants.apply_transforms(
                    fixed=fx[0],
                    moving=ants_image(grid.like(e)),
                    transformlist=chain,
                    interpolator="linear",
                ).numpy()
                for e in (also_warp or [])
            ]
        finally:
            _remove_outputs(lin, reg)
    return {
        "jacobian": np.asarray(jac, np.float32),
        "global_volume_ratio": float(np.linalg.det(aff_ras[:3, :3])),
        "affine": aff_ras,
        "displacement": disp,
        "warped": warped,
        "warped_extra": extra,
    }


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two images inside ``mask`` (NaN when either is constant there)."""
    x = np.asarray(a, np.float64)[mask]
    y = np.asarray(b, np.float64)[mask]
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


__all__ = [
    "ants_image",
    "ants_determinism",
    "linear_transform",
    "rigid_transform",
    "rigid_register",
    "halfway_matrix",
    "resample",
    "resample_to",
    "syn_only",
    "syn_register",
    "correlation",
]
