"""Bringing a susceptibility image onto the FLAIR grid: world-space resampling or rigid registration.

``resample`` trusts both images' affines (same scanner session) and
interpolates through world coordinates; ``rigid`` first estimates a rigid
transform with antspyx (mutual information) and then resamples. Both refuse
images whose fields of view do not overlap.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from smoulder.exceptions import InputDataError
from smoulder.imaging.io import Volume, world_overlap_fraction

MIN_OVERLAP = 0.5


def _check_overlap(ref: Volume, moving: Volume) -> None:
    frac = world_overlap_fraction(ref, moving)
    if frac < MIN_OVERLAP:
        raise InputDataError(
            f"only {frac:.0%} of the FLAIR field of view lies inside this image in world space, so the two "
            f"cannot be images of one head in one session",
            file=moving.source,
            expected=f"images whose affines place them over the same head (>= {MIN_OVERLAP:.0%} overlap)",
        )


def resample_to(ref: Volume, moving: Volume, *, order: int = 1) -> Volume:
    """Resample ``moving`` onto ``ref``'s grid through world coordinates (affines trusted)."""
    _check_overlap(ref, moving)
    m = np.linalg.inv(moving.affine) @ ref.affine
    out = ndimage.affine_transform(
        moving.data.astype(np.float32),
        m[:3, :3],
        offset=m[:3, 3],
        output_shape=ref.shape,
        order=order,
        mode="constant",
        cval=0.0,
    )
    return Volume(out.astype(np.float32), ref.affine.copy(), moving.source)


def _to_ants(vol: Volume) -> object:
    import ants

    a = vol.affine
    zooms = np.sqrt((a[:3, :3] ** 2).sum(axis=0))
    lps = np.diag([-1.0, -1.0, 1.0])
    direction = lps @ (a[:3, :3] / zooms)
    origin = lps @ a[:3, 3]
    return ants.from_numpy(
        np.ascontiguousarray(vol.data, dtype=np.float32),
        origin=tuple(origin.tolist()),
        spacing=tuple(zooms.tolist()),
        direction=direction,
    )


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

    from smoulder.imaging.sel_register import ants_determinism

    _check_overlap(ref, moving)
    fixed = _to_ants(ref)
    est = _to_ants(moving_for_transform or moving)
    with ants_determinism(seed, None):
        reg = ants.registration(
            fixed=fixed,
            moving=est,
            type_of_transform="Rigid",
            aff_metric="mattes",
            verbose=False,
        )
    warped = ants.apply_transforms(
        fixed=fixed,
        moving=_to_ants(moving),
        transformlist=reg["fwdtransforms"],
        interpolator="linear",
    )
    tx = ants.read_transform(reg["fwdtransforms"][0])
    mat = np.eye(4)
    p = np.asarray(tx.parameters, dtype=float)
    mat[:3, :3] = p[:9].reshape(3, 3)
    mat[:3, 3] = p[9:12]
    return Volume(
        np.asarray(warped.numpy(), dtype=np.float32), ref.affine.copy(), moving.source
    ), mat


__all__ = ["resample_to", "rigid_register"]
