"""Small hand-made timelines for the progression tests (imported by the test modules).

Kept out of conftest.py: several test folders have a conftest.py, and importing helpers from
"conftest" by name picks whichever was loaded last."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY0 = pd.Timestamp("2020-01-01")


def day(n: float) -> pd.Timestamp:
    """The date ``n`` days after 2020-01-01."""
    return DAY0 + pd.Timedelta(days=int(n))


def timeline(values, days, subject="a", validconf=None) -> pd.DataFrame:
    """A validated visits table for one subject: values at days after 2020-01-01."""
    return pd.DataFrame(
        {
            "subject": subject,
            "date": [day(d) for d in days],
            "value": np.asarray(values, dtype=float),
            "validconf": True if validconf is None else validconf,
        }
    )


def onsets(days, subject="a") -> pd.DataFrame:
    """A relapses table: onsets at days after 2020-01-01."""
    return pd.DataFrame({"subject": subject, "date": [day(d) for d in days]})
