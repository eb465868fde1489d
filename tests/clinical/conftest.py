"""Small hand-made timelines for the progression tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


@pytest.fixture
def run():
    """Run the engine on validated tables with keyword settings."""
    from smoulder.clinical import make_settings, run_validated

    def _run(visits, relapses=None, mri=None, **options):
        return run_validated(visits, relapses, mri, make_settings(**options))

    return _run
