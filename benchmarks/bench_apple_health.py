"""Apple Health import: speed and peak memory on a simulated 10-year export, beside naive peers.

Writes a simulated export (``smoulder.synth.apple_health``: phone + watch, DST, trips, sleep,
heart rate and energy records that are most of a real export), then reads it in a fresh
subprocess per run and prints

* records per second over all ``Record`` elements of the file, and over the catalogue records;
* peak resident memory of the reading process (``ru_maxrss``);
* agreement of the daily steps and nightly sleep with the simulator's ground truth;
* side by side on a 1-year file: ``xml.etree.ElementTree.parse`` of the whole document (the
  naive way; it holds every element in memory) and an ``iterparse`` loop that clears elements,
  each followed by a daily step sum in pandas, against smoulder on the same file.

Targets (issue 5): >= 300,000 records/s and < 500 MB peak on the 10-year export.

Usage::

    .venv/bin/python benchmarks/bench_apple_health.py [--years 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

OURS = textwrap.dedent("""
    import json, resource, sys, time
    from smoulder.io.apple_health import read_apple_health
    t, c = time.perf_counter(), time.process_time()
    df, rep = read_apple_health(sys.argv[1], subject="bench")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    steps = df[df.measure == "steps"].set_index("date")["value"]
    sleep = df[df.measure == "sleep_hours"].set_index("date")["value"]
    df[df.measure == "wear_hours"].set_index("date")[["value"]].to_parquet(sys.argv[2] + ".wear.parquet")
    steps.to_frame().to_parquet(sys.argv[2] + ".steps.parquet")
    sleep.to_frame().to_parquet(sys.argv[2] + ".sleep.parquet")
    dist = df[df.measure == "walking_distance"].set_index("date")["value"]
    dist.to_frame().to_parquet(sys.argv[2] + ".distance.parquet")
    print(json.dumps({"seconds": dt, "cpu": cpu, "rows_read": rep.rows_read, "rows_out": len(df),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

LONG = textwrap.dedent("""
    import json, resource, sys, time
    from smoulder.io.measures import read_measures
    t, c = time.perf_counter(), time.process_time()
    df, rep = read_measures(sys.argv[1], on_duplicate="mean")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"seconds": dt, "cpu": cpu, "rows_read": rep.rows_read, "rows_out": len(df),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

NAIVE_PARSE = textwrap.dedent("""
    import json, resource, sys, time
    import xml.etree.ElementTree as ET
    import pandas as pd
    t, c = time.perf_counter(), time.process_time()
    root = ET.parse(sys.argv[1]).getroot()
    rows = [(r.get("startDate")[:10], float(r.get("value"))) for r in root.iter("Record")
            if r.get("type") == "HKQuantityTypeIdentifierStepCount"]
    daily = pd.DataFrame(rows, columns=["date", "value"]).groupby("date")["value"].sum()
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"seconds": dt, "cpu": cpu, "days": len(daily),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

NAIVE_ITER = textwrap.dedent("""
    import json, resource, sys, time
    import xml.etree.ElementTree as ET
    import pandas as pd
    t, c = time.perf_counter(), time.process_time()
    rows = []
    for _, el in ET.iterparse(sys.argv[1]):
        if el.tag == "Record":
            if el.get("type") == "HKQuantityTypeIdentifierStepCount":
                rows.append((el.get("startDate")[:10], float(el.get("value"))))
            el.clear()
    daily = pd.DataFrame(rows, columns=["date", "value"]).groupby("date")["value"].sum()
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"seconds": dt, "cpu": cpu, "days": len(daily),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def child(code: str, *args: str, repeat: int = 1) -> dict:
    """Run ``code`` in fresh interpreters; keep the fastest run (the machine is shared)."""
    best: dict | None = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    assert best is not None
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep the files in")
    ap.add_argument("--repeat", type=int, default=2, help="runs per reader; the fastest is shown")
    args = ap.parse_args()

    import pandas as pd

    from smoulder.synth.apple_health import write_apple_health_export

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_apple_"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"machine: {sys.platform}, python {sys.version.split()[0]}; files in {tmp}")

    t = time.perf_counter()
    big = write_apple_health_export(tmp / "export.xml", years=args.years, seed=args.seed)
    wt = time.perf_counter() - t
    print(
        f"simulated {args.years:g}-year export: {big.n_records:,} records ({big.n_catalogue_records:,} of catalogue "
        f"types), {big.xml_bytes / 1e6:,.0f} MB of XML, written in {wt:.1f} s"
    )
    t = time.perf_counter()
    bigzip = write_apple_health_export(tmp / "export.zip", years=args.years, seed=args.seed)
    print(
        f"  the same as export.zip: {bigzip.path.stat().st_size / 1e6:,.0f} MB, written in "
        f"{time.perf_counter() - t:.1f} s"
    )

    for label, path in (("export.xml", big.path), ("export.zip", bigzip.path)):
        r = child(OURS, str(path), str(tmp / label), repeat=args.repeat)
        print(
            f"smoulder read_apple_health on {label}: {r['seconds']:.1f} s wall ({r['cpu']:.1f} s CPU), "
            f"{big.n_records / r['seconds']:,.0f} records/s wall and {big.n_records / r['cpu']:,.0f} per CPU "
            f"second (all Record elements), peak RSS {r['maxrss_mb']:,.0f} MB, {r['rows_out']:,} daily rows"
        )
    steps = pd.read_parquet(tmp / "export.xml.steps.parquet")["value"]
    sleep = pd.read_parquet(tmp / "export.xml.sleep.parquet")["value"]
    wear = pd.read_parquet(tmp / "export.xml.wear.parquet")["value"]
    dw = (wear - big.daily_wear_hours.reindex(wear.index).fillna(0)).abs()
    ds = (steps - big.daily_steps.reindex(steps.index)).abs()
    dl = (sleep - big.nightly_sleep.reindex(sleep.index)).abs()
    dist = pd.read_parquet(tmp / "export.xml.distance.parquet")["value"]
    dd = (dist - big.daily_walking_distance.reindex(dist.index)).abs()
    print(
        f"ground truth: steps on {len(steps):,} of {len(big.daily_steps):,} days, largest difference {ds.max():g}; "
        f"sleep on {len(sleep):,} of {len(big.nightly_sleep):,} nights, largest difference {dl.max():.2g} h; "
        f"wear hours on {len(wear):,} days, largest difference {dw.max():g} h; walking distance on "
        f"{len(dist):,} of {len(big.daily_walking_distance):,} days, largest difference "
        f"{dd.max() if len(dd) else float('nan'):.2g} m"
    )

    small = write_apple_health_export(tmp / "export_1y.xml", years=1, seed=args.seed)
    print(
        f"\n1-year export for the peers: {small.n_records:,} records, {small.xml_bytes / 1e6:,.0f} MB"
    )
    k = max(args.repeat, 3)
    ours = child(OURS, str(small.path), str(tmp / "small"), repeat=k)
    rows = [("smoulder read_apple_health (all rules)", ours)]
    rows.append(
        (
            "ElementTree.parse whole file + pandas sum (no dedup)",
            child(NAIVE_PARSE, str(small.path), repeat=k),
        )
    )
    rows.append(
        (
            "ElementTree.iterparse + clear + pandas sum (no dedup)",
            child(NAIVE_ITER, str(small.path), repeat=k),
        )
    )
    print(
        f"{'reader':56s} {'wall s':>7s} {'CPU s':>6s} {'records/s':>10s} {'peak MB':>8s} {'CPU vs smoulder':>16s}"
    )
    for name, r in rows:
        print(
            f"{name:56s} {r['seconds']:7.2f} {r['cpu']:6.2f} {small.n_records / r['seconds']:10,.0f} "
            f"{r['maxrss_mb']:8,.0f} {r['cpu'] / ours['cpu']:15.2f}x"
        )
    naive_steps = small.daily_steps.sum()
    print(
        f"(the naive sums add phone and watch: they count steps twice in overlapping hours; "
        f"the true total over the year is {naive_steps:,.0f})"
    )

    # the long-table reader on 1 million time-stamped rows (200 subjects, two measures)
    import numpy as np

    rng = np.random.default_rng(args.seed)
    n = 1_000_000
    when = (
        pd.Timestamp("2015-01-01")
        + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
        + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    )
    long = pd.DataFrame(
        {
            "subject": rng.integers(0, 200, n).astype(str),
            "date": when.strftime("%Y-%m-%dT%H:%M:%S+01:00"),
            "measure": rng.choice(["steps", "walking_speed"], n),
            "value": rng.uniform(0.5, 2, n),
            "unit": "",
        }
    )
    long.to_csv(tmp / "long.csv", index=False)
    r = child(LONG, str(tmp / "long.csv"), repeat=args.repeat)
    print(
        f"\nread_measures on {n:,} time-stamped rows (CSV, {(tmp / 'long.csv').stat().st_size / 1e6:,.0f} MB): "
        f"{r['seconds']:.1f} s wall ({r['cpu']:.1f} s CPU), {n / r['cpu']:,.0f} rows per CPU second, "
        f"peak RSS {r['maxrss_mb']:,.0f} MB, {r['rows_out']:,} daily rows"
    )


if __name__ == "__main__":
    main()
