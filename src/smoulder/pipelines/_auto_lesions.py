"""Lesions for commands given no lesion mask: the ``smoulder lesions`` engine on their FLAIR.

``smoulder prl``, ``smoulder sel`` and their BIDS runs read a lesion mask; when none is given they
call :func:`segment_flair` on the (baseline) FLAIR, say so in a warning, and write the labels they
used (:data:`AUTO_MASK_NAME` beside their other outputs) so that a reader can check them.

The engine needs a whole brain to place the MNI152 template on. An image covering less than
:data:`MIN_EXTENT_MM` along some axis (a slab, a small test phantom) cannot be registered; there,
and when the registration is refused, the FLAIR-threshold fallback of
:func:`smoulder.imaging.lesions.fallback_segmentation` is used instead and the warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smoulder.schema.images import Volume

__all__ = [
    "AUTO_METHOD",
    "AUTO_MASK_NAME",
    "MIN_EXTENT_MM",
    "AutoLesions",
    "segment_flair",
    "write_labels",
    "segment_to_file",
]

#: The ``segmentation`` recorded when the engine made the lesions.
AUTO_METHOD = "smoulder lesions (automatic FLAIR segmentation, docs/lesions.md)"
#: File name of the labels used, written beside a command's outputs.
AUTO_MASK_NAME = "lesions_auto_dseg.nii.gz"
#: Smallest field of view (mm, every axis) taken for a whole brain the template can be placed on.
MIN_EXTENT_MM = 90.0


@dataclass
class AutoLesions:
    """Labels made for a command given no lesion mask, and how they were made."""

    labels: np.ndarray
    method: str
    message: str
    engine: bool

    @property
    def n_lesions(self) -> int:
        return int(np.unique(self.labels[self.labels > 0]).size)


def _fallback(flair: Volume, why: str) -> AutoLesions:
    from smoulder.imaging.lesions import FALLBACK_METHOD, fallback_segmentation

    mask = fallback_segmentation(np.asarray(flair.data, np.float32), flair.zooms)
    from smoulder.imaging.lesionseg.detect import label

    return AutoLesions(
        labels=label(mask),
        method=FALLBACK_METHOD,
        message=f"no lesion mask was given ({why}): lesions come from the {FALLBACK_METHOD}",
        engine=False,
    )


def segment_flair(
    flair: Volume,
    *,
    t1: Volume | None = None,
    brain_mask: np.ndarray | None = None,
    mask_name: str = AUTO_MASK_NAME,
) -> AutoLesions:
    """Lesion labels (int32, on the FLAIR grid) for a command given no lesion mask.

    Parameters
    ----------
    flair : Volume
        The FLAIR (the grid of the labels).
    t1 : Volume, optional
        A T1 of the same session (helps the tissue classes; registered rigidly when on another grid).
    brain_mask : numpy.ndarray of bool, optional
        The brain on the FLAIR grid.
    mask_name : str
        The file the caller writes the labels to, named in the message.

    Returns
    -------
    AutoLesions
        The labels, the method (:data:`AUTO_METHOD` or the fallback's), a one-line message for
        the command's warnings, and whether the engine made them.
    """
    from smoulder.imaging.lesionseg import segment_lesions
    from smoulder.imaging.lesionseg.register import RegistrationFailed
    from smoulder.io.templates import load_mni152

    extent = np.asarray(flair.shape[:3], float) * np.asarray(flair.zooms, float)
    if float(extent.min()) < MIN_EXTENT_MM:
        return _fallback(
            flair,
            f"the FLAIR covers {float(extent.min()):.0f} mm along one axis, less than the "
            f"{MIN_EXTENT_MM:.0f} mm of a whole brain the template can be registered to",
        )
    try:
        res = segment_lesions(flair, t1=t1, brain_mask=brain_mask, template=load_mni152())
    except RegistrationFailed as exc:
        return _fallback(flair, f"the template could not be registered: {exc}")
    return AutoLesions(
        labels=np.asarray(res.labels, np.int32),
        method=AUTO_METHOD,
        message=(
            f"no lesion mask was given: {res.n_lesions} lesions were segmented on the FLAIR by "
            f"smoulder lesions (the labels used are written to {mask_name}; check them)"
        ),
        engine=True,
    )


def write_labels(path: str | Path, flair: Volume, labels: np.ndarray) -> Path:
    """Write the labels used (int16, on the FLAIR grid) to ``path``; return it."""
    from smoulder.io import nifti

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nifti.save_volume(p, flair, np.asarray(labels), np.int16)
    return p


def segment_to_file(
    flair: str | Path, path: str | Path, *, t1: str | Path | None = None
) -> tuple[Path, AutoLesions]:
    """Segment the FLAIR file (helped by ``t1``), write the labels to ``path``; return both."""
    from smoulder.io import nifti

    fl = nifti.load_volume(flair)
    tv = nifti.load_volume(t1) if t1 is not None else None
    auto = segment_flair(fl, t1=tv, mask_name=Path(path).name)
    return write_labels(path, fl, auto.labels), auto
