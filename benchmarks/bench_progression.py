"""Speed of the progression engine, side by side with pymsprog 1.0.7.

Part 1 (peer comparison): the same simulated cohort (default 10,000 subjects, ~20 visits each)
through pymsprog (in benchmarks/.venv-pymsprog) and smoulder, EDSS, ``multiple`` events, roving
baseline, PIRA/RAW classification, msprog's EDSS convention. Prints both times, per-subject
throughput, the ratio and the agreement of the events. pymsprog is slow (~2-3 ms per subject),
so ``--peer-subjects`` limits how many subjects it gets; the per-subject ratio is computed on
the same subjects.

Part 2 (figures): the command on each of ``--figures`` cohort sizes (default 10,000 and
100,000 subjects) with its default figures and with ``--no-plots``, each in a fresh process (wall
and CPU seconds): the figures' cost, the file-to-file throughput against pymsprog's time per
subject (from part 1, else measured on 1,000 subjects, else the last measured 3.211 ms, said so)
and the marginal throughput between the two sizes (start-up excluded).

Part 0 (first run): ``smoulder progression`` on ``--first-run`` subjects with an empty numba
cache (a new machine), then again with the cache it left: by default (a small cohort is scanned
interpreted, nothing compiles) and with ``SMOULDER_INTERPRET_MAX_ROWS=0`` (the engine compiled
however small the input, as before); the two outputs compared byte for byte.

Part 3 (registry scale): 1,000,000 subjects x ~20 visits, written once as CSV and Parquet to
benchmarks/data/, then ``smoulder progression`` end to end from file to file (read, validate,
scan, write events + summary) in a fresh process, start-up included, with the time of a bare
pyarrow read of the same file (a fresh process importing pyarrow) as the floor, each run
``--registry-repeats`` times (default 3) alternately: wall and CPU seconds (user and system, the
fairer figure on a shared machine) of both, the load average before each run, the thread
settings in force (``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``; unset: every core), the peak
resident memory, and the range over the runs beside the 5 s goal of issue 13.

Usage::

    python benchmarks/bench_progression.py [--subjects 10000] [--peer-subjects 2000]
        [--figures 10000 100000] [--registry 1000000] [--registry-formats csv parquet]
        [--first-run 60 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from agreement_pymsprog import compare, ours_key, pymsprog_key  # noqa: E402
from smoulder.clinical import assess  # noqa: E402
from smoulder.synth import simulate_cohort, write_cohort  # noqa: E402

PEER_OPTS = {"event": "multiple", "baseline": "roving", "RAW_PIRA": True}


def peer_comparison(n_subjects: int, peer_subjects: int, seed: int) -> float:
    """Part 1; returns pymsprog's milliseconds per subject."""
    py = (
        subprocess.run(
            [str(HERE / "setup_pymsprog.sh")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cohort = simulate_cohort(n_subjects, seed=seed)
    visits = cohort.visits[["subject", "date", "edss"]]
    rel = cohort.relapses[["subject", "date"]]
    first = visits.groupby("subject", observed=True)["date"].min()
    rel = rel[rel["date"] >= rel["subject"].map(first) - pd.Timedelta(days=30)]
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-bench-"))
    visits.to_csv(tmp / "visits.csv", index=False, date_format="%Y-%m-%d")
    rel.to_csv(tmp / "relapses.csv", index=False, date_format="%Y-%m-%d")
    job = {
        "visits": str(tmp / "visits.csv"),
        "relapses": str(tmp / "relapses.csv"),
        "options": PEER_OPTS,
        "out": str(tmp / "p.csv"),
        "value_col": "edss",
        "outcome": "edss",
        "n_subjects": peer_subjects,
    }
    (tmp / "job.json").write_text(json.dumps(job))
    print(
        f"cohort: {n_subjects:,} subjects, {len(visits):,} visits ({len(visits) / n_subjects:.1f} per subject), "
        f"{len(rel):,} relapses; options {PEER_OPTS}"
    )
    proc = subprocess.run(
        [py, str(HERE / "_pymsprog_runner.py"), str(tmp / "job.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    p_sec, p_n = info["seconds"], info["n_subjects"]

    opts = {
        "event": "multiple",
        "baseline": "roving",
        "classify_cdw": True,
        "edss_half_step_from": 5.5,
    }
    assess(visits.iloc[:200], rel, value_col="edss", **opts)  # compile / load the cached kernel
    t0 = time.perf_counter()
    res = assess(visits, rel, value_col="edss", **opts)
    o_sec = time.perf_counter() - t0
    print(
        f"pymsprog 1.0.7: {p_sec:8.2f} s for {p_n:,} subjects = {1e3 * p_sec / p_n:.3f} ms per subject"
    )
    print(
        f"smoulder      : {o_sec:8.3f} s for {n_subjects:,} subjects = {1e3 * o_sec / n_subjects:.4f} ms per subject "
        f"(DataFrame in, DataFrame out, validation included)"
    )
    print(f"per-subject throughput ratio: {(p_sec / p_n) / (o_sec / n_subjects):,.0f}x")
    # as a user runs it: the command, file to file, default figures included, start-up included
    f_sec, _ = cli_run(
        [str(tmp / "visits.csv"), "--relapses", str(tmp / "relapses.csv"), "--value-col", "edss",
         "--event", "multiple", "--baseline", "roving", "--classify-cdw",
         "--edss-half-step-from", "5.5", "--out", str(tmp / "cli" / "events.csv")]
    )  # fmt: skip
    print(
        f"smoulder progression, file to file with its default figures: {f_sec:.2f} s for "
        f"{n_subjects:,} subjects = {(p_sec / p_n) / (f_sec / n_subjects):,.0f}x pymsprog's "
        "per-subject throughput"
    )

    subj = visits["subject"].drop_duplicates().iloc[:p_n]
    pres = pd.read_csv(tmp / "p.csv")
    pres = pres[pres["nevent"] > 0]
    ok = ours_key(res.events[res.events["subject"].astype(str).isin(set(subj))], [84.0], True)
    pk = pymsprog_key(pres, [84.0])
    pk.columns = ok.columns
    agree, bad = compare(ok, pk)
    print(
        f"agreement on the {p_n:,} shared subjects: pymsprog {len(pk):,} events, smoulder {len(ok):,}, "
        f"identical {agree:,}; subjects with any difference: {len(bad)}"
    )
    return 1e3 * p_sec / p_n


def cli_run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``smoulder progression ARGS`` in a fresh process; (wall seconds, peak RSS in GB)."""
    code = (
        "import resource,runpy,sys,time;sys.argv="
        + repr(["smoulder", "progression", *args])
        + ";t=time.perf_counter()\ntry:\n runpy.run_module('smoulder',run_name='__main__')\n"
        "except SystemExit:\n pass\n"
        "print('ELAPSED',time.perf_counter()-t,'RSS',resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    last = proc.stdout.strip().splitlines()[-1].split()
    return wall, int(last[3]) / 1e6


def first_run(n_subjects: int, seed: int) -> None:
    """The command on a new machine (an empty numba cache), then again, twice: as it runs by
    default (a cohort this small is scanned interpreted) and with the engine compiled however
    small the input (``SMOULDER_INTERPRET_MAX_ROWS=0``, the behaviour before); their outputs
    must be byte-identical."""
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-first-"))
    cohort = simulate_cohort(n_subjects, seed=seed)
    cohort.visits = cohort.visits[["subject", "date", "edss"]]
    cohort.relapses = cohort.relapses[["subject", "date"]]
    paths = write_cohort(cohort, tmp / "in", fmt="csv")
    base = [str(paths["visits"]), "--relapses", str(paths["relapses"]), "--value-col", "edss"]

    def cpu_now() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def runs(label: str, extra: dict[str, str]) -> list[Path]:
        env = {"NUMBA_CACHE_DIR": str(tmp / f"numba-cache-{label}"), **extra}
        outs, figures = [], []
        for k in ("first", "again"):
            out = tmp / f"{label}-{k}"
            c0 = cpu_now()
            wall, _ = cli_run([*base, "--no-plots", "--out", str(out / "e.csv")], env)
            figures.append(f"{wall:.1f} s ({cpu_now() - c0:.1f} s CPU)")
            outs.append(out)
        print(f"  {label:<28s} first run {figures[0]:>20s}; the second run {figures[1]}")
        return outs

    print(f"first run on a new machine (empty numba cache), {n_subjects} subjects, --no-plots:")
    default = runs("default (interpreted)", {})
    compiled = runs("compiled however small", {"SMOULDER_INTERPRET_MAX_ROWS": "0"})
    names = sorted(p.name for p in default[0].iterdir())
    same = names == sorted(p.name for p in compiled[0].iterdir()) and all(
        (default[0] / n).read_bytes() == (compiled[0] / n).read_bytes() for n in names
    )
    print(f"  outputs byte-identical ({len(names)} files): {same}")


#: pymsprog 1.0.7's time per subject measured last (10,000 subjects, this machine), used when
#: pymsprog cannot be run here (benchmarks/setup_pymsprog.sh installs it from PyPI)
PYMSPROG_MS_MEASURED = 3.211


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pymsprog_ms_per_subject(seed: int, n_subjects: int = 1_000) -> tuple[float, str]:
    """pymsprog's milliseconds per subject on a simulated cohort, or the last measured value."""
    try:
        py = (
            subprocess.run(
                [str(HERE / "setup_pymsprog.sh")],
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
            )  # fmt: skip
            .stdout.strip()
            .splitlines()[-1]
        )
        cohort = simulate_cohort(n_subjects, seed=seed)
        tmp = Path(tempfile.mkdtemp(prefix="smoulder-peer-"))
        visits = cohort.visits[["subject", "date", "edss"]]
        rel = cohort.relapses[["subject", "date"]]
        first = visits.groupby("subject", observed=True)["date"].min()
        rel = rel[rel["date"] >= rel["subject"].map(first) - pd.Timedelta(days=30)]  # as part 1
        visits.to_csv(tmp / "v.csv", index=False, date_format="%Y-%m-%d")
        rel.to_csv(tmp / "r.csv", index=False, date_format="%Y-%m-%d")
        job = {"visits": str(tmp / "v.csv"), "relapses": str(tmp / "r.csv"),
               "options": PEER_OPTS, "out": str(tmp / "p.csv"), "value_col": "edss",
               "outcome": "edss", "n_subjects": n_subjects}  # fmt: skip
        (tmp / "job.json").write_text(json.dumps(job))
        proc = subprocess.run(
            [py, str(HERE / "_pymsprog_runner.py"), str(tmp / "job.json")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        ms = 1e3 * info["seconds"] / info["n_subjects"]
        return ms, f"measured now on {info['n_subjects']:,} subjects"
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError) as exc:
        why = str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else type(exc).__name__
        return PYMSPROG_MS_MEASURED, f"the last measured value: pymsprog could not run here ({why})"


def figures(sizes: list[int], seed: int, pymsprog_ms: float | None = None) -> None:
    """The command, file to file with its defaults, on each of ``sizes`` subjects with its default
    figures and with ``--no-plots`` (fresh processes; wall and CPU seconds, best of two), the
    figures' cost, the throughput against pymsprog's per subject and the marginal throughput
    (the slope between the two largest sizes: what each further subject costs, start-up
    excluded)."""
    peer = f"{pymsprog_ms:.3f} ms per subject, measured above" if pymsprog_ms else ""
    if pymsprog_ms is None:
        pymsprog_ms, how = pymsprog_ms_per_subject(seed)
        peer = f"{pymsprog_ms:.3f} ms per subject, {how}"
    print(
        f"figures: pymsprog 1.0.7 {peer}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    walls: dict[int, tuple[float, float]] = {}
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="smoulder-fig-"))
        cohort = simulate_cohort(n, seed=seed)
        cohort.visits = cohort.visits[["subject", "date", "edss"]]
        cohort.relapses = cohort.relapses[["subject", "date"]]
        paths = write_cohort(cohort, tmp / "in", fmt="parquet")
        base = [str(paths["visits"]), "--relapses", str(paths["relapses"]), "--value-col", "edss"]
        cli_run([*base, "--no-plots", "--out", str(tmp / "warm" / "e.csv")])  # the kernel cache
        best: dict[str, tuple[float, float]] = {}
        for rep in range(2):
            for key, extra in (("fig", []), ("nofig", ["--no-plots"])):
                c0 = _cpu_children()
                wall, _ = cli_run([*base, *extra, "--out", str(tmp / f"{key}{rep}" / "e.csv")])
                cpu = _cpu_children() - c0
                if key not in best or cpu < best[key][1]:  # the least disturbed run
                    best[key] = (wall, cpu)
        (fw, fc), (nw, nc) = best["fig"], best["nofig"]
        walls[n] = (fw, nw, fc, nc)
        peer_s = pymsprog_ms * n / 1e3
        print(
            f"  {n:>9,} subjects: {fw:6.2f} s ({fc:6.2f} s CPU) with the default figures, "
            f"{nw:6.2f} s ({nc:6.2f} s CPU) with --no-plots: the figures cost {fw - nw:5.2f} s "
            f"({fc - nc:5.2f} s CPU); file to file {peer_s / fw:,.0f}x pymsprog's throughput "
            f"with the figures ({peer_s / fc:,.0f}x by CPU), {peer_s / nw:,.0f}x without "
            f"({peer_s / nc:,.0f}x by CPU)"
        )
    if len(sizes) >= 2:
        a, b = sorted(sizes)[-2:]
        for k, what in ((0, "with the figures"), (1, "with --no-plots")):
            slope = [1e3 * (walls[b][j] - walls[a][j]) / (b - a) for j in (k, k + 2)]
            if min(slope) > 0:
                print(
                    f"  marginal {what}, {a:,} to {b:,} subjects: {slope[0] * 1e3:.1f} us "
                    f"({slope[1] * 1e3:.1f} us CPU) per further subject = "
                    f"{pymsprog_ms / slope[0]:,.0f}x pymsprog's per subject "
                    f"({pymsprog_ms / slope[1]:,.0f}x by CPU)"
                )


def registry(
    n_subjects: int, seed: int, formats: tuple[str, ...] = ("csv", "parquet"), repeats: int = 3
) -> None:
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    csv = data / f"registry_{n_subjects}_visits.csv"
    pq = data / f"registry_{n_subjects}_visits.parquet"
    if not csv.exists() or not pq.exists():
        t0 = time.perf_counter()
        cohort = simulate_cohort(n_subjects, seed=seed)
        # a registry extract: id, date, EDSS (about 420 MB as CSV), and relapse onsets
        cohort.visits = cohort.visits[["subject", "date", "edss"]]
        cohort.relapses = cohort.relapses[["subject", "date"]]
        for fmt in ("csv", "parquet"):
            paths = write_cohort(cohort, data / f"registry_{n_subjects}_{fmt}", fmt=fmt)
            paths["visits"].rename(csv if fmt == "csv" else pq)
            paths["relapses"].rename(data / f"registry_{n_subjects}_relapses.{fmt}")
        print(f"simulated and wrote the registry in {time.perf_counter() - t0:.1f} s")
    size = csv.stat().st_size / 1e6
    paths = [p for p in (csv, pq) if p.suffix[1:] in formats]
    threads = ", ".join(
        f"{k}={os.environ.get(k, 'unset (every core)')}"
        for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")
    )
    print(
        f"registry: {n_subjects:,} subjects; visits CSV {size:.0f} MB; {os.cpu_count()} cores; "
        f"{threads}; each run in a fresh process, start-up included (CPU = user + system "
        "seconds, the fairer measure on a busy machine; load = 1-minute load average before it)"
    )
    for path in paths:
        rel = data / f"registry_{n_subjects}_relapses{path.suffix}"
        code = (
            "import pyarrow.csv as c,pyarrow.parquet as q;"
            f"(c.read_csv if '{path.suffix}'=='.csv' else q.read_table)('{path}')"
        )
        walls, cpus = [], []
        for rep in range(repeats):
            # the floor: a fresh process that imports pyarrow and reads the file, nothing else
            load_f = os.getloadavg()[0]
            floor = child_times([sys.executable, "-c", code])
            out = Path(tempfile.mkdtemp(prefix="smoulder-reg-")) / f"events{path.suffix}"
            args = [
                str(path), "--relapses", str(rel), "--outcome", "edss", "--value-col", "edss",
                "--event", "multiple", "--baseline", "roving", "--classify-cdw", "--out", str(out),
                "--no-plots", "--json",
            ]  # fmt: skip
            load = os.getloadavg()[0]
            try:
                run = child_times([sys.executable, "-m", "smoulder", "progression", *args])
            except RuntimeError as exc:
                print(exc)
                break
            walls.append(run.wall)
            cpus.append(run.cpu)
            counts = json.loads(run.stdout.strip().splitlines()[-1])["counts"]
            print(
                f"  {path.suffix[1:]} end to end, run {rep + 1}: {run.wall:6.2f} s wall, "
                f"{run.cpu:6.2f} s CPU ({run.user:.2f} user + {run.system:.2f} system), load "
                f"{load:.1f}  |  bare pyarrow read {floor.wall:.2f} s wall, {floor.cpu:.2f} s CPU, "
                f"load {load_f:.1f}  |  peak RSS {run.rss_gb:.2f} GB; "
                f"{counts['cdw_events']:,} CDW ({counts['pira_events']:,} PIRA, "
                f"{counts['raw_events']:,} RAW), {counts['cdi_events']:,} CDI"
            )
        if walls:
            print(
                f"  {path.suffix[1:]} end to end over {len(walls)} runs: {min(walls):.2f}-"
                f"{max(walls):.2f} s wall, {min(cpus):.2f}-{max(cpus):.2f} s CPU (goal: under 5 s)"
            )


class ChildTimes(NamedTuple):
    """What :func:`child_times` measured of one process."""

    wall: float
    user: float
    system: float
    rss_gb: float
    stdout: str

    @property
    def cpu(self) -> float:
        return self.user + self.system


def child_times(cmd: list[str]) -> ChildTimes:
    """Run ``cmd`` in a fresh process (this checkout's ``src`` first on the path), start-up and
    imports included: wall seconds, user and system CPU seconds of that child, its peak RSS in
    GB, its standard output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(err.read()[-2000:])
        return ChildTimes(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1e6, out.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--subjects", type=int, default=10_000, help="peer-comparison cohort (0 to skip)"
    )
    ap.add_argument("--peer-subjects", type=int, default=2_000)
    ap.add_argument("--registry", type=int, default=1_000_000, help="0 to skip")
    ap.add_argument(
        "--registry-formats",
        nargs="+",
        choices=("csv", "parquet"),
        default=["csv", "parquet"],
        help="which registry files the command reads (part 3)",
    )
    ap.add_argument(
        "--registry-repeats",
        type=int,
        default=3,
        help="fresh runs of the registry command (each beside a bare read; part 3)",
    )
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--figures",
        type=int,
        nargs="*",
        default=[10_000, 100_000],
        help="cohort sizes for the figure cost and the marginal throughput (none to skip)",
    )
    ap.add_argument(
        "--first-run",
        type=int,
        nargs="*",
        default=[60, 3000],
        help="cohort sizes for the first-run time (none or 0 to skip)",
    )
    args = ap.parse_args()
    for n in args.first_run:
        if n > 0:
            first_run(n, args.seed)
    peer_ms = None
    if args.subjects:
        peer_ms = peer_comparison(args.subjects, args.peer_subjects, args.seed)
    if args.figures:
        figures(args.figures, args.seed, peer_ms)
    if args.registry:
        registry(args.registry, args.seed, tuple(args.registry_formats), args.registry_repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
