"""The PRL review page (qc.html): build time and size against the detection it reviews.

Prints figures; not a test. Run from the repository root::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_prl_review.py

On the standard eight-lesion test phantom (1 mm, 100 x 80 x 30 mm box) it times ``detect_prl``
(the reference, run side by side) and the review page, and reports the page's size, the number of
slice figures and images, and the ratio page / detection, so the figure holds under load. With
``--old-page PATH`` (a checkout's ``src``) it also times that version's page in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from smoulder.imaging.prl import detect_prl
from smoulder.pipelines._prl_review import review_html
from smoulder.synth.mri import simulate_mri_phantom

KINDS = ["prl", "prl", "prl", "rimless", "rimless", "diffuse", "partial_rim", "vein_adjacent"]


PHANTOM = {
    "seed": 12,
    "voxel_size": 1.0,
    "kinds": KINDS,
    "rim_strength_ppm": (0.08, 0.12),
    "rim_thickness_mm": (1.5, 2.0),
    "min_prl_radius_mm": 5.0,
    "box_mm": ((-50, 50), (-50, 30), (10, 40)),
}


def phantom():
    """The phantom of tests/imaging/conftest.py."""
    return simulate_mri_phantom(**PHANTOM)


OLD = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from smoulder.imaging.prl import detect_prl
from smoulder.imaging.prl.qc import qc_html
from smoulder.synth.mri import simulate_mri_phantom
ph = simulate_mri_phantom(**eval(sys.argv[2]))
res = detect_prl(np.asarray(ph.phase.dataobj), np.asarray(ph.lesions.dataobj).astype(int),
                 ph.phase.affine, input_kind="phase", brain=np.asarray(ph.flair.dataobj) > 0,
                 flair=np.asarray(ph.flair.dataobj))
t = time.perf_counter(); page = qc_html(res); print(time.perf_counter() - t, len(page))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--old-page", default=None, help="src folder of another checkout")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    ph = phantom()
    lab = np.asarray(ph.lesions.dataobj).astype(int)
    args = (np.asarray(ph.phase.dataobj), lab, ph.phase.affine)
    kw = {"input_kind": "phase", "brain": np.asarray(ph.flair.dataobj) > 0}
    det, page_t = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        res = detect_prl(*args, **kw, flair=np.asarray(ph.flair.dataobj))
        det.append(time.perf_counter() - t)
        t = time.perf_counter()
        page = review_html(res)
        page_t.append(time.perf_counter() - t)
    d, p = float(np.median(det)), float(np.median(page_t))
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average)")
    print(
        f"detect_prl (reference): {d:.2f} s; review page: {p:.2f} s; ratio page/detect {p / d:.2f}"
    )
    print(
        f"page: {len(page) / 1e6:.2f} MB, {page.count('<section class=')} lesions, "
        f"{page.count('<figure class=')} slice figures, {page.count('data:image/png')} images"
    )
    if a.old_page:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run(
            [sys.executable, "-c", OLD, a.old_page, repr(PHANTOM)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.split()
        print(
            f"old page ({a.old_page}): {float(out[0]):.2f} s, {int(out[1]) / 1e6:.2f} MB "
            f"(ratio to detect {float(out[0]) / d:.2f})"
        )


if __name__ == "__main__":
    main()
