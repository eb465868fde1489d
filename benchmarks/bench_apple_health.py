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
    t = time.perf_counter()
    df, rep = read_apple_health(sys.argv[1], subject="bench")
    dt = time.perf_counter() - t
    steps = df[df.measure == "steps"].set_index("date")["value"]
    sleep = df[df.measure == "sleep_hours"].set_index("date")["value"]
    steps.to_frame().to_parquet(sys.argv[2] + ".steps.parquet")
    sleep.to_frame().to_parquet(sys.argv[2] + ".sleep.parquet")
    print(json.dumps({"seconds": dt, "rows_read": rep.rows_read, "rows_out": len(df),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

NAIVE_PARSE = textwrap.dedent("""
    import json, resource, sys, time
    import xml.etree.ElementTree as ET
    import pandas as pd
    t = time.perf_counter()
    root = ET.parse(sys.argv[1]).getroot()
    rows = [(r.get("startDate")[:10], float(r.get("value"))) for r in root.iter("Record")
            if r.get("type") == "HKQuantityTypeIdentifierStepCount"]
    daily = pd.DataFrame(rows, columns=["date", "value"]).groupby("date")["value"].sum()
    dt = time.perf_counter() - t
    print(json.dumps({"seconds": dt, "days": len(daily),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

NAIVE_ITER = textwrap.dedent("""
    import json, resource, sys, time
    import xml.etree.ElementTree as ET
    import pandas as pd
    t = time.perf_counter()
    rows = []
    for _, el in ET.iterparse(sys.argv[1]):
        if el.tag == "Record":
            if el.get("type") == "HKQuantityTypeIdentifierStepCount":
                rows.append((el.get("startDate")[:10], float(el.get("value"))))
            el.clear()
    daily = pd.DataFrame(rows, columns=["date", "value"]).groupby("date")["value"].sum()
    dt = time.perf_counter() - t
    print(json.dumps({"seconds": dt, "days": len(daily),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep the files in")
    args = ap.parse_args()

    import pandas as pd

    from smoulder.synth.apple_health import write_apple_health_export

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_apple_"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"machine: {sys.platform}, python {sys.version.split()[0]}; files in {tmp}")

    t = time.perf_counter()
    big = write_apple_health_export(tmp / "export.xml", years=args.years, seed=args.seed)
    wt = time.perf_counter() - t
    print(f"simulated {args.years:g}-year export: {big.n_records:,} records ({big.n_catalogue_records:,} of catalogue "
          f"types), {big.xml_bytes / 1e6:,.0f} MB of XML, written in {wt:.1f} s")
    t = time.perf_counter()
    bigzip = write_apple_health_export(tmp / "export.zip", years=args.years, seed=args.seed)
    print(f"  the same as export.zip: {bigzip.path.stat().st_size / 1e6:,.0f} MB, written in "
          f"{time.perf_counter() - t:.1f} s")

    for label, path in (("export.xml", big.path), ("export.zip", bigzip.path)):
        r = child(OURS, str(path), str(tmp / label))
        print(f"smoulder read_apple_health on {label}: {r['seconds']:.1f} s, "
              f"{big.n_records / r['seconds']:,.0f} records/s (all Record elements), "
              f"{r['rows_read'] / r['seconds']:,.0f} catalogue records/s, peak RSS {r['maxrss_mb']:,.0f} MB, "
              f"{r['rows_out']:,} daily rows")
    steps = pd.read_parquet(tmp / "export.xml.steps.parquet")["value"]
    sleep = pd.read_parquet(tmp / "export.xml.sleep.parquet")["value"]
    ds = (steps - big.daily_steps.reindex(steps.index)).abs()
    dl = (sleep - big.nightly_sleep.reindex(sleep.index)).abs()
    print(f"ground truth: steps on {len(steps):,} of {len(big.daily_steps):,} days, largest difference {ds.max():g}; "
          f"sleep on {len(sleep):,} of {len(big.nightly_sleep):,} nights, largest difference {dl.max():.2g} h")

    small = write_apple_health_export(tmp / "export_1y.xml", years=1, seed=args.seed)
    print(f"\n1-year export for the peers: {small.n_records:,} records, {small.xml_bytes / 1e6:,.0f} MB")
    ours = child(OURS, str(small.path), str(tmp / "small"))
    rows = [("smoulder read_apple_health (all rules)", ours)]
    rows.append(("ElementTree.parse whole file + pandas sum (no dedup)", child(NAIVE_PARSE, str(small.path))))
    rows.append(("ElementTree.iterparse + clear + pandas sum (no dedup)", child(NAIVE_ITER, str(small.path))))
    print(f"{'reader':58s} {'seconds':>8s} {'records/s':>11s} {'peak MB':>8s} {'vs smoulder':>12s}")
    for name, r in rows:
        print(f"{name:58s} {r['seconds']:8.2f} {small.n_records / r['seconds']:11,.0f} {r['maxrss_mb']:8,.0f} "
              f"{r['seconds'] / ours['seconds']:11.2f}x")
    naive_steps = small.daily_steps.sum()
    print(f"(the naive sums add phone and watch: they count steps twice in overlapping hours; "
          f"the true total over the year is {naive_steps:,.0f})")


if __name__ == "__main__":
    main()
