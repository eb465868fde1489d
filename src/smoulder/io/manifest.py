"""The SEL batch manifest: one row per subject and time point, read and checked.

A manifest (TSV, or CSV by extension) lists::

    subject  date        t1                 flair                 lesions
    01       2020-01-15  sub-01/t1_1.nii.gz sub-01/flair_1.nii.gz sub-01/lesions.nii.gz
    01       2021-01-20  sub-01/t1_2.nii.gz sub-01/flair_2.nii.gz
    ...

(optional column ``brain_mask``; relative paths are relative to the manifest). The lesion mask
(and brain mask) belong to the earliest date of each subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.bids import read_text_table

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

    Parameters
    ----------
    path : path
        A TSV or CSV manifest with columns ``subject, date, t1, flair, lesions`` and optionally
        ``brain_mask`` (taken from the earliest row); relative image paths are relative to the
        manifest's folder.

    Returns
    -------
    list of SubjectJob
        One job per subject, sorted by subject label, with the images and ISO dates in time
        order (the image files themselves are not checked here).

    Raises
    ------
    InputDataError
        A missing or unreadable file, a missing column, an empty value, a date that is not ISO,
        a subject with one time point or two rows on one date, or a lesion mask missing or not
        on the earliest row.
    """
    p = Path(path)
    df = read_text_table(
        p, expected="a TSV or CSV manifest (subject, date, t1, flair, lesions)", dtype=str
    )
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


__all__ = ["SubjectJob", "read_manifest", "REQUIRED"]
