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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder import __version__
from smoulder.exceptions import SettingsError, SmoulderError
from smoulder.imaging.sel import SELSettings
from smoulder.io import bids as bio
from smoulder.io.manifest import SubjectJob, read_manifest

DONE_FILE = "sel_done.json"


def job_hash(job: SubjectJob, settings: SELSettings) -> str:
    """Hash of the settings, the package version and the inputs (paths, sizes, modification times).

    Parameters
    ----------
    job : SubjectJob
        One subject's inputs; a file that does not exist (cannot be stat-ed) is hashed as
        missing.
    settings : SELSettings
        The settings the subject runs with.

    Returns
    -------
    str
        The SHA-256 hex digest; it changes when a setting, the version, a date or an input
        file's size or modification time (whole seconds) changes.
    """
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
            "settings": settings.model_dump(),
            "version": __version__,
            "dates": job.dates,
            "files": stats,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def is_done(out_dir: Path, digest: str) -> bool:
    """True when ``out_dir`` holds a finished run with this hash.

    Parameters
    ----------
    out_dir : Path
        A subject's output folder.
    digest : str
        The hash of the run (see :func:`job_hash`).

    Returns
    -------
    bool
        Whether ``sel_done.json`` exists there and holds ``digest`` (False for an unreadable
        file).
    """
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
    """Run one subject file to file (executed on a dask worker); never raises for bad input.

    Parameters
    ----------
    job : SubjectJob
        The subject's images, dates and lesion mask.
    out_dir : str
        The subject's output folder (the files of :func:`smoulder.pipelines.sel.run`).
    settings : dict
        The SEL settings as a plain mapping (sent to the worker).
    digest : str
        The hash written to ``sel_done.json`` when the subject finishes (see :func:`job_hash`).

    Returns
    -------
    dict
        ``subject``, ``status`` (``computed`` or ``failed``), ``error`` (the message of a
        smoulder error, else empty), ``seconds`` and, when computed, ``n_lesions``,
        ``n_definite``, ``n_possible`` and ``definite_volume_mm3``.
    """
    from smoulder.pipelines import sel

    t0 = time.perf_counter()
    out = Path(out_dir)
    try:
        result = sel.run(
            job.t1,
            job.flair,
            job.dates,
            job.lesions,
            brain_mask=job.brain_mask,
            settings=SELSettings(**settings),
            out=out,
            title=f"smoulder SEL QC: {job.subject}",
        )
    except SmoulderError as exc:
        return {
            "subject": job.subject,
            "status": "failed",
            "error": str(exc),
            "seconds": time.perf_counter() - t0,
        }
    summ = result.details
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
    bio.write_json(out / DONE_FILE, {"hash": digest, "job": asdict(job), **rec})
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
    s = settings if settings is not None else SELSettings()
    if s.threads is None:  # one registration thread per subject; parallelism comes from the workers
        s = s.replace(threads=threads_per_worker)
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
            sdict = s.model_dump()
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
    bio.write_tsv(table, out / "batch_summary.tsv")
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
