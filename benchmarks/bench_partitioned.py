"""The progression analysis of a partitioned Parquet dataset on a local dask cluster, beside the
single-machine run on the same data.

For each size (default 100,000 and 1,000,000 subjects, ~20 visits each, EDSS and relapses) the
simulated cohort is written once to benchmarks/data/ as one Parquet file and as a dataset of
``--files`` Parquet files partitioned by subject. Then, file to file with ``--no-plots``'s
defaults (read, check, scan, write events + summary):

* one machine: :func:`smoulder.pipelines.progression.run` on the single file, in this process
  (a first run loads the engine, the second is timed);
* partitioned: :func:`smoulder.pipelines.partitioned.run` on the dataset with a LocalCluster of 1
  and of 2 single-threaded worker processes: the cluster's start-up, the first run (each worker
  loads the engine) and a second run are timed, and the peak resident memory of each worker and
  of this process (the client) printed.

The events and summaries of every run are checked identical to the single-machine run's. Timings
on a shared machine are noisy: read the ratios, and the load printed beside them.

Usage::

    python benchmarks/bench_partitioned.py [--subjects 100000 1000000] [--files 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from smoulder.pipelines import partitioned, progression  # noqa: E402
from smoulder.synth import simulate_cohort  # noqa: E402


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def make_data(n: int, files: int, seed: int) -> tuple[Path, Path, Path]:
    data = HERE / "data" / f"partitioned_{n}"
    single, folder, rel = (
        data / "visits.parquet",
        data / "visits_by_subject",
        data / "relapses.parquet",
    )
    if not (single.exists() and folder.exists() and rel.exists()):
        t0 = time.perf_counter()
        cohort = simulate_cohort(n, seed=seed)
        v = cohort.visits[["subject", "date", "edss"]]
        v = v.assign(subject=v["subject"].astype(str))
        r = cohort.relapses[["subject", "date"]]
        data.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(v, preserve_index=False)
        pq.write_table(table, single)
        r.assign(subject=r["subject"].astype(str)).to_parquet(rel, index=False)
        folder.mkdir(exist_ok=True)
        # contiguous runs of subjects per file (the rows are sorted by subject), uneven sizes
        ids = v["subject"].to_numpy()
        cut = (np.linspace(0, 1, files + 1)[1:-1] ** 1.3 * (n - 1)).astype(np.int64)
        edges = np.searchsorted(ids, np.unique(ids)[cut])
        bounds = [0, *edges.tolist(), len(v)]
        for i in range(files):
            pq.write_table(
                table.slice(bounds[i], bounds[i + 1] - bounds[i]), folder / f"part-{i:03d}.parquet"
            )
        print(
            f"  simulated and wrote {n:,} subjects ({len(v):,} visits) in {time.perf_counter() - t0:.1f} s"
        )
    return single, folder, rel


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb_proc() -> float:
    """The peak resident memory of this process (VmHWM: ru_maxrss survives the exec of a
    spawned worker, so it would give the client's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def same(a: progression.ProgressionResult, b: progression.ProgressionResult) -> bool:
    try:
        pd.testing.assert_frame_equal(a.events, b.events)
        pd.testing.assert_frame_equal(a.summary, b.summary)
    except AssertionError:
        return False
    return True


def bench(n: int, files: int, seed: int, workers: list[int]) -> None:
    print(f"\n{n:,} subjects ({load()})")
    single, folder, rel = make_data(n, files, seed)
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-bench-part-"))
    progression.run(single, rel, plots=False, out=tmp / "warm" / "e.parquet")  # load the engine
    t0 = time.perf_counter()
    one = progression.run(single, rel, plots=False, out=tmp / "one" / "e.parquet")
    t_one = time.perf_counter() - t0
    print(
        f"  one machine (this process): {t_one:6.2f} s, peak RSS of this process "
        f"{peak_rss_mb():,.0f} MB ({load()})"
    )
    for w in workers:
        t0 = time.perf_counter()
        with partitioned.cluster_client(n_workers=w) as client:
            t_up = time.perf_counter() - t0
            times = []
            for k in range(2):
                t0 = time.perf_counter()
                res = partitioned.run(
                    folder, rel, client=client, plots=False, out=tmp / f"w{w}_{k}" / "e.parquet"
                )
                times.append(time.perf_counter() - t0)
            rss = client.run(peak_rss_mb_proc)
        mem = ", ".join(f"{v:,.0f}" for v in rss.values())
        print(
            f"  {w} worker{'s' if w > 1 else ' '} x 1 thread: start-up {t_up:5.1f} s, first run "
            f"{times[0]:6.2f} s, second run {times[1]:6.2f} s = {times[1] / t_one:.2f} x one "
            f"machine; peak RSS per worker {mem} MB; identical: {same(one, res)} ({load()})"
        )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--subjects", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(
        f"bench_partitioned: {os.cpu_count()} cores; OMP/NUMBA threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}"
    )
    for n in a.subjects:
        bench(n, a.files, a.seed, a.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
