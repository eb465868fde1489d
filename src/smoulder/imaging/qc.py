"""QC page: per-lesion zoomed montages of FLAIR and phase/QSM in three planes, as raters look at them.

Images are built with numpy (crop, resample to a fixed panel size, lesion
outline drawn in colour) and written as PNG by matplotlib's ``imsave``; the
HTML page embeds them as base64, so it is one self-contained offline file.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

PANEL = 112  # pixels per panel side


def _window(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)


def _panel(
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
    g = _window(img, lo, hi)
    rgb = np.stack([g, g, g], axis=-1)
    if outline:
        rgb[edge] = (1.0, 0.85, 0.0)
    out = np.zeros((PANEL, PANEL, 3), np.float32)
    h, w = min(rgb.shape[0], PANEL), min(rgb.shape[1], PANEL)
    out[:h, :w] = rgb[:h, :w]
    return out


def lesion_montage(
    flair: np.ndarray,
    susc: np.ndarray,
    labels: np.ndarray,
    label: int,
    zooms: np.ndarray,
    *,
    susc_display: tuple[float, float],
    flair_display: tuple[float, float],
    field_mm: float = 24.0,
) -> np.ndarray:
    """Montage (2 rows x 3 planes) around one lesion: FLAIR (outlined) on top, phase/QSM below.

    Columns are axial, coronal and sagittal slices through the lesion centroid,
    over a field of view of ``max(field_mm, 2.5 x lesion extent)``.
    """
    m = labels == label
    center = np.array(ndimage.center_of_mass(m))
    coords = np.argwhere(m)
    extent_mm = float(((coords.max(0) - coords.min(0) + 1) * zooms).max()) if coords.size else 0.0
    fov = max(field_mm, 2.5 * extent_mm)
    half = np.ceil(fov / 2 / zooms).astype(int)
    rows = []
    for vol, (lo, hi), outline in ((flair, flair_display, True), (susc, susc_display, False)):
        rows.append(
            np.concatenate(
                [_panel(vol, labels, center, half, ax, label, lo, hi, outline) for ax in (2, 1, 0)],
                axis=1,
            )
        )
    return np.concatenate(rows, axis=0)


def _png_base64(rgb: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.clip(rgb, 0, 1), format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def qc_html(
    flair: np.ndarray,
    susc: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray,
    table: pd.DataFrame,
    *,
    input_kind: str,
    phase_convention: str | None,
    settings: dict[str, Any],
    warnings: list[str] | None = None,
    title: str = "smoulder PRL QC",
    max_lesions: int = 200,
    methods: str | None = None,
) -> str:
    """The QC page as one HTML string (images embedded).

    Candidates are shown in decreasing ``rim_score``; the phase is displayed
    with paramagnetic tissue dark (as raters read SWI phase) and QSM with
    paramagnetic tissue bright, whatever the input's sign convention.
    """
    zooms = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    f_nz = flair[flair != 0]
    f_disp = (
        (float(np.percentile(f_nz, 1)), float(np.percentile(f_nz, 99.5)))
        if f_nz.size
        else (0.0, 1.0)
    )
    disp = np.asarray(susc, dtype=np.float32)
    if input_kind == "phase" and phase_convention == "paramagnetic-positive":
        disp = -disp
    s_nz = disp[disp != 0]
    q = float(np.percentile(np.abs(s_nz), 99)) if s_nz.size else 1.0
    s_disp = (-q, q)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        ".lesion{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}"
        ".yes{color:#b00;font-weight:bold}.warn{background:#fff3cd;padding:.5em;border:1px solid #e0c060}"
        "img{image-rendering:pixelated;width:432px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Input: <b>{html.escape(input_kind)}</b>"
        + (
            f" (convention {html.escape(str(phase_convention))}; shown with paramagnetic dark)"
            if input_kind == "phase"
            else " (paramagnetic bright)"
        )
        + f". Lesions: {len(table)}; PRL: {int(table['prl'].sum()) if len(table) else 0}. "
        f"Classifier: {html.escape(str(settings.get('classifier')))}, threshold {settings.get('threshold'):.3g}. "
        f"Lesion mask: {html.escape(str(settings.get('segmentation')))}.</p>",
        "<p>Each montage: top row FLAIR, bottom row "
        + ("phase" if input_kind == "phase" else "QSM")
        + "; columns axial, coronal, sagittal through the lesion centroid; lesion outline in yellow on the FLAIR only, so the rim is not hidden. "
        "smoulder shows evidence; it does not make a diagnosis.</p>",
    ]
    for w in warnings or []:
        parts.append(f"<p class='warn'>Warning: {html.escape(w)}</p>")
    if len(table) == 0:
        parts.append("<p>No lesions in the mask: nothing to rate.</p>")
    cols = [
        c
        for c in (
            "label",
            "volume_mm3",
            "diameter_mm",
            "coverage_sustained",
            "rim_slices",
            "rim_score",
            "prl",
        )
        if c in table.columns
    ]
    order = (
        table.sort_values(["rim_score", "label"], ascending=[False, True]) if len(table) else table
    )
    if len(order):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td><a href='#lesion-{int(r['label'])}'>{int(r['label'])}</a></td>"
                if c == "label"
                else f"<td>{_fmt(r[c])}</td>"
                for c in cols
            )
            + "</tr>"
            for _, r in order.iterrows()
        )
        parts.append(
            f"<h2>Lesions by rim score</h2><table><tr>{head}</tr>{body}</table><h2>Montages</h2>"
        )
    if len(order) > max_lesions:
        parts.append(
            f"<p>Showing the {max_lesions} lesions with the highest rim scores of {len(order)}.</p>"
        )
    for _, row in order.head(max_lesions).iterrows():
        lab = int(row["label"])
        img = lesion_montage(
            flair, disp, labels, lab, zooms, susc_display=s_disp, flair_display=f_disp
        )
        verdict = "<span class='yes'>PRL</span>" if bool(row["prl"]) else "no PRL"
        cells = "".join(f"<tr><th>{html.escape(c)}</th><td>{_fmt(row[c])}</td></tr>" for c in cols)
        parts.append(
            f"<div class='lesion' id='lesion-{lab}'><h3>Lesion {lab}: {verdict}</h3>"
            f"<img alt='lesion {lab} montage' src='data:image/png;base64,{_png_base64(img)}'>"
            f"<table>{cells}<tr><th>centroid (mm)</th><td>{row['centroid_x_mm']:.1f}, "
            f"{row['centroid_y_mm']:.1f}, {row['centroid_z_mm']:.1f}</td></tr></table></div>"
        )
    if methods:
        parts.append(f"<h2>Methods</h2><p>{html.escape(methods)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a"
        # three significant digits without scientific notation for volumes like 1460 mm3
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return html.escape(str(v))


__all__ = ["qc_html", "lesion_montage"]
