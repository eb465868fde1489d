"""QC page of a lesion segmentation: FLAIR montages with lesion and brain outlines, as HTML text.

The page is one self-contained string (PNG images embedded as base64); the pipeline writes it.
Images are shown in radiological convention (the patient's right on the left), each panel in the
acquisition plane of the FLAIR (the plane across its thickest axis), with a 10 mm scale bar.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["montage_rgb", "lesion_panel", "qc_html", "display_axes"]

YELLOW = np.array([1.0, 0.85, 0.0], np.float32)
CYAN = np.array([0.0, 0.8, 1.0], np.float32)


def display_axes(
    affine: np.ndarray, zooms: tuple[float, ...]
) -> tuple[int, int, int, bool, bool, str]:
    """Slice axis (the thickest, or the one nearest world S), horizontal and vertical axes, flips.

    Returns ``(slice_axis, h_axis, v_axis, flip_h, flip_v, plane)``: the panel's columns follow
    ``h_axis`` (patient's right on the left), its rows ``v_axis`` (anterior or superior up).
    """
    a = np.asarray(affine, float)[:3, :3]
    world_of = np.argmax(np.abs(a), axis=0)  # dominant world axis of each voxel axis
    z = np.asarray(zooms, float)
    if z.max() > 1.5 * z.min():
        sl = int(np.argmax(z))
    else:
        sl = int(np.flatnonzero(world_of == 2)[0]) if (world_of == 2).any() else 2
    rest = [k for k in range(3) if k != sl]
    plane_of = {2: "axial", 1: "coronal", 0: "sagittal"}
    plane = plane_of.get(int(world_of[sl]), "axial")
    # horizontal: the remaining axis nearest world x (or y for sagittal); vertical: the other
    want_h = 1 if plane == "sagittal" else 0
    h = min(rest, key=lambda k: (world_of[k] != want_h, k))
    v = rest[0] if rest[1] == h else rest[1]
    sign_h = np.sign(a[world_of[h], h])
    sign_v = np.sign(a[world_of[v], v])
    # radiological: world x must decrease to the right; for sagittal, anterior on the left
    flip_h = bool(sign_h > 0) if plane != "sagittal" else bool(sign_h > 0)
    flip_v = bool(sign_v < 0)
    return sl, h, v, flip_h, flip_v, plane


def _slice2d(vol: np.ndarray, k: int, ax: tuple[int, int, int, bool, bool, str]) -> np.ndarray:
    sl, h, v, fh, fv, _ = ax
    idx: list[Any] = [slice(None)] * 3
    idx[sl] = k
    img = vol[tuple(idx)]
    # after removing the slice axis the remaining axes keep their order
    order = [a for a in range(3) if a != sl]
    img = img if order.index(v) == 0 else img.T  # rows = vertical axis
    img = img[::-1] if not fv else img  # row 0 at the top: superior/anterior first
    if fh:
        img = img[:, ::-1]
    return img


def _rgb(gray: np.ndarray, lo: float, hi: float) -> np.ndarray:
    g = np.clip((gray - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)
    return np.repeat(g[..., None], 3, axis=-1)


def _outline(m: np.ndarray) -> np.ndarray:
    return m & ~ndimage.binary_erosion(m)


def _zoom_to(img: np.ndarray, px_h: float, px_v: float, order: int) -> np.ndarray:
    return ndimage.zoom(img, (px_v, px_h) + (1,) * (img.ndim - 2), order=order)


def _window(flair: np.ndarray, brain: np.ndarray) -> tuple[float, float]:
    v = flair[brain] if brain.any() else flair[flair > 0]
    if v.size == 0:
        return 0.0, 1.0
    return float(np.percentile(v, 1)), float(np.percentile(v, 99.7))


def _panel(
    flair: np.ndarray,
    labels: np.ndarray,
    brain: np.ndarray | None,
    k: int,
    ax: tuple[int, int, int, bool, bool, str],
    zooms: tuple[float, ...],
    win: tuple[float, float],
    mm_per_px: float,
    crop: tuple[slice, slice] | None = None,
) -> np.ndarray:
    sl, h, v, *_ = ax
    g = _slice2d(flair, k, ax)
    lab = _slice2d(labels, k, ax) > 0
    br = _slice2d(brain, k, ax) if brain is not None else None
    if crop is not None:
        g, lab = g[crop], lab[crop]
        br = br[crop] if br is not None else None
    sh, sv = float(zooms[h]) / mm_per_px, float(zooms[v]) / mm_per_px
    rgb = _zoom_to(_rgb(g, *win), sh, sv, 1)
    lab_z = _zoom_to(lab.astype(np.uint8), sh, sv, 0).astype(bool)[: rgb.shape[0], : rgb.shape[1]]
    if br is not None:
        br_z = _zoom_to(br.astype(np.uint8), sh, sv, 0).astype(bool)[: rgb.shape[0], : rgb.shape[1]]
        rgb[_outline(br_z)] = CYAN
    rgb[_outline(lab_z)] = YELLOW
    # 10 mm scale bar, bottom left
    n = int(round(10.0 / mm_per_px))
    if rgb.shape[0] > 8 and rgb.shape[1] > n + 6:
        rgb[-5:-3, 3 : 3 + n] = 1.0
    return rgb


def montage_rgb(
    flair: np.ndarray,
    labels: np.ndarray,
    zooms: tuple[float, ...],
    brain: np.ndarray | None = None,
    *,
    affine: np.ndarray | None = None,
    n_slices: int = 12,
    columns: int = 6,
    mm_per_px: float = 1.0,
) -> np.ndarray:
    """A grid of FLAIR slices across the brain with lesion (yellow) and brain (cyan) outlines."""
    aff = np.diag([*zooms, 1.0]) if affine is None else affine
    ax = display_axes(aff, zooms)
    sl = ax[0]
    occupied = np.flatnonzero(
        (brain if brain is not None else flair > 0).any(axis=tuple(a for a in range(3) if a != sl))
    )
    if occupied.size == 0:
        occupied = np.arange(flair.shape[sl])
    ks = np.unique(np.linspace(occupied[0], occupied[-1], n_slices + 2).round().astype(int)[1:-1])
    win = _window(flair, brain if brain is not None else flair > 0)
    panels = [_panel(flair, labels, brain, int(k), ax, zooms, win, mm_per_px) for k in ks]
    hmax = max(p.shape[0] for p in panels)
    wmax = max(p.shape[1] for p in panels)
    rows = []
    for r in range(0, len(panels), columns):
        row = []
        for p in panels[r : r + columns]:
            canvas = np.zeros((hmax, wmax, 3), np.float32)
            canvas[: p.shape[0], : p.shape[1]] = p
            row.append(canvas)
        while len(row) < columns:
            row.append(np.zeros((hmax, wmax, 3), np.float32))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def lesion_panel(
    flair: np.ndarray,
    labels: np.ndarray,
    label: int,
    zooms: tuple[float, ...],
    affine: np.ndarray,
    *,
    win: tuple[float, float],
    field_mm: float = 40.0,
    max_slices: int = 5,
) -> np.ndarray:
    """Every acquisition-plane slice through one lesion (up to ``max_slices``), zoomed, outlined."""
    ax = display_axes(affine, zooms)
    sl, h, v, fh, fv, _ = ax
    m = labels == label
    coords = np.argwhere(m)
    ks = np.unique(coords[:, sl])
    if ks.size > max_slices:
        ks = ks[np.linspace(0, ks.size - 1, max_slices).round().astype(int)]
    c = coords.mean(0)
    panels = []
    for k in ks:
        g = _slice2d(flair, int(k), ax)
        # centre of the lesion in display coordinates
        ch = c[h] if not fh else flair.shape[h] - 1 - c[h]
        cv = flair.shape[v] - 1 - c[v] if not fv else c[v]
        rh = int(np.ceil(field_mm / 2 / zooms[h]))
        rv = int(np.ceil(field_mm / 2 / zooms[v]))
        crop = (
            slice(max(int(cv) - rv, 0), min(int(cv) + rv + 1, g.shape[0])),
            slice(max(int(ch) - rh, 0), min(int(ch) + rh + 1, g.shape[1])),
        )
        panels.append(
            _panel(
                flair, (labels == label).astype(np.int8), None, int(k), ax, zooms, win, 0.33, crop
            )
        )
    hmax = max(p.shape[0] for p in panels)
    out = []
    for p in panels:
        canvas = np.zeros((hmax, p.shape[1], 3), np.float32)
        canvas[: p.shape[0]] = p
        out.append(canvas)
        out.append(np.ones((hmax, 2, 3), np.float32) * 0.3)
    return np.concatenate(out[:-1], axis=1)


def _png_base64(rgb: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.clip(rgb, 0, 1), format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a"
        return f"{v:,.0f}" if abs(float(v)) >= 100 else f"{v:.3g}"
    return html.escape(str(v))


COLUMN_NAMES = {
    "label": "lesion",
    "n_voxels": "voxels",
    "volume_mm3": "volume (mm³)",
    "centroid_x_mm": "x (mm)",
    "centroid_y_mm": "y (mm)",
    "centroid_z_mm": "z (mm)",
    "location": "location",
    "peak_z": "peak brightness (SD above white matter)",
}


def qc_html(
    flair: np.ndarray,
    labels: np.ndarray,
    brain: np.ndarray,
    affine: np.ndarray,
    zooms: tuple[float, ...],
    table: pd.DataFrame,
    *,
    methods: str,
    title: str = "smoulder lesions: QC",
    source: str = "",
    max_lesions: int = 80,
    warnings: list[str] | None = None,
) -> str:
    """The QC page: overview montage, per-lesion slices in the acquisition plane, the table."""
    ax = display_axes(affine, zooms)
    plane = ax[5]
    win = _window(flair, brain)
    over = montage_rgb(flair, labels, zooms, brain, affine=affine, n_slices=18, columns=6)
    vol = float(table["volume_mm3"].sum() / 1000.0) if len(table) else 0.0
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1em;max-width:1200px}"
        "img{max-width:100%;height:auto;image-rendering:pixelated}"
        "table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
        "text-align:right}th{text-align:left}.lesion{display:inline-block;margin:0 1em 1em 0;vertical-align:top}"
        ".warn{background:#fff3cd;padding:.5em;border:1px solid #e0c060}"
        ".legend span{padding:0 .4em}.scroll{overflow-x:auto;max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(source)}</p>" if source else "",
        f"<p><b>{len(table)}</b> lesions, <b>{vol:.2f} mL</b>; brain {brain.sum() * float(np.prod(zooms)) / 1000:.0f} mL. "
        f"Panels: {plane} slices of the FLAIR as acquired, patient's right on the left (radiological), "
        "10 mm scale bar at the bottom left. <span style='color:#b89600'>Yellow</span>: lesion outline; "
        "<span style='color:#0099cc'>cyan</span>: brain mask. smoulder shows evidence; it does not make a "
        "diagnosis.</p>",
    ]
    for w in warnings or []:
        parts.append(f"<p class='warn'>Warning: {html.escape(w)}</p>")
    parts.append(
        f"<h2>Overview</h2><img alt='FLAIR overview with lesion and brain outlines' "
        f"src='data:image/png;base64,{_png_base64(over)}'>"
    )
    if len(table):
        cols = [c for c in COLUMN_NAMES if c in table.columns]
        head = "".join(f"<th>{html.escape(COLUMN_NAMES[c])}</th>" for c in cols)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td><a href='#lesion-{int(r['label'])}'>{int(r['label'])}</a></td>"
                if c == "label"
                else f"<td>{_fmt(r[c])}</td>"
                for c in cols
            )
            + "</tr>"
            for _, r in table.iterrows()
        )
        parts.append(
            f"<h2>Lesions</h2><div class='scroll'><table><tr>{head}</tr>{body}</table></div>"
        )
        order = table.sort_values(["volume_mm3", "label"], ascending=[False, True])
        if len(order) > max_lesions:
            parts.append(f"<p>Slices of the {max_lesions} largest of {len(order)} lesions.</p>")
        parts.append("<h2>Each lesion, slice by slice</h2>")
        for _, r in order.head(max_lesions).iterrows():
            lab = int(r["label"])
            img = lesion_panel(flair, labels, lab, zooms, affine, win=win)
            parts.append(
                f"<div class='lesion' id='lesion-{lab}'><h3>Lesion {lab}: {html.escape(str(r['location']))}, "
                f"{_fmt(r['volume_mm3'])} mm³</h3><img alt='lesion {lab}, {plane} slices' "
                f"src='data:image/png;base64,{_png_base64(img)}'></div>"
            )
    else:
        parts.append("<p>No lesions found.</p>")
    parts.append(f"<h2>Methods</h2><p>{html.escape(methods)}</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
