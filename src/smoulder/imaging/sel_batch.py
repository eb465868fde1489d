"""SEL for many subjects with dask.distributed, resumable.

A manifest (TSV or CSV) lists one row per subject and time point::

    subject  date        t1                 flair                 lesions
    01       2020-01-15  sub-01/t1_1.nii.gz sub-01/flair_1.nii.gz sub-01/lesions.nii.gz
    01       2021-01-20  sub-01/t1_2.nii.gz sub-01/flair_2.nii.gz
    ...

(optional column ``brain_mask``; relative paths are relative to the manifest). The
lesion mask (and brain mask) belong to the earliest date of each subject. Subjects run
in parallel on a dask ``LocalCluster`` (default) or on an existing scheduler given by
its address (a real cluster). Each subject writes ``OUT/<subject>/`` as ``smoulder sel``
does, and last of all ``sel_done.json`` with a hash of the settings and inputs: a
subject whose ``sel_done.json`` matches is not recomputed, so an interrupted batch
resumes where it stopped. A subject that fails is reported with its error in
``OUT/batch_summary.tsv``; it does not stop the others and is retried next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError, SmoulderError
from smoulder.imaging.sel import SELSettings

DONE_FILE = "sel_done.json"
REQUIRED = ("subject", "date", "t1", "flair")


@dataclass
class SubjectJob:
    """One subject's inputs in time order."""

    subject: str
    t1: list[str]
    flair: list[str]
    dates: list[str]
    lesions: str
    brain_mask: str | None = None


def read_manifest(path: str | Path) -> list[SubjectJob]:
    """Read and check a batch manifest; errors name the file, row and column.

    Rows of one subject may come in any order; they are sorted by date. Each subject
    needs at least two time points with distinct dates and exactly one lesion mask, on
    its earliest row.
    """
    import datetime as dt

    p = Path(path)
    if not p.exists():
        raise InputDataError("manifest not found", file=str(p), expected="a TSV or CSV file")
    sep = "," if p.suffix.lower() == ".csv" else "\t"
    df = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False)
    for c in REQUIRED + ("lesions",):
        if c not in df.columns:
            raise InputDataError(
                "manifest column missing",
                file=str(p),
                column=c,
                expected=f"columns {', '.join(REQUIRED)}, lesions[, brain_mask]",
            )
    base = p.resolve().parent

    def resolve(v: str) -> str:
        q = Path(v)
        return str(q if q.is_absolute() else base / q)

    rows = []
    for i, r in df.iterrows():
        row = int(str(i)) + 2  # spreadsheet row, header is row 1
        for c in REQUIRED:
            if not str(r[c]).strip():
                raise InputDataError(
                    "empty value",
                    file=str(p),
                    row=row,
                    column=c,
                    expected="a subject label, an ISO date and two image paths",
                )
        try:
            d = dt.date.fromisoformat(str(r["date"]).strip()[:10])
        except ValueError:
            raise InputDataError(
                "not an ISO date",
                file=str(p),
                row=row,
                column="date",
                value=r["date"],
                expected="YYYY-MM-DD",
            ) from None
        rows.append(
            {
                "row": row,
                "subject": str(r["subject"]).strip(),
                "date": d,
                "t1": resolve(r["t1"]),
                "flair": resolve(r["flair"]),
                "lesions": resolve(r["lesions"]) if r["lesions"].strip() else "",
                "brain_mask": resolve(r["brain_mask"])
                if str(r.get("brain_mask", "")).strip()
                else "",
            }
        )
    jobs = []
    for sub, g in pd.DataFrame(rows).groupby("subject", sort=True):
        g = g.sort_values("date")
        if len(g) < 2:
            raise InputDataError(
                f"subject {sub} has one time point",
                file=str(p),
                row=int(g["row"].iloc[0]),
                expected="at least two rows (time points) per subject",
            )
        dup = g["date"].duplicated()
        if dup.any():
            raise InputDataError(
                f"subject {sub} has two rows with one date",
                file=str(p),
                row=int(g.loc[dup, "row"].iloc[0]),
                column="date",
                value=str(g.loc[dup, "date"].iloc[0]),
                expected="one row per time point",
            )
        masks = g[g["lesions"] != ""]
        if len(masks) != 1 or masks.index[0] != g.index[0]:
            raise InputDataError(
                f"subject {sub} needs exactly one lesion mask, on its earliest date",
                file=str(p),
                row=int(g["row"].iloc[0]),
                column="lesions",
                expected="the baseline lesion mask on the earliest row only",
            )
        bm = g["brain_mask"].iloc[0] or None
        jobs.append(
            SubjectJob(
                subject=str(sub),
                t1=list(g["t1"]),
                flair=list(g["flair"]),
                dates=[d.isoformat() for d in g["date"]],
                lesions=str(masks["lesions"].iloc[0]),
                brain_mask=bm,
            )
        )
    return jobs


def job_hash(job: SubjectJob, settings: SELSettings) -> str:
    """Hash of the settings, the package version and the inputs (paths, sizes, modification times)."""
    files = [*job.t1, *job.flair, job.lesions] + ([job.brain_mask] if job.brain_mask else [])
    stats = []
    for f in files:
        try:
            st = os.stat(f)
            stats.append([f, st.st_size, int(st.st_mtime)])
        except OSError:
            stats.append([f, None, None])
    blob = json.dumps(
        {
            "settings": settings.as_dict(),
            "version": __version__,
            "dates": job.dates,
            "files": stats,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def is_done(out_dir: Path, digest: str) -> bool:
    """True when ``out_dir`` holds a finished run with this hash."""
    f = out_dir / DONE_FILE
    if not f.exists():
        return False
    try:
        return json.loads(f.read_text()).get("hash") == digest
    except (OSError, ValueError):
        return False


def process_subject(
    job: SubjectJob, out_dir: str, settings: dict[str, Any], digest: str
) -> dict[str, Any]:
    """Run one subject file to file (executed on a dask worker); never raises for bad input."""
    from smoulder.imaging.sel_pipeline import run_sel_files, write_sel_outputs

    t0 = time.perf_counter()
    out = Path(out_dir)
    try:
        s = SELSettings(**{**settings, "syn_iterations": tuple(settings["syn_iterations"])})
        run = run_sel_files(
            job.t1, job.flair, job.dates, job.lesions, brain_mask=job.brain_mask, settings=s
        )
        write_sel_outputs(run, out, title=f"smoulder SEL QC: {job.subject}")
    except SmoulderError as exc:
        return {
            "subject": job.subject,
            "status": "failed",
            "error": str(exc),
            "seconds": time.perf_counter() - t0,
        }
    summ = run.result.summary
    rec = {
        "subject": job.subject,
        "status": "computed",
        "error": "",
        "seconds": time.perf_counter() - t0,
        "n_lesions": summ["n_lesions"],
        "n_definite": summ["n_definite"],
        "n_possible": summ["n_possible"],
        "definite_volume_mm3": summ["definite_volume_mm3"],
    }
    (out / DONE_FILE).write_text(json.dumps({"hash": digest, "job": asdict(job), **rec}, indent=2))
    return rec


def run_batch(
    jobs: list[SubjectJob],
    out_dir: str | Path,
    settings: SELSettings | None = None,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run SEL for every subject in parallel; skip finished ones; write ``batch_summary.tsv``.

    Parameters
    ----------
    jobs : list of SubjectJob
    out_dir : path
        One sub-folder per subject is written here.
    settings : SELSettings, optional
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); default a LocalCluster.
    n_workers, threads_per_worker, processes :
        LocalCluster size (default: one single-threaded worker process per core).
    progress : callable, optional
        Called as ``progress(done, total, record)`` after each subject.

    Returns
    -------
    pandas.DataFrame
        One row per subject: ``subject, status (computed|skipped|failed), error, seconds,
        n_lesions, n_definite, n_possible, definite_volume_mm3``.
    """
    s = (settings or SELSettings()).validate()
    if s.threads is None:  # one registration thread per subject; parallelism comes from the workers
        s.threads = threads_per_worker
    if not jobs:
        raise SettingsError("the batch has no subjects")
    names = [j.subject for j in jobs]
    if len(set(names)) != len(names):
        raise SettingsError("subject labels must be unique in a batch")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    todo = []
    for j in jobs:
        digest = job_hash(j, s)
        sub_dir = out / j.subject
        if is_done(sub_dir, digest):
            prev = json.loads((sub_dir / DONE_FILE).read_text())
            rec = {
                k: prev.get(k)
                for k in ("subject", "n_lesions", "n_definite", "n_possible", "definite_volume_mm3")
            }
            records.append({**rec, "status": "skipped", "error": "", "seconds": 0.0})
            if progress:
                progress(len(records), len(jobs), records[-1])
        else:
            todo.append((j, str(sub_dir), digest))
    if todo:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            workers = n_workers or max(1, min(len(todo), os.cpu_count() or 1))
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=processes,
                dashboard_address=None,
            )
            client = Client(cluster)
        try:
            sdict = s.as_dict()
            futures = [
                client.submit(
                    process_subject, j, d, sdict, h, pure=False, key=f"sel-{j.subject}-{h[:12]}"
                )
                for j, d, h in todo
            ]
            for fut in as_completed(futures):
                rec = fut.result()
                records.append(rec)
                if progress:
                    progress(len(records), len(jobs), rec)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    cols = [
        "subject",
        "status",
        "error",
        "seconds",
        "n_lesions",
        "n_definite",
        "n_possible",
        "definite_volume_mm3",
    ]
    table = pd.DataFrame(records).reindex(columns=cols)
    table = table.set_index("subject").loc[names].reset_index()
    table.to_csv(
        out / "batch_summary.tsv", sep="\t", index=False, na_rep="n/a", float_format="%.6g"
    )
    return table


__all__ = [
    "SubjectJob",
    "read_manifest",
    "run_batch",
    "process_subject",
    "job_hash",
    "is_done",
    "DONE_FILE",
]
