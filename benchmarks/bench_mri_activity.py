"""New and enlarging T2 lesions (``smoulder mri-activity``) on two-visit phantoms it was not tuned on.

The defaults of :class:`smoulder.imaging.activity.ActivitySettings` were chosen on the ``tuning``
family of :mod:`smoulder.synth.activity_phantom` (1.5 mm, ellipsoids, fixed lesion counts, linear
bias, 2 mm / 3 degree pose change, 0.5 % atrophy). This script reports on the ``heldout`` family
(1.2 mm, lobulated lesions as well as ellipsoids, random lesion counts including pairs with no
activity, smaller and larger lesions, weaker and stronger contrast, quadratic bias, 4 mm / 6 degree
pose, 0-1.5 % atrophy, other noise), seeds from 1000 on, which the tuning never saw. Per pair it
matches the calls to the planted truth:

- a planted new lesion is found when a counted ``new`` change lies within its radius + 3 mm (in
  the follow-up scanner space); a planted enlarging lesion when its baseline label is called
  ``enlarging``;
- a false positive is a counted change matching no planted new or enlarging lesion (a stable or
  shrinking lesion called enlarging, a new lesion where none was planted);

and prints sensitivity for new and enlarging lesions, false positives per scan pair, pairs whose
activity yes/no is right, measured / planted growth of found enlarging lesions, and the seconds per
pair by step (registration, bias correction, change), with the load average beside them.

Usage::

    .venv/bin/python benchmarks/bench_mri_activity.py [--pairs 20] [--family heldout] [--seed0 1000] [--save rows.tsv]

Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def _score(ph, res) -> dict:  # noqa: ANN001 - benchmark helper
    truth = ph.truth
    ch = res.changes
    counted = ch[ch["counted"].astype(bool)]
    new = truth[truth["kind"] == "new"]
    enl = truth[truth["kind"] == "enlarging"]
    to2 = ph.to_followup
    centres = (
        to2[:3, :3] @ new[["center_x_mm", "center_y_mm", "center_z_mm"]].to_numpy().T
    ).T + to2[:3, 3]
    radii = new["radius_mm"].to_numpy()
    found_new = np.zeros(len(new), bool)
    fp = 0
    for _, r in counted[counted["kind"] == "new"].iterrows():
        c = r[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float)
        d = np.linalg.norm(centres - c, axis=1) if len(new) else np.array([])
        hit = np.flatnonzero(d <= radii + 3.0) if d.size else []
        if len(hit):
            found_new[hit[np.argmin(d[hit])]] = True
        else:
            fp += 1
    called_enl = set(counted.loc[counted["kind"] == "enlarging", "baseline_label"].astype(int))
    true_enl = set(enl["label"].astype(int))
    fp += len(called_enl - true_enl)
    ratios = []
    for _, r in ch[ch["kind"] == "enlarging"].iterrows():
        lab = int(r["baseline_label"])
        if lab in true_enl:
            g = float(enl.loc[enl["label"] == lab, "growth_pct"].iloc[0])
            ratios.append(float(r["growth_pct"]) / g)
    planted = len(new) + len(enl)
    return {
        "new_planted": len(new),
        "new_found": int(found_new.sum()),
        "enl_planted": len(enl),
        "enl_found": len(called_enl & true_enl),
        "false_positives": fp,
        "activity_right": (planted > 0) == (len(counted) > 0),
        "growth_ratios": ratios,
        "stable": int((truth["kind"] == "stable").sum()),
        "shrinking": int((truth["kind"] == "shrinking").sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--family", default="heldout", choices=["heldout", "tuning"])
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--no-n4", action="store_true")
    ap.add_argument("--save", default=None, help="write the per-pair rows to this TSV")
    args = ap.parse_args()

    from smoulder.imaging.activity import ActivitySettings, detect_activity
    from smoulder.io.nifti import volume_from_image
    from smoulder.synth.activity_phantom import simulate_activity_pair

    s = ActivitySettings(n4=not args.no_n4)
    rows, secs = [], []
    print(
        f"family {args.family}, {args.pairs} pairs from seed {args.seed0}; load {os.getloadavg()}"
    )
    for i in range(args.pairs):
        seed = args.seed0 + i
        ph = simulate_activity_pair(seed, family=args.family)
        v1, v2 = (volume_from_image(f) for f in ph.flair)
        les = volume_from_image(ph.lesions)
        t0 = time.perf_counter()
        res = detect_activity(v1, v2, ph.dates, lesions=les, settings=s)
        wall = time.perf_counter() - t0
        sc = _score(ph, res)
        sc["seed"] = seed
        rows.append(sc)
        secs.append({**res.seconds, "wall": wall})
        print(
            f"  seed {seed}: new {sc['new_found']}/{sc['new_planted']}, enlarging "
            f"{sc['enl_found']}/{sc['enl_planted']}, false positives {sc['false_positives']} "
            f"(stable {sc['stable']}, shrinking {sc['shrinking']}), {wall:.1f} s, load "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
    df = pd.DataFrame(rows)
    t = pd.DataFrame(secs)
    if args.save:
        pd.concat([df, t], axis=1).to_csv(args.save, sep="\t", index=False)
    new_sens = df["new_found"].sum() / max(df["new_planted"].sum(), 1)
    enl_sens = df["enl_found"].sum() / max(df["enl_planted"].sum(), 1)
    ratios = [r for rs in df["growth_ratios"] for r in rs]
    print()
    print(f"pairs: {len(df)} ({args.family}); voxel size {ph.settings['voxel_size']} mm")
    print(
        f"new lesions: sensitivity {new_sens:.2f} ({df['new_found'].sum()}/{df['new_planted'].sum()})"
    )
    print(
        f"enlarging lesions: sensitivity {enl_sens:.2f} ({df['enl_found'].sum()}/{df['enl_planted'].sum()})"
    )
    print(
        f"false positives per pair: mean {df['false_positives'].mean():.2f}, "
        f"total {df['false_positives'].sum()} over {len(df)} pairs "
        f"({df['stable'].sum()} stable and {df['shrinking'].sum()} shrinking lesions present)"
    )
    print(f"pairs with activity yes/no right: {int(df['activity_right'].sum())}/{len(df)}")
    if ratios:
        print(
            f"measured / planted growth of found enlarging lesions: median {np.median(ratios):.2f} "
            f"(range {min(ratios):.2f}-{max(ratios):.2f})"
        )
    med = t.median()
    print(
        "seconds per pair (median): "
        + ", ".join(f"{k} {med[k]:.1f}" for k in ("registration", "bias", "change", "wall"))
        + f"; load average now {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
