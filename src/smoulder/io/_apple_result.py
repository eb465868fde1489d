"""The daily table of an Apple Health read (:mod:`smoulder.io.apple_health`): sources chosen per
hour and night, samples combined per day, wear time, daily totals checked, report completed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._apple_arrays import fmt_offset
from smoulder.schema.catalogue import MEASURES

if TYPE_CHECKING:
    from smoulder.io._apple_reader import _Reader


def daily_table(r: _Reader) -> pd.DataFrame:
    """One row per local day and measure from the reduced parts held by the reader ``r``."""
    rows: list[pd.DataFrame] = []
    rep = r.report
    if r.add_parts:
        a = pd.concat(r.add_parts, ignore_index=True)
        a = a.groupby(["code", "sid", "ubin", "day"], sort=False, as_index=False)["value"].sum()
        tot = a.groupby(["code", "ubin", "sid"], sort=False, as_index=False)["value"].sum()
        chosen = r._choose(tot, ["code", "ubin"])
        n_src = tot.groupby(["code", "ubin"], sort=False).size()
        rep.add(
            "hours measured by several sources (only the preferred source counted, never summed)",
            int((n_src > 1).sum()),
            corrected=True,
        )
        a = a.merge(chosen, on=["code", "ubin", "sid"], how="inner")
        daily = a.groupby(["code", "day"], as_index=False)["value"].sum()
        rows.append(daily)
    if r.point_parts:
        p = pd.concat(r.point_parts, ignore_index=True).sort_values(
            ["code", "day", "ustart"], kind="stable"
        )
        for c, sub in p.groupby("code", sort=False):
            rule = r.measures[int(c)].daily
            g = sub.groupby("day", sort=False)["value"]
            v = g.last() if rule == "last" else g.agg(rule)
            rows.append(
                pd.DataFrame({"code": int(c), "day": v.index.to_numpy(), "value": v.to_numpy()})
            )
    if r.sleep_parts:
        s = pd.concat(r.sleep_parts, ignore_index=True)
        s = s.groupby(["sid", "night"], sort=False, as_index=False)["value"].sum()
        chosen = r._choose(s, ["night"])
        n_src = s.groupby("night").size()
        rep.add(
            "nights measured by several sources (only the preferred source counted, never summed)",
            int((n_src > 1).sum()),
            corrected=True,
        )
        s = s.merge(chosen, on=["night", "sid"], how="inner")
        rows.append(
            pd.DataFrame(
                {
                    "code": r.sleep_code,
                    "day": s["night"].to_numpy(),
                    "value": s["value"].to_numpy(),
                }
            )
        )
    if r.wear_hours:
        hours = np.unique(np.concatenate(r.wear_hours))
        wdays, wcount = np.unique(np.floor_divide(hours, 24), return_counts=True)
        other_days = (
            np.unique(np.concatenate([r["day"].to_numpy(dtype=np.int64) for r in rows]))
            if rows
            else wdays
        )
        span = other_days[(other_days >= wdays[0]) & (other_days <= wdays[-1])]
        all_days = np.union1d(wdays, span)
        value = np.zeros(len(all_days))
        value[np.searchsorted(all_days, wdays)] = np.minimum(wcount, 24)
        rows.append(pd.DataFrame({"code": r.hr_code, "day": all_days, "value": value}))
        rep.add("heart-rate records read for wear time", r.hr_records)
        rep.add(
            "days with wear_hours (0 on days with other data but no sample from a worn device)",
            len(all_days),
        )
    if not rows:
        return pd.DataFrame(
            {
                "subject": pd.Series([], dtype=object),
                "date": pd.Series([], dtype="datetime64[s]"),
                "measure": pd.Series([], dtype=object),
                "value": pd.Series([], dtype=float),
                "unit": pd.Series([], dtype=object),
            }
        )
    out = pd.concat(rows, ignore_index=True)
    out["value"] = out["value"].astype(np.float64)
    # daily totals must be possible too (e.g. more than 24 h of sleep in a night)
    all_measures = r.measures + ([MEASURES["wear_hours"]] if r.wear_on else [])
    lo = np.array([m.valid_range[0] for m in all_measures])[out["code"].to_numpy()]
    hi = np.array([m.valid_range[1] for m in all_measures])[out["code"].to_numpy()]
    v = out["value"].to_numpy()
    bad = (v < lo - 1e-9) | (v > hi + 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        m = all_measures[int(out["code"].iloc[i])]
        day = str(np.datetime64(int(out["day"].iloc[i]), "D"))
        if not r.keep_valid:
            raise InputDataError(
                f"impossible daily {m.name} on {day}"
                + (f" (and {int(bad.sum()) - 1} more days)" if bad.sum() > 1 else ""),
                file=r.source,
                column=m.name,
                value=float(v[i]),
                expected=f"a daily value between {m.valid_range[0]:g} and {m.valid_range[1]:g} {m.unit}; "
                "or --keep-valid to leave such days out",
            )
        rep.add("days left out: impossible daily total", int(bad.sum()))
        out = out.loc[~bad]
    out = out.sort_values(["day", "code"], kind="stable")
    names = np.array([m.name for m in all_measures], dtype=object)
    units = np.array([m.unit for m in all_measures], dtype=object)
    code = out["code"].to_numpy()
    df = pd.DataFrame(
        {
            "subject": np.full(len(out), r.subject, dtype=object),
            "date": (out["day"].to_numpy(dtype=np.int64) * 86400).astype("datetime64[s]"),
            "measure": names[code],
            "value": out["value"].to_numpy(),
            "unit": units[code],
        }
    )
    df = df.sort_values(["date", "measure"], kind="stable").reset_index(drop=True)
    rep.rows_used = rep.rows_read - rep.rows_rejected
    if r.other_records:
        rep.add("records of types smoulder does not use (not read)", r.other_records)
    for c, k in enumerate(r.type_counts.tolist()):
        if k:
            rep.add(f"{r.type_names[c]} records read", k)
    if len(r.offsets) > 1:
        common = max(r.offsets, key=r.offsets.__getitem__)
        n_other = sum(k for o, k in r.offsets.items() if o != common)
        rep.add(
            f"records in a UTC offset other than the most common ({fmt_offset(common)}), "
            "dated by their own offset",
            n_other,
            corrected=True,
        )
        rep.warnings.append(
            "UTC offsets seen: "
            + ", ".join(f"{fmt_offset(o)} ({k:,})" for o, k in sorted(r.offsets.items()))
        )
    return df
