"""Slowly expanding lesions on longitudinal phantoms: smoulder beside lesiontrack 0.2.0.

Prints, per condition (noise and atrophy levels), per-lesion sensitivity for definite SELs
(expanding lesions called definite), false-positive rates (stable, shrinking and
new-next-to-old lesions called definite) and the ratio of measured to injected expansion, for
smoulder and for lesiontrack (run in its own environment, benchmarks/.venv-lesiontrack, made by
setup_lesiontrack.sh, through _lesiontrack_runner.py on the same NIfTI files). Then one subject
with three time points at 1 mm end to end (time and peak memory, in a child process).

Usage: .venv/bin/python benchmarks/bench_sel.py [--subjects 4] [--threads 2] [--skip-peer] [--skip-1mm]
(the tuning family; benchmarks/bench_sel_heldout.py reports the held-out family). The 1 mm run also
prints the seconds of every engine step (where the time goes).
Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
KINDS = ["expanding", "stable", "shrinking", "new_adjacent"] * 2
CONDITIONS = [
    {"name": "noise 2 %, atrophy 0.5 %/y", "noise": 0.02, "atrophy": 0.5, "rates": (10.0, 20.0)},
    {"name": "noise 4 %, atrophy 0.5 %/y", "noise": 0.04, "atrophy": 0.5, "rates": (10.0, 20.0)},
    {"name": "noise 2 %, atrophy 1.5 %/y", "noise": 0.02, "atrophy": 1.5, "rates": (10.0, 20.0)},
    {"name": "slow SELs 4-10 %/y, noise 2 %", "noise": 0.02, "atrophy": 0.5, "rates": (4.0, 10.0)},
]


def make_subjects(cond_i: int, cond: dict, n: int, root: Path) -> list[dict]:
    from smoulder.synth.sel_phantom import simulate_sel_phantom

    subs = []
    for k in range(n):
        seed = 1000 * (cond_i + 1) + k
        ph = simulate_sel_phantom(
            seed=seed,
            years=(0.0, 1.0, 2.0),
            kinds=KINDS,
            noise=cond["noise"],
            atrophy_pct_per_year=cond["atrophy"],
            expansion_pct_per_year=cond["rates"],
        )
        d = root / f"c{cond_i}" / f"s{k}"
        files = ph.save(str(d))
        subs.append(
            {"subject": f"c{cond_i}s{k}", "files": files, "truth": ph.truth, "years": ph.years}
        )
    return subs


def run_smoulder(subs: list[dict], threads: int) -> tuple[pd.DataFrame, float]:
    from smoulder.pipelines import sel

    rows, secs = [], []
    for s in subs:
        f = s["files"]
        t0 = time.perf_counter()
        result = sel.run(f["t1"], f["flair"], f["dates"], f["lesions"], threads=threads)
        secs.append(time.perf_counter() - t0)
        t = result.lesions.merge(s["truth"], on="label")
        t["subject"] = s["subject"]
        t["definite"] = t["sel"] == "definite"
        t["measured"] = t["expansion_pct_per_year"]
        t["measured_signal"] = t["signal_expansion_pct_per_year"]
        t["measured_jacobian"] = t["jacobian_expansion_pct_per_year"]
        rows.append(
            t[
                [
                    "subject",
                    "label",
                    "kind",
                    "true_expansion_pct_per_year",
                    "measured",
                    "measured_signal",
                    "measured_jacobian",
                    "definite",
                ]
            ]
        )
    return pd.concat(rows, ignore_index=True), float(np.mean(secs))


def run_lesiontrack(subs: list[dict], threads: int, out: Path) -> tuple[pd.DataFrame, float]:
    py = HERE / ".venv-lesiontrack" / "bin" / "python"
    if not py.exists():
        subprocess.run(
            ["bash", str(HERE / "setup_lesiontrack.sh")], check=True, capture_output=True
        )
    job = {"out": str(out), "threads": threads, "subjects": []}
    for s in subs:
        f = s["files"]
        job["subjects"].append(
            {
                "subject": s["subject"],
                "labels": f["lesions"],
                "timepoints": [
                    {
                        "name": f"tp{i + 1}",
                        "t1": f["t1"][i],
                        "flair": f["flair"][i],
                        "mask": f["lesions"],
                        "time_years": s["years"][i],
                    }
                    for i in range(len(f["t1"]))
                ],
            }
        )
    # lesiontrack reuses registrations found in its output folder: start empty so it is timed in full
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    jp = out / "job.json"
    jp.write_text(json.dumps(job))
    proc = subprocess.run(
        [str(py), str(HERE / "_lesiontrack_runner.py"), str(jp)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"lesiontrack failed: {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    t = pd.DataFrame(res["lesions"])
    truth = pd.concat([s["truth"].assign(subject=s["subject"]) for s in subs], ignore_index=True)
    t = t.merge(truth, on=["subject", "label"])
    t["measured"] = t["measured_pct_per_year"]
    return t, float(np.mean(list(res["seconds"].values())))


def metrics(t: pd.DataFrame) -> dict:
    exp = t[t["kind"] == "expanding"]
    ratio = exp["measured"] / exp["true_expansion_pct_per_year"]
    out = {"sensitivity": float(exp["definite"].mean())}
    for k in ("stable", "shrinking", "new_adjacent"):
        out[f"fpr_{k}"] = float(t.loc[t["kind"] == k, "definite"].mean())
    out["ratio_median"] = float(ratio.median())
    for m in ("signal", "jacobian"):
        if f"measured_{m}" in exp:
            out[f"ratio_median_{m}"] = float(
                (exp[f"measured_{m}"] / exp["true_expansion_pct_per_year"]).median()
            )
    out["ratio_within_25pct"] = float(ratio.between(0.75, 1.25).mean())
    out["stable_abs_pct_per_year"] = float(t.loc[t["kind"] == "stable", "measured"].abs().median())
    return out


def one_mm(threads: int, out: Path) -> None:
    """Child process: one subject, three time points at 1 mm, file to file; prints JSON."""
    from smoulder.pipelines import sel
    from smoulder.synth.sel_phantom import simulate_sel_phantom

    ph = simulate_sel_phantom(
        seed=99,
        years=(0.0, 1.0, 2.0),
        voxel_size=1.0,
        kinds=KINDS * 2,
        box_mm=((-70, 70), (-100, 70), (-30, 70)),
    )
    f = ph.save(str(out / "in"))
    t0 = time.perf_counter()
    result = sel.run(
        f["t1"], f["flair"], f["dates"], f["lesions"], threads=threads, out=out / "out"
    )
    sec = time.perf_counter() - t0
    t = result.lesions.merge(ph.truth, on="label")
    exp = t[t["kind"] == "expanding"]
    print(
        json.dumps(
            {
                "shape": list(ph.t1[0].shape),
                "seconds": sec,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "sensitivity": float((exp["sel"] == "definite").mean()),
                "false_definite": int(
                    ((t["kind"] != "expanding") & (t["sel"] == "definite")).sum()
                ),
                "ratio_median": float(
                    (exp["expansion_pct_per_year"] / exp["true_expansion_pct_per_year"]).median()
                ),
                "steps": result.details.get("seconds", {}),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--subjects", type=int, default=4, help="subjects per condition (8 lesions each)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "sel")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-1mm", action="store_true")
    ap.add_argument("--one-mm-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one_mm_child:
        one_mm(a.threads, a.out / "one_mm")
        return
    rows = []
    for ci, cond in enumerate(CONDITIONS):
        subs = make_subjects(ci, cond, a.subjects, a.out / "phantoms")
        ours, sec = run_smoulder(subs, a.threads)
        rows.append(
            {"condition": cond["name"], "tool": "smoulder", "s_per_subject": sec, **metrics(ours)}
        )
        print(f"[{cond['name']}] smoulder: {rows[-1]}", file=sys.stderr)
        if not a.skip_peer:
            peer, psec = run_lesiontrack(subs, a.threads, a.out / "lesiontrack" / f"c{ci}")
            rows.append(
                {
                    "condition": cond["name"],
                    "tool": "lesiontrack 0.2.0",
                    "s_per_subject": psec,
                    **metrics(peer),
                }
            )
            print(f"[{cond['name']}] lesiontrack: {rows[-1]}", file=sys.stderr)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(
        f"\nSEL on longitudinal phantoms: {a.subjects} subjects x 8 lesions per condition (2 each of expanding, "
        "stable, shrinking, new-next-to-old), 3 yearly time points, 2 mm, 1 mm / 1 degree misregistration, "
        "5 % intensity drift"
    )
    print(
        "sensitivity = expanding lesions called definite; fpr_* = lesions of that kind called definite; "
        "ratio = measured / injected expansion of expanding lesions"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if not a.skip_1mm:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one-mm-child",
                "--threads",
                str(a.threads),
                "--out",
                str(a.out),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
        else:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"\nOne subject, 3 time points at 1 mm ({'x'.join(map(str, r['shape']))} voxels, 16 lesions), "
                f"file to file on {a.threads} threads: {r['seconds']:.0f} s, peak memory {r['peak_rss_mb']:.0f} MB; "
                f"sensitivity {r['sensitivity']:.2f}, false definite {r['false_definite']}, "
                f"expansion ratio (median) {r['ratio_median']:.2f}"
            )
            print(f"seconds by engine step: {json.dumps(r['steps'])}")


if __name__ == "__main__":
    main()
