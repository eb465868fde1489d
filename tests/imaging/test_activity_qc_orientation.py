"""The mri-activity QC figure follows the radiological convention, whatever the voxel order."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from smoulder.imaging.activity.qc import change_png
from smoulder.schema.images import axis_codes


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 41^3 RAS volume, 1 mm, with a change 8 mm to the patient's right of the centre."""
    rng = np.random.default_rng(3)
    n1 = rng.uniform(0.4, 0.6, (41, 41, 41)).astype(np.float32)
    n2 = n1.copy()
    change = np.zeros(n1.shape, bool)
    change[26:31, 18:23, 18:23] = True  # x index 28 = +8 mm: patient right in RAS
    n2[change] = 1.8
    return n1, n2, change


def _png(n1, n2, change, affine) -> np.ndarray:
    z = (n2 - n1) * 5.0
    data = change_png(n1, n2, z, change, None, np.ones(3), "t", codes=axis_codes(affine))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_change_on_the_patients_right_is_drawn_on_the_viewers_left():
    n1, n2, change = _scene()
    img = _png(n1, n2, change, np.eye(4))
    h, w, _ = img.shape
    # the axial row is the first third; its first panel the left third: find the yellow outline
    panel = img[: h // 3, : w // 3].astype(int)
    yellow = (panel[..., 0] > 200) & (panel[..., 1] > 200) & (panel[..., 2] < 80)
    cols = np.nonzero(yellow)[1]
    assert cols.size > 0
    assert np.median(cols) < panel.shape[1] / 2  # left of the panel's middle


def test_the_same_anatomy_stored_as_lps_gives_the_same_picture():
    n1, n2, change = _scene()
    ras = _png(n1, n2, change, np.eye(4))
    lps_affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    lps_affine[:2, 3] = 40.0  # voxel 0 is at x = y = +40 mm, as voxel 40 was in RAS

    def flip(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[::-1, ::-1, :])

    assert axis_codes(lps_affine) == "LPS"
    lps = _png(flip(n1), flip(n2), flip(change), lps_affine)
    assert lps.shape == ras.shape
    assert np.mean(np.abs(lps.astype(int) - ras.astype(int)) > 30) < 0.002
