"""Run lesiontrack 0.2.0 on NIfTI phantoms; executed inside benchmarks/.venv-lesiontrack only.

Usage: python _lesiontrack_runner.py JOB.json
JOB: {"out": dir, "threads": int, "engine": "greedy" | "ants",
      "subjects": [{"subject": "s1", "labels": baseline lesion labels (our numbering),
                    "timepoints": [{"name", "t1", "flair", "mask", "time_years"}, ...]}, ...]}
For every subject: lesiontrack's run_subject (halfway space, deformable registration, Elliott
candidates, concentricity, constancy), then its cohort_score over all subjects (z-scores, S >= 0
= definite). Prints JSON on stdout: per lesion (our label) whether lesiontrack called a definite
SEL or any candidate, and its measured expansion (mean of its last-follow-up expansion map, % per
year, over the lesion), plus seconds per subject.
"""

import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from lesiontrack.config import Params, RegParams
from lesiontrack.pipeline import run_subject
from lesiontrack.registration import Timepoint
from lesiontrack.scores import cohort_score


def main() -> None:
    job = json.load(open(sys.argv[1]))
    out = Path(job["out"])
    params = Params(
        reg=RegParams(threads=int(job.get("threads", 2)), engine=job.get("engine", "greedy"))
    )
    tables, lesions, seconds = [], [], {}
    for sub in job["subjects"]:
        tps = [
            Timepoint(
                t["name"], Path(t["t1"]), Path(t["flair"]), Path(t["mask"]), float(t["time_years"])
            )
            for t in sub["timepoints"]
        ]
        t0 = time.perf_counter()
        res = run_subject(sub["subject"], tps, out / sub["subject"], params)
        seconds[sub["subject"]] = time.perf_counter() - t0
        ours = np.asarray(nib.load(sub["labels"]).dataobj).astype(int)
        last = res.pairs[-1].follow_up
        exp = np.asarray(
            nib.load(out / sub["subject"] / f"expansion_{last}_pct_per_year.nii.gz").dataobj
        )
        cand = np.asarray(nib.load(out / sub["subject"] / "sel_candidates.nii.gz").dataobj).astype(
            int
        )
        t = res.candidates.copy()
        # map each candidate to our lesion label by voxel overlap (the halfway grid is the baseline grid)
        parent = []
        for k in t["candidate_id"]:
            lab = ours[cand == k]
            lab = lab[lab > 0]
            parent.append(int(np.bincount(lab).argmax()) if lab.size else 0)
        t["our_label"] = parent
        tables.append(t)
        for lab in np.unique(ours[ours > 0]):
            lesions.append(
                {
                    "subject": sub["subject"],
                    "label": int(lab),
                    "measured_pct_per_year": float(exp[ours == lab].mean()),
                }
            )
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    scored = cohort_score(table) if len(table) else table
    result = []
    for les in lesions:
        rows = (
            scored[(scored["subject"] == les["subject"]) & (scored["our_label"] == les["label"])]
            if len(scored)
            else scored
        )
        result.append(
            {
                **les,
                "candidate": bool(len(rows)),
                "definite": bool(len(rows) and rows["definite_sel"].any()),
            }
        )
    print(json.dumps({"lesions": result, "seconds": seconds}))


if __name__ == "__main__":
    main()
