"""Small hand-made timelines for the SPMS tests (imported by the test modules)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY0 = pd.Timestamp("2015-01-01")


def day(n: float) -> pd.Timestamp:
    """The date ``n`` days after 2015-01-01."""
    return DAY0 + pd.Timedelta(days=int(n))


def visits(
    days: list[int],
    edss: list[float],
    pyramidal: list[float] | None = None,
    subject: str = "a",
    **systems: list[float],
) -> pd.DataFrame:
    """A validated visits table for one subject (NaN in a system list = not assessed)."""
    out = pd.DataFrame(
        {
            "subject": subject,
            "date": [day(d) for d in days],
            "edss": np.asarray(edss, dtype=float),
        }
    )
    if pyramidal is not None:
        out["pyramidal"] = np.asarray(pyramidal, dtype=float)
    for name, values in systems.items():
        out[name] = np.asarray(values, dtype=float)
    return out


def relapses(days: list[int], subject: str = "a") -> pd.DataFrame:
    """Relapse onsets at days after 2015-01-01."""
    return pd.DataFrame(
        {
            "subject": pd.Series([subject] * len(days), dtype=object),
            "date": pd.DatetimeIndex([day(d) for d in days], dtype="datetime64[ns]"),
        }
    )


def row(result, subject: str = "a") -> pd.Series:  # type: ignore[no-untyped-def]
    """The summary row of one subject."""
    t = result.summary
    return t[t["subject"] == subject].iloc[0]


def when(result, subject: str = "a") -> int | None:  # type: ignore[no-untyped-def]
    """Day number (after 2015-01-01) of the conversion, or None."""
    r = row(result, subject)
    if not r["spms"]:
        return None
    return int((r["spms_date"] - DAY0).days)
