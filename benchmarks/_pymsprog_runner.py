"""Run pymsprog 1.0.7 on CSV inputs; executed inside benchmarks/.venv-pymsprog only.

Usage: python _pymsprog_runner.py JOB.json
JOB: {"visits": path, "relapses": path or null, "options": {...}, "out": path, "value_col": "...",
      "outcome": "...", "n_subjects": int or null}
Writes the results table (CSV) and prints the elapsed seconds as JSON on stdout.
"""

import json
import sys
import time
import warnings

import pandas as pd
import pymsprog

warnings.simplefilter("ignore")


def main() -> None:
    job = json.load(open(sys.argv[1]))
    visits = pd.read_csv(job["visits"])
    relapses = pd.read_csv(job["relapses"]) if job.get("relapses") else None
    if job.get("n_subjects"):
        keep = visits["subject"].drop_duplicates().iloc[: job["n_subjects"]]
        visits = visits[visits["subject"].isin(keep)]
        if relapses is not None:
            relapses = relapses[relapses["subject"].isin(keep)]
    opts = dict(job["options"])
    if "relapse_indep" in opts:
        ri = opts["relapse_indep"]
        opts["relapse_indep"] = {k: (tuple(v) if k != "prec_type" else v) for k, v in ri.items()}
    if opts.get("require_sust_days") == "inf":
        opts["require_sust_days"] = float("inf")
    if "conf_tol_days" in opts and isinstance(opts["conf_tol_days"], list):
        opts["conf_tol_days"] = [float("inf") if x == "inf" else x for x in opts["conf_tol_days"]]
    t0 = time.perf_counter()
    error = None
    try:
        summary, results = pymsprog.MSprog(
            visits,
            subj_col="subject",
            value_col=job["value_col"],
            date_col="date",
            outcome=job["outcome"],
            relapse=relapses,
            include_dates=True,
            include_value=True,
            include_stable=False,
            verbose=0,
            **opts,
        )
        results.to_csv(job["out"], index=False)
    except Exception as exc:  # noqa: BLE001 - we report pymsprog's crash, not hide it
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {"seconds": elapsed, "error": error, "n_subjects": int(visits["subject"].nunique())}
        )
    )


if __name__ == "__main__":
    main()
