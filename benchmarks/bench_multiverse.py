"""The multiverse of PIRA definitions: 360 definitions (Müller 2025 grid) on 10,000 people.

Prints the time of :func:`smoulder.pipelines.multiverse.run` (validated tables in memory, no
plots) with one and with two worker processes, the time per definition, and the range of PIRA
incidence and persistence across definitions. The cohort is
:func:`smoulder.synth.simulate_cohort` (seeded); the scan is compiled before timing.

Usage::

    python benchmarks/bench_multiverse.py [--subjects 10000] [--workers 1 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from smoulder.clinical.multiverse import MultiverseSettings, expand_grid  # noqa: E402
from smoulder.pipelines import multiverse as pipeline  # noqa: E402
from smoulder.synth import simulate_cohort  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=1)
    ns = ap.parse_args(argv)
    c = simulate_cohort(ns.subjects, seed=ns.seed)
    visits = c.visits[["subject", "date", "edss"]]
    relapses = c.relapses[["subject", "date"]]
    s = MultiverseSettings()
    n_def = len(expand_grid(s))
    print(
        f"{ns.subjects:,} subjects, {len(visits):,} visits, {len(relapses):,} relapses; {n_def} definitions"
    )
    # compile (or load the cached) scan first: the first run on a machine is not the figure
    pipeline.run(
        visits.iloc[:200],
        relapses,
        grid=MultiverseSettings(definitions=[{"name": "warm"}]),
        workers=1,
    )
    first = None
    for w in ns.workers:
        t0 = time.perf_counter()
        res = pipeline.run(visits, relapses, grid=s, workers=w)
        dt = time.perf_counter() - t0
        t = res.table
        print(
            f"workers={w}: {dt:.1f} s ({dt / n_def * 1e3:.0f} ms per definition); PIRA "
            f"{t['pira_per_10py'].min():.3f}-{t['pira_per_10py'].max():.3f} per 10 person-years, "
            f"persistence {t['persistence'].min():.3f}-{t['persistence'].max():.3f}"
        )
        if first is None:
            first = t
        else:
            same = first.drop(columns=[]).equals(t)
            print(f"  identical to workers={ns.workers[0]}: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
