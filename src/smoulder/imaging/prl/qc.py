"""What the PRL review page shows, as arrays and words: every acquisition slice through a lesion.

For each lesion, :func:`lesion_slices` gives one :class:`SliceView` per slice of the acquisition
plane (:mod:`~smoulder.imaging.prl.frame`) that the lesion touches: FLAIR and phase/QSM panels
resampled to square pixels over a fixed field of view (the same for every slice of the lesion),
a scale bar burnt in, and transparent overlays of the lesion edge (both) and of the rim sectors
(phase/QSM: which edge sectors count as rim, from ``rim_sectors_by_slice``). :func:`display_plane`
decides the screen orientation and its R/L/A/P/S/I labels from the affine; :func:`call_in_words`
states the automatic call and its evidence. No file is read or written here: the page itself is
built by :mod:`smoulder.pipelines._prl_review`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder.imaging.prl.frame import acquisition_frame
from smoulder.imaging.prl.result import PRLResult
from smoulder.imaging.qc import window

#: Panel side in pixels.
PIXELS = 176
#: Overlay colours (RGBA): lesion edge, rim sector, sector without rim, sector refused (vein).
EDGE = (1.0, 0.85, 0.0, 1.0)
SECTOR_COLOURS = {
    "R": (1.0, 0.15, 0.15, 1.0),
    ".": (0.25, 0.65, 1.0, 1.0),
    "v": (1.0, 0.2, 1.0, 1.0),
}
_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # world axis -> (negative end, positive end), RAS
_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


@dataclass(frozen=True)
class DisplayPlane:
    """How acquisition slices are put on the screen.

    Attributes
    ----------
    horizontal, vertical : int
        Voxel axes shown left-right and bottom-top.
    h_sign, v_sign : int
        +1 when the voxel index grows to the right (``horizontal``) or upwards (``vertical``).
    labels : dict of str to str
        Anatomical direction at each edge (``left, right, top, bottom``), e.g. ``R`` on the left
        of an axial slice (radiological convention).
    slice_axis : int
    obliquity_deg : float
        Angle between the slice normal and B0.
    """

    horizontal: int
    vertical: int
    h_sign: int
    v_sign: int
    labels: dict[str, str]
    slice_axis: int
    obliquity_deg: float


def display_plane(affine: np.ndarray, slice_axis: str = "auto") -> DisplayPlane:
    """Screen orientation of the acquisition slices and the direction labels of their edges.

    The in-plane axis closest to world x (else y) is shown left-right; patient right is on the
    left of axial and coronal slices and anterior on the left of sagittal ones; anterior (axial)
    or superior is at the top. Each edge is labelled with the world direction that dominates it.

    Parameters
    ----------
    affine : (4, 4) array
        Voxel-to-world (RAS) affine.
    slice_axis : {"auto", "i", "j", "k"}
        As in :func:`~smoulder.imaging.prl.frame.acquisition_frame`.

    Returns
    -------
    DisplayPlane

    Examples
    --------
    >>> p = display_plane(np.diag([1.0, 1.0, 3.0, 1.0]))
    >>> p.horizontal, p.vertical, p.labels
    (0, 1, {'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'})
    """
    a = np.asarray(affine, dtype=float)
    frame = acquisition_frame(a, slice_axis)
    dirs = a[:3, :3] / np.maximum(np.sqrt((a[:3, :3] ** 2).sum(axis=0)), 1e-12)
    dom = {j: int(np.argmax(np.abs(dirs[:, j]))) for j in frame.inplane}
    p, q = frame.inplane
    h, v = (p, q) if (dom[p], -abs(dirs[dom[p], p])) <= (dom[q], -abs(dirs[dom[q], q])) else (q, p)
    # the world direction each screen direction should point to
    hs = -np.sign(dirs[dom[h], h]) if dom[h] in (0, 1) else np.sign(dirs[dom[h], h])
    vs = np.sign(dirs[dom[v], v])
    hs, vs = int(hs or 1), int(vs or 1)

    def letter(vec: np.ndarray) -> str:
        k = int(np.argmax(np.abs(vec)))
        return _LETTERS[k][int(vec[k] > 0)]

    right, up = hs * dirs[:, h], vs * dirs[:, v]
    labels = {
        "left": letter(-right),
        "right": letter(right),
        "top": letter(up),
        "bottom": letter(-up),
    }
    return DisplayPlane(h, v, hs, vs, labels, frame.slice_axis, frame.obliquity_deg)


@dataclass
class SliceView:
    """One acquisition slice through a lesion, ready to show.

    Attributes
    ----------
    index : int
        0-based voxel index along the slice axis (as in ``coverage_by_slice``).
    flair, susc : numpy.ndarray
        RGB panels (floats in [0, 1]) with the scale bar.
    flair_overlay, susc_overlay : numpy.ndarray
        RGBA overlays: the lesion edge (drawn just outside the lesion, so the rim stays visible),
        and on phase/QSM the ring of edge sectors coloured by :data:`SECTOR_COLOURS`.
    code : str
        The slice's sector code from ``rim_sectors_by_slice`` ('' when unknown).
    coverage : str
        The slice's entry of ``coverage_by_slice`` (e.g. ``63%`` or ``n/e``).
    """

    index: int
    flair: np.ndarray
    susc: np.ndarray
    flair_overlay: np.ndarray
    susc_overlay: np.ndarray
    code: str
    coverage: str

    @property
    def rim_sectors(self) -> int:
        """Sectors counted as rim on this slice."""
        return self.code.count("R")

    @property
    def sectors(self) -> int:
        """Sectors holding rim-band voxels on this slice."""
        return len(self.code) - self.code.count("-")


def _by_slice(text: Any) -> dict[int, str]:
    """``'12:RR.. 13:R...'`` -> {12: 'RR..', 13: 'R...'} (empty for missing values)."""
    if not isinstance(text, str):
        return {}
    out = {}
    for item in text.split():
        k, _, v = item.partition(":")
        if k.lstrip("-").isdigit():
            out[int(k)] = v
    return out


def display_windows(result: PRLResult) -> tuple[tuple[float, float], tuple[float, float]]:
    """The page's fixed windows: FLAIR 1st-99.5th percentile, phase/QSM symmetric 99th of |signal|.

    Both are computed once from the whole image (non-zero voxels), so every panel of the page
    uses the same grey levels. The phase/QSM window is in the image's units, on the display
    image of :func:`display_image`.
    """
    flair = result.flair if result.flair is not None else (result.labels > 0).astype(np.float32)
    nz = flair[flair != 0]
    f = (float(np.percentile(nz, 1)), float(np.percentile(nz, 99.5))) if nz.size else (0.0, 1.0)
    s = np.asarray(result.image, dtype=np.float32)
    s_nz = np.abs(s[s != 0])
    q = float(np.percentile(s_nz, 99)) if s_nz.size else 1.0
    return f, (-q, q)


def display_image(result: PRLResult) -> np.ndarray:
    """The phase/QSM as shown: phase with paramagnetic dark (as SWI phase is read), QSM bright."""
    d = np.asarray(result.image, dtype=np.float32)
    if result.input_kind == "phase" and result.phase_convention == "paramagnetic-positive":
        return -d
    return d


def _sample(
    vol: np.ndarray, coords: np.ndarray, order: int
) -> np.ndarray:  # coords: (3, P, P) voxel coordinates
    return ndimage.map_coordinates(vol, coords, order=order, mode="constant", cval=0.0)


def _scale_bar(rgb: np.ndarray, mm_per_px: float, bar_mm: float) -> None:
    """Burn a white bar of ``bar_mm`` (black border) into the bottom-left corner."""
    n = int(round(bar_mm / mm_per_px))
    y0, x0 = rgb.shape[0] - 10, 6
    rgb[y0 - 2 : y0 + 5, x0 - 2 : x0 + n + 2] = 0.0
    rgb[y0 : y0 + 3, x0 : x0 + n] = 1.0


def lesion_slices(
    result: PRLResult,
    label: int,
    plane: DisplayPlane,
    windows: tuple[tuple[float, float], tuple[float, float]],
    *,
    shown: np.ndarray | None = None,
    field_mm: float = 24.0,
    pixels: int = PIXELS,
) -> tuple[list[SliceView], float, float]:
    """Every acquisition slice through one lesion, in slice order.

    Parameters
    ----------
    result : PRLResult
    label : int
        The lesion (a label of ``result.labels``).
    plane : DisplayPlane
    windows : ((float, float), (float, float))
        FLAIR and phase/QSM display windows (:func:`display_windows`).
    shown : numpy.ndarray, optional
        The phase/QSM as displayed (default :func:`display_image`; pass it once per page).
    field_mm : float
        Smallest field of view; it is at least 2.5 x the lesion's in-plane extent.
    pixels : int
        Panel side.

    Returns
    -------
    (list of SliceView, float, float)
        The slices, the field of view (mm) and the scale bar's length (mm).
    """
    labels = result.labels
    m3 = labels == label
    idx = np.argwhere(m3)
    if idx.size == 0:
        return [], field_mm, 5.0
    zooms = np.sqrt((np.asarray(result.affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
    ax, h, v = plane.slice_axis, plane.horizontal, plane.vertical
    centre = idx.mean(axis=0)
    extent = float(max((np.ptp(idx[:, j]) + 1) * zooms[j] for j in (h, v)))
    fov = max(field_mm, 2.5 * extent)
    mmpp = fov / pixels
    bar = 5.0 if fov <= 40 else 10.0
    off = (np.arange(pixels) + 0.5 - pixels / 2) * mmpp
    y, x = np.meshgrid(off, off, indexing="ij")  # y grows downwards on screen
    flair = result.flair if result.flair is not None else m3.astype(np.float32)
    susc = display_image(result) if shown is None else shown
    (flo, fhi), (slo, shi) = windows
    row = result.lesions.loc[result.lesions["label"] == label]
    codes = _by_slice(row["rim_sectors_by_slice"].iloc[0]) if "rim_sectors_by_slice" in row else {}
    covs = _by_slice(row["coverage_by_slice"].iloc[0]) if "coverage_by_slice" in row else {}
    views = []
    for z in range(int(idx[:, ax].min()), int(idx[:, ax].max()) + 1):
        on = idx[idx[:, ax] == z]
        if on.size == 0:
            continue
        coords = np.empty((3, pixels, pixels))
        coords[ax] = z
        coords[h] = centre[h] + plane.h_sign * x / zooms[h]
        coords[v] = centre[v] - plane.v_sign * y / zooms[v]
        m = _sample(m3.astype(np.float32), coords, 0) > 0.5
        edge = ndimage.binary_dilation(m, iterations=1) & ~m
        panels = []
        for vol, lo, hi in ((flair, flo, fhi), (susc, slo, shi)):
            g = window(_sample(np.asarray(vol, dtype=np.float32), coords, 1), lo, hi)
            rgb = np.stack([g, g, g], axis=-1)
            _scale_bar(rgb, mmpp, bar)
            panels.append(rgb)
        f_over = np.zeros((pixels, pixels, 4), np.float32)
        f_over[edge] = EDGE
        s_over = f_over.copy()
        code = codes.get(z, "")
        if code:
            # the ring 3-6 pixels outside the edge, by sector angle around the slice's centroid
            a, b = (j for j in range(3) if j != ax)
            du = (coords[a] - on[:, a].mean()) * zooms[a]
            dv = (coords[b] - on[:, b].mean()) * zooms[b]
            ns = len(code)
            sector = np.floor((np.arctan2(dv, du) + np.pi) / (2 * np.pi) * ns).astype(int) % ns
            d = ndimage.distance_transform_edt(~m)
            ring = (d > 3) & (d <= 6)
            for ch, colour in SECTOR_COLOURS.items():
                hit = ring & np.isin(sector, [k for k, c in enumerate(code) if c == ch])
                s_over[hit] = colour
        views.append(SliceView(z, panels[0], panels[1], f_over, s_over, code, covs.get(z, "")))
    return views, fov, bar


def _number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def _slices_text(first: int, count: int) -> str:
    s = [str(first + i) for i in range(count)]
    return s[0] if count == 1 else ", ".join(s[:-1]) + " and " + s[-1]


def call_in_words(row: Any, result: PRLResult) -> str:
    """The automatic call of one lesion and its evidence, in a sentence or three.

    Parameters
    ----------
    row : mapping
        The lesion's row of ``result.lesions``.
    result : PRLResult

    Returns
    -------
    str
        E.g. "Automatic call: PRL. Rim on 5 of 8 sectors (63 %) on slice 12 and 6 of 8 on slice
        13: two consecutive slices reach two thirds of the edge (the rule needs two)."
    """
    st = result.settings
    call = "PRL" if bool(row["prl"]) else "no PRL"
    codes = _by_slice(row.get("rim_sectors_by_slice"))
    need = st.min_coverage
    need_text = "two thirds" if abs(need - 2 / 3) < 1e-6 else f"{need:.0%}"
    parts = [f"Automatic call: {call}."]
    rng = row.get("rim_slice_range")
    run = int(row.get("rim_slices", 0) or 0)
    if run > 0 and isinstance(rng, str):
        first = int(rng.split("-")[0])
        zs = [z for z in range(first, first + run) if z in codes]
        counts = [(codes[z].count("R"), len(codes[z]) - codes[z].count("-")) for z in zs]
        if run <= 3:
            per = "; ".join(
                f"{r} of {n} sectors on slice {z}" for z, (r, n) in zip(zs, counts, strict=True)
            )
            where = f"({_slices_text(first, run)})"
        else:
            share = [r / max(n, 1) for r, n in counts] or [0.0]
            per = f"{min(share):.0%} to {max(share):.0%} of the sectors on slices {first} to {first + run - 1}"
            where = ""
        what = f"{_number(run)} consecutive slices" if run > 1 else "only one slice"
        verb = "reach" if run > 1 else "reaches"
        parts.append(
            f"Rim on {per}: {what}{' ' + where if where else ''} {verb} {need_text} of the "
            f"edge (the rule needs {_number(int(st.min_slices))})."
        )
    else:
        best = float(row.get("coverage_max", 0.0) or 0.0)
        parts.append(
            f"No slice has the rim on {need_text} of the edge (best slice {best:.0%}; the rule "
            f"needs {_number(int(st.min_slices))} consecutive slices)."
        )
    if result.classifier != "consensus":
        parts.append(
            f"Trained model {result.classifier[6:]}: probability {float(row['rim_score']):.2f} "
            f"(PRL from {result.threshold:.2f})."
        )
    notes = []
    if bool(row.get("central_vein", False)):
        notes.append("a central vein is seen (not counted as rim)")
    if bool(row.get("diffuse", False)):
        notes.append("the whole lesion is paramagnetic (diffuse, not a rim)")
    n_vein = int(row.get("edge_vein_sectors", 0) or 0)
    if n_vein:
        notes.append(
            f"{n_vein} sector{'s' if n_vein > 1 else ''} refused for a vein along the edge"
        )
    if notes:
        parts.append("Also: " + "; ".join(notes) + ".")
    return " ".join(parts)


__all__ = [
    "PIXELS",
    "EDGE",
    "SECTOR_COLOURS",
    "DisplayPlane",
    "SliceView",
    "display_plane",
    "display_windows",
    "display_image",
    "lesion_slices",
    "call_in_words",
]
