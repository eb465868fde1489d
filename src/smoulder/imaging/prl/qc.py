"""The PRL QC page: per-lesion zoomed montages of FLAIR and phase/QSM in three planes, as raters look at them.

One HTML string with the PNG montages embedded (rendering in :mod:`smoulder.imaging.qc`);
:mod:`smoulder.pipelines.prl` writes it next to the lesions table.
"""

from __future__ import annotations

import html

import numpy as np

from smoulder.imaging.prl.result import PRLResult
from smoulder.imaging.qc import crop_around, fmt, panel, png_base64
from smoulder.schema.images import Volume


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
    center, half = crop_around(labels, label, zooms, field_mm)
    rows = []
    for vol, (lo, hi), outline in ((flair, flair_display, True), (susc, susc_display, False)):
        rows.append(
            np.concatenate(
                [panel(vol, labels, center, half, ax, label, lo, hi, outline) for ax in (2, 1, 0)],
                axis=1,
            )
        )
    return np.concatenate(rows, axis=0)


def qc_html(result: PRLResult, *, title: str = "smoulder PRL QC", max_lesions: int = 200) -> str:
    """The QC page of a PRL result as one HTML string (images embedded).

    Candidates are shown in decreasing ``rim_score``; the phase is displayed
    with paramagnetic tissue dark (as raters read SWI phase) and QSM with
    paramagnetic tissue bright, whatever the input's sign convention. Without a FLAIR in the
    result the top row shows the lesion mask.
    """
    labels, table = result.labels, result.lesions
    input_kind, phase_convention = result.input_kind, result.phase_convention
    susc, warnings = result.image, result.warnings
    flair = result.flair if result.flair is not None else (labels > 0).astype(np.float32)
    zooms = Volume(labels, result.affine).zooms
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
        f"Classifier: {html.escape(str(result.classifier))}, threshold {result.threshold:.3g}. "
        f"Lesion mask: {html.escape(str(result.segmentation))}.</p>",
        "<p>Each montage: top row "
        + ("FLAIR" if result.flair is not None else "lesion mask (no FLAIR given)")
        + ", bottom row "
        + ("phase" if input_kind == "phase" else "QSM")
        + "; columns axial, coronal, sagittal through the lesion centroid; lesion outline in yellow on the FLAIR only, so the rim is not hidden. "
        "smoulder shows evidence; it does not make a diagnosis.</p>",
    ]
    for w in warnings:
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
                else f"<td>{fmt(r[c])}</td>"
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
        cells = "".join(f"<tr><th>{html.escape(c)}</th><td>{fmt(row[c])}</td></tr>" for c in cols)
        parts.append(
            f"<div class='lesion' id='lesion-{lab}'><h3>Lesion {lab}: {verdict}</h3>"
            f"<img alt='lesion {lab} montage' src='data:image/png;base64,{png_base64(img)}'>"
            f"<table>{cells}<tr><th>centroid (mm)</th><td>{row['centroid_x_mm']:.1f}, "
            f"{row['centroid_y_mm']:.1f}, {row['centroid_z_mm']:.1f}</td></tr></table></div>"
        )
    parts.append(f"<h2>Methods</h2><p>{html.escape(result.methods())}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["qc_html", "lesion_montage"]
