"""One condition of benchmarks/bench_sel.py (the tuning family) through smoulder only.

    python scripts/sel_tuning_condition.py --condition 3 --subjects 10   # slow SELs 4-10 %/year

Prints bench_sel's metrics for that condition and writes the per-lesion table beside the phantoms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

import bench_sel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--condition", type=int, default=3)
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE.parent / "benchmarks" / "out" / "sel_cond")
    a = ap.parse_args()
    cond = bench_sel.CONDITIONS[a.condition]
    subs = bench_sel.make_subjects(a.condition, cond, a.subjects, a.out / "phantoms")
    ours, sec = bench_sel.run_smoulder(subs, a.threads)
    ours.to_csv(a.out / f"lesions_c{a.condition}.tsv", sep="\t", index=False)
    print(cond["name"], {"s_per_subject": sec, **bench_sel.metrics(ours)})
    print(ours.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
