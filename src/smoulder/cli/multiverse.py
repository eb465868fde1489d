"""``smoulder multiverse``: one cohort under a grid of PIRA definitions."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "multiverse",
        help="PIRA incidence, share and persistence under a grid of definitions (Müller 2025)",
        description=(
            "Run one cohort under a grid of PIRA definitions and report, per definition, the "
            "incidence of PIRA per 10 person-years (exact Poisson CI), the share of confirmed "
            "worsening that is PIRA and its persistence, as one table and one figure. Without "
            "--grid, the 360 definitions of Müller et al. (JAMA Neurol 2025) run."
        ),
    )
    p.add_argument("visits", type=Path, help="visits table: subject, date, value")
    p.add_argument("--relapses", type=Path, help="relapse onsets")
    p.add_argument("--grid", type=Path, default=None,
                   help="grid of definitions: TOML ([multiverse] base/dimensions/definitions) or "
                        "CSV (one definition per row)")  # fmt: skip
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument("--value-col", default="edss", help="outcome column (default edss)")
    p.add_argument("--relapse-date-col", default=None)
    p.add_argument("--on-duplicate", choices=["error", "first", "last", "max", "min", "mean"],
                   default="error")  # fmt: skip
    p.add_argument("--persistence-min-follow-up-days", type=float, default=None,
                   help="PIRA events need this follow-up to count for persistence (Müller 2025: 1826.25)")  # fmt: skip
    p.add_argument("--workers", type=int, default=None,
                   help="processes to spread the definitions over (default: the cores, up to 4)")  # fmt: skip
    p.add_argument(
        "--out", type=Path, required=True, help="per-definition table (.csv or .parquet)"
    )
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    from smoulder.pipelines import multiverse as pipeline

    t0 = time.perf_counter()
    show = not (ns.quiet or ns.json) and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\r{done}/{total} definitions", end="", file=sys.stderr, flush=True)

    result = pipeline.run(
        ns.visits, ns.relapses, subject_col=ns.subject_col, date_col=ns.date_col,
        value_col=ns.value_col, relapse_date_col=ns.relapse_date_col,
        on_duplicate=ns.on_duplicate, grid=ns.grid, workers=ns.workers, out=ns.out,
        plots=not ns.no_plots, progress=progress,
        persistence_min_follow_up_days=ns.persistence_min_follow_up_days,
    )  # fmt: skip
    if show:
        print(file=sys.stderr)
    t = result.table
    elapsed = time.perf_counter() - t0
    counts = {
        "definitions": int(len(t)),
        "subjects": int(t["subjects"].iloc[0]) if len(t) else 0,
        "pira_per_10py_min": float(t["pira_per_10py"].min()),
        "pira_per_10py_max": float(t["pira_per_10py"].max()),
    }
    if ns.json:
        print(json.dumps({"counts": counts, "out": str(ns.out), "seconds": round(elapsed, 3)}))
    elif not ns.quiet:
        print(
            f"{counts['definitions']} definitions on {counts['subjects']:,} subjects in "
            f"{elapsed:.1f} s: PIRA {counts['pira_per_10py_min']:.3f} to "
            f"{counts['pira_per_10py_max']:.3f} per 10 person-years\ntable: {ns.out}"
        )
    return 0
