"""QC rendering shared by the PRL and SEL pages: zoomed three-plane panels, PNG in base64, cells.

Images are built with numpy (crop, resample to a fixed panel size, lesion outline drawn in
colour) and encoded as PNG by matplotlib's ``imsave`` into memory; the pages
(:mod:`smoulder.imaging.prl.qc`, :mod:`smoulder.imaging.sel.qc`) are HTML *strings* with the
images embedded, so each is one self-contained offline file once a pipeline writes it.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
from scipy import ndimage

PANEL = 112  # pixels per panel side


def window(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Grey levels in [0, 1] for the display window ``lo..hi``."""
    return np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)


def panel(
    vol: np.ndarray,
    lab: np.ndarray,
    center: np.ndarray,
    half: np.ndarray,
    axis: int,
    label: int,
    lo: float,
    hi: float,
    outline: bool = True,
) -> np.ndarray:
    """One RGB panel: a slice through ``center`` perpendicular to ``axis``, label outline in yellow."""
    idx = [int(round(c)) for c in center]
    sl: list[Any] = []
    for a in range(3):
        if a == axis:
            sl.append(min(max(idx[a], 0), vol.shape[a] - 1))
        else:
            sl.append(slice(max(idx[a] - half[a], 0), min(idx[a] + half[a] + 1, vol.shape[a])))
    img = vol[tuple(sl)].astype(np.float32)
    m = lab[tuple(sl)] == label
    # display: first remaining axis left-right, second bottom-top
    img = np.flipud(img.T)
    m = np.flipud(m.T)
    zy, zx = PANEL / max(img.shape[0], 1), PANEL / max(img.shape[1], 1)
    z = min(zy, zx)
    img = ndimage.zoom(img, z, order=1)
    m = ndimage.zoom(m.astype(np.uint8), z, order=0).astype(bool)
    edge = m & ~ndimage.binary_erosion(m)
    g = window(img, lo, hi)
    rgb = np.stack([g, g, g], axis=-1)
    if outline:
        rgb[edge] = (1.0, 0.85, 0.0)
    out = np.zeros((PANEL, PANEL, 3), np.float32)
    h, w = min(rgb.shape[0], PANEL), min(rgb.shape[1], PANEL)
    out[:h, :w] = rgb[:h, :w]
    return out


def crop_around(
    labels: np.ndarray, label: int, zooms: np.ndarray, field_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centre (voxels) of one lesion and the half-width (voxels per axis) of its panels.

    The field of view is ``max(field_mm, 2.5 x the lesion's largest extent)``.
    """
    m = labels == label
    center = np.array(ndimage.center_of_mass(m))
    coords = np.argwhere(m)
    extent_mm = float(((coords.max(0) - coords.min(0) + 1) * zooms).max()) if coords.size else 0.0
    fov = max(field_mm, 2.5 * extent_mm)
    half = np.ceil(fov / 2 / zooms).astype(int)
    return center, half


def display_range(img: np.ndarray) -> tuple[float, float]:
    """The 1st to 99.5th percentile of the non-zero voxels (0..1 for an empty image)."""
    nz = img[img != 0]
    return (float(np.percentile(nz, 1)), float(np.percentile(nz, 99.5))) if nz.size else (0.0, 1.0)


def png_base64(rgb: np.ndarray) -> str:
    """An RGB image (floats in [0, 1]) as base64-encoded PNG text."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.clip(rgb, 0, 1), format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(v: Any) -> str:
    """A table cell: yes/no, ``n/a`` for missing, three significant digits, escaped text."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a"
        # three significant digits without scientific notation for volumes like 1460 mm3
        return f"{v:,.0f}" if abs(float(v)) >= 100 else f"{v:.3g}"
    return html.escape(str(v))


__all__ = ["PANEL", "window", "panel", "crop_around", "display_range", "png_base64", "fmt"]
