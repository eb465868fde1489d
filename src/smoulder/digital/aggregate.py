"""Daily and weekly aggregation with wear and missingness rules.

Input is the validated long table (``subject, date, measure, value`` with values in canonical
units, one row per record or per day). Output is one row per subject, measure and ISO week
(Monday to Sunday) with the weekly level, how many valid days or tests it rests on, and whether
the week counts. Weeks that do not count stay in the table with a reason: gaps are reported,
never interpolated into evidence.

Rules (all are parameters of :class:`AggregationSettings`):

- Records of one day combine as the catalogue says (steps add up, speeds take the median).
- Daily totals that only count while the wearable is worn (steps, flights climbed): a day counts
  when it was worn long enough. When the table has a ``wear_hours`` measure for that subject and
  day, the day needs at least ``min_wear_hours``; otherwise a step-count day below
  ``min_steps_per_day`` is taken as not worn. Gait measures and sleep are not judged by wear.
- Passive daily streams: the weekly rhythm (weekends differ from weekdays) is removed by each
  person's own day-of-week factors before weeks are summarised, so that a week missing its
  Saturday is not read as a change; a week counts with at least ``min_valid_days`` valid days.
- Home tests and questionnaires: every test counts; a week with at least one test counts and its
  level is the median of the week's tests.

Examples
--------
>>> import pandas as pd
>>> from smoulder.digital.aggregate import weekly
>>> df = pd.DataFrame(
...     {
...         "subject": "a",
...         "measure": "two_minute_walk",
...         "date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-09"]),
...         "value": [120.0, 130.0, 118.0],
...     }
... )
>>> weekly(df)[["week", "value", "n", "valid"]].to_string(index=False)
'      week  value  n  valid\\n2024-01-01  125.0  2   True\\n2024-01-08  118.0  1   True'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smoulder.digital.settings import AggregationSettings
from smoulder.schema.catalogue import get_measure

__all__ = ["AggregationSettings", "daily", "weekly"]

WEAR_MEASURE = "wear_hours"
# daily totals that only count while the wearable is worn; gait measures from the phone and
# sleep do not depend on the watch's daytime wear
WEAR_DEPENDENT = frozenset({"steps", "flights_climbed", "walking_distance"})


_DAILY_FUNCS = {
    "sum": "sum",
    "mean": "mean",
    "median": "median",
    "last": "last",
    "max": "max",
    "min": "min",
}


def daily(measures: pd.DataFrame, settings: AggregationSettings | None = None) -> pd.DataFrame:
    """Combine records into one value per subject, measure and day, with a validity flag.

    Parameters
    ----------
    measures : DataFrame
        Long table with columns ``subject, date, measure, value`` (``date`` may carry a time).
    settings : AggregationSettings, optional
        Wear rules.

    Returns
    -------
    DataFrame
        ``subject, measure, date, value, n_records, valid, reason`` (``reason`` is empty for
        valid days, else ``not worn`` or ``wear time below N h``).
    """
    s = settings or AggregationSettings()
    if measures.empty:
        return pd.DataFrame(
            columns=["subject", "measure", "date", "value", "n_records", "valid", "reason"]
        )
    df = measures[["subject", "measure", "date", "value"]].copy()
    df["date"] = pd.to_datetime(df["date"]).dt.normalize()
    wear = df[df["measure"] == WEAR_MEASURE]
    df = df[df["measure"] != WEAR_MEASURE]
    parts = []
    for name, grp in df.groupby("measure", sort=True, observed=True):
        m = get_measure(str(name))
        agg = (
            grp.groupby(["subject", "date"], sort=True, observed=True)["value"]
            .agg([_DAILY_FUNCS[m.daily], "size"])
            .reset_index()
        )
        agg.columns = ["subject", "date", "value", "n_records"]
        agg.insert(1, "measure", name)
        agg["valid"] = True
        agg["reason"] = ""
        if m.name in WEAR_DEPENDENT:
            if not wear.empty:
                w = wear.groupby(["subject", "date"], observed=True)["value"].sum()
                hours = pd.Series(
                    w.reindex(pd.MultiIndex.from_frame(agg[["subject", "date"]])).to_numpy(),
                    index=agg.index,
                )
                short = hours.notna() & (hours < s.min_wear_hours)
                agg.loc[short, "valid"] = False
                agg.loc[short, "reason"] = f"wear time below {s.min_wear_hours:g} h"
            else:
                short = pd.Series(False, index=agg.index)
            if m.name == "steps":
                low = ~short & (agg["value"] < s.min_steps_per_day)
                agg.loc[low, "valid"] = False
                agg.loc[low, "reason"] = f"not worn (fewer than {s.min_steps_per_day:g} steps)"
        parts.append(agg)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out


def _week_start(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(dates).dt.normalize()
    return d - pd.to_timedelta(d.dt.dayofweek, unit="D")


def weekly(measures: pd.DataFrame, settings: AggregationSettings | None = None) -> pd.DataFrame:
    """Summarise each subject's measures by ISO week (weeks start on Monday).

    Parameters
    ----------
    measures : DataFrame
        Long table with columns ``subject, date, measure, value`` (see :func:`daily`).
    settings : AggregationSettings, optional
        Wear and missingness rules (default: all defaults).

    Returns
    -------
    DataFrame
        ``subject, measure, week, value, n, valid, reason``: ``n`` is the number of valid days
        (passive streams) or tests (home tests, questionnaires); invalid weeks keep ``value`` NaN
        and say why.
    """
    s = settings or AggregationSettings()
    d = daily(measures, s)
    cols = ["subject", "measure", "week", "value", "n", "valid", "reason"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d["week"] = _week_start(d["date"])
    parts = []
    for name, grp in d.groupby("measure", sort=True, observed=True):
        m = get_measure(str(name))
        g = grp.copy()
        ok = g["valid"].to_numpy()
        if m.kind == "passive" and s.remove_weekly_rhythm:
            g["value"] = _remove_rhythm(g, ok, log=m.transform == "log")
        gv = g[ok]
        level = gv.groupby(["subject", "week"], observed=True)["value"].agg(["median", "size"])
        allw = g.groupby(["subject", "week"], observed=True).size().rename("days")
        wk = allw.to_frame().join(level, how="left").reset_index()
        wk["n"] = wk["size"].fillna(0).astype(int)
        wk["value"] = wk["median"]
        need = s.min_valid_days if m.kind == "passive" else 1
        wk["valid"] = wk["n"] >= need
        wk["reason"] = np.where(
            wk["valid"],
            "",
            np.where(wk["n"] == 0, "no valid days", f"fewer than {need} valid days"),
        )
        wk.loc[~wk["valid"], "value"] = np.nan
        wk.insert(1, "measure", name)
        parts.append(wk[cols])
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["subject", "measure", "week"], ignore_index=True)


def _remove_rhythm(g: pd.DataFrame, ok: np.ndarray, *, log: bool) -> np.ndarray:
    """Divide (or subtract) each person's day-of-week effect estimated from valid days."""
    vals = g["value"].to_numpy(dtype=float)
    dow = pd.to_datetime(g["date"]).dt.dayofweek.to_numpy()
    subj = g["subject"].astype(str).to_numpy()
    out = vals.copy()
    for sid in np.unique(subj):
        sel = subj == sid
        good = sel & ok & (vals > 0 if log else True)
        if good.sum() < 14:
            continue  # too few days to estimate a rhythm; leave as is
        y = np.log(vals[good]) if log else vals[good]
        overall = np.median(y)
        eff = np.zeros(7)
        for k in range(7):
            yk = y[dow[good] == k]
            if yk.size >= 2:
                eff[k] = np.median(yk) - overall
        pos = sel & (vals > 0) if log else sel
        if log:
            out[pos] = np.exp(np.log(vals[pos]) - eff[dow[pos]])
        else:
            out[pos] = vals[pos] - eff[dow[pos]]
    return out
