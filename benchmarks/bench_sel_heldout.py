"""SEL on phantoms the engine was not tuned on (smoulder.synth.sel_growth_phantom), and where the time goes.

The held-out family differs from the tuning family (smoulder.synth.sel_phantom) in anatomy,
lesion shapes and sizes (3-18 mm), growth fields (push, compressive push, level-set front,
eccentric front, one-sided), atrophy (off-centre, ventricles, non-rigid), per-visit pose, field of
view and voxel size, Rician noise, and (``--flair-own-grid``) a FLAIR on its own grid with head
motion after the T1. Prints, per subject set:

- median measured / injected expansion of expanding lesions, overall, by size class and by growth
  pattern, for every measure (``segmented``, the default: the lesion segmented on each visit's
  FLAIR; ``signal``: excess FLAIR signal over the lesion and its grown edge; ``jacobian``: the
  Jacobian integrated over the baseline lesion; ``ring``: the Jacobian over lesion and edge);
- definite-SEL sensitivity overall and for slow growth (4-10 %/year);
- false definite calls on stable, shrinking and new-beside-old lesions;
- the seconds of every step of the engine (summary JSON ``Details.seconds``), summed.

Usage (full run, about 1 h per subject set at 1 mm on 2 quiet cores):

    .venv/bin/python benchmarks/bench_sel_heldout.py --subjects 6 --voxel 1.0 --flair-own-grid

Reduced grid (what fits a shared machine):

    .venv/bin/python benchmarks/bench_sel_heldout.py --subjects 1 --voxel 2.0 --flair-own-grid

Engine settings for a run: ``--set KEY=VALUE`` (any SELSettings field, JSON value), e.g. the
opt-in speed settings ``--set syn_region='"lesions"' --set linear_finest_shrink=2``. Users set
these two with ``smoulder sel --syn-region lesions --linear-finest-shrink 2`` (also ``smoulder sel
batch`` and ``smoulder bids --analysis sel``); the benchmark's ``--set`` is for measuring them.

Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MEASURES = {
    "segmented_expansion_pct_per_year": "segmented lesion (the default)",
    "signal_expansion_pct_per_year": "signal (lesion and grown edge)",
    "signal_cc_expansion_pct_per_year": "signal, per-visit lesion contrast removed (offline)",
    "jacobian_expansion_pct_per_year": "jacobian over lesion",
    "ring_expansion_pct_per_year": "jacobian over lesion and grown edge",
}
FALSE = ("stable", "shrinking", "new_beside_old")
KINDS = [
    "expanding",
    "stable",
    "expanding",
    "shrinking",
    "expanding",
    "new_beside_old",
    "expanding",
    "one_sided",
]


def run_subject(
    seed: int, voxel: float, flair_own_grid: bool, slow: bool, out: Path, overrides: dict
) -> dict:
    from smoulder.pipelines import sel
    from smoulder.synth.sel_growth_phantom import simulate_growth_phantom

    ph = simulate_growth_phantom(
        seed=seed,
        kinds=KINDS,
        voxel_sizes=[(voxel, voxel, voxel)] * 3,
        flair_own_grid=flair_own_grid,
        expansion_pct_per_year=(4.0, 10.0) if slow else (3.0, 40.0),
    )
    f = ph.save(str(out / f"in_{seed}"))
    t0, c0 = time.perf_counter(), time.process_time()
    res = sel.run(
        f["t1"], f["flair"], f["dates"], f["lesions"], out=out / f"out_{seed}", **overrides
    )
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    t = res.lesions.merge(ph.truth, on="label")
    t = t.merge(variants(res), on="label", how="left")
    t["subject"] = seed
    return {
        "table": t,
        "seconds": sec,
        "cpu": cpu,
        "steps": res.details.get("seconds", {}),
        "cpu_steps": res.details.get("cpu_seconds", {}),
    }


def variants(res) -> pd.DataFrame:
    """Offline variants from the halfway-space images of one run (no new registration).

    ``signal_cc``: the excess-signal measure divided by each visit's lesion contrast (median over
    the lesions' cores, :func:`smoulder.imaging.sel.volume.contrast_factors`). ``seed_P``: would
    lesion-level seeding at ``P`` %/year of the default measure (``expansion_pct_per_year``) give the lesion a candidate
    (``growth_pct_per_year`` voxels of the last expansion map, at least ``min_voxels``).
    """
    from smoulder.imaging.sel import seeded_candidates
    from smoulder.imaging.sel.scores import log_fit_pct
    from smoulder.imaging.sel.volume import contrast_factors, excess_signal
    from smoulder.schema.images import Volume

    hw = res.halfway
    st = res.settings
    zooms = Volume(hw["labels"], res.affine).zooms
    brain = np.logical_and.reduce([f > 0 for f in hw["flair"]])
    cores: dict[int, np.ndarray] = {}
    sig = excess_signal(
        hw["flair"],
        hw["labels"],
        brain,
        zooms,
        margin_mm=st.edge_margin_mm,
        growth_share=st.edge_growth_share,
        cores=cores,
    )
    cf = contrast_factors(cores)
    glob = np.asarray(res.details["global_jacobian"], float)
    yrs = np.asarray(res.details["years"], float)
    rows = []
    for k, v in sig.items():
        r = v[1:] / v[0] / glob if v[0] > 0 else np.full(len(glob), np.nan)
        row = {"label": k, "signal_cc_expansion_pct_per_year": float("nan")}
        if cf is not None:
            row["signal_cc_expansion_pct_per_year"] = log_fit_pct(yrs[1:], r / cf[1:])
        rows.append(row)
    out = pd.DataFrame(rows)
    measured = res.lesions.set_index("label")["expansion_pct_per_year"]
    for p in (2.0, 3.0, 4.0, 5.0):
        grow = [int(k) for k, v in measured.items() if np.isfinite(v) and v >= p]
        cand = seeded_candidates(hw["expansion"], hw["labels"], st, grow)
        has = set(np.unique(cand[cand > 0]).tolist())
        out[f"seed_{p:g}"] = out["label"].isin(has)
    return out


def would_be_definite(t: pd.DataFrame, col: str) -> pd.Series:
    """Definite under lesion-level seeding (candidate from ``col``), concentric and constant."""
    return t[col] & (t["concentricity"] >= 0.75) & (t["constancy"] >= 1.0)


def report(name: str, runs: list[dict]) -> None:
    t = pd.concat([r["table"] for r in runs], ignore_index=True)
    exp = t[t["kind"] == "expanding"].copy()
    inj = exp["true_expansion_pct_per_year"]
    for m in MEASURES:
        exp[m + "_ratio"] = exp[m] / inj
    print(f"\n== {name}: {len(runs)} subject(s), {len(exp)} expanding lesions ==")
    for m, label in MEASURES.items():
        r = exp[m + "_ratio"]
        by_size = exp.groupby("size_class")[m + "_ratio"].median().round(2).to_dict()
        by_pat = exp.groupby("pattern")[m + "_ratio"].median().round(2).to_dict()
        print(
            f"measured/injected {label}: median {r.median():.2f}; by size {by_size}; by pattern {by_pat}"
        )
    slow = exp[inj.between(4.0, 10.0)]
    print(
        f"definite sensitivity: {float((exp['sel'] == 'definite').mean()):.2f} (all), "
        f"{float((slow['sel'] == 'definite').mean()) if len(slow) else float('nan'):.2f} "
        f"(4-10 %/year, n={len(slow)})"
    )
    for k in (*FALSE, "one_sided"):
        sub = t[t["kind"] == k]
        print(f"definite calls on {k}: {int((sub['sel'] == 'definite').sum())} of {len(sub)}")
    for p in (2, 3, 4, 5):
        d = would_be_definite(t, f"seed_{p}")
        ex = d[t["kind"] == "expanding"]
        sl = d[(t["kind"] == "expanding") & t["true_expansion_pct_per_year"].between(4.0, 10.0)]
        fp = {k: f"{int(d[t['kind'] == k].sum())}/{int((t['kind'] == k).sum())}" for k in FALSE}
        print(
            f"offline: lesion seeding at {p} %/year (default measure): definite sensitivity "
            f"{ex.mean():.2f}, slow {sl.mean() if len(sl) else float('nan'):.2f} (n={len(sl)}); "
            f"false definite {fp}"
        )
    steps: dict[str, float] = {}
    cpu_steps: dict[str, float] = {}
    for r in runs:
        for k, v in r["steps"].items():
            steps[k] = round(steps.get(k, 0.0) + v, 1)
        for k, v in r["cpu_steps"].items():
            cpu_steps[k] = round(cpu_steps.get(k, 0.0) + v, 1)
    total = sum(r["seconds"] for r in runs)
    cpu = sum(r["cpu"] for r in runs)
    print(
        f"per subject (file to file): {total / len(runs):.0f} s wall, {cpu / len(runs):.0f} s CPU; "
        f"engine by step (summed): wall {json.dumps(steps)}; CPU {json.dumps(cpu_steps)}"
    )
    cols = [
        "subject",
        "label",
        "kind",
        "pattern",
        "size_class",
        "true_expansion_pct_per_year",
        "segmented_expansion_pct_per_year",
        "signal_expansion_pct_per_year",
        "jacobian_expansion_pct_per_year",
        "ring_expansion_pct_per_year",
        "signal_cc_expansion_pct_per_year",
        "concentricity",
        "constancy",
        "sel",
    ]
    print(t[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=2)
    ap.add_argument("--voxel", type=float, default=1.0, help="voxel size of every visit (mm)")
    ap.add_argument("--flair-own-grid", action="store_true")
    ap.add_argument("--slow-only", action="store_true", help="expansion 4-10 %%/year only")
    ap.add_argument("--first-seed", type=int, default=500)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "sel_heldout")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an SELSettings field for this run (JSON value), e.g. --set syn_region='\"head\"'",
    )
    a = ap.parse_args()
    overrides = {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.set)}
    if "syn_iterations" in overrides:
        overrides["syn_iterations"] = tuple(overrides["syn_iterations"])
    print(f"settings overrides: {overrides}")
    sets = [("slow SELs 4-10 %/year", True)] if a.slow_only else [("3-40 %/year", False)]
    for name, slow in sets:
        runs = [
            run_subject(a.first_seed + k, a.voxel, a.flair_own_grid, slow, a.out, overrides)
            for k in range(a.subjects)
        ]
        report(f"held-out family, {a.voxel:g} mm, {name}", runs)
    print(f"\nnumpy {np.__version__}; reduced grids are stated above (voxel {a.voxel:g} mm)")


if __name__ == "__main__":
    main()
