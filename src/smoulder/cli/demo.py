"""``smoulder demo``: the main job on the bundled demo cohort."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the progression analysis on the bundled demo cohort",
        description=(
            "Analyse the bundled virtual cohort (60 people, EDSS, T25FW, 9HPT, SDMT, relapses, MRI activity, "
            "two trial arms): PIRA/RAW/PIRMA events, EDSS-plus composite, confirmed EDSS 6 milestone, "
            "Kaplan-Meier curves and a Cox hazard ratio by arm. Writes tables, reports and plots."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("smoulder-demo-output"), help="output folder")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    from smoulder.clinical.demo import run_demo

    t0 = time.perf_counter()
    paths = run_demo(ns.out)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {ns.out}/:")
    for name, path in paths.items():
        print(f"  {name:28s} {path}")
    return 0
