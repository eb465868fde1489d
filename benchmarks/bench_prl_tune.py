"""Tune the PRL rim score on phantom family A only (never on the held-out family B).

Prints figures; not a test. Run from the repository root::

    .venv/bin/python benchmarks/bench_prl_tune.py --cache /tmp/prl_a
    .venv/bin/python benchmarks/bench_prl_tune.py --cache /tmp/prl_a --set k_sd=1.0 --set rim_outer_mm=1

Family A (:func:`smoulder.synth.mri.simulate_mri_phantom` with
:data:`~smoulder.synth.mri.WIDE_SETTINGS`), on seeds 6000 onwards, which
``bench_prl_heldout.py`` does not use (its tuning rows are seeds 5000 onwards), at 1, 1.5 and
2 mm with grids oblique by up to 20 degrees. Each ``--set NAME=VALUE`` changes one
:class:`~smoulder.imaging.prl.PRLSettings` field; several ``--grid NAME=V1,V2,...`` try every
combination. Per combination: AUC of ``rim_score``, sensitivity and specificity of the consensus
call at 1 mm and at 1.5-2 mm, phase and QSM, and the share of each mimic kind called PRL.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_prl_heldout import MIMICS, cohort, summarise  # noqa: E402
from smoulder.imaging.prl import PRLSettings  # noqa: E402


def _value(text: str) -> object:
    if text in ("None", "none"):
        return None
    if text in ("true", "True", "false", "False"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _pairs(items: list[str]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for it in items:
        name, _, vals = it.partition("=")
        out[name] = [_value(v) for v in vals.split(",")]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--lesions", type=int, default=12)
    ap.add_argument("--resolutions", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE of PRLSettings")
    ap.add_argument("--grid", action="append", default=[], help="NAME=V1,V2,... to try")
    ap.add_argument("--cache", help="keep the phantoms in this directory (.npz)")
    ap.add_argument("--save", help="write the lesion rows of the last combination to this TSV")
    a = ap.parse_args(argv)
    fixed = {k: v[0] for k, v in _pairs(a.set).items()}
    grid = _pairs(a.grid)
    rows = []
    for combo in itertools.product(*grid.values()) if grid else [()]:
        kw = fixed | dict(zip(grid, combo, strict=True))
        st = PRLSettings(**kw)
        t0 = time.process_time()
        data = pd.concat(
            [
                cohort("tuning", vs, a.subjects, a.lesions, 6000, a.cache, st).assign(voxel_mm=vs)
                for vs in a.resolutions
            ],
            ignore_index=True,
        )
        for kind, g in data.groupby("input_kind", sort=False):
            for label, sub in (("1", g[g.voxel_mm < 1.5]), ("1.5-2", g[g.voxel_mm >= 1.5])):
                if len(sub):
                    rows.append({**kw, "input": kind, "voxels": label, **summarise(sub)})
        print(f"  {kw}: {time.process_time() - t0:.0f} CPU s", file=sys.stderr, flush=True)
        if a.save:
            data.to_csv(a.save, sep="\t", index=False)
    table = pd.DataFrame(rows)
    keep = [c for c in table.columns if not c.startswith("fp_")]
    keep += [f"fp_{k}" for k in MIMICS]
    pd.set_option("display.width", 250)
    print(f"family A (tuning), seeds 6000-{6000 + a.subjects - 1}, {a.lesions} lesions each")
    print(table[keep].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return int(np.isnan(table["auc"]).all())


if __name__ == "__main__":
    raise SystemExit(main())
