"""Event-by-event agreement with msprog (R), run side by side on simulated cohorts.

msprog 1.0.0.9000 (the source in ../shared/peers/, installed by setup_r_peers.sh into
benchmarks/.rlib) and smoulder run the same cohort under a set of configurations: msprog's
defaults, roving baselines, several confirmation windows, sustained change, re-baselining after
relapses, every PIRA definition msprog names (``--pira-definition``), each preceding-visit type of
PIRA (baseline, last, last_delta), SDMT. For each configuration the script prints the events each
tool found, how many are identical (type, PIRA/RAW class, event, baseline and last_delta dates and
values, confirmation and PIRA-confirmation dates), and the same for msprog's table of changes
that were never confirmed (``return_unconfirmed``: date, value, baseline, days from the
surrounding relapses).

Relapses more than ``relapse_to_bl`` days before a subject's first visit are left out of the
input of both tools: msprog ignores them and smoulder does not (docs/progression.md, difference 2).
Under ``bl_geq`` the tools differ by design after a raised baseline (difference 3).
EDSS uses msprog's convention (+0.5 from 5.5).

Usage::

    python benchmarks/agreement_msprog.py [--subjects 200] [--seed 5] [--show 2] [--only NAME]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from smoulder.clinical import assess  # noqa: E402
from smoulder.clinical.settings import ProgressionSettings  # noqa: E402
from smoulder.synth import simulate_cohort  # noqa: E402

MSPROG = {"edss_half_step_from": 5.5}

#: name -> (outcome, options)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "defaults (firstCDW, fixed)": ("edss", {}),
    "multiple, roving, PIRA/RAW": (
        "edss",
        {"event": "multiple", "baseline": "roving", "classify_cdw": True},
    ),
    "firstPIRA, roving_wors": ("edss", {"event": "firstPIRA", "baseline": "roving_wors"}),
    "firstRAW, fixed": ("edss", {"event": "firstRAW"}),
    "windows 12/24 wk, sustained 1 y": (
        "edss",
        {
            "event": "multiple",
            "baseline": "roving",
            "classify_cdw": True,
            "conf_days": [84, 168],
            "require_sust_days": 365,
        },
    ),
    "sustained to the end, no intermediate": (
        "edss",
        {
            "event": "multiple",
            "baseline": "roving",
            "require_sust_days": math.inf,
            "check_intermediate": False,
        },
    ),  # fmt: skip
    # differs by design: msprog overwrites the re-set baseline's value under bl_geq and then
    # judges improvements (and confirmations) from the raised value (docs/progression.md, 3)
    "relapse re-baseline + bl_geq": (
        "edss",
        {"event": "multiple", "relapse_rebl": True, "bl_geq": True, "classify_cdw": True},
    ),
    "prec_type last": (
        "edss",
        {
            "event": "multiple",
            "baseline": "roving",
            "classify_cdw": True,
            "relapse_indep": {
                "prec": [0, None],
                "event": [None, 30],
                "conf": [30, 30],
                "prec_type": "last",
            },
        },
    ),  # fmt: skip
    "prec_type last_delta": (
        "edss",
        {
            "event": "multiple",
            "baseline": "roving",
            "classify_cdw": True,
            "relapse_indep": {
                "prec": [0, None],
                "event": [None, 0],
                "conf": [0, 0],
                "prec_type": "last_delta",
            },
        },
    ),  # fmt: skip
    "skip local extrema (strict)": (
        "edss",
        {"event": "multiple", "baseline": "roving", "skip_local_extrema": "strict"},
    ),
    "SDMT multiple roving": ("sdmt", {"event": "multiple", "baseline": "roving"}),
    "mueller2023": ("edss", {"event": "multiple", "pira_definition": "mueller2023"}),
    "mueller2023_specific": (
        "edss",
        {"event": "multiple", "pira_definition": "mueller2023_specific"},
    ),
    "kappos2020": ("edss", {"event": "multiple", "pira_definition": "kappos2020"}),
    "cagol2022": ("edss", {"event": "multiple", "pira_definition": "cagol2022"}),
    "mueller2025": ("edss", {"event": "multiple", "pira_definition": "mueller2025"}),
}


def _r(x: Any) -> str:
    """A Python value as R code."""
    if x is None:
        return "NULL"
    if isinstance(x, bool):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, float)):
        return "Inf" if math.isinf(x) else repr(float(x))
    if isinstance(x, str):
        return f'"{x}"'
    if isinstance(x, (list, tuple)):
        return "c(" + ", ".join(_r(v) for v in x) + ")"
    raise TypeError(x)


def r_call(s: ProgressionSettings, value_col: str) -> str:
    """The MSprog() call of settings ``s``."""
    ri = s.relapse_indep
    (p0, p1), (e0, e1), (c0, c1) = ri["prec"], ri["event"], ri["conf"]
    indep = (
        f"relapse_indep_from_bounds(p0={_r(p0)}, p1={_r(p1)}, e0={_r(e0)}, e1={_r(e1)}, "
        f"c0={_r(c0)}, c1={_r(c1)}, prec_type={_r(ri['prec_type'])})"
    )
    sub = {"event": "change"}.get(s.sub_threshold_rebl, s.sub_threshold_rebl)
    args = [
        f'v, "subject", "{value_col}", "date", "{s.outcome}", relapse=r',
        f"event={_r(s.event)}",
        f"RAW_PIRA={_r(s.classify_cdw)}",
        f"baseline={_r(s.baseline)}",
        f"proceed_from={_r(s.proceed_from)}",
        f"sub_threshold_rebl={_r(sub)}",
        f"bl_geq={_r(s.bl_geq)}",
        f"relapse_rebl={_r(s.relapse_rebl)}",
        f"skip_local_extrema={_r(s.skip_local_extrema)}",
        f"conf_days={_r(list(s.conf_days))}",
        f"conf_tol_days={_r(list(s.conf_tol_days))}",
        f"require_sust_days={_r(s.require_sust_days)}",
        f"check_intermediate={_r(s.check_intermediate)}",
        f"relapse_to_bl={_r(list(s.relapse_to_bl))}",
        f"relapse_to_event={_r(list(s.relapse_to_event))}",
        f"relapse_to_conf={_r(list(s.relapse_to_conf))}",
        f"relapse_assoc={_r(list(s.relapse_assoc))}",
        f"relapse_indep={indep}",
        "include_dates=TRUE, include_values=TRUE, include_stable=FALSE, verbose=0",
    ]
    return "MSprog(" + ", ".join(args) + ")"


def run_msprog(jobs: list[tuple[str, str]], tmp: Path, lib: str) -> dict[str, Any]:
    """Run every MSprog() call in one R process; return per job (results, unconfirmed, seconds)."""
    lines = [f'suppressMessages(library(msprog, lib.loc="{lib}"))']
    for i, (call, vis) in enumerate(jobs):
        lines += [
            f'v <- read.csv("{vis}", stringsAsFactors=FALSE)',
            f'r <- read.csv("{tmp / "relapses.csv"}", stringsAsFactors=FALSE)',
            "t0 <- Sys.time()",
            f"out <- tryCatch({call}, error=function(e) {{ cat('ERROR {i}', conditionMessage(e), '\\n'); NULL }})",
            "if (!is.null(out)) {",
            f'  write.csv(out$results, "{tmp}/res_{i}.csv", row.names=FALSE)',
            f'  write.csv(out$unconfirmed, "{tmp}/unc_{i}.csv", row.names=FALSE)',
            f"  cat('TIME {i}', as.numeric(difftime(Sys.time(), t0, units='secs')), '\\n')",
            "}",
        ]
    script = tmp / "run.R"
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        ["Rscript", str(script)],
        capture_output=True,
        text=True,
        env={"R_LIBS_USER": lib, "PATH": "/usr/bin:/bin"},
    )
    out: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        parts = line.split(maxsplit=2)
        if parts and parts[0] in ("TIME", "ERROR"):
            out.setdefault(parts[1], {})[parts[0]] = parts[2] if len(parts) > 2 else ""
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
    return out


def _d(x: Any) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)) or pd.isna(x):
        return ""
    return str(pd.Timestamp(x).date())


def _v(x: Any) -> str:
    return "" if pd.isna(x) or x in ("", "NA", "NaN") else f"{float(x):g}"


def ours_events(res: Any, conf_days: list[float]) -> pd.DataFrame:
    ev = res.events
    several = len(conf_days) > 1
    rows = []
    for e in ev.itertuples(index=False):
        confs = (
            tuple(_d(getattr(e, f"conf{c:g}_date")) for c in conf_days)
            if several
            else (_d(e.confirmation_date),)
        )
        cdw = e.cdw_type if e.event_type == "CDW" else ""
        rows.append(
            (str(e.subject), e.event_type, cdw or "", _d(e.event_date), _v(e.event_value),
             _d(e.baseline_date), _v(e.baseline_value), _d(e.last_delta_date),
             _v(e.last_delta_value), *confs)
        )  # fmt: skip
    return pd.DataFrame(rows)


def _na(x: str) -> str:
    return "" if x in ("NA", "NaN") else x


def msprog_events(path: Path, conf_days: list[float], rawpira: bool) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    res = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for e in res.to_dict("records"):
        confs = tuple(
            _na(e.get(f"conf{int(c) if float(c).is_integer() else c}_date", "")) for c in conf_days
        )
        cdw = e.get("CDW_type", "") if rawpira and e["event_type"] == "CDW" else ""
        rows.append(
            (e["subject"], e["event_type"], cdw, e["date"], _v(e["value"]), e["bl_date"],
             _v(e["bl_value"]), _na(e["last_delta_date"]), _v(_na(e["last_delta_value"])), *confs)
        )  # fmt: skip
    return pd.DataFrame(rows)


def ours_unconfirmed(res: Any) -> pd.DataFrame:
    u = res.unconfirmed
    rows = [
        (str(x.subject), _d(x.date), _v(x.value), _d(x.baseline_date), _v(x.baseline_value),
         _v(x.days_since_relapse), _v(x.days_to_next_relapse))
        for x in u.itertuples(index=False)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def msprog_unconfirmed(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size < 5:
        return pd.DataFrame()
    u = pd.read_csv(path, dtype=str, keep_default_na=False)

    def rel(x: str) -> str:
        return "" if x in ("Inf", "", "NA") else _v(x)

    rows = [
        (x["subject"], x["date"], _v(x["value"]), x["bl_date"], _v(x["bl_value"]),
         rel(x["closest_rel_before"]), rel(x["closest_rel_after"]))
        for x in u.to_dict("records")
    ]  # fmt: skip
    return pd.DataFrame(rows)


def compare(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, list[str]]:
    """Identical rows (as multisets), and the subjects with any difference."""
    ka = [tuple(r) for r in a.itertuples(index=False)] if len(a) else []
    kb = [tuple(r) for r in b.itertuples(index=False)] if len(b) else []
    from collections import Counter

    ca, cb = Counter(ka), Counter(kb)
    same = sum((ca & cb).values())
    bad = sorted({k[0] for k in (ca - cb)} | {k[0] for k in (cb - ca)})
    return same, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--show", type=int, default=2, help="differing subjects to print per config")
    ap.add_argument("--only", default=None, help="run only the configurations containing this")
    args = ap.parse_args()
    lib = (
        subprocess.run(
            ["bash", str(HERE / "setup_r_peers.sh")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cohort = simulate_cohort(args.subjects, seed=args.seed)
    visits = cohort.visits[["subject", "date", "edss", "sdmt"]]
    rel = cohort.relapses[["subject", "date"]]
    first = visits.groupby("subject", observed=True)["date"].min()
    rel = rel[rel["date"] >= rel["subject"].map(first) - pd.Timedelta(days=30)]
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-msprog-"))
    visits.to_csv(tmp / "visits.csv", index=False, date_format="%Y-%m-%d")
    rel.to_csv(tmp / "relapses.csv", index=False, date_format="%Y-%m-%d")
    configs = {k: v for k, v in CONFIGS.items() if args.only is None or args.only in k}
    settings = {
        name: ProgressionSettings(outcome=outcome, **MSPROG, **opts)
        for name, (outcome, opts) in configs.items()
    }
    jobs = [(r_call(s, s.outcome), str(tmp / "visits.csv")) for s in settings.values()]
    print(
        f"cohort: {args.subjects} subjects, {len(visits):,} visits, {len(rel):,} relapses "
        f"(seed {args.seed}); msprog in R from {lib}"
    )
    t0 = time.perf_counter()
    rinfo = run_msprog(jobs, tmp, lib)
    r_sec = time.perf_counter() - t0
    print(f"msprog: {len(jobs)} configurations in {r_sec:.1f} s (R, one process)\n")
    header = f"{'configuration':40s} {'msprog':>7s} {'ours':>6s} {'same':>6s}   {'unconf msprog':>13s} {'ours':>6s} {'same':>6s}"
    print(header)
    print("-" * len(header))
    all_same = True
    for i, (name, s) in enumerate(settings.items()):
        info = rinfo.get(str(i), {})
        if "ERROR" in info:
            print(f"{name:40s} msprog failed: {info['ERROR']}")
            all_same = False
            continue
        value_col = s.outcome
        res = assess(visits, rel, settings=s, value_col=value_col, return_unconfirmed=True)
        ours = ours_events(res, list(s.conf_days))
        theirs = msprog_events(tmp / f"res_{i}.csv", list(s.conf_days), s.rawpira)
        same, bad = compare(ours, theirs)
        uo = ours_unconfirmed(res)
        ut = msprog_unconfirmed(tmp / f"unc_{i}.csv")
        usame, ubad = compare(uo, ut)
        print(
            f"{name:40s} {len(theirs):7d} {len(ours):6d} {same:6d}   {len(ut):13d} {len(uo):6d} {usame:6d}"
        )
        if bad or ubad:
            all_same = False
            for subj in (bad + [b for b in ubad if b not in bad])[: args.show]:
                print(f"    subject {subj}:")
                for label, frame in (
                    ("msprog", theirs),
                    ("ours", ours),
                    ("msprog unconf", ut),
                    ("ours unconf", uo),
                ):
                    if len(frame):
                        for row in frame[frame[0] == subj].itertuples(index=False):
                            print(f"      {label:13s} {list(row)[1:]}")
    print(
        "\nall configurations agree event for event" if all_same else "\nsee the differences above"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
