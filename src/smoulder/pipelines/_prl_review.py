"""The PRL review page (one offline HTML file) and the ratings TSV it saves, which training reads.

:func:`review_html` builds the page from a :class:`~smoulder.imaging.prl.PRLResult` with the
panels of :mod:`smoulder.imaging.prl.qc` embedded as PNG: per lesion every acquisition slice
through it (FLAIR and phase/QSM side by side, lesion edge and rim sectors drawn), the automatic
call in words, and agree / disagree / unsure buttons with a comment. The page keeps the ratings
in the browser's localStorage and "Save ratings" downloads them as a TSV (no server, no network);
:func:`read_rated` reads such TSVs (and lesions tables with a rating column) for
``smoulder prl train``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.imaging.prl.features import FEATURES
from smoulder.imaging.prl.qc import (
    call_in_words,
    display_image,
    display_plane,
    display_windows,
    lesion_slices,
)
from smoulder.imaging.prl.result import PRLResult
from smoulder.imaging.qc import fmt
from smoulder.io import prl_model as model_files
from smoulder.io.bids import read_text_table

#: Columns of the ratings TSV before the lesion's features (in words, as a rater reads them).
RATING_COLUMNS = [
    "lesion",
    "automatic call",
    "rating",
    "comment",
    "rater",
    "rated at",
    "page",
    "input",
    "classifier",
    "rim score",
]
RATINGS = ("agree", "disagree", "unsure")
CALLS = ("PRL", "no PRL")
_EXPECTED = "a ratings TSV saved by the PRL review page (qc.html)"

_CSS = """
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;padding:0 12px 90px;
max-width:1180px;color:#111;line-height:1.4}h1{font-size:1.35em}h2{font-size:1.15em;margin:0 0 .3em}
.about,.lesion{border-top:2px solid #ccc;padding:.6em 0}.warn{background:#fff3cd;padding:.5em;
border:1px solid #e0c060}table{border-collapse:collapse;width:100%;max-width:640px;table-layout:fixed}
td,th{padding:4px 5px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.strip{display:flex;flex-wrap:wrap;gap:10px}.slice{margin:0;border:1px solid #ccc;padding:4px;
width:372px;max-width:100%}.slice figcaption{font-size:.9em}.pair{display:grid;
grid-template-columns:1fr 1fr;gap:4px}.panel{position:relative;line-height:0}
.panel img{width:100%;height:auto;image-rendering:pixelated;display:block}
.panel img.overlay{position:absolute;left:0;top:0}.clean .overlay{display:none}
.o{position:absolute;color:#fff;font:bold 12px sans-serif;line-height:1;text-shadow:0 0 3px #000,0 0 2px #000}
.o.t{top:2px;left:50%;transform:translateX(-50%)}.o.b{bottom:2px;left:50%;transform:translateX(-50%)}
.o.l{left:3px;top:50%;transform:translateY(-50%)}.o.r{right:3px;top:50%;transform:translateY(-50%)}
.ptitle{font-size:.8em;line-height:1.2;padding:2px 0}.rim{color:#c00;font-weight:bold}
.key span{display:inline-block;width:1em;height:.8em;margin:0 .2em 0 .6em;vertical-align:middle}
fieldset{min-width:0;border:1px solid #aaa;margin:.6em 0;padding:.5em;max-width:640px}
.choices{display:flex;flex-wrap:wrap;gap:8px}.choices label{flex:1 1 30%;min-width:88px;
min-height:44px;border:1px solid #666;border-radius:6px;display:flex;align-items:center;
justify-content:center;gap:.3em;font-size:1em;cursor:pointer;padding:4px}
.choices input:checked+span{font-weight:bold}.choices label:has(input:checked){background:#dbeafe;
border-color:#1d4ed8}#rater{max-width:20em}textarea,input[type=text]{width:100%;font:inherit;padding:6px;
min-height:44px}.bar{position:fixed;left:0;right:0;bottom:0;background:#f3f4f6;
border-top:1px solid #999;padding:8px 12px;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
button{font:inherit;min-height:44px;padding:0 14px;border-radius:6px;border:1px solid #333;
background:#fff;cursor:pointer}button.main{background:#1d4ed8;color:#fff;border-color:#1d4ed8}
"""

_JS = r"""
(function(){
const data=JSON.parse(document.getElementById('review-data').textContent);
const key='smoulder-prl-review:'+data.page_id;
let state={rater:'',lesions:{}};
try{const s=JSON.parse(localStorage.getItem(key)||'null');if(s&&s.lesions)state=s;}catch(e){}
function persist(){try{localStorage.setItem(key,JSON.stringify(state));}catch(e){}count();}
function count(){
  const n=Object.values(state.lesions).filter(r=>r.rating).length;
  document.getElementById('progress').textContent=n+' of '+data.lesions.length+' lesions rated';
  document.querySelectorAll('[data-rated]').forEach(td=>{
    const r=state.lesions[td.dataset.rated];td.textContent=r&&r.rating?r.rating:'not rated';});
}
const rater=document.getElementById('rater');
rater.value=state.rater||'';
rater.addEventListener('input',()=>{state.rater=rater.value;persist();});
document.querySelectorAll('section.lesion').forEach(sec=>{
  const lab=sec.dataset.label;const r=state.lesions[lab]||{};
  sec.querySelectorAll('input[type=radio]').forEach(b=>{
    if(b.value===r.rating)b.checked=true;
    b.addEventListener('change',()=>{const e=state.lesions[lab]||{};e.rating=b.value;
      e.at=new Date().toISOString();state.lesions[lab]=e;persist();});});
  const c=sec.querySelector('textarea');c.value=r.comment||'';
  c.addEventListener('input',()=>{const e=state.lesions[lab]||{};e.comment=c.value;
    state.lesions[lab]=e;persist();});
});
function cell(v){if(v===null||v===undefined||v==='')return '';
  return String(v).replace(/[\t\r\n]+/g,' ');}
function num(v){return v===null||v===undefined?'n/a':String(v);}
document.getElementById('save').addEventListener('click',()=>{
  const cols=data.columns.concat(data.features);
  const lines=[cols.join('\t')];
  data.lesions.forEach(l=>{const r=state.lesions[String(l.lesion)]||{};
    const row=[l.lesion,l.call,r.rating||'',cell(r.comment),cell(state.rater),r.at||'',
      cell(data.title),l.input,l.classifier,num(l.rim_score)];
    data.features.forEach(f=>row.push(num(l.features[f])));
    lines.push(row.join('\t'));});
  const blob=new Blob([lines.join('\n')+'\n'],{type:'text/tab-separated-values'});
  const a=document.createElement('a');a.href=URL.createObjectURL(blob);a.download=data.file_name;
  document.body.appendChild(a);a.click();
  setTimeout(()=>{URL.revokeObjectURL(a.href);a.remove();},2000);
  document.getElementById('saved').textContent='Saved '+data.file_name+' (your downloads folder).';
});
document.getElementById('drawings').addEventListener('click',e=>{
  const on=document.body.classList.toggle('clean');
  e.target.textContent=on?'Show drawings':'Hide drawings';});
count();
})();
"""


def png_base64(rgb: np.ndarray) -> str:
    """An RGB or RGBA image (floats in [0, 1]) as base64 PNG text (Pillow, which matplotlib needs).

    Grey images are written with one channel. Faster than matplotlib's ``imsave`` and without
    importing pyplot: a page holds four images per slice of every lesion.
    """
    from PIL import Image

    u8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    if u8.shape[-1] == 3 and (u8[..., 0] == u8[..., 1]).all() and (u8[..., 0] == u8[..., 2]).all():
        img = Image.fromarray(np.ascontiguousarray(u8[..., 0]), "L")  # grey: a third of the bytes
    else:
        img = Image.fromarray(u8, "RGBA" if u8.shape[-1] == 4 else "RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(rgb: np.ndarray, cls: str, alt: str) -> str:
    return f"<img class='{cls}' alt='{html.escape(alt)}' src='data:image/png;base64,{png_base64(rgb)}'>"


def _panel(base: np.ndarray, overlay: np.ndarray, labels: dict[str, str], alt: str) -> str:
    letters = "".join(f"<span class='o {k[0]}'>{html.escape(v)}</span>" for k, v in labels.items())
    return (
        f"<div class='panel'>{_img(base, 'base', alt)}{_img(overlay, 'overlay', alt + ' drawings')}"
        f"{letters}</div>"
    )


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def file_name(title: str) -> str:
    """The ratings file's name: ``<what the title names>_prl_ratings.tsv`` (``prl_ratings.tsv``)."""
    rest = title.replace("smoulder PRL QC", "")
    slug = re.sub(r"[^A-Za-z0-9-]+", "_", rest).strip("_")
    return f"{slug}_prl_ratings.tsv" if slug else "prl_ratings.tsv"


#: How the page orders its lesions, as the page says it above the lesions table.
ORDER_IN_WORDS = (
    "highest rim score first, by the score as shown (three significant digits); equal scores "
    "in lesion-number order"
)


def review_order(table: pd.DataFrame) -> pd.DataFrame:
    """The lesions in the page's order: rim score as shown (3 significant digits), then label.

    A rater reads the rounded score: two lesions both shown at ``1`` are in lesion-number order,
    not by digits the page does not show.
    """
    if not len(table):
        return table
    shown = [
        float(f"{v:.3g}") if np.isfinite(v) else -np.inf
        for v in table["rim_score"].to_numpy(dtype=float)
    ]
    return (
        table.assign(_shown=shown)
        .sort_values(["_shown", "label"], ascending=[False, True], kind="stable")
        .drop(columns="_shown")
    )


def review_html(
    result: PRLResult, *, title: str = "smoulder PRL QC", max_lesions: int = 200
) -> str:
    """The review page of a PRL result as one self-contained HTML string.

    Parameters
    ----------
    result : PRLResult
    title : str
        Page title (also written into the ratings' ``page`` column).
    max_lesions : int
        At most this many lesions (in :func:`review_order`: highest rim score first) are shown
        and rated.

    Returns
    -------
    str
    """
    table = result.lesions
    order = review_order(table)
    shown_rows = order.head(max_lesions)
    plane = display_plane(np.asarray(result.affine, dtype=float), result.settings.slice_axis)
    windows = display_windows(result)
    shown = display_image(result)
    kind = "Phase" if result.input_kind == "phase" else "QSM"
    unit = "rad" if result.input_kind == "phase" else "ppm"
    sign = "paramagnetic dark" if result.input_kind == "phase" else "paramagnetic bright"
    (flo, fhi), (slo, shi) = windows
    flair_name = "FLAIR" if result.flair is not None else "Lesion mask (no FLAIR given)"
    features = [f for f in FEATURES if f in table.columns]
    lesions_data = [
        {
            "lesion": int(r["label"]),
            "call": "PRL" if bool(r["prl"]) else "no PRL",
            "input": result.input_kind,
            "classifier": result.classifier,
            "rim_score": _number(r["rim_score"]),
            "features": {f: _number(r[f]) for f in features},
        }
        for _, r in shown_rows.iterrows()
    ]
    digest = hashlib.sha256(
        json.dumps([title, lesions_data, list(result.labels.shape)], sort_keys=True).encode()
    ).hexdigest()[:16]
    data = {
        "page_id": digest,
        "title": title,
        "file_name": file_name(title),
        "columns": RATING_COLUMNS,
        "features": features,
        "lesions": lesions_data,
    }
    axis = "ijk"[plane.slice_axis]
    lab = plane.labels
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(table)} lesions, {result.n_prl} called PRL automatically. For each lesion, look at "
        "every slice through it and say whether you <b>agree</b> with the automatic call, "
        "<b>disagree</b>, or are <b>unsure</b>. Your ratings stay in this browser while you work; "
        "<b>Save ratings</b> downloads them as a table that <code>smoulder prl train</code> reads. "
        "smoulder shows evidence; it does not make a diagnosis.</p>",
        "<p><label>Rater (initials): <input type='text' id='rater' autocomplete='off'></label></p>",
    ]
    parts += [f"<p class='warn'>Warning: {html.escape(w)}</p>" for w in result.warnings]
    parts.append(
        "<div class='about'><h2>How to read the images</h2><ul>"
        f"<li>Slices are the acquisition's own (normal to voxel axis {axis}, {plane.obliquity_deg:.0f}° "
        f"from B0); slice numbers are 0-based voxel indices along that axis. Edges are labelled "
        f"with the patient's direction: left {lab['left']}, right {lab['right']}, top {lab['top']}, "
        f"bottom {lab['bottom']}.</li>"
        f"<li>Left image: {flair_name}, window {fmt(flo)} to {fmt(fhi)} (1st to 99.5th percentile "
        f"of the image). Right image: {kind.lower()} ({sign}), window {slo:.3g} to {shi:.3g} "
        f"{unit} (99th percentile of its magnitude). The same windows on every image.</li>"
        "<li>The white bar at the bottom left is the scale (its length is given above each "
        "lesion's slices).</li>"
        "<li class='key'>Drawings: <span style='background:#ffd900'></span>lesion edge (just "
        f"outside the lesion); on the {kind.lower()}, the ring of edge sectors: "
        "<span style='background:#ff2626'></span>rim <span style='background:#40a6ff'></span>no "
        "rim <span style='background:#ff33ff'></span>refused (a vein along the edge). "
        "<button type='button' id='drawings'>Hide drawings</button></li></ul></div>"
    )
    if len(table) == 0:
        parts.append("<p>No lesions in the mask: nothing to rate.</p>")
    else:
        rows = "".join(
            f"<tr><td><a href='#lesion-{int(r['label'])}'>{int(r['label'])}</a></td>"
            f"<td>{'PRL' if bool(r['prl']) else 'no PRL'}</td><td>{fmt(r['rim_score'])}</td>"
            f"<td>{fmt(r['volume_mm3'])}</td><td data-rated='{int(r['label'])}'>not rated</td></tr>"
            for _, r in shown_rows.iterrows()
        )
        parts.append(
            f"<h2>Lesions</h2><p id='order'>Order: {ORDER_IN_WORDS}.</p><table><tr><th>Lesion</th>"
            "<th>Automatic call</th><th>Rim score</th><th>Volume (mm³)</th><th>Your rating</th>"
            f"</tr>{rows}</table>"
        )
    if len(order) > max_lesions:
        parts.append(
            f"<p>Showing the {max_lesions} lesions with the highest rim scores of {len(order)}.</p>"
        )
    for _, row in shown_rows.iterrows():
        parts.append(_lesion_section(result, row, plane, windows, shown, kind, flair_name))
    parts.append(f"<div class='about'><h2>Methods</h2><p>{html.escape(result.methods())}</p></div>")
    blob = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    parts.append(
        "<div class='bar'><button type='button' class='main' id='save'>Save ratings</button>"
        "<span id='progress'></span><span id='saved' role='status'></span></div>"
        f"<script type='application/json' id='review-data'>{blob}</script>"
        f"<script>{_JS}</script></body></html>"
    )
    return "\n".join(parts)


def _lesion_section(
    result: PRLResult,
    row: Any,
    plane: Any,
    windows: Any,
    shown: np.ndarray,
    kind: str,
    flair_name: str,
) -> str:
    lab = int(row["label"])
    views, fov, bar = lesion_slices(result, lab, plane, windows, shown=shown)
    call = "PRL" if bool(row["prl"]) else "no PRL"
    head = f"<span class='rim'>{call}</span>" if call == "PRL" else call
    figs = []
    for v in views:
        what = (
            f"rim on {v.rim_sectors} of {v.sectors} sectors"
            + (f" ({v.coverage})" if v.coverage and v.coverage != "n/e" else "")
            + (
                "; not evaluable (a cap of the lesion or too few sectors)"
                if v.coverage == "n/e"
                else ""
            )
            if v.code
            else "no rim-band sectors"
        )
        figs.append(
            f"<figure class='slice' data-slice='{v.index}'><figcaption><b>Slice {v.index}</b>: "
            f"{what}</figcaption><div class='pair'><div><div class='ptitle'>{html.escape(flair_name)}"
            f"</div>{_panel(v.flair, v.flair_overlay, plane.labels, f'lesion {lab} slice {v.index} FLAIR')}"
            f"</div><div><div class='ptitle'>{kind}</div>"
            f"{_panel(v.susc, v.susc_overlay, plane.labels, f'lesion {lab} slice {v.index} {kind}')}"
            "</div></div></figure>"
        )
    c = [row.get(f"centroid_{a}_mm", float("nan")) for a in "xyz"]
    radios = "".join(
        f"<label><input type='radio' name='rating-{lab}' value='{r}'><span>{r.capitalize()}"
        "</span></label>"
        for r in RATINGS
    )
    return (
        f"<section class='lesion' id='lesion-{lab}' data-label='{lab}'>"
        f"<h2>Lesion {lab}: {head}</h2><p>{html.escape(call_in_words(row, result))}</p>"
        f"<p>Volume {fmt(row['volume_mm3'])} mm³, diameter {fmt(row['diameter_mm'])} mm, centre "
        f"{c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f} mm (RAS); rim score {fmt(row['rim_score'])}. "
        f"{len(views)} slice{'s' if len(views) != 1 else ''} through the lesion; field of view "
        f"{fov:.0f} mm, scale bar {bar:.0f} mm.</p><div class='strip'>{''.join(figs)}</div>"
        f"<fieldset><legend>Do you agree that lesion {lab} is <b>{call}</b>?</legend>"
        f"<div class='choices'>{radios}</div><label>Comment<textarea name='comment-{lab}' rows='2'>"
        "</textarea></label></fieldset></section>"
    )


def is_review_ratings(path: str | Path) -> bool:
    """Whether a table's header is that of a ratings TSV saved by the review page."""
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return False
    return "automatic call" in header and "rating" in header


def read_review_ratings(
    path: str | Path, *, features: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rated lesions of one ratings TSV: agree/disagree on the automatic call as rim / no rim.

    ``agree`` keeps the automatic call, ``disagree`` reverses it; ``unsure`` and unrated rows
    are skipped.

    Parameters
    ----------
    path : path
    features : sequence of str
        Feature columns that must be present (numbers or ``n/a``).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray of bool)
        The kept rows and whether each is a PRL by the rater.

    Raises
    ------
    InputDataError
        A missing column, a rating other than agree/disagree/unsure, a call other than PRL /
        no PRL, or a feature that is not a number (file, row and column named).
    """
    sp = str(path)
    df = read_text_table(sp, expected=_EXPECTED, dtype=str, keep_default_na=False)
    for c in ["lesion", "automatic call", "rating", "input", *features]:
        if c not in df.columns:
            raise InputDataError("column missing", file=sp, column=c, expected=_EXPECTED)
    rating = df["rating"].fillna("").str.strip().str.lower()
    call = df["automatic call"].fillna("").str.strip()
    for col, values, allowed in (
        ("rating", rating, ("", *RATINGS)),
        ("automatic call", call, CALLS),
    ):
        bad = ~values.isin(allowed).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise InputDataError(
                "unrecognised value",
                file=sp,
                row=i + 2,
                column=col,
                value=df[col].iloc[i],
                expected=" or ".join(a or "empty" for a in allowed),
            )
    for f in features:
        text = df[f].fillna("").str.strip()
        col = pd.to_numeric(text.where(~text.isin(["", "n/a"])), errors="coerce")
        bad = (col.isna() & ~text.isin(["", "n/a"])).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise InputDataError(
                "not a number",
                file=sp,
                row=i + 2,
                column=f,
                value=df[f].iloc[i],
                expected="a number or n/a",
            )
        df[f] = col
    keep = rating.isin(["agree", "disagree"]).to_numpy()
    y = ((call == "PRL") == (rating == "agree")).to_numpy()
    return df.loc[keep].reset_index(drop=True), y[keep]


def read_rated(
    paths: Sequence[str | Path], *, features: Sequence[str], rating_col: str = "rating"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Ratings TSVs of the review page and lesions tables with a rating column, together.

    Parameters
    ----------
    paths : sequence of path
        Each file is a ratings TSV when its header has ``automatic call`` and ``rating``
        (:func:`read_review_ratings`), otherwise a lesions table with ``rating_col``
        (:func:`smoulder.io.prl_model.read_rated_tables`).
    features, rating_col : sequence of str, str

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray of bool)
        All rated rows (``_table``: the index of their file) and their ratings; no row rated
        agree or disagree at all: :class:`InputDataError`.
    """
    frames, ys = [], []
    for i, p in enumerate(paths):
        if is_review_ratings(p):
            df, y = read_review_ratings(p, features=features)
        else:
            df, y = model_files.read_rated_tables([p], features=features, rating_col=rating_col)
        df["_table"] = i
        frames.append(df)
        ys.append(y)
    y_all = np.concatenate(ys) if ys else np.zeros(0, bool)
    if y_all.size == 0:
        raise InputDataError(
            "no lesion is rated agree or disagree",
            file=str(paths[0]) if paths else None,
            expected="at least one rated lesion",
        )
    return pd.concat(frames, ignore_index=True), y_all


__all__ = [
    "RATING_COLUMNS",
    "RATINGS",
    "CALLS",
    "review_html",
    "review_order",
    "ORDER_IN_WORDS",
    "file_name",
    "png_base64",
    "is_review_ratings",
    "read_review_ratings",
    "read_rated",
]
