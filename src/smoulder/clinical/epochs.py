"""Treatment epochs: which disease-modifying therapy each event happened on, and rates per drug.

From a validated treatments table (:func:`smoulder.schema.treatments.validate_treatments`) and
each subject's observation window (first to last visit), :func:`treatment_epochs` cuts the
window into epochs: courses of one drug and untreated stretches, each starting on a start, a
switch or a stop. With ``lag_days`` the first days of an epoch that starts on a change belong to
what came before (``lag_attribution="previous"``: a drug's effect outlasts its last dose and a new
one takes time to act) or to nobody (``"exclude"``: neither events nor person-time count).

:func:`label_events` gives every dated event (relapse, PIRA, RAW, MRI activity, ...) the epoch it
fell in and the days on that treatment; :func:`event_rates` turns labelled events and epochs into
annualised rates per drug, class or efficacy group with exact (Garwood) Poisson confidence
intervals. :func:`assess_epochs` does all three with the progression engine's PIRA/RAW events.
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
from smoulder.exceptions import SettingsError

__all__ = [
    "EpochSettings",
    "EpochResult",
    "treatment_epochs",
    "label_events",
    "event_rates",
    "poisson_ci",
    "observation_windows",
    "assess_epochs",
    "UNTREATED",
]

UNTREATED = "untreated"
_DAY = np.timedelta64(1, "D")


class EpochSettings(Settings):
    """Options of the treatment-epoch analysis.

    Parameters
    ----------
    lag_days : float
        Days after each start, switch or stop during which events and person-time belong to
        what came before (0: none).
    lag_attribution : {"previous", "exclude"}
        Where the lag goes: to the previous treatment (or untreated) or nowhere.
    confidence : float
        Level of the exact Poisson confidence intervals (0.95).
    """

    section: ClassVar[str] = "epochs"

    lag_days: float = 0.0
    lag_attribution: Literal["previous", "exclude"] = "previous"
    confidence: float = 0.95

    @field_validator("lag_days")
    @classmethod
    def _lag(cls, v: float) -> float:
        if not np.isfinite(v) or v < 0:
            raise SettingsError(f"lag_days must be a finite number of days >= 0 (got {v!r})")
        return v

    @field_validator("confidence")
    @classmethod
    def _conf(cls, v: float) -> float:
        if not 0 < v < 1:
            raise SettingsError(f"confidence must be between 0 and 1 (got {v!r})")
        return v


def poisson_ci(
    events: np.ndarray, exposure: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) confidence limits of ``events / exposure`` for Poisson counts."""
    from scipy.special import gammaincinv

    k = np.asarray(events, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    a = (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(k > 0, gammaincinv(np.maximum(k, 1e-300), a), 0.0) / e
        hi = gammaincinv(k + 1, 1 - a) / e
    bad = ~(e > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def observation_windows(visits: pd.DataFrame) -> pd.DataFrame:
    """First and last visit date of each subject (``subject``, ``start``, ``end``)."""
    g = visits.groupby(visits["subject"].astype(str), sort=True)["date"]
    out = pd.DataFrame({"start": g.min(), "end": g.max()})
    out.index.name = "subject"
    return out.reset_index()


def treatment_epochs(
    treatments: pd.DataFrame | None, windows: pd.DataFrame, settings: EpochSettings | None = None
) -> pd.DataFrame:
    """Cut each subject's observation window into treatment epochs.

    Parameters
    ----------
    treatments : DataFrame or None
        Validated courses: ``subject``, ``drug``, ``drug_class``, ``efficacy``, ``start``,
        ``stop`` (NaT: ongoing).
    windows : DataFrame
        ``subject``, ``start``, ``end`` of each subject's observation.

    Returns
    -------
    DataFrame
        One row per epoch piece: ``subject``, ``epoch`` (1, 2, ... per subject), ``treatment``,
        ``drug_class``, ``efficacy``, ``change`` (what the epoch starts with: ``first``,
        ``start``, ``switch``, ``stop``), ``start``, ``end``, ``course_start`` (when the
        treatment began, for the time on it), ``lag`` (True for the lag piece attributed to the
        previous treatment) and ``person_years``.
    """
    s = settings or EpochSettings()
    rows: list[tuple[Any, ...]] = []
    courses: dict[str, list[tuple[Any, ...]]] = {}
    if treatments is not None and len(treatments):
        for r in treatments.itertuples(index=False):
            courses.setdefault(str(r.subject), []).append(
                (r.start, r.stop, r.drug, r.drug_class, r.efficacy)
            )
    lag = pd.Timedelta(days=s.lag_days)
    for w in windows.itertuples(index=False):
        subj, w0, w1 = str(w.subject), pd.Timestamp(w.start), pd.Timestamp(w.end)
        # the subject's whole time line: untreated stretches between courses
        line: list[tuple[pd.Timestamp, pd.Timestamp, str, str, str]] = []
        t = pd.Timestamp.min
        for c0, c1, drug, cls, eff in courses.get(subj, []):
            c0 = pd.Timestamp(c0)
            c1 = pd.Timestamp.max if pd.isna(c1) else pd.Timestamp(c1)
            if c0 > t:
                line.append((t, c0, UNTREATED, UNTREATED, "none"))
            line.append((c0, c1, drug, cls, eff))
            t = c1
        if t < pd.Timestamp.max:
            line.append((t, pd.Timestamp.max, UNTREATED, UNTREATED, "none"))
        k = 0
        for i, (a, b, drug, cls, eff) in enumerate(line):
            if b <= w0 or a > w1:
                continue
            prev = line[i - 1] if i > 0 else None
            if prev is None:
                change = "first"
            elif drug == UNTREATED:
                change = "stop"
            elif prev[2] == UNTREATED:
                change = "start"
            else:
                change = "switch"
            lo, hi = max(a, w0), min(b, w1)
            pieces = []
            if prev is not None and s.lag_days > 0 and a + lag > lo:
                cut = min(a + lag, hi)
                if s.lag_attribution == "previous":
                    pieces.append((lo, cut, prev[2], prev[3], prev[4], prev[0], True))
                lo = cut
            if hi > lo or (w0 == w1 and a <= w0 < b):
                pieces.append((lo, hi, drug, cls, eff, a, False))
            for p0, p1, dn, dc, de, cstart, is_lag in pieces:
                k += 1
                rows.append((subj, k, dn, dc, de, change, p0, p1, cstart, is_lag))
    out = pd.DataFrame(
        rows,
        columns=[
            "subject", "epoch", "treatment", "drug_class", "efficacy", "change", "start", "end",
            "course_start", "lag",
        ],
    )  # fmt: skip
    for col in ("start", "end", "course_start"):  # datetime also when there are no rows
        out[col] = pd.to_datetime(out[col])
    out["course_start"] = out["course_start"].where(out["course_start"] > pd.Timestamp("1700"))
    out["person_years"] = (out["end"] - out["start"]).dt.days / 365.25
    return out


def label_events(events: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Label each event (``subject``, ``date`` and any other columns) with its epoch.

    Adds ``epoch``, ``treatment``, ``drug_class``, ``efficacy`` and ``days_on_treatment``
    (days since the treatment's course began; NaN for untreated time before any course).
    Events outside every epoch (before the first or after the last visit, or in an excluded
    lag) get ``epoch`` -1 and ``treatment`` NaN.
    """
    ev = events.reset_index(drop=True).copy()
    ep = epochs.sort_values(["subject", "start", "epoch"]).reset_index(drop=True)
    subj_ev = ev["subject"].astype(str).to_numpy()
    subj_ep = ep["subject"].astype(str).to_numpy()
    cats = pd.Index(np.unique(np.r_[subj_ev, subj_ep]))
    c_ev, c_ep = cats.get_indexer(subj_ev), cats.get_indexer(subj_ep)
    d_ev = pd.to_datetime(ev["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    s_ep = ep["start"].to_numpy().astype("datetime64[D]").astype(np.int64)
    e_ep = ep["end"].to_numpy().astype("datetime64[D]").astype(np.int64)
    shift = 1 << 24
    key_ep = c_ep.astype(np.int64) * (1 << 32) + s_ep + shift
    key_ev = c_ev.astype(np.int64) * (1 << 32) + d_ev + shift
    pos = np.searchsorted(key_ep, key_ev, side="right") - 1
    ok = pos >= 0
    ok[ok] = c_ep[pos[ok]] == c_ev[ok]
    # the last epoch of a subject holds its last visit day too
    last = np.r_[c_ep[1:] != c_ep[:-1], True] if len(c_ep) else np.zeros(0, bool)
    inside = np.zeros(len(ev), dtype=bool)
    inside[ok] = (d_ev[ok] < e_ep[pos[ok]]) | (last[pos[ok]] & (d_ev[ok] <= e_ep[pos[ok]]))
    idx = np.where(inside, pos, -1)
    for col in ("treatment", "drug_class", "efficacy"):
        vals = ep[col].to_numpy(dtype=object)
        picked = np.full(len(ev), None, dtype=object)
        if len(ep):
            picked[idx >= 0] = vals[idx[idx >= 0]]
        ev[col] = picked
    ev["epoch"] = (
        np.where(idx >= 0, ep["epoch"].to_numpy()[np.maximum(idx, 0)], -1) if len(ep) else -1
    )
    if len(ep):
        cs = ep["course_start"].to_numpy().astype("datetime64[D]")[np.maximum(idx, 0)]
        days = (d_ev - cs.astype(np.int64)).astype(np.float64)
        days[np.isnat(cs) | (idx < 0)] = np.nan
    else:
        days = np.full(len(ev), np.nan)
    ev["days_on_treatment"] = days
    return ev


def event_rates(
    labelled: pd.DataFrame,
    epochs: pd.DataFrame,
    by: str = "treatment",
    kinds: list[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Annualised event rates per ``by`` group (``treatment``, ``drug_class`` or ``efficacy``).

    One row per group and event kind: events, person-years, rate per person-year and its exact
    Poisson confidence interval.
    """
    if by not in ("treatment", "drug_class", "efficacy"):
        raise SettingsError(
            f"by must be one of 'treatment', 'drug_class' or 'efficacy' (got {by!r})"
        )
    py = epochs.groupby(by, sort=True)["person_years"].sum()
    kinds = kinds or sorted(labelled["kind"].unique()) if len(labelled) else (kinds or [])
    got = labelled[labelled["epoch"] >= 0]
    counts = got.groupby([by, "kind"]).size()
    rows = []
    for g, years in py.items():
        for k in kinds:
            n = int(counts.get((g, k), 0))
            rows.append((g, k, n, float(years)))
    out = pd.DataFrame(rows, columns=[by, "kind", "events", "person_years"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_per_year"] = np.where(
            out["person_years"] > 0, out["events"] / out["person_years"], np.nan
        )
    lo, hi = poisson_ci(out["events"].to_numpy(), out["person_years"].to_numpy(), confidence)
    out["ci_low"], out["ci_high"] = lo, hi
    return out


def assess_epochs(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None,
    mri: pd.DataFrame | None,
    treatments: pd.DataFrame | None,
    settings: EpochSettings | None = None,
    progression: Any = None,
    progression_events: pd.DataFrame | None = None,
) -> EpochResult:
    """Label relapses, PIRA/RAW/undefined worsening and MRI activity with their treatment epoch.

    ``visits``, ``relapses`` and ``mri`` are tables validated for the progression engine
    (:func:`smoulder.clinical.progression.run_validated`); ``progression`` is its settings (a
    :class:`~smoulder.clinical.settings.ProgressionSettings`, mapping or None: multiple events
    with PIRA/RAW classification and otherwise msprog's defaults). ``progression_events``, when
    given, are that engine's events already computed with those settings.
    """
    from smoulder.clinical.progression import make_settings, run_validated

    s = settings or EpochSettings()
    ps = _progression_settings(progression, make_settings)
    windows = observation_windows(visits)
    epochs = treatment_epochs(treatments, windows, s)
    if progression_events is None:
        progression_events = run_validated(visits, relapses, None, ps).events
    events = collect_events(progression_events, relapses, mri)
    labelled = label_events(events, epochs)
    kinds = ["relapse", "PIRA", "RAW", "undefined CDW", "MRI activity"]
    kinds = [k for k in kinds if k in set(labelled["kind"])] or kinds[:3]
    rates = {
        by: event_rates(labelled, epochs, by=by, kinds=kinds, confidence=s.confidence)
        for by in ("treatment", "drug_class", "efficacy")
    }
    return EpochResult(
        epochs=epochs,
        events=labelled,
        rates_by_drug=rates["treatment"],
        rates_by_class=rates["drug_class"],
        rates_by_efficacy=rates["efficacy"],
        settings=s,
        progression_settings=ps,
        version=__version__,
    )


def _progression_settings(progression: Any, make_settings: Any) -> Any:
    base: dict[str, Any] = {"event": "multiple", "classify_cdw": True}
    if progression is None:
        return make_settings(base)
    if isinstance(progression, dict):
        return make_settings({**base, **progression})
    return progression


def collect_events(
    progression_events: pd.DataFrame, relapses: pd.DataFrame | None, mri: pd.DataFrame | None
) -> pd.DataFrame:
    """One table of dated events: relapses, worsening (by PIRA/RAW class) and active scans."""
    parts = []
    if relapses is not None and len(relapses):
        parts.append(pd.DataFrame({"subject": relapses["subject"].astype(str).to_numpy(),
                                   "date": relapses["date"].to_numpy(), "kind": "relapse"}))  # fmt: skip
    ev = progression_events[progression_events["event_type"] == "CDW"]
    if len(ev):
        cls = ev["cdw_type"].replace({"undefined": "undefined CDW", "": "CDW"})
        parts.append(pd.DataFrame({"subject": ev["subject"].astype(str).to_numpy(),
                                   "date": ev["event_date"].to_numpy(), "kind": cls.to_numpy()}))  # fmt: skip
    if mri is not None and len(mri) and "active" in mri:
        act = mri[mri["active"].astype(bool)]
        parts.append(pd.DataFrame({"subject": act["subject"].astype(str).to_numpy(),
                                   "date": act["date"].to_numpy(), "kind": "MRI activity"}))  # fmt: skip
    if not parts:
        return pd.DataFrame({"subject": pd.Series([], dtype=object),
                             "date": pd.Series([], dtype="datetime64[ns]"), "kind": pd.Series([], dtype=object)})  # fmt: skip
    return pd.concat(parts, ignore_index=True)


@dataclass
class EpochResult(AnalysisResult):
    """Epochs, labelled events and rates per drug, class and efficacy group."""

    pipeline: ClassVar[str] = "smoulder.pipelines.neda"

    epochs: pd.DataFrame
    events: pd.DataFrame
    rates_by_drug: pd.DataFrame
    rates_by_class: pd.DataFrame
    rates_by_efficacy: pd.DataFrame
    settings: EpochSettings
    progression_settings: Any = None
    version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        return self.rates_by_class

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "epochs": self.epochs,
            "events": self.events,
            "rates_by_drug": self.rates_by_drug,
            "rates_by_class": self.rates_by_class,
            "rates_by_efficacy": self.rates_by_efficacy,
        }

    def methods(self) -> str:
        s = self.settings
        lag = (
            f" The first {s.lag_days:g} days after each start, switch or stop were attributed "
            + (
                "to the treatment before it."
                if s.lag_attribution == "previous"
                else "to no treatment and left out."
            )
            if s.lag_days > 0
            else ""
        )
        n_sub = self.epochs["subject"].nunique()
        return (
            f"Treatment epochs were formed with smoulder {self.version} from each subject's "
            "courses of disease-modifying therapy within the observation window (first to last "
            f"visit), untreated stretches included, for {n_sub} subjects and "
            f"{self.epochs['person_years'].sum():.1f} person-years.{lag} Relapse onsets, "
            "confirmed disability worsening classified as PIRA, RAW or undefined (progression "
            "engine, multiple events) and active MRI scans were assigned to the epoch they fell "
            "in. Annualised rates are events per person-year with exact Poisson "
            f"{s.confidence:.0%} confidence intervals, per drug, drug class and efficacy group."
        )

    def plot(
        self, ax: Any = None, kind: str = "relapse", by: str = "drug_class", **kwargs: Any
    ) -> Any:
        """Rates of one event kind per group with their confidence intervals (forest plot)."""
        import matplotlib.pyplot as plt

        table = {"treatment": self.rates_by_drug, "drug_class": self.rates_by_class,
                 "efficacy": self.rates_by_efficacy}[by]  # fmt: skip
        t = table[(table["kind"] == kind) & (table["person_years"] > 0)].sort_values(
            "rate_per_year"
        )
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 0.4 * max(3, len(t)) + 1))
        y = np.arange(len(t))
        ax.errorbar(t["rate_per_year"], y, xerr=[t["rate_per_year"] - t["ci_low"], t["ci_high"] - t["rate_per_year"]],
                    fmt="o", color="#2c6db3", capsize=3, **kwargs)  # fmt: skip
        ax.set_yticks(
            y, [f"{g} ({py:.0f} PY)" for g, py in zip(t[by], t["person_years"], strict=True)]
        )
        ax.set_xlabel(f"{kind} per person-year")
        ax.set_title(f"Annualised {kind} rate by {by.replace('_', ' ')}")
        ax.grid(axis="x", alpha=0.3)
        return ax
