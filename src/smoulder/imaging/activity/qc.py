"""QC figure of one change: baseline, follow-up and difference through it, in three planes.

Rendered with matplotlib into PNG bytes in memory (the pipeline writes them). Columns: baseline
FLAIR, follow-up FLAIR (both in the halfway space, one fixed window), the difference in noise SDs
(fixed window -10..10); rows: the three voxel planes through the change's centre, each edge
labelled with the direction it points to (R, A, S... from the affine). The change is
outlined in yellow, the baseline lesion (for an enlarging one) in cyan; a 10 mm scale bar sits in
the first panel.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["change_png"]

_PLANES = ("sagittal", "coronal", "axial")


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
        m = _slice(change, axis, c[axis], lo, hi)
        b = _slice(baseline, axis, c[axis], lo, hi) if baseline is not None else None
        for col, (img, vmin, vmax, cmap) in enumerate(
            ((n1, 0.0, 2.2, "gray"), (n2, 0.0, 2.2, "gray"), (z, -10.0, 10.0, "RdBu_r"))
        ):
            ax = axes[row, col]
            ax.imshow(
                _slice(img, axis, c[axis], lo, hi),
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
            ax.text(
                0.98,
                0.5,
                codes[others[0]],
                transform=ax.transAxes,
                color="white",
                ha="right",
                va="center",
                fontsize=8,
            )
            ax.text(
                0.5,
                0.98,
                codes[others[1]],
                transform=ax.transAxes,
                color="white",
                ha="center",
                va="top",
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
