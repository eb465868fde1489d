"""The widened FLAIR phantom lesions: tiny ones, T1-isointense ones, confluent periventricular."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.exceptions import SettingsError
from smoulder.synth.flair_phantom import (
    FAMILY_A,
    FAMILY_A_NARROW,
    FAMILY_B,
    FAMILY_C,
    FlairPhantomSettings,
    simulate_flair_phantom,
)


def test_family_ranges_say_what_the_docs_say():
    assert FAMILY_A.t1_lesion[1] > 1.0 > FAMILY_A_NARROW.t1_lesion[1]  # up to isointense
    assert FAMILY_A.lesion_contrast[0] < FAMILY_A.gm_contrast[1]  # faint: as bright as cortex
    assert FAMILY_A.tiny_fraction > 0 and FAMILY_A.pv_confluent_fraction > 0
    assert FAMILY_B.tiny_fraction == 0  # held-out family B is as it was
    assert FAMILY_C.t1_lesion != FAMILY_A.t1_lesion and FAMILY_C.snr == FAMILY_B.snr


@pytest.mark.parametrize("name", ["tiny_fraction", "pv_confluent_fraction"])
def test_shares_outside_0_1_are_refused(name):
    with pytest.raises(SettingsError, match=name):
        FlairPhantomSettings(**{name: 1.5})


@pytest.mark.slow
def test_tiny_isointense_lesions_are_tiny_and_isointense_on_t1():
    """Every lesion tiny (3-10 mm3 drawn) and T1 = white matter (ratio 1): on a 1 mm grid each
    has at most ~10 voxels (partial volume rounds at 0.5, roughened edges: allow 14), and the
    T1 inside lesions is the lesion's 1.05 - 0.15 x core times white matter (0.9-1.05)."""
    s = FAMILY_A.replace(
        tiny_fraction=1.0,
        pv_confluent_fraction=0.0,  # (a confluent periventricular lesion is drawn large)
        t1_lesion=(1.0, 1.0),
        bias_amplitude=(0.0, 0.0),
        snr=(200.0, 200.0),
        inplane_mm=(1.0, 1.0),
        rotation_deg=(0.0, 0.0),
        deform_mm=(0.0, 0.0),
    )
    ph = simulate_flair_phantom(5, s, thick=False, head=False, n_lesions=30)
    assert len(ph.truth) >= 10
    assert int(ph.truth["n_voxels"].max()) <= 14
    les = ph.lesions > 0
    ring = np.zeros_like(les)
    from scipy import ndimage

    ring = ndimage.binary_dilation(les, iterations=4) & ~ndimage.binary_dilation(les, iterations=2)
    wm_t1 = float(np.median(ph.t1[ring & ph.brain_mask & (ph.t1 > 0.9 * np.median(ph.t1[ring]))]))
    ratio = float(np.median(ph.t1[les])) / wm_t1
    assert 0.85 <= ratio <= 1.08
    # and FLAIR-bright: the lesions' FLAIR is above their surroundings'
    assert float(np.median(ph.flair[les])) > float(np.median(ph.flair[ring]))
