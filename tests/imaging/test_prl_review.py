"""The PRL review page: every acquisition slice of every lesion, edge and rim sectors drawn,
orientation from the affine, the call in words; the ratings TSV it saves read by ``prl train``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from smoulder.cli import main
from smoulder.imaging.prl import FEATURES, detect_prl
from smoulder.imaging.prl.qc import (
    SECTOR_COLOURS,
    call_in_words,
    display_plane,
    display_windows,
    lesion_slices,
)
from smoulder.pipelines._prl_review import RATING_COLUMNS, read_rated, review_html

ZOOMS = (1.0, 3.0, 1.0)  # coronal 3 mm slices: the acquisition plane is normal to voxel axis j
CENTRES = [(16.0, 30.0, 20.0), (44.0, 30.0, 20.0), (30.0, 30.0, 44.0)]  # mm
KINDS = ["full", "half", "none"]


def _scene(seed: int = 0):
    """Three 7 mm lesions on a 1 x 3 x 1 mm grid: a full rim, a rim on the +i half, no rim."""
    shape = (60, 20, 60)
    g = np.indices(shape).astype(float) * np.array(ZOOMS)[:, None, None, None]
    flair = np.ones(shape, np.float32)
    qsm = np.random.default_rng(seed).normal(0, 0.01, shape).astype(np.float32)
    labels = np.zeros(shape, np.int32)
    for k, (c, kind) in enumerate(zip(CENTRES, KINDS, strict=True), start=1):
        d = np.sqrt(sum((g[a] - c[a]) ** 2 for a in range(3)))
        lesion = d <= 7.0
        labels[lesion] = k
        flair[lesion] = 2.0
        rim = lesion & (d > 5.0)
        if kind == "half":
            rim &= g[0] > c[0]
        if kind != "none":
            qsm[rim] += 0.1
    affine = np.diag([*ZOOMS, 1.0])
    res = detect_prl(qsm, labels, affine, input_kind="qsm", brain=flair > 0, flair=flair)
    return res


@pytest.fixture(scope="module")
def scene():
    return _scene()


@pytest.fixture(scope="module")
def page(scene):
    return review_html(scene, title="smoulder PRL QC: sub-01")


def _sections(page: str) -> dict[int, str]:
    parts = re.split(r"(?=<section class='lesion')", page)
    out = {}
    for p in parts[1:]:
        out[int(re.match(r"<section class='lesion' id='lesion-(\d+)'", p).group(1))] = p
    return out


def test_every_lesion_has_one_figure_per_acquisition_slice_through_it(scene, page):
    sections = _sections(page)
    assert sorted(sections) == [1, 2, 3]
    for lab, sec in sections.items():
        # slices of the acquisition (voxel axis j: the 3 mm axis) that hold lesion voxels
        expected = np.unique(np.nonzero(scene.labels == lab)[1]).tolist()
        shown = [int(s) for s in re.findall(r"<figure class='slice' data-slice='(\d+)'", sec)]
        assert shown == expected
        # each slice: FLAIR and QSM, each a base image and an overlay
        assert sec.count("data:image/png;base64,") == 4 * len(expected)
    assert len(expected) == 5  # a 7 mm sphere on 3 mm slices: 5 slices (by hand: |y - 30| <= 7)


def test_the_page_is_self_contained_and_names_windows_and_orientation(scene, page):
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page)
    assert "<link" not in page and not re.search(r"<script[^>]+src=", page)
    assert "name='viewport'" in page
    # coronal slices of a RAS grid: patient right on the left, superior at the top
    assert "left R, right L, top S, bottom I" in page
    (flo, fhi), (slo, shi) = display_windows(scene)
    assert slo == -shi and f"window {slo:.3g} to {shi:.3g} ppm" in page
    assert page.count("scale bar 5 mm") == 3
    for word in ("Agree", "Disagree", "Unsure", "Save ratings", "Automatic call"):
        assert word in page


def test_orientation_labels_follow_the_affine_not_the_voxel_axes():
    # voxel i -> world +z, j -> world +x, k -> world -y (3 mm): coronal slices stored sideways
    a = np.zeros((4, 4))
    a[2, 0], a[0, 1], a[1, 2], a[3, 3] = 1.0, 1.0, -3.0, 1.0
    p = display_plane(a)
    assert p.slice_axis == 2 and (p.horizontal, p.vertical) == (1, 0)
    assert p.labels == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    # axial slices with x flipped (an LAS grid): R stays on the left of the screen
    p = display_plane(np.diag([-1.0, 1.0, 3.0, 1.0]))
    assert p.labels == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert p.h_sign == +1  # the voxel index grows towards the patient's left, i.e. to the right


def test_rim_sectors_are_drawn_where_the_rim_is(scene):
    plane = display_plane(scene.affine)
    win = display_windows(scene)
    red = np.array(SECTOR_COLOURS["R"])
    # the half rim lies at larger i; i is shown right-to-left (h_sign -1): its red ring is left
    half, fov, bar = lesion_slices(scene, 2, plane, win)
    mid = half[len(half) // 2]
    codes = mid.code
    # sector k spans -180 + 30k .. -150 + 30k degrees from +i towards +k: +i half = sectors 3-8
    assert sum(c == "R" for c in codes[3:9]) >= 4 and "R" not in codes[:2] + codes[10:]
    is_red = np.all(np.isclose(mid.susc_overlay, red), axis=-1)
    cols = np.nonzero(is_red)[1]
    assert cols.size > 20 and cols.mean() < mid.susc.shape[1] / 2 - 5
    # the lesion without a rim: red only where a sector counts as rim (noise, at most one per
    # slice); its edge is drawn on both images
    none, _, _ = lesion_slices(scene, 3, plane, win)
    for v in none:
        assert v.code.count("R") <= 1
        assert np.all(np.isclose(v.susc_overlay, red), axis=-1).any() == ("R" in v.code)
        assert v.flair_overlay[..., 3].sum() > 10 and v.susc_overlay[..., 3].sum() > 10
    # field of view 2.5 x the in-plane extent (15 voxels of 1 mm along i and k) = 37.5 mm over
    # 176 pixels; the scale bar of 5 mm: 23 white pixels in a row
    ii, _, kk = np.nonzero(scene.labels == 2)
    assert fov == pytest.approx(2.5 * max(np.ptp(ii) + 1, np.ptp(kk) + 1)) == 37.5 and bar == 5
    row = mid.susc[-9]
    assert int(np.all(row == 1.0, axis=-1).sum()) == int(5 / (37.5 / 176) + 0.5) == 23


def test_the_call_is_stated_in_words(scene):
    row = {
        "prl": True,
        "rim_slices": 2,
        "rim_slice_range": "12-13",
        "rim_sectors_by_slice": "11:..R.---- 12:RRR.RR.R 13:RRRRRR.. 14:.-.-....",
        "coverage_max": 0.75,
        "rim_score": 0.625,
        "edge_vein_sectors": 0,
    }
    text = call_in_words(row, scene)
    assert text.startswith("Automatic call: PRL.")
    assert (
        "Rim on 6 of 8 sectors on slice 12; 6 of 8 sectors on slice 13: two consecutive "
        "slices (12 and 13) reach two thirds of the edge (the rule needs two)."
    ) in text
    row.update(prl=False, rim_slices=1, rim_slice_range="13")
    assert "Rim on 6 of 8 sectors on slice 13: only one slice (13) reaches two thirds" in (
        call_in_words(row, scene)
    )
    row.update(prl=False, rim_slices=0, rim_slice_range=None, coverage_max=0.4)
    assert "No slice has the rim on two thirds of the edge (best slice 40%" in call_in_words(
        row, scene
    )


def _ratings_tsv(path, scene, ratings: dict[int, str], comment: str = "") -> None:
    lines = ["\t".join([*RATING_COLUMNS, *FEATURES])]
    t = scene.lesions.set_index("label")
    for lab, r in ratings.items():
        call = "PRL" if bool(t.loc[lab, "prl"]) else "no PRL"
        feats = ["n/a" if not np.isfinite(t.loc[lab, f]) else str(t.loc[lab, f]) for f in FEATURES]
        head = [str(lab), call, r, comment, "AB", "", "p", "qsm", "consensus", "0.5"]
        lines.append("\t".join(head + feats))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_prl_train_reads_the_ratings_tsv(scene, tmp_path, capsys):
    calls = dict(zip(scene.lesions["label"], scene.lesions["prl"], strict=True))
    assert calls[1] and not calls[3]  # the full rim is a PRL, the lesion without one is not
    tsv = tmp_path / "prl_ratings.tsv"
    _ratings_tsv(tsv, scene, {1: "agree", 2: "unsure", 3: "disagree"})
    table, y = read_rated([tsv], features=FEATURES)
    # agree keeps the call (1: PRL -> rim); disagree reverses it (3: no PRL -> rim); unsure skipped
    assert table["lesion"].astype(int).tolist() == [1, 3] and y.tolist() == [True, True]
    _ratings_tsv(tsv, scene, {1: "agree", 2: "", 3: "agree"})
    table, y = read_rated([tsv], features=FEATURES)
    assert table["lesion"].astype(int).tolist() == [1, 3] and y.tolist() == [True, False]
    model = tmp_path / "m.joblib"
    assert main(["prl", "train", str(tsv), "--out", str(model), "--demo", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"lesions": 2' in out and '"prl": 1' in out and '"input": "qsm"' in out


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"rating": "maybe"}, "row 3, column 'rating'"),
        ({"automatic call": "yes"}, "row 3, column 'automatic call'"),
        ({"rim_z": "high"}, "row 3, column 'rim_z'"),
    ],
)
def test_a_malformed_ratings_tsv_names_the_row(scene, tmp_path, capsys, bad, where):
    tsv = tmp_path / "r.tsv"
    _ratings_tsv(tsv, scene, {1: "agree", 3: "agree", 2: "unsure"})
    lines = tsv.read_text().splitlines()
    cols = lines[0].split("\t")
    cells = lines[2].split("\t")
    for k, v in bad.items():
        cells[cols.index(k)] = v
    lines[2] = "\t".join(cells)
    tsv.write_text("\n".join(lines) + "\n")
    assert main(["prl", "train", str(tsv), "--out", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and where in err and "Traceback" not in err


def test_a_ratings_tsv_without_ratings_is_refused(scene, tmp_path, capsys):
    tsv = tmp_path / "r.tsv"
    _ratings_tsv(tsv, scene, {1: "unsure", 2: "", 3: "unsure"})
    assert main(["prl", "train", str(tsv), "--out", str(tmp_path / "m.joblib")]) == 2
    assert "no lesion is rated agree or disagree" in capsys.readouterr().err
