"""QC figure of one change: baseline, follow-up and difference through it, in three planes.

Rendered with matplotlib into PNG bytes in memory (the pipeline writes them). Columns: baseline
FLAIR, follow-up FLAIR (both in the halfway space, one fixed window), the difference in noise SDs
(fixed window -10..10); rows: the three voxel planes through the change's centre, each edge
labelled with the direction it points to (R, A, S... from the affine). The planes are shown in
the radiological convention, as on the PRL review page: patient right on the viewer's left of
axial and coronal planes, anterior on the left of sagittal ones, superior (or anterior) at the
top. The change is outlined in yellow, the baseline lesion (for an enlarging one) in cyan; a 10 mm
scale bar sits in the first panel.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["change_png", "screen_flips"]

_PLANES = ("sagittal", "coronal", "axial")
_OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}


def screen_flips(h_code: str, v_code: str) -> tuple[bool, bool]:
    """Whether to reverse the horizontal and vertical voxel axes of a plane on screen.

    ``h_code`` and ``v_code`` are the world directions the two in-plane voxel axes point to
    (letters of :func:`~smoulder.schema.images.axis_codes`). Radiological convention: patient
    right (and, in a sagittal plane, anterior) to the viewer's left; superior, else anterior,
    up.

    Examples
    --------
    >>> screen_flips("R", "A")  # axial plane of a RAS image: R goes to the left
    (True, False)
    >>> screen_flips("A", "S")  # sagittal: anterior to the left, superior up
    (True, False)
    >>> screen_flips("L", "P")  # axial plane of an LPS image: posterior must go down
    (False, True)
    """
    flip_h = h_code in ("R", "A", "I")
    flip_v = v_code in ("L", "P", "I")
    return flip_h, flip_v


def _slice(a: np.ndarray, axis: int, idx: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    sl: list[Any] = [slice(int(lo[i]), int(hi[i])) for i in range(3)]
    sl[axis] = int(idx)
    return np.asarray(a[tuple(sl)]).T  # rows: second remaining axis


def change_png(
    n1: np.ndarray,
    n2: np.ndarray,
    z: np.ndarray,
    change: np.ndarray,
    baseline: np.ndarray | None,
    zooms: np.ndarray,
    title: str,
    *,
    codes: str = "RAS",
    field_mm: float = 40.0,
) -> bytes:
    """PNG bytes of the QC figure of one change (``change`` a boolean mask in the halfway space)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    c = np.round(ndimage.center_of_mass(change)).astype(int)
    coords = np.argwhere(change)
    extent = float(((coords.max(0) - coords.min(0) + 1) * zooms).max()) if coords.size else 0.0
    half = np.ceil(max(field_mm, 2.5 * extent) / 2 / zooms).astype(int)
    lo = np.maximum(c - half, 0)
    hi = np.minimum(c + half + 1, np.array(n1.shape))
    fig = Figure(figsize=(7.5, 7.8), dpi=100)
    axes = fig.subplots(3, 3)
    for row, axis in enumerate((2, 1, 0)):
        others = [a for a in range(3) if a != axis]
        aspect = float(zooms[others[1]] / zooms[others[0]])
        flip_h, flip_v = screen_flips(codes[others[0]], codes[others[1]])

        def view(
            a: np.ndarray, axis: int = axis, fh: bool = flip_h, fv: bool = flip_v
        ) -> np.ndarray:
            out = _slice(a, axis, c[axis], lo, hi)
            out = out[:, ::-1] if fh else out
            return out[::-1, :] if fv else out

        right = _OPPOSITE[codes[others[0]]] if flip_h else codes[others[0]]
        top = _OPPOSITE[codes[others[1]]] if flip_v else codes[others[1]]
        m = view(change)
        b = view(baseline) if baseline is not None else None
        for col, (img, vmin, vmax, cmap) in enumerate(
            ((n1, 0.0, 2.2, "gray"), (n2, 0.0, 2.2, "gray"), (z, -10.0, 10.0, "RdBu_r"))
        ):
            ax = axes[row, col]
            ax.imshow(
                view(img),
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                origin="lower",
                aspect=aspect,
                interpolation="nearest",
            )
            if m.any():
                ax.contour(m.astype(float), levels=[0.5], colors="yellow", linewidths=1.0)
            if b is not None and b.any():
                ax.contour(b.astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            for x, y, letter, ha, va in (
                (0.98, 0.5, right, "right", "center"),
                (0.02, 0.5, _OPPOSITE[right], "left", "center"),
                (0.5, 0.98, top, "center", "top"),
                (0.5, 0.02, _OPPOSITE[top], "center", "bottom"),
            ):
                ax.text(
                    x,
                    y,
                    letter,
                    transform=ax.transAxes,
                    color="black" if col == 2 else "white",  # the difference map is white at 0
                    ha=ha,
                    va=va,
                    fontsize=8,
                )
            if col == 0:
                ax.set_ylabel(_PLANES[axis])
                n_vox = 10.0 / float(zooms[others[0]])
                ax.plot([1, 1 + n_vox], [1.5, 1.5], color="white", linewidth=2)
                ax.text(1, 2.5, "10 mm", color="white", fontsize=7)
        axes[0, 0].set_title("baseline FLAIR")
        axes[0, 1].set_title("follow-up FLAIR")
        axes[0, 2].set_title("difference (noise SDs)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
