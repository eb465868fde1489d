"""The acquisition frame of an image: its slice axis, in-plane axes and the direction of B0.

Raters judge a rim on the acquisition's own slices; the dipole field depends on the direction of
B0, which is the scanner's z axis (world z of a NIfTI affine), not a voxel axis, when the slices
are oblique. Pure computation on the affine and the voxel sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smoulder.exceptions import SettingsError
from smoulder.imaging.dipole import b0_direction

#: A voxel axis counts as the slice axis of a 2-D acquisition when it is at least this much
#: thicker than the thinnest axis.
THICK_SLICE_RATIO = 1.25

SLICE_AXES = ("auto", "i", "j", "k")


@dataclass(frozen=True)
class AcquisitionFrame:
    """Slice axis, in-plane axes, voxel sizes and B0 of one image grid.

    Attributes
    ----------
    slice_axis : int
        Voxel axis normal to the acquisition slices.
    inplane : tuple of int
        The two other voxel axes (coordinates on a slice are voxel index x voxel size).
    zooms : numpy.ndarray
        Voxel sizes (mm).
    b0 : numpy.ndarray
        Unit vector of B0 along the voxel axes.
    obliquity_deg : float
        Angle between the slice normal and B0.
    how : str
        How the slice axis was chosen (for the methods paragraph).
    """

    slice_axis: int
    inplane: tuple[int, int]
    zooms: np.ndarray
    b0: np.ndarray
    obliquity_deg: float
    how: str


def acquisition_frame(affine: np.ndarray, slice_axis: str = "auto") -> AcquisitionFrame:
    """The acquisition frame of a grid from its affine.

    Parameters
    ----------
    affine : (4, 4) array
        Voxel-to-world (scanner RAS) affine.
    slice_axis : {"auto", "i", "j", "k"}
        ``auto``: the thickest voxel axis when it is at least :data:`THICK_SLICE_RATIO` times the
        thinnest (a 2-D acquisition), otherwise the voxel axis closest to B0 (world z: axial
        slices of a 3-D acquisition, even when tilted). ``i``/``j``/``k``: that voxel axis.

    Examples
    --------
    >>> import numpy as np
    >>> f = acquisition_frame(np.diag([0.5, 0.5, 2.0, 1.0]))
    >>> f.slice_axis, f.inplane, f.how
    (2, (0, 1), 'thickest voxel axis (2 mm)')
    >>> c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    >>> a = np.eye(4)
    >>> a[1:3, 1:3] = [[c, -s], [s, c]]  # 20 degrees about x
    >>> round(acquisition_frame(a).obliquity_deg, 6)
    20.0
    """
    a = np.asarray(affine, dtype=float)
    zooms = np.sqrt((a[:3, :3] ** 2).sum(axis=0))
    b0 = b0_direction(a)
    if slice_axis not in SLICE_AXES:
        raise SettingsError(f"slice_axis must be one of {SLICE_AXES} (got {slice_axis!r})")
    if slice_axis != "auto":
        ax = "ijk".index(slice_axis)
        how = f"voxel axis {slice_axis} (given)"
    elif zooms.max() >= THICK_SLICE_RATIO * zooms.min():
        ax = int(np.argmax(zooms))
        how = f"thickest voxel axis ({zooms[ax]:.3g} mm)"
    else:
        ax = int(np.argmax(np.abs(b0)))
        how = "voxel axis closest to B0"
    inplane = tuple(j for j in range(3) if j != ax)
    obl = float(np.degrees(np.arccos(min(1.0, abs(float(b0[ax]))))))
    return AcquisitionFrame(
        slice_axis=ax,
        inplane=(inplane[0], inplane[1]),
        zooms=zooms,
        b0=b0,
        obliquity_deg=obl,
        how=how,
    )


__all__ = ["AcquisitionFrame", "acquisition_frame", "SLICE_AXES", "THICK_SLICE_RATIO"]
