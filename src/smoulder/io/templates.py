"""The MNI152 template that nilearn ships, read offline from the nilearn package's own files.

nilearn installs the ICBM 2009a symmetric MNI152 template (Fonov et al., NeuroImage 2011) with its
grey- and white-matter probability maps inside the package (``nilearn/datasets/data``), so nothing
is downloaded. This module reads those files with nibabel and returns plain arrays and the affine:

``t1``
    the skull-stripped T1-weighted template, rescaled to 0..1 (as :func:`nilearn.datasets.
    load_mni152_template` does);
``brain_mask``
    template > 0.2, the threshold :func:`nilearn.datasets.load_mni152_brain_mask` uses;
``gm``, ``wm``
    the grey- and white-matter probability maps (stored as 0..255, rescaled to 0..1);
``csf``
    ``brain_mask - gm - wm`` clipped to 0..1 and lightly smoothed (nilearn ships no CSF map: inside
    the brain mask, what is neither grey nor white matter is cerebrospinal fluid).

Example
-------
>>> from smoulder.io.templates import load_mni152
>>> tpl = load_mni152()  # doctest: +SKIP
>>> tpl.t1.shape, tpl.zooms  # doctest: +SKIP
((197, 233, 189), (1.0, 1.0, 1.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError

__all__ = ["MNI152Template", "load_mni152", "template_files"]

_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
#: The citation of the template, written into every methods paragraph that used it.
CITATION = (
    "ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al., NeuroImage 2011), "
    "as shipped with nilearn"
)


@dataclass(frozen=True)
class MNI152Template:
    """The MNI152 template images on one 1 mm grid (RAS affine).

    Attributes
    ----------
    t1, brain_mask, gm, wm, csf : numpy.ndarray
        float32 arrays of one shape (``brain_mask`` is bool).
    affine : numpy.ndarray
        4 x 4 voxel-to-world (RAS mm) matrix.
    name : str
        What the template is, for methods paragraphs.
    """

    t1: np.ndarray
    brain_mask: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    affine: np.ndarray
    name: str = CITATION

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel sizes in mm."""
        z = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))


def template_files() -> dict[str, Path]:
    """Paths of the template files inside the installed nilearn package.

    Raises
    ------
    InputDataError
        When nilearn is not installed or does not ship the files (a clear message instead of a
        download).
    """
    try:
        root = resources.files("nilearn.datasets") / "data"
    except ModuleNotFoundError:
        raise InputDataError(
            "the MNI152 template comes from the nilearn package, which is not installed",
            expected="pip install 'smoulder[imaging]' (nilearn ships the template; nothing is downloaded)",
        ) from None
    out = {}
    for key, name in _FILES.items():
        p = Path(str(root / name))
        if not p.exists():
            raise InputDataError(
                "the installed nilearn does not ship this MNI152 template file",
                file=str(p),
                expected="nilearn >= 0.10, which installs the ICBM 2009a templates with the package",
            )
        out[key] = p
    return out


@lru_cache(maxsize=1)
def load_mni152() -> MNI152Template:
    """Read the MNI152 T1 template, brain mask and GM/WM/CSF probability maps (cached).

    Returns
    -------
    MNI152Template
    """
    import nibabel as nib
    from scipy import ndimage

    files = template_files()
    imgs: dict[str, Any] = {k: nib.load(str(p)) for k, p in files.items()}
    affine = np.asarray(imgs["t1"].affine, dtype=np.float64)
    t1 = np.asarray(imgs["t1"].dataobj, dtype=np.float32)
    t1 /= max(float(t1.max()), 1e-12)
    # the files hold 0..255 integers: rescaled to 0..1 as nilearn's loaders do
    gm = np.asarray(imgs["gm"].dataobj, dtype=np.float32)
    gm /= max(float(gm.max()), 1e-12)
    wm = np.asarray(imgs["wm"].dataobj, dtype=np.float32)
    wm /= max(float(wm.max()), 1e-12)
    brain = t1 > 0.2
    csf = np.clip(brain.astype(np.float32) - gm - wm, 0, 1)
    csf = ndimage.gaussian_filter(csf, 0.5).astype(np.float32) * brain
    for a in (t1, gm, wm, csf):
        a.setflags(write=False)
    brain.setflags(write=False)
    return MNI152Template(t1=t1, brain_mask=brain, gm=gm, wm=wm, csf=csf, affine=affine)
