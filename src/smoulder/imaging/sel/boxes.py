"""SyN only where the lesions are: boxes about the lesions, one affine for the whole head.

Registering two 1 mm heads with SyN takes minutes; the lesions and their surroundings are a
small part of the head. :func:`lesion_boxes` puts a box (with a margin) about every lesion,
merging boxes that overlap, and :func:`syn_register_boxes` runs the affine stage once on the
whole images (it measures the global change, atrophy) and SyN inside each box, initialised by
that affine. Built on the wrappers of :mod:`smoulder.imaging.registration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder.imaging.registration import (
    _itk_affine_to_ras,
    _linear,
    _remove_outputs,
    ants_determinism,
    ants_image,
    syn_only,
)
from smoulder.schema.images import Volume


def lesion_boxes(
    labels: np.ndarray, zooms: np.ndarray, margin_mm: float, *, min_side: int = 0
) -> list[tuple[slice, slice, slice]]:
    """Boxes about the lesions (each lesion's bounding box grown by ``margin_mm``), merged.

    Boxes that overlap are replaced by their common bounding box until none overlap, so every
    lesion and its surroundings lie inside exactly one box, at least ``margin_mm`` from its
    faces (where the grid allows). A box is widened about its centre to at least ``min_side``
    voxels along every axis (SyN's coarsest level needs about 10 voxels a side).

    Examples
    --------
    Two lesions 3 voxels apart share a box; a far one has its own:

    >>> lab = np.zeros((40, 20, 20), int)
    >>> lab[5:8, 8:11, 8:11] = 1
    >>> lab[11:13, 8:11, 8:11] = 2
    >>> lab[30:33, 8:11, 8:11] = 3
    >>> [tuple((b.start, b.stop) for b in box) for box in lesion_boxes(lab, np.ones(3), 2.0)]
    [((3, 15), (6, 13), (6, 13)), ((28, 35), (6, 13), (6, 13))]
    """
    pad = np.ceil(float(margin_mm) / np.asarray(zooms, float)).astype(int)
    shape = labels.shape
    boxes = []
    for sl in ndimage.find_objects(np.asarray(labels).astype(np.int32)):
        if sl is None:
            continue
        box = []
        for a, p, n in zip(sl, pad, shape, strict=True):
            lo, hi = int(a.start - p), int(a.stop + p)
            short = min_side - (hi - lo)
            if short > 0:
                lo, hi = lo - short // 2, hi + short - short // 2
            box.append((max(lo, 0), min(hi, n)))
        boxes.append(box)
    merged = True
    while merged:
        merged = False
        out: list[list[tuple[int, int]]] = []
        for b in boxes:
            for o in out:
                if all(lo < ohi and olo < hi for (lo, hi), (olo, ohi) in zip(b, o, strict=True)):
                    o[:] = [
                        (min(lo, olo), max(hi, ohi))
                        for (lo, hi), (olo, ohi) in zip(b, o, strict=True)
                    ]
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    boxes.sort()
    return [tuple(slice(lo, hi) for lo, hi in b) for b in boxes]  # type: ignore[misc]


def _crop(a: np.ndarray, box: tuple[slice, ...], affine: np.ndarray) -> Any:
    """An ANTs image of ``a[box]`` placed in world space where the box lies (float32)."""
    sub = np.asarray(affine, float).copy()
    sub[:3, 3] = sub[:3, :3] @ np.array([b.start for b in box], float) + sub[:3, 3]
    return ants_image(Volume(np.ascontiguousarray(np.asarray(a)[box], np.float32), sub))


def syn_register_boxes(
    fixed: Sequence[np.ndarray],
    moving: Sequence[np.ndarray],
    affine: np.ndarray,
    boxes: Sequence[tuple[slice, ...]],
    *,
    metric: str = "CC",
    radius: int = 2,
    iterations: tuple[int, ...] = (40, 20, 10),
    grad_step: float = 0.4,
    flow_sigma: float = 2.0,
    total_sigma: float = 0.0,
    seed: int = 1,
    threads: int | None = None,
    also_warp: Sequence[np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    affine_metric: str = "mattes",
    source: str = "<array>",
    affine_finest: int = 1,
) -> dict[str, Any]:
    """Affine on the whole images, then SyN only inside ``boxes`` (crops of the grid).

    As :func:`syn_register` (same parameters and returned keys), except that the deformable
    stage runs separately inside each box (e.g. :func:`lesion_boxes`: the lesions with a
    margin), initialised by the one affine of the whole images, which still measures the global
    change (atrophy). Outside the boxes the local deformation is the identity: ``jacobian`` is
    1, ``displacement`` 0 and ``warped`` the affine alone. The cost of SyN scales with the
    voxels it covers, so a few lesions in a head cost a fraction of the whole-head registration.
    Also returned: ``boxes`` (the boxes, as given) and ``in_boxes`` (bool mask of their voxels).
    """
    import ants

    aff = np.asarray(affine, float)
    grid = Volume(np.asarray(fixed[0]), aff)
    shape = grid.shape
    jac = np.ones(shape, np.float32)
    disp = np.zeros((*shape, 3), np.float32)
    in_boxes = np.zeros(shape, bool)
    pad = np.ceil(4.0 / grid.zooms).astype(int)
    fx_full = ants_image(grid.like(fixed[0]))
    with ants_determinism(seed, threads):
        lin = _linear(
            grid.like(fixed[0]),
            grid.like(moving[0]),
            kind="Affine",
            metric=affine_metric,
            mask=mask,
            finest=affine_finest,
        )
        regs: list[dict[str, Any]] = [lin]
        try:
            aff_file = lin["fwdtransforms"][0]
            aff_ras = _itk_affine_to_ras(aff_file)

            def affine_only(a: np.ndarray) -> np.ndarray:
                out = ants.apply_transforms(
                    fixed=fx_full,
                    moving=ants_image(grid.like(a)),
                    transformlist=[aff_file],
                    interpolator="linear",
                )
                return np.asarray(out.numpy(), np.float32)

            warped = [affine_only(m) for m in moving]
            extra = [affine_only(e) for e in (also_warp or [])]
            for box in boxes:
                # the moving crop is a little larger: the affine moves points by up to a few mm
                mbox = tuple(
                    slice(max(b.start - p, 0), min(b.stop + p, n))
                    for b, p, n in zip(box, pad, shape, strict=True)
                )
                fx = [_crop(f, box, aff) for f in fixed]
                mv = [_crop(m, mbox, aff) for m in moving]
                crop_mask = None if mask is None else _crop(np.asarray(mask, np.float32), box, aff)
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
                    mask=crop_mask,
                )
                regs.append(reg)
                warp = [p for p in reg["fwdtransforms"] if p.endswith("Warp.nii.gz")]
                jac[box] = ants.create_jacobian_determinant_image(
                    fx[0], warp[0], do_log=False
                ).numpy()
                d = ants.image_read(warp[0]).numpy().astype(np.float32)
                d[..., 0] *= -1.0
                d[..., 1] *= -1.0
                disp[box] = d
                in_boxes[box] = True
                chain = list(reg["fwdtransforms"])
                for full, m in zip(
                    warped + extra,
                    mv + [_crop(e, mbox, aff) for e in (also_warp or [])],
                    strict=True,
                ):
                    full[box] = ants.apply_transforms(
                        fixed=fx[0], moving=m, transformlist=chain, interpolator="linear"
                    ).numpy()
        finally:
            _remove_outputs(*regs)
    return {
        "jacobian": jac,
        "global_volume_ratio": float(np.linalg.det(aff_ras[:3, :3])),
        "affine": aff_ras,
        "displacement": disp,
        "warped": warped,
        "warped_extra": extra,
        "boxes": list(boxes),
        "in_boxes": in_boxes,
    }


__all__ = ["lesion_boxes", "syn_register_boxes"]
