"""QC page of the SEL pipeline: each candidate at every time point and its expansion map.

Montages are built in the halfway space (where all time points are aligned):
one row per time point (FLAIR, baseline lesion outline in yellow, candidate
outline in red), then the annualised, atrophy-corrected expansion map (blue:
shrinking, red: expanding), each row in axial, coronal and sagittal slices
through the lesion centroid. Uses the panel builder of :mod:`smoulder.imaging.qc`;
one self-contained HTML string with embedded PNGs, written by :mod:`smoulder.pipelines.sel`.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from smoulder.imaging.qc import PANEL, crop_around, png_base64
from smoulder.imaging.qc import fmt as _fmt
from smoulder.imaging.qc import panel as _panel
from smoulder.imaging.sel.result import SELResult
from smoulder.schema.images import Volume


def _row(
    vol: np.ndarray,
    labels: np.ndarray,
    lab: int,
    center: np.ndarray,
    half: np.ndarray,
    lo: float,
    hi: float,
    cand: np.ndarray | None = None,
    colour: bool = False,
) -> np.ndarray:
    panels = []
    for ax in (2, 1, 0):
        p = _panel(vol, labels, center, half, ax, lab, lo, hi, outline=not colour)
        if colour:
            import matplotlib

            p = np.asarray(matplotlib.colormaps["RdBu_r"](p[..., 0]))[..., :3].astype(np.float32)
            edge = _panel(
                labels.astype(np.float32), labels, center, half, ax, lab, 0, 1, outline=True
            )
            yellow = (edge[..., 0] > 0.99) & (edge[..., 2] < 0.01)
            p[yellow] = (0.1, 0.1, 0.1)
        elif cand is not None and (cand == lab).any():
            c = _panel(cand.astype(np.float32), cand, center, half, ax, lab, 0, 1, outline=True)
            red = (c[..., 0] > 0.99) & (c[..., 2] < 0.01)
            p[red] = (0.9, 0.1, 0.1)
        panels.append(p)
    return np.concatenate(panels, axis=1)


def sel_montage(
    flair: list[np.ndarray],
    expansion: np.ndarray,
    labels: np.ndarray,
    cand_labels: np.ndarray,
    label: int,
    zooms: np.ndarray,
    *,
    scale_pct: float = 25.0,
    field_mm: float = 30.0,
) -> np.ndarray:
    """Montage around one lesion: a FLAIR row per time point, then the expansion map (+-``scale_pct``)."""
    center, half = crop_around(labels, label, zooms, field_mm)
    rows = []
    for f in flair:
        nz = f[f > 0]
        lo, hi = (
            (float(np.percentile(nz, 1)), float(np.percentile(nz, 99.5))) if nz.size else (0.0, 1.0)
        )
        rows.append(_row(f, labels, label, center, half, lo, hi, cand=cand_labels))
    rows.append(_row(expansion, labels, label, center, half, -scale_pct, scale_pct, colour=True))
    return np.concatenate(rows, axis=0)


def qc_html(result: SELResult, *, title: str = "smoulder SEL QC", max_lesions: int = 60) -> str:
    """The QC page of a SEL result as one HTML string (images embedded)."""
    table: pd.DataFrame = result.lesions
    dates = result.dates or [f"{y:.2f} y" for y in result.details["years"]]
    hw = result.halfway
    zooms = Volume(hw["labels"], result.affine).zooms
    cand_lab = np.where(hw["candidates"] > 0, hw["labels"], 0)
    s = result.details
    order = {"definite": 0, "possible": 1, "no": 2}
    shown = table.assign(
        _o=table["sel"].map(order), _e=-table["expansion_pct_per_year"].fillna(-1e9)
    )
    shown = shown.sort_values(["_o", "_e", "label"]).head(max_lesions)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1200px}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        ".lesion{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}"
        ".definite{color:#b00;font-weight:bold}.possible{color:#b60}.warn{background:#fff3cd;padding:.5em;"
        "border:1px solid #e0c060}img{image-rendering:pixelated;width:"
        + str(PANEL * 3)
        + "px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Time points: {', '.join(html.escape(d) for d in dates)}. Lesions: {s['n_lesions']}; "
        f"definite SEL: {s['n_definite']} ({s['definite_volume_mm3']:.0f} mm&sup3;); possible: {s['n_possible']}. "
        f"Brain volume change: {_fmt(s['brain_volume_change_pct_per_year'])} % per year (removed from lesion "
        f"expansion). Structural similarity after rigid alignment: "
        f"{', '.join(_fmt(v) for v in s['similarity_rigid'][1:])}; after SyN: "
        f"{', '.join(_fmt(v) for v in s['similarity_syn'][1:])}.</p>",
        "<p>Each montage (halfway space): one FLAIR row per time point with the baseline lesion outlined in "
        "yellow and the expansion candidate in red; last row the atrophy-corrected expansion to the last time "
        "point in % per year (blue shrinking, red expanding, &plusmn;25 %). Columns: axial, coronal, sagittal. "
        "smoulder shows evidence; it does not make a diagnosis.</p>",
    ]
    for w in result.warnings:
        parts.append(f"<p class='warn'>Warning: {html.escape(w)}</p>")
    cols = [
        "label",
        "volume_mm3",
        "expansion_pct_per_year",
        "concentricity",
        "constancy",
        "candidate_volume_mm3",
        "t1_change_pct",
        "sel",
        "note",
    ]
    if len(table) > max_lesions:
        parts.append(
            f"<p>Showing {max_lesions} of {len(table)} lesions (SELs first, then by expansion).</p>"
        )
    for _, row in shown.iterrows():
        lab = int(row["label"])
        if not (hw["labels"] == lab).any():
            continue
        img = sel_montage(hw["flair"], hw["expansion"], hw["labels"], cand_lab, lab, zooms)
        verdict = f"<span class='{row['sel']}'>{html.escape(str(row['sel']))}</span>"
        cells = "".join(
            f"<tr><th>{html.escape(c)}</th><td>{_fmt(row[c])}</td></tr>" for c in cols if c in row
        )
        parts.append(
            f"<div class='lesion' id='lesion-{lab}'><h3>Lesion {lab}: SEL {verdict}</h3>"
            f"<img alt='lesion {lab} montage' src='data:image/png;base64,{png_base64(img)}'>"
            f"<table>{cells}</table></div>"
        )
    parts.append(f"<h2>Methods</h2><p>{html.escape(result.methods())}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["qc_html", "sel_montage"]
