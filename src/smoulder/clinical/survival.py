"""Time to first event, Kaplan–Meier curves and Cox hazard ratios.

The tables here are what trial reports show: for each subject the time to the
first event of a kind (or to the end of follow-up when censored), Kaplan–Meier
curves per group with confidence bands and numbers at risk, and the hazard
ratio of each group against a reference with its 95 % confidence interval and
a log-rank p-value.

The Kaplan-Meier estimate is computed here (product-limit estimate, Greenwood variance,
exponential Greenwood bands: the numbers lifelines gives, checked against it in the tests), so
that the default figures of ``smoulder progression`` need not import lifelines; the Cox model and
the log-rank test of the group comparison are lifelines'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder._params import Settings
from smoulder._result import AnalysisResult
from smoulder.exceptions import SettingsError

__all__ = [
    "KINDS",
    "KMSettings",
    "KMResult",
    "time_to_first_event",
    "kaplan_meier",
    "km_estimate",
    "cox_hazard_ratio",
    "hazard_ratio_text",
    "format_p",
]

KINDS = ("CDW", "CDI", "PIRA", "RAW", "undefined", "PIRMA")
_YEAR = 365.25


def time_to_first_event(
    events: pd.DataFrame, summary: pd.DataFrame, kind: str = "CDW", durations_in: str = "days"
) -> pd.DataFrame:
    """Time from the first visit to the first event of ``kind`` for every subject.

    Parameters
    ----------
    events, summary : DataFrame
        The tables of a :class:`~smoulder.clinical.result.ProgressionResult`.
    kind : {"CDW", "CDI", "PIRA", "RAW", "undefined", "PIRMA"}
        Which events count.
    durations_in : {"days", "years"}
        Adds ``duration_years`` when ``"years"``.

    Returns
    -------
    DataFrame
        ``subject, duration_days, event, event_date``; censored subjects have
        ``event`` False and ``duration_days`` equal to their follow-up.

    Examples
    --------
    >>> ev = pd.DataFrame(
    ...     {
    ...         "subject": ["a"],
    ...         "event_type": ["CDW"],
    ...         "cdw_type": ["PIRA"],
    ...         "pirma": [True],
    ...         "event_date": pd.to_datetime(["2021-01-01"]),
    ...         "time_to_event_days": [365.0],
    ...     }
    ... )
    >>> sm = pd.DataFrame({"subject": ["a", "b"], "follow_up_days": [700.0, 500.0]})
    >>> time_to_first_event(ev, sm)[["subject", "duration_days", "event"]].values.tolist()
    [['a', 365.0, True], ['b', 500.0, False]]
    """
    if kind not in KINDS:
        raise SettingsError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if durations_in not in ("days", "years"):
        raise SettingsError(f"durations_in must be 'days' or 'years'; got {durations_in!r}")
    ev = events
    if kind == "CDI":
        mask = ev["event_type"] == "CDI"
    elif kind == "CDW":
        mask = ev["event_type"] == "CDW"
    elif kind == "PIRMA":
        pirma = pd.array(ev["pirma"], dtype="boolean").fillna(False)
        mask = (ev["cdw_type"] == "PIRA") & pirma
    else:
        mask = ev["cdw_type"] == kind
    sel = ev.loc[mask.to_numpy(dtype=bool), ["subject", "event_date", "time_to_event_days"]].copy()
    sel["subject"] = sel["subject"].astype(str)
    first = (
        sel.sort_values(["subject", "event_date"], kind="stable")
        .drop_duplicates("subject")
        .set_index("subject")
    )
    out = pd.DataFrame({"subject": summary["subject"].astype(str).to_numpy()})
    hit = out["subject"].isin(first.index).to_numpy()
    fu = summary["follow_up_days"].to_numpy(dtype=float)
    t = out["subject"].map(first["time_to_event_days"]).to_numpy(dtype=float)
    out["duration_days"] = np.where(hit, t, fu)
    out["event"] = hit
    out["event_date"] = out["subject"].map(first["event_date"])
    if durations_in == "years":
        out["duration_years"] = out["duration_days"] / _YEAR
    return out


def _groups_for(tte: pd.DataFrame, group: Any) -> pd.Series:
    if group is None:
        return pd.Series("all", index=tte.index)
    if isinstance(group, pd.DataFrame):
        col = [c for c in group.columns if c != "subject"]
        if len(col) != 1:
            raise SettingsError("groups must have 'subject' and exactly one group column")
        mapping = group.assign(subject=group["subject"].astype(str)).set_index("subject")[col[0]]
    elif isinstance(group, pd.Series):
        mapping = group
        mapping.index = mapping.index.astype(str)
    else:
        raise SettingsError(
            "group must be a DataFrame (subject, group) or a Series indexed by subject"
        )
    g = tte["subject"].astype(str).map(mapping)
    missing = int(g.isna().sum())
    if missing:
        raise SettingsError(f"{missing} subjects have no group; every subject needs one")
    return g.astype(str)


class KMSettings(Settings):
    """Settings of a Kaplan-Meier estimate.

    Parameters
    ----------
    label : str
        Name of the event (axis labels and the methods paragraph).
    alpha : float
        1 - the confidence level of the bands (0.05: 95 % bands).
    min_at_risk : int
        Figures stop each curve where fewer than this many subjects remain at risk (the
        estimate there rests on too few subjects to be read); the tables keep every step.
    """

    section: ClassVar[str] = "kaplan_meier"

    label: str = "event"
    alpha: float = 0.05
    min_at_risk: int = 10

    @field_validator("min_at_risk")
    @classmethod
    def _min_at_risk(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(
                f"min_at_risk must be a whole number of at least 1, e.g. 10 (got {v!r})"
            )
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not 0 < v < 1:
            raise SettingsError(f"alpha must be between 0 and 1, e.g. 0.05 (got {v!r})")
        return v


@dataclass
class KMResult(AnalysisResult):
    """Kaplan–Meier estimates per group.

    Attributes
    ----------
    table : DataFrame
        The curves: ``group, time_days, at_risk, events, survival, ci_lower, ci_upper``, one
        row per distinct time (time 0 first) of each group.
    label : str
        Name of the event.
    durations : dict
        The durations (days) and event flags of each group.
    settings : KMSettings
    version : str
    fitters : dict
        A lifelines ``KaplanMeierFitter`` per group, fitted when first asked for (the same
        estimate; lifelines is imported only then).
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.survival"

    table: pd.DataFrame
    label: str = "event"
    durations: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    settings: KMSettings = field(default_factory=KMSettings)
    version: str = ""

    @property
    def fitters(self) -> dict[str, Any]:
        """A fitted lifelines ``KaplanMeierFitter`` per group (imports lifelines)."""
        from lifelines import KaplanMeierFitter

        return {
            g: KaplanMeierFitter(label=str(g), alpha=self.settings.alpha).fit(d, e)
            for g, (d, e) in self.durations.items()
        }

    def _curve(self, group: str) -> pd.DataFrame:
        return self.table[self.table["group"] == group]

    def survival_at(self, group: str, days: float) -> float:
        """S(``days``) of ``group``: the estimate at the last time at or before ``days``."""
        c = self._curve(group)
        k = int(np.searchsorted(c["time_days"].to_numpy(), days, side="right")) - 1
        return float(c["survival"].iloc[k]) if k >= 0 else 1.0

    @property
    def summary(self) -> pd.DataFrame:
        """One row per group: subjects, events, median time to event (days; NaN when the curve
        never falls to one half) and cumulative incidence at 1, 2 and 5 years."""
        rows = []
        for g, (d, e) in self.durations.items():
            c = self._curve(g)
            sv = c["survival"].to_numpy()
            below = np.flatnonzero(sv <= 0.5)  # the first time S falls to one half or below
            row: dict[str, Any] = {
                "group": g,
                "subjects": len(d),
                "events": int(np.sum(e)),
                "median_days": float(c["time_days"].iloc[below[0]]) if len(below) else np.nan,
            }
            for years in (1, 2, 5):
                row[f"incidence_{years}y"] = 1 - self.survival_at(g, years * _YEAR)
            rows.append(row)
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``curve`` (every step with its band and numbers at risk) and ``summary``."""
        return {"curve": self.table, "summary": self.summary}

    def methods(self) -> str:
        """A methods paragraph for the estimate."""
        level = round(100 * (1 - self.settings.alpha))
        groups = (
            ""
            if list(self.durations) == ["all"]
            else f" in each group ({', '.join(map(str, self.durations))})"
        )
        return (
            f"Time from the first visit to the first {self.label} was estimated{groups} with the "
            f"Kaplan-Meier method (smoulder {self.version}), "
            f"with {level} % confidence bands from the exponential Greenwood formula; subjects "
            "without the event were censored at their last visit."
        )

    def cumulative_incidence_at(self, days: float) -> pd.DataFrame:
        """1 − S(t) at ``days`` per group, with its confidence interval.

        Parameters
        ----------
        days : float
            Days from the first visit.

        Returns
        -------
        DataFrame
            ``group, days, incidence, ci_lower, ci_upper``.
        """
        rows = []
        for g in self.durations:
            c = self._curve(g)
            k = int(np.searchsorted(c["time_days"].to_numpy(), days, side="right")) - 1
            s = float(c["survival"].iloc[k]) if k >= 0 else 1.0
            lo, hi = (c["ci_lower"].iloc[k], c["ci_upper"].iloc[k]) if k >= 0 else (1.0, 1.0)
            rows.append(
                {
                    "group": g,
                    "days": days,
                    "incidence": 1 - s,
                    "ci_lower": 1 - hi,
                    "ci_upper": 1 - lo,
                }
            )
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None, years: bool = True, annotation: str | None = None) -> Any:
        """Step curves with censoring ticks, outlined confidence bands and a number-at-risk table
        at regular times; each curve stops where fewer than ``settings.min_at_risk`` subjects
        remain at risk (said in the caption). Returns the Figure.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (a new figure by default).
        years : bool
            Time axis in years (default) or days.
        annotation : str, optional
            A line written on the figure, e.g. the hazard ratio and log-rank p of
            :func:`hazard_ratio_text`.
        """
        from smoulder.clinical.plots import plot_km

        return plot_km(self, ax=ax, years=years, annotation=annotation)


def kaplan_meier(
    tte: pd.DataFrame,
    group: Any = None,
    label: str | None = None,
    settings: KMSettings | None = None,
    **options: Any,
) -> KMResult:
    """Kaplan–Meier estimate of the time to first event, overall or per group.

    Parameters
    ----------
    tte : DataFrame
        From :func:`time_to_first_event` (``subject``, ``duration_days``, ``event``).
    group : DataFrame or Series, optional
        Subject to group (e.g. trial arm).
    label : str, optional
        Name of the event for axis labels (the settings' ``label``).
    settings : KMSettings, optional
        ``options`` (``alpha=0.1``) override it.

    Returns
    -------
    KMResult

    Examples
    --------
    >>> tte = pd.DataFrame(
    ...     {
    ...         "subject": ["a", "b", "c", "d"],
    ...         "duration_days": [100.0, 200.0, 300.0, 400.0],
    ...         "event": [True, False, True, False],
    ...     }
    ... )
    >>> km = kaplan_meier(tte, label="PIRA")
    >>> km.table[["time_days", "at_risk", "survival"]].round(3).values.tolist()
    [[0.0, 4.0, 1.0], [100.0, 4.0, 0.75], [200.0, 3.0, 0.75], [300.0, 2.0, 0.375], [400.0, 1.0, 0.375]]
    >>> km.summary[["group", "subjects", "events", "median_days"]].to_dict("records")
    [{'group': 'all', 'subjects': 4, 'events': 2, 'median_days': 300.0}]
    """
    from smoulder import __version__

    s = KMSettings.from_mapping(
        settings.model_dump() if settings is not None else None, label=label, **options
    )
    g = _groups_for(tte, group)
    durations, parts = {}, []
    for name in sorted(g.unique()):
        m = (g == name).to_numpy()
        d = tte.loc[m, "duration_days"].to_numpy(dtype=float)
        e = tte.loc[m, "event"].to_numpy(dtype=bool)
        durations[name] = (d, e)
        parts.append(pd.DataFrame({"group": name, **km_estimate(d, e, s.alpha)}))
    return KMResult(
        table=pd.concat(parts, ignore_index=True),
        label=s.label,
        durations=durations,
        settings=s,
        version=__version__,
    )


def km_estimate(durations: np.ndarray, events: np.ndarray, alpha: float = 0.05) -> dict[str, Any]:
    """The Kaplan-Meier (product-limit) estimate of right-censored ``durations``.

    At each distinct time t (and at time 0), with n subjects still followed (duration >= t) and
    d events at t: S(t) = prod (1 - d / n), the Greenwood sum V(t) = sum d / (n (n - d)) (steps
    where n = d add nothing), and the exponential Greenwood band
    exp(-exp(log(-log S) -/+ z sqrt(V) / log S)), 1 where S = 1 (lifelines' formulas).

    Returns
    -------
    dict of arrays
        ``time_days, at_risk, events, survival, ci_lower, ci_upper``.

    Examples
    --------
    >>> out = km_estimate(np.array([100.0, 150, 200, 300, 300]), np.array([1, 0, 1, 0, 0], bool))
    >>> out["time_days"].tolist(), out["at_risk"].tolist(), out["survival"].round(4).tolist()
    ([0.0, 100.0, 150.0, 200.0, 300.0], [5, 5, 4, 3, 2], [1.0, 0.8, 0.8, 0.5333, 0.5333])
    """
    from statistics import NormalDist

    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    times, inverse = np.unique(np.concatenate([[min(0.0, d.min() if len(d) else 0.0)], d]),
                               return_inverse=True)  # fmt: skip
    idx = inverse[1:]
    removed = np.bincount(idx, minlength=len(times))
    died = np.bincount(idx, weights=e, minlength=len(times))
    n = len(d) - np.concatenate([[0], np.cumsum(removed)[:-1]])  # followed at each time
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.cumsum(np.log(n - died) - np.log(n))
        step = np.where(n > died, died / (n * (n - died)), 0.0)
        var = np.cumsum(step)
        surv = np.exp(log_s)
        z = NormalDist().inv_cdf(1 - alpha / 2)
        v = log_s
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(var) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(var) / v))
    return {
        "time_days": times,
        "at_risk": n.astype(np.int64),
        "events": died.astype(np.int64),
        "survival": surv,
        "ci_lower": np.nan_to_num(lower, nan=1.0),
        "ci_upper": np.nan_to_num(upper, nan=1.0),
    }


def cox_hazard_ratio(
    tte: pd.DataFrame, groups: pd.DataFrame, group_col: str, reference: str | None = None
) -> pd.DataFrame:
    """Hazard ratio of each group against ``reference`` (Cox model), with 95 % CI and log-rank p.

    Parameters
    ----------
    tte : DataFrame
        From :func:`time_to_first_event`.
    groups : DataFrame
        ``subject`` and ``group_col``.
    group_col : str
        The group column.
    reference : str, optional
        The reference level (default: the first in sorted order).

    Returns
    -------
    DataFrame
        One row per non-reference group: ``group, reference, hazard_ratio, ci_lower, ci_upper,
        p_value, logrank_p, n, events``.

    Examples
    --------
    >>> tte = pd.DataFrame(
    ...     {
    ...         "subject": list("abcdefgh"),
    ...         "duration_days": [100.0, 200, 300, 400, 150, 250, 500, 600],
    ...         "event": [True, True, True, False, True, False, False, False],
    ...     }
    ... )
    >>> groups = pd.DataFrame({"subject": list("abcdefgh"), "arm": ["x"] * 4 + ["y"] * 4})
    >>> hr = cox_hazard_ratio(tte, groups, "arm", reference="y")
    >>> hr[["group", "reference", "n", "events"]].values.tolist()  # n, events: group x
    [['x', 'y', 4, 3]]
    >>> bool(hr.hazard_ratio.iloc[0] > 1)
    True
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    g = _groups_for(tte, groups[["subject", group_col]])
    levels = sorted(g.unique())
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise SettingsError(f"reference group {reference!r} not found; groups are {levels}")
    rows = []
    for lev in levels:
        if lev == reference:
            continue
        m = (g == lev) | (g == reference)
        df = pd.DataFrame(
            {
                "T": tte.loc[m, "duration_days"].to_numpy(dtype=float),
                "E": tte.loc[m, "event"].to_numpy(dtype=bool),
                "x": (g[m] == lev).to_numpy(dtype=float),
            }
        )
        df["T"] = np.maximum(df["T"], 1e-6)
        cph = CoxPHFitter().fit(df, duration_col="T", event_col="E")
        s = cph.summary.loc["x"]
        a, b = df["x"] == 1, df["x"] == 0
        lr = logrank_test(df.loc[a, "T"], df.loc[b, "T"], df.loc[a, "E"], df.loc[b, "E"])
        rows.append(
            {
                "group": lev,
                "reference": reference,
                "hazard_ratio": float(s["exp(coef)"]),
                "ci_lower": float(s["exp(coef) lower 95%"]),
                "ci_upper": float(s["exp(coef) upper 95%"]),
                "p_value": float(s["p"]),
                "logrank_p": float(lr.p_value),
                "n": int(a.sum()),
                "events": int(df.loc[a, "E"].sum()),
            }
        )
    return pd.DataFrame(rows)


def format_p(p: float) -> str:
    """A p-value as a reader expects it: ``= 0.003``, ``= 0.04``, ``< 0.001``.

    Examples
    --------
    >>> format_p(0.0031), format_p(0.0412), format_p(0.27), format_p(0.00002)
    ('= 0.003', '= 0.04', '= 0.27', '< 0.001')
    """
    if not np.isfinite(p):
        return "not computed"
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"= {p:.3f}"
    return f"= {p:.2f}"


def hazard_ratio_text(row: Any) -> str:
    """One row of :func:`cox_hazard_ratio` as a sentence fragment.

    Examples
    --------
    >>> hazard_ratio_text(
    ...     {"hazard_ratio": 0.6234, "ci_lower": 0.451, "ci_upper": 0.8477, "logrank_p": 0.00312}
    ... )
    'HR 0.62 (95 % CI 0.45-0.85), log-rank p = 0.003'
    """
    return (
        f"HR {row['hazard_ratio']:.2f} (95 % CI {row['ci_lower']:.2f}-{row['ci_upper']:.2f}), "
        f"log-rank p {format_p(float(row['logrank_p']))}"
    )
