"""The pieces: template reader, tissue EM, local statistics, QC orientation, ring shares."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.lesionseg.detect import shell_share
from smoulder.imaging.lesionseg.prepare import head_mask, local_stats, template_regions, tissue_em
from smoulder.imaging.lesionseg.qc import display_axes, montage_rgb, qc_html


def test_mni152_template_is_read_offline_and_consistent():
    from smoulder.io.templates import load_mni152

    t = load_mni152()
    assert t.t1.shape == t.gm.shape == t.wm.shape == t.csf.shape == t.brain_mask.shape
    assert t.zooms == (1.0, 1.0, 1.0)
    for a in (t.t1, t.gm, t.wm, t.csf):
        assert float(a.min()) >= 0 and float(a.max()) <= 1.0
    # inside the brain the three classes share the voxel (CSF is what GM and WM leave)
    b = t.brain_mask
    total = (t.gm + t.wm + t.csf)[b]
    assert np.median(total) == pytest.approx(1.0, abs=0.02)
    # a brain of 1.5-2 L, white matter 0.5-0.8 L (adult MNI152)
    assert 1500 < b.sum() / 1000 < 2000
    assert 500 < t.wm.sum() / 1000 < 800
    # the ventricles sit near the midline above the thalamus; infratentorial is below z = 0
    reg = template_regions(t)
    vent = np.argwhere(reg["ventricles"] > 0)
    world = vent @ t.affine[:3, :3].T + t.affine[:3, 3]
    assert abs(world[:, 0].mean()) < 5 and 0 < world[:, 2].mean() < 30
    infra = np.argwhere(reg["infratentorial"] > 0) @ t.affine[:3, :3].T + t.affine[:3, 3]
    assert infra[:, 2].max() < 0


def test_tissue_em_recovers_two_classes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(10, 1, 5000), rng.normal(20, 2, 5000)]).reshape(10, 10, 100)
    mask = np.ones(x.shape, bool)
    # vague priors (0.7 / 0.3, the right way round): EM sharpens them from the intensities
    p1 = np.where(np.arange(10000) < 5000, 0.7, 0.3).reshape(x.shape)
    post, mu, sd = tissue_em(x, mask, [p1, 1 - p1], iterations=30)
    order = np.argsort(mu)
    assert mu[order] == pytest.approx([10, 20], abs=0.1)
    assert sd[order] == pytest.approx([1, 2], abs=0.1)
    assert (post[order[1]].ravel()[5000:] > 0.5).mean() > 0.98


def test_local_stats_ignore_outliers_and_follow_a_slow_trend():
    rng = np.random.default_rng(1)
    shape = (40, 40, 40)
    x = 100 + 0.5 * np.indices(shape)[0] + rng.normal(0, 2, shape)
    x[20, 20, 20] = 400  # a bright outlier inside the reference
    ref = np.ones(shape, bool)
    mean, sd, den = local_stats(x.astype(np.float32), ref, 6.0, np.ones(3))
    assert mean[20, 20, 20] == pytest.approx(110, abs=1.0)
    assert np.median(sd) == pytest.approx(2.0, abs=0.3)
    assert den[20, 20, 20] == pytest.approx(1.0, abs=0.05)


def test_head_mask_keeps_the_largest_part_and_fills_holes():
    d = np.zeros((30, 30, 30), np.float32)
    d[5:25, 5:25, 5:25] = 100
    d[12:18, 12:18, 12:18] = 0  # a dark hole inside: filled
    d[1, 1, 1] = 100  # a speck outside: dropped
    m = head_mask(d, np.ones(3))
    assert m[15, 15, 15] and not m[1, 1, 1] and m.sum() == 20**3


def test_ring_share_by_hand():
    lab = np.zeros((9, 9, 9), np.int32)
    lab[4, 4, 4] = 1
    accept = np.zeros(lab.shape, bool)
    accept[:, :, :4] = True  # half space below z = 4
    # 1 mm ring = the 6 face neighbours: 1 of them (z = 3) is accepted
    share = shell_share(lab, 1, accept, np.ones(3), 1.0)
    assert share[1] == pytest.approx(1 / 6)


def test_display_axes_radiological_for_ras_and_las():
    ras = np.diag([1.0, 1.0, 1.0, 1.0])
    sl, h, v, fh, fv, plane = display_axes(ras, (1, 1, 1))
    assert (sl, h, v, plane) == (2, 0, 1, "axial")
    assert fh  # x increases to the right of the patient: flipped so the right is on the left
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    assert not display_axes(las, (1, 1, 1))[3]
    # thick sagittal slices: the slice axis is the thick one and the plane is sagittal
    assert display_axes(np.diag([4.0, 1.0, 1.0, 1.0]), (4, 1, 1))[0] == 0
    assert display_axes(np.diag([4.0, 1.0, 1.0, 1.0]), (4, 1, 1))[5] == "sagittal"


def test_montage_puts_the_patients_right_on_the_left():
    vol = np.zeros((20, 20, 10), np.float32)
    vol[15:, :, :] = 1.0  # bright on the patient's right (high x in RAS)
    labels = np.zeros(vol.shape, np.int32)
    rgb = montage_rgb(
        vol, labels, (1.0, 1.0, 1.0), vol >= 0, affine=np.eye(4), n_slices=1, columns=1
    )
    row = rgb[rgb.shape[0] // 2, :, 0]
    # column 0 and the last column carry the brain outline (cyan, no red)
    assert row[1:4].mean() > 0.9 and row[-6:-1].mean() < 0.1


def test_qc_page_is_self_contained_and_lists_every_lesion():
    import pandas as pd

    vol = np.full((20, 20, 10), 100.0, np.float32)
    labels = np.zeros(vol.shape, np.int32)
    labels[5:7, 5:7, 5] = 1
    labels[12:15, 12:14, 4:6] = 2
    table = pd.DataFrame(
        {
            "label": [1, 2],
            "n_voxels": [4, 12],
            "volume_mm3": [4.0, 12.0],
            "centroid_x_mm": [5.5, 13.0],
            "centroid_y_mm": [5.5, 12.5],
            "centroid_z_mm": [5.0, 4.5],
            "location": ["deep white matter", "periventricular"],
            "peak_z": [9.0, 7.0],
        }
    )
    page = qc_html(vol, labels, vol > 0, np.eye(4), (1.0, 1.0, 1.0), table, methods="m")
    assert page.count("id='lesion-") == 2
    assert "http" not in page.replace("https://", "")  # no external resources
    assert "periventricular" in page and "data:image/png;base64," in page
