"""Detection rules on hand-made maps: ventricle lining, stronger seeds below the tentorium,
per-label statistics."""

from __future__ import annotations

import numpy as np

from smoulder.imaging.lesionseg import LesionSegSettings
from smoulder.imaging.lesionseg.detect import detect, label_stat

S = LesionSegSettings(n4=False)
ZOOMS = np.array([1.0, 1.0, 1.0])


def _maps(n: int = 30):
    """A cube of white matter with a ventricle (CSF) filling x < 10; z = zg = 0 everywhere."""
    shape = (n, n, n)
    brain = np.zeros(shape, bool)
    brain[1:-1, 1:-1, 1:-1] = True
    vent = np.zeros(shape, bool)
    vent[1:10, 1:-1, 1:-1] = True
    pw = np.where(brain & ~vent, 1.0, 0.0).astype(np.float32)
    pc = np.where(vent, 1.0, 0.0).astype(np.float32)
    z = np.zeros(shape, np.float32)
    return z, pw, pc, brain, vent


def _found(z, pw, pc, brain, **kw):
    # brighter than cortex (zg >= zg_seed) but not so bright that zg_keep overrides the rules
    zg = 0.5 * z
    assert zg.max() < S.zg_keep
    mask, _ = detect(z, zg, pw, pc, brain, ZOOMS, S, **kw)
    return mask


def test_a_band_one_voxel_thick_on_the_ventricle_wall_is_dropped_a_lesion_reaching_out_is_kept():
    z, pw, pc, brain, vent = _maps()
    z[10, 5:12, 5:12] = 9.0  # 7 x 7 x 1 band against the wall (x = 10, the first white matter)
    z[10:15, 18:22, 18:22] = 9.0  # a lesion touching the wall and reaching 5 mm into white matter
    with_rule = _found(z, pw, pc, brain, ventricles=vent)
    assert not with_rule[10, 5:12, 5:12].any()
    assert with_rule[10:15, 18:22, 18:22].all()
    # without the ventricles the same band is a lesion: the rule, not the thresholds, dropped it
    without = _found(z, pw, pc, brain)
    assert without[10, 5:12, 5:12].all()


def test_below_the_tentorium_a_seed_must_be_brighter_by_infratentorial_z_extra():
    z, pw, pc, brain, _ = _maps()
    infra = np.zeros(z.shape, bool)
    infra[:, :, :15] = True
    peak = S.z_seed + 0.5 * S.infratentorial_z_extra  # enough above, not enough below
    z[18:21, 8:11, 5:8] = peak  # below the tentorium
    z[18:21, 8:11, 20:23] = peak  # above it
    m = _found(z, pw, pc, brain, infratentorial=infra)
    assert not m[:, :, :15].any()
    assert m[18:21, 8:11, 20:23].all()
    z[18:21, 8:11, 5:8] = S.z_seed + S.infratentorial_z_extra + 0.5
    assert _found(z, pw, pc, brain, infratentorial=infra)[18:21, 8:11, 5:8].all()


def test_label_stat_by_hand():
    labels = np.array([[0, 1, 1], [2, 2, 0], [3, 0, 2]])
    values = np.array([[9.0, 1.0, 3.0], [4.0, -2.0, 7.0], [5.0, 8.0, 6.0]])
    assert label_stat(values, labels, 3, "max")[1:].tolist() == [3.0, 6.0, 5.0]
    assert label_stat(values, labels, 3, "min")[1:].tolist() == [1.0, -2.0, 5.0]
    assert label_stat(values, labels, 3, "sum")[1:].tolist() == [4.0, 8.0, 5.0]
    assert np.allclose(label_stat(values, labels, 3, "mean")[1:], [2.0, 8.0 / 3.0, 5.0])


def test_a_weak_small_lesion_counts_when_it_spans_two_slices_and_is_not_bright_on_t1():
    z, pw, pc, brain, _ = _maps()
    s = S.replace(z_seed_low=3.5)
    weak = 0.5 * (S.z_seed + 3.5)  # between the two seed thresholds
    z[15:17, 15:17, 12] = weak  # 4 voxels on one slice (axis 2): not confirmed
    z[20:22, 20:22, 20:22] = weak  # 8 voxels on two consecutive slices: confirmed
    z[15:17, 22:24, 22:24] = weak  # the same shape, but bright on T1 (a vessel, not a lesion)
    t1 = np.ones(z.shape, np.float32)
    t1[15:17, 22:24, 22:24] = 1.3
    zg = 0.5 * z
    mask, counts = detect(z, zg, pw, pc, brain, ZOOMS, s, t1_ratio=t1)
    assert mask[20:22, 20:22, 20:22].all() and mask.sum() == 8
    assert counts["low_seed_regions"] == 1
    # with the default settings (no low seed) neither is found; without a T1 the bright one is
    assert not detect(z, zg, pw, pc, brain, ZOOMS, S)[0].any()
    no_t1, _ = detect(z, zg, pw, pc, brain, ZOOMS, s)
    assert no_t1[15:17, 22:24, 22:24].all() and no_t1.sum() == 16
    # on 4 mm slices along axis 0 the "slices" are that axis: the one-slice-in-z blob spans two
    thick = np.array([4.0, 1.0, 1.0])
    m4, _ = detect(z, zg, pw, pc, brain, thick, s, t1_ratio=t1)
    assert m4[15:17, 15:17, 12].all()
