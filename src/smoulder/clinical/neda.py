"""No evidence of disease activity (NEDA-3 and NEDA-4), per person and per period.

NEDA-3 holds in a period when it has no relapse onset, no confirmed disability worsening (the
progression engine's CDW events, dated at the worsening) and no MRI activity (no scan with new or
enlarging T2 or gadolinium-enhancing lesions; at least one scan is needed, else MRI is unknown).
NEDA-4 adds annualised brain volume loss below ``bvl_threshold_pct`` (0.4 %/year, Kappos et al.,
Mult Scler 2016), from brain volumes measured in the period and the last scan before it (within
``bvl_anchor_days``): the least-squares slope of log volume against time, as percent per year.

Periods: calendar years, the whole observation window, treatment epochs
(:mod:`smoulder.clinical.epochs`) or a table of periods. Every component is three-valued: a
period with any component False is not NEDA; one with none False but one unknown is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder import __version__
from smoulder._params import Settings
from smoulder._result import AnalysisResult
from smoulder.clinical.epochs import (
    EpochResult,
    EpochSettings,
    assess_epochs,
    observation_windows,
    treatment_epochs,
)
from smoulder.exceptions import SettingsError

__all__ = ["NEDASettings", "NEDAResult", "assess_neda", "PERIOD_COLUMNS"]

PERIOD_COLUMNS = [
    "subject", "period", "label", "start", "end", "days", "n_relapses", "n_worsening",
    "n_scans", "n_active_scans", "relapse_free", "no_worsening", "mri_free", "neda3",
    "n_volumes", "bvl_pct_per_year", "bvl_below_threshold", "neda4",
]  # fmt: skip


class NEDASettings(Settings):
    """Options of the NEDA analysis.

    Parameters
    ----------
    periods : {"calendar_year", "whole", "treatment", "custom"}
        How each subject's observation window (first to last visit) is cut.
    bvl_threshold_pct : float
        Annualised brain volume loss (%/year) at or above which NEDA-4 fails (0.4).
    min_bvl_days : float
        Shortest time the volumes must span for a brain volume loss rate (180 days).
    bvl_anchor_days : float
        The last volume up to this many days before a period is used as its reference (400).
    progression : mapping
        Options of the progression engine for confirmed worsening (defaults: msprog's, with
        multiple events and PIRA/RAW classification).
    """

    section: ClassVar[str] = "neda"

    periods: Literal["calendar_year", "whole", "treatment", "custom"] = "calendar_year"
    bvl_threshold_pct: float = 0.4
    min_bvl_days: float = 180.0
    bvl_anchor_days: float = 400.0
    progression: dict[str, Any] = {}

    @field_validator("bvl_threshold_pct", "min_bvl_days", "bvl_anchor_days")
    @classmethod
    def _nonneg(cls, v: float, info: Any) -> float:
        if not np.isfinite(v) or v < 0:
            raise SettingsError(f"{info.field_name} must be a finite number >= 0 (got {v!r})")
        return v


def _days(x: Any) -> np.ndarray:
    return pd.to_datetime(pd.Series(x)).to_numpy().astype("datetime64[D]").astype(np.int64)


def _periods(
    windows: pd.DataFrame, s: NEDASettings, epochs: pd.DataFrame | None, custom: pd.DataFrame | None
) -> pd.DataFrame:
    """Periods as ``subject, period, label, lo, hi`` in day numbers, ``hi`` exclusive."""
    w0, w1 = _days(windows["start"]), _days(windows["end"]) + 1
    subj = windows["subject"].astype(str).to_numpy()
    if s.periods == "whole":
        return pd.DataFrame({"subject": subj, "period": 1, "label": "whole", "lo": w0, "hi": w1})
    if s.periods == "calendar_year":
        y0 = pd.to_datetime(windows["start"]).dt.year.to_numpy()
        y1 = pd.to_datetime(windows["end"]).dt.year.to_numpy()
        n = y1 - y0 + 1
        rep = np.repeat(np.arange(len(subj)), n)
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        year = y0[rep] + k
        jan = np.array([f"{y}-01-01" for y in year], dtype="datetime64[D]").astype(np.int64)
        nxt = np.array([f"{y + 1}-01-01" for y in year], dtype="datetime64[D]").astype(np.int64)
        return pd.DataFrame(
            {
                "subject": subj[rep],
                "period": k + 1,
                "label": year.astype(str),
                "lo": np.maximum(jan, w0[rep]),
                "hi": np.minimum(nxt, w1[rep]),
            }
        )
    if s.periods == "treatment":
        if epochs is None:
            raise SettingsError("periods='treatment' needs a treatments table")
        ep = epochs.sort_values(["subject", "start"])
        lo, hi = _days(ep["start"]), _days(ep["end"])
        last = np.r_[ep["subject"].to_numpy()[1:] != ep["subject"].to_numpy()[:-1], True]
        return pd.DataFrame(
            {
                "subject": ep["subject"].astype(str).to_numpy(),
                "period": ep["epoch"].to_numpy(),
                "label": ep["treatment"].to_numpy(),
                "lo": lo,
                "hi": np.where(last, hi + 1, hi),
            }
        )
    if custom is None:
        raise SettingsError("periods='custom' needs a periods table (subject, period, start, end)")
    return pd.DataFrame(
        {
            "subject": custom["subject"].astype(str).to_numpy(),
            "period": custom["period"].to_numpy(),
            "label": custom["period"].astype(str).to_numpy(),
            "lo": _days(custom["start"]),
            "hi": _days(custom["end"]) + 1,
        }
    )


def _count_in(
    periods: pd.DataFrame, subj: np.ndarray, day: np.ndarray, cats: pd.Index
) -> np.ndarray:
    """How many of the dated items fall in each period (``lo <= day < hi``)."""
    if len(day) == 0:
        return np.zeros(len(periods), dtype=np.int64)
    code = cats.get_indexer(subj).astype(np.int64)
    key = np.sort(code * (1 << 32) + day + (1 << 24))
    pc = cats.get_indexer(periods["subject"]).astype(np.int64) * (1 << 32)
    lo = np.searchsorted(key, pc + periods["lo"].to_numpy() + (1 << 24), side="left")
    hi = np.searchsorted(key, pc + periods["hi"].to_numpy() + (1 << 24), side="left")
    return (hi - lo).astype(np.int64)


def _bvl(
    periods: pd.DataFrame, vols: pd.DataFrame | None, cats: pd.Index, s: NEDASettings
) -> tuple[np.ndarray, np.ndarray]:
    """Annualised brain volume loss (%/year) per period and the number of volumes used."""
    out = np.full(len(periods), np.nan)
    used = np.zeros(len(periods), dtype=np.int64)
    if vols is None or len(vols) == 0:
        return out, used
    code = cats.get_indexer(vols["subject"].astype(str)).astype(np.int64)
    day = _days(vols["date"])
    y = np.log(vols["brain_volume"].to_numpy(dtype=np.float64))
    keep = (code >= 0) & np.isfinite(y)
    code, day, y = code[keep], day[keep], y[keep]
    order = np.lexsort((day, code))
    code, day, y = code[order], day[order], y[order]
    key = code * (1 << 32) + day + (1 << 24)
    pc = cats.get_indexer(periods["subject"]).astype(np.int64) * (1 << 32) + (1 << 24)
    lo = np.searchsorted(key, pc + periods["lo"].to_numpy(), side="left")
    hi = np.searchsorted(key, pc + periods["hi"].to_numpy(), side="left")
    # the last volume before the period, when recent enough, is its reference
    prev = lo - 1
    anchor = (prev >= 0) & (code[np.maximum(prev, 0)] == cats.get_indexer(periods["subject"]))
    anchor &= periods["lo"].to_numpy() - day[np.maximum(prev, 0)] <= s.bvl_anchor_days
    lo = np.where(anchor & (hi > lo), prev, lo)
    n = hi - lo
    ok = n >= 2
    if not ok.any():
        return out, used
    rep = np.repeat(np.flatnonzero(ok), n[ok])
    idx = np.repeat(lo[ok], n[ok]) + (
        np.arange(int(n[ok].sum())) - np.repeat(np.cumsum(n[ok]) - n[ok], n[ok])
    )
    t = day[idx] / 365.25
    yy = y[idx]
    m = len(periods)
    cnt = np.bincount(rep, minlength=m).astype(float)
    st, sy = np.bincount(rep, t, m), np.bincount(rep, yy, m)
    stt, sty = np.bincount(rep, t * t, m), np.bincount(rep, t * yy, m)
    t_min = np.full(m, np.inf)
    t_max = np.full(m, -np.inf)
    np.minimum.at(t_min, rep, t)
    np.maximum.at(t_max, rep, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (cnt * sty - st * sy) / (cnt * stt - st * st)
    span = (t_max - t_min) * 365.25
    good = ok & (span >= max(s.min_bvl_days, 1.0)) & np.isfinite(slope)
    out[good] = -100.0 * (np.exp(slope[good]) - 1.0)
    used[good] = n[good]
    return out, used


def _all3(*parts: pd.Series) -> pd.Series:
    """Three-valued AND: False if any is False, NA if none is False and one is NA."""
    m = np.column_stack([p.astype("float64").to_numpy(na_value=np.nan) for p in parts])
    any_false = (m == 0).any(axis=1)
    any_na = np.isnan(m).any(axis=1)
    return pd.Series(pd.arrays.BooleanArray(~any_false, any_na & ~any_false), index=parts[0].index)


def assess_neda(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    mri: pd.DataFrame | None = None,
    treatments: pd.DataFrame | None = None,
    periods_table: pd.DataFrame | None = None,
    settings: NEDASettings | None = None,
    epoch_settings: EpochSettings | None = None,
    **overrides: Any,
) -> NEDAResult:
    """NEDA-3 and NEDA-4 per period and per person.

    ``visits``, ``relapses`` and ``mri`` are validated for the progression engine (``mri`` with
    ``active`` and, for NEDA-4, ``brain_volume``); ``treatments`` as by
    :func:`smoulder.schema.treatments.validate_treatments` (enables treatment periods and the
    epoch analysis); ``periods_table`` (``subject, period, start, end``) for custom periods.
    """
    from smoulder.clinical.progression import make_settings, run_validated

    s = (
        (settings or NEDASettings()).replace(**overrides)
        if overrides
        else (settings or NEDASettings())
    )
    es = epoch_settings or EpochSettings()
    ps = make_settings({"event": "multiple", "classify_cdw": True, **s.progression})
    windows = observation_windows(visits)
    epochs = treatment_epochs(treatments, windows, es) if treatments is not None else None
    prog = run_validated(visits, relapses, None, ps)
    cats = pd.Index(windows["subject"].astype(str))
    per = _periods(windows, s, epochs, periods_table)
    whole = _periods(windows, s.replace(periods="whole"), None, None)
    cdw = prog.events[prog.events["event_type"] == "CDW"]
    tables = []
    for p in (per, whole):
        t = p.copy()
        if relapses is not None and len(relapses):
            rs, rd = relapses["subject"].astype(str).to_numpy(), _days(relapses["date"])
        else:
            rs, rd = np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
        t["n_relapses"] = _count_in(t, rs, rd, cats)
        t["n_worsening"] = _count_in(
            t, cdw["subject"].astype(str).to_numpy(), _days(cdw["event_date"]), cats
        )
        if mri is not None and len(mri):
            ms = mri["subject"].astype(str).to_numpy()
            md = _days(mri["date"])
            act = (
                mri["active"].to_numpy(dtype=bool) if "active" in mri else np.zeros(len(mri), bool)
            )
            t["n_scans"] = _count_in(t, ms, md, cats)
            t["n_active_scans"] = _count_in(t, ms[act], md[act], cats)
        else:
            t["n_scans"] = 0
            t["n_active_scans"] = 0
        t["relapse_free"] = pd.array(t["n_relapses"] == 0, dtype="boolean")
        t["no_worsening"] = pd.array(t["n_worsening"] == 0, dtype="boolean")
        mri_free = pd.array(t["n_active_scans"] == 0, dtype="boolean")
        mri_free[(t["n_scans"] == 0).to_numpy()] = pd.NA
        t["mri_free"] = mri_free
        t["neda3"] = _all3(t["relapse_free"], t["no_worsening"], t["mri_free"])
        vols = (
            mri[["subject", "date", "brain_volume"]]
            if mri is not None and "brain_volume" in mri
            else None
        )
        bvl, nv = _bvl(t, vols, cats, s)
        t["n_volumes"] = nv
        t["bvl_pct_per_year"] = bvl
        below = pd.array(bvl < s.bvl_threshold_pct, dtype="boolean")
        below[np.isnan(bvl)] = pd.NA
        t["bvl_below_threshold"] = below
        t["neda4"] = _all3(t["neda3"], t["bvl_below_threshold"])
        t["start"] = t["lo"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
        t["end"] = (t["hi"].to_numpy() - 1).astype("datetime64[D]").astype("datetime64[s]")
        t["days"] = (t["hi"] - t["lo"]).astype(np.int64)
        tables.append(t[PERIOD_COLUMNS].reset_index(drop=True))
    ep_result = None
    if treatments is not None:
        ep_result = assess_epochs(visits, relapses, mri, treatments, es, ps, prog.events)
    return NEDAResult(
        periods=tables[0],
        persons=tables[1].drop(columns=["period", "label"]),
        settings=s,
        epoch_result=ep_result,
        progression_settings=ps,
        version=__version__,
    )


def _share(x: pd.Series) -> tuple[int, float]:
    known = x.dropna()
    return int(len(known)), float(known.astype(bool).mean()) if len(known) else float("nan")


@dataclass
class NEDAResult(AnalysisResult):
    """NEDA per period and per person, a summary per period label, and the epoch analysis."""

    pipeline: ClassVar[str] = "smoulder.pipelines.neda"

    periods: pd.DataFrame
    persons: pd.DataFrame
    settings: NEDASettings
    epoch_result: EpochResult | None = None
    progression_settings: Any = None
    version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        """Per period label: how many periods could be judged and the share with NEDA-3/4."""
        rows = []
        for label, g in self.periods.groupby("label", sort=True):
            n3, p3 = _share(g["neda3"])
            n4, p4 = _share(g["neda4"])
            rows.append((label, len(g), n3, p3, n4, p4, float(g["relapse_free"].mean()),
                         float(g["no_worsening"].mean()), _share(g["mri_free"])[1]))  # fmt: skip
        return pd.DataFrame(rows, columns=[
            "label", "periods", "neda3_known", "neda3_share", "neda4_known", "neda4_share",
            "relapse_free_share", "no_worsening_share", "mri_free_share",
        ])  # fmt: skip

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"periods": self.periods, "persons": self.persons, "summary": self.summary}
        if self.epoch_result is not None:
            out.update(self.epoch_result.tables())
        return out

    def methods(self) -> str:
        s = self.settings
        ps = self.progression_settings
        conf = "/".join(f"{c:g}" for c in getattr(ps, "conf_days", [])) or "84"
        cut = {
            "calendar_year": "calendar years", "whole": "the whole observation window",
            "treatment": "treatment epochs", "custom": "the periods given",
        }[s.periods]  # fmt: skip
        n3, p3 = _share(self.persons["neda3"])
        text = (
            f"No evidence of disease activity was assessed with smoulder {self.version} over "
            f"{cut} within each subject's observation window (first to last visit). NEDA-3 "
            "required no relapse onset, no confirmed disability worsening (EDSS, "
            f"{getattr(ps, 'baseline', 'fixed')} baseline, confirmed at {conf} days, dated at "
            "the worsening) and no active MRI scan, with at least one scan in the period (else "
            "unknown). NEDA-4 further required annualised brain volume loss below "
            f"{s.bvl_threshold_pct:g}% per year (Kappos et al. 2016), the least-squares slope "
            "of log brain volume over the period's scans and the last scan up to "
            f"{s.bvl_anchor_days:g} days before it, spanning at least {s.min_bvl_days:g} days. "
            f"Over the whole window, {p3:.1%} of {n3} subjects with known status had NEDA-3."
        )
        if self.epoch_result is not None:
            text += " " + self.epoch_result.methods()
        return text

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Share of periods with NEDA-3 (and NEDA-4) per period label."""
        import matplotlib.pyplot as plt

        t = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(t) + 2), 4))
        x = np.arange(len(t))
        ax.bar(x - 0.2, t["neda3_share"], width=0.4, label="NEDA-3", color="#2c6db3", **kwargs)
        ax.bar(x + 0.2, t["neda4_share"], width=0.4, label="NEDA-4", color="#8fb3de", **kwargs)
        ax.set_xticks(
            x,
            t["label"].astype(str),
            rotation=45 if len(t) > 6 else 0,
            ha="right" if len(t) > 6 else "center",
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of periods (status known)")
        ax.set_title(
            f"No evidence of disease activity by {self.settings.periods.replace('_', ' ')}"
        )
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        return ax
