"""Multiverse of PIRA definitions: one cohort under a grid of definitions, in one call.

Each definition is a set of progression-engine options (:class:`~smoulder.clinical.settings.
ProgressionSettings`) on top of common ``base`` options. The grid is data: either the product of
``dimensions`` (dimension -> option label -> options) or an explicit list of ``definitions``. The
default grid reproduces the five dimensions of Müller et al. (JAMA Neurol 2025; 360 definitions):
baseline (3) x minimum confirmation period (3) x confirmation magnitude (2) x freedom from relapse
at the worsening (5) x at the confirmation (4).

For every definition :func:`run_multiverse` reports the incidence of PIRA per 10 person-years
(exact Poisson CI), the share of confirmed worsening that is PIRA, and persistence: the share of
PIRA events still worse than their baseline (by the minimal change) at the subject's last visit.
The engine is called through :func:`smoulder.clinical.progression.run_validated` only; the
visits, their last values and the search keys are prepared once and reused.

Options beyond the progression engine's (keys of a definition):

``relapse_indep.prec`` / ``.event`` / ``.conf`` / ``.prec_type``
    one part of ``relapse_indep``; when the confirmation window opens to the left
    (``["open", 0]``), the worsening window is opened to the right too ("no relapse between
    worsening and confirmation", msprog's convention for merging windows);
``confirmation_magnitude``
    ``"baseline"`` (the engine's: confirmed at or above the threshold over baseline) or
    ``"event"`` (at or above the worsening score at every visit up to confirmation). The
    engine has no such option: ``"event"`` keeps the events whose confirmation visits are at or
    above the event's score, and does not search later visits for another confirmation or
    revisit later baselines (an approximation; see docs/multiverse.md).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder import __version__
from smoulder._params import Settings
from smoulder._result import AnalysisResult
from smoulder.clinical.epochs import poisson_ci
from smoulder.exceptions import SettingsError

__all__ = [
    "MultiverseSettings",
    "MultiverseResult",
    "Definition",
    "expand_grid",
    "run_multiverse",
    "mueller2025_dimensions",
    "MUELLER2025_BASE",
]

#: options common to every definition of the default grid
MUELLER2025_BASE: dict[str, Any] = {
    "outcome": "edss",
    "event": "multiple",
    "classify_cdw": True,
    "conf_tol_days": [0.0, math.inf],
    "relapse_to_bl": [30.0, 0.0],
    "relapse_to_conf": [30.0, 0.0],
}
_SPECIAL = {"confirmation_magnitude"}
_RI_KEYS = ("prec", "event", "conf", "prec_type")


def mueller2025_dimensions() -> dict[str, dict[str, dict[str, Any]]]:
    """The five dimensions of Müller et al. (JAMA Neurol 2025): 3 x 3 x 2 x 5 x 4 = 360."""
    return {
        "baseline": {
            "fixed, re-baselined after worsening": {"baseline": "roving_wors"},
            "+ after relapses": {"baseline": "roving_wors", "relapse_rebl": True},
            "+ after improvement": {"baseline": "roving", "relapse_rebl": True},
        },
        "confirmation": {
            "6 months": {"conf_days": [182.625]},
            "12 months": {"conf_days": [365.25]},
            "24 months": {"conf_days": [730.5]},
        },
        "magnitude": {
            "threshold over baseline": {"confirmation_magnitude": "baseline"},
            "at or above the worsening": {"confirmation_magnitude": "event"},
        },
        "relapse-free at worsening": {
            "90 days before": {"relapse_indep.prec": [0, 0], "relapse_indep.event": [90, 0]},
            "90 before, 30 after": {"relapse_indep.prec": [0, 0], "relapse_indep.event": [90, 30]},
            "180 before and after": {"relapse_indep.prec": [0, 0], "relapse_indep.event": [180, 180]},
            "since the previous visit": {
                "relapse_indep.prec": [0, "open"],
                "relapse_indep.event": ["open", 0],
                "relapse_indep.prec_type": "last",
            },
            "since baseline": {
                "relapse_indep.prec": [0, "open"],
                "relapse_indep.event": ["open", 0],
                "relapse_indep.prec_type": "baseline",
            },
        },
        "relapse-free at confirmation": {
            "30 days before": {"relapse_indep.conf": [30, 0]},
            "90 days before": {"relapse_indep.conf": [90, 0]},
            "30 before and after": {"relapse_indep.conf": [30, 30]},
            "between worsening and confirmation": {"relapse_indep.conf": ["open", 0]},
        },
    }  # fmt: skip


class MultiverseSettings(Settings):
    """The grid of definitions and how the results are summarised.

    Parameters
    ----------
    base : mapping
        Progression-engine options common to every definition.
    dimensions : mapping
        Dimension -> option label -> options; the grid is their product (ignored when
        ``definitions`` is given).
    definitions : list of mappings
        Explicit definitions: options, with an optional ``name``.
    persistence_min_follow_up_days : float
        Only PIRA events with at least this follow-up after them count for persistence (0: all;
        Müller 2025 required 5 years = 1826.25 days).
    confidence : float
        Level of the Poisson confidence intervals.
    """

    section: ClassVar[str] = "multiverse"

    base: dict[str, Any] = MUELLER2025_BASE
    dimensions: dict[str, dict[str, dict[str, Any]]] = mueller2025_dimensions()
    definitions: list[dict[str, Any]] = []
    persistence_min_follow_up_days: float = 0.0
    confidence: float = 0.95

    @field_validator("persistence_min_follow_up_days")
    @classmethod
    def _fu(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0:
            raise SettingsError(f"persistence_min_follow_up_days must be >= 0 days (got {v!r})")
        return v

    @field_validator("confidence")
    @classmethod
    def _conf(cls, v: float) -> float:
        if not 0 < v < 1:
            raise SettingsError(f"confidence must be between 0 and 1 (got {v!r})")
        return v


@dataclass(frozen=True)
class Definition:
    """One definition of the grid: its name, its option per dimension and its settings."""

    name: str
    labels: dict[str, str]
    settings: Any
    magnitude: str = "baseline"


def _open(x: Any) -> Any:
    return "open" if x is None else x


def _compose(base: dict[str, Any], overrides: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Merge options; dotted ``relapse_indep.*`` keys change one part of ``relapse_indep``."""
    from smoulder.clinical.settings import ProgressionSettings

    merged = dict(base)
    magnitude = "baseline"
    ri_parts: dict[str, Any] = {}
    for k, v in overrides.items():
        if k == "confirmation_magnitude":
            if v not in ("baseline", "event"):
                raise SettingsError(
                    f"confirmation_magnitude must be 'baseline' or 'event' (got {v!r})"
                )
            magnitude = v
        elif k.startswith("relapse_indep."):
            part = k.split(".", 1)[1]
            if part not in _RI_KEYS:
                raise SettingsError(
                    f"unknown key {k!r} (allowed: relapse_indep.{', relapse_indep.'.join(_RI_KEYS)})"
                )
            ri_parts[part] = v
        elif k != "name":
            merged[k] = v
    if ri_parts:
        ri = dict(merged.get("relapse_indep") or ProgressionSettings().relapse_indep)
        ri.update(ri_parts)
        conf = ri.get("conf")
        if conf is not None and _open(conf[0]) == "open":
            ev = list(ri["event"])
            ri["event"] = [ev[0], "open"]
        ri = {k: ([_open(x) for x in v] if k != "prec_type" else v) for k, v in ri.items()}
        merged["relapse_indep"] = ri
    return merged, magnitude


def expand_grid(settings: MultiverseSettings) -> list[Definition]:
    """Every definition of the grid, validated (errors name the definition)."""
    from smoulder.clinical.progression import make_settings

    raw: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    if settings.definitions:
        for i, d in enumerate(settings.definitions):
            name = str(d.get("name", f"definition {i + 1}"))
            raw.append((name, {"definition": name}, dict(d)))
    else:
        dims = settings.dimensions
        if not dims:
            raise SettingsError("the grid is empty: give dimensions or definitions")
        keys = list(dims)
        for combo in itertools.product(*(list(dims[k].items()) for k in keys)):
            labels = {k: label for k, (label, _) in zip(keys, combo, strict=True)}
            opts: dict[str, Any] = {}
            for _, o in combo:
                opts.update(o)
            raw.append((" | ".join(labels.values()), labels, opts))
    out = []
    for name, labels, opts in raw:
        merged, magnitude = _compose(dict(settings.base), opts)
        try:
            ps = make_settings(merged)
        except SettingsError as exc:
            raise SettingsError(f"definition {name!r}: {exc}") from None
        out.append(Definition(name, labels, ps, magnitude))
    return out


@dataclass
class _Prepared:
    """What every definition shares: the visit keys, values and each subject's last value."""

    codes: np.ndarray
    days: np.ndarray
    values: np.ndarray
    keys: np.ndarray
    last_value: np.ndarray
    last_day: np.ndarray
    person_years: float
    n_subjects: int
    categories: pd.Index


def _prepare(visits: pd.DataFrame) -> _Prepared:
    subj = visits["subject"]
    if not isinstance(subj.dtype, pd.CategoricalDtype):
        raise SettingsError("visits must be validated first (subject as a categorical column)")
    codes = subj.cat.codes.to_numpy().astype(np.int64)
    days = visits["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    values = visits["value"].to_numpy(dtype=np.float64)
    order = np.lexsort((days, codes))
    codes, days, values = codes[order], days[order], values[order]
    n = len(subj.cat.categories)
    last = np.r_[codes[1:] != codes[:-1], True]
    first = np.r_[True, codes[1:] != codes[:-1]]
    last_value = np.full(n, np.nan)
    last_day = np.zeros(n, dtype=np.int64)
    last_value[codes[last]] = values[last]
    last_day[codes[last]] = days[last]
    fu = np.zeros(n)
    fu[codes[last]] = days[last]
    fu[codes[first]] -= days[first]
    return _Prepared(codes, days, values, codes * (1 << 32) + days + (1 << 24), last_value,
                     last_day, float(fu.sum() / 365.25), int((np.bincount(codes, minlength=n) > 0).sum()),
                     pd.Index(subj.cat.categories.astype(str)))  # fmt: skip


def _measure(
    ev: pd.DataFrame, prep: _Prepared, d: Definition, s: MultiverseSettings
) -> dict[str, Any]:
    is_cdw = ev["event_type"].to_numpy() == "CDW"
    subj = ev["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype) and (
        subj.cat.categories is prep.categories or len(subj.cat.categories) == len(prep.categories)
    ):
        # the engine keeps the visits' categories (sorted ids, none unused)
        codes = subj.cat.codes.to_numpy()[is_cdw].astype(np.int64)
    else:
        codes = prep.categories.get_indexer(subj.astype(str)).astype(np.int64)[is_cdw]
    ev_day = ev["event_date"].to_numpy()[is_cdw].astype("datetime64[D]").astype(np.int64)
    ev_val = ev["event_value"].to_numpy()[is_cdw]
    base = ev["baseline_value"].to_numpy()[is_cdw]
    ctype = ev["cdw_type"].to_numpy()[is_cdw]
    sustained = ev["sustained_to_last"].to_numpy(dtype=bool)[is_cdw]
    if d.magnitude == "event" and len(codes):
        conf = ev["confirmation_date"].to_numpy()[is_cdw].astype("datetime64[D]")
        i_ev = np.searchsorted(prep.keys, codes * (1 << 32) + ev_day + (1 << 24))
        has_conf = ~np.isnat(conf)
        cf_day = np.where(has_conf, conf.astype(np.int64), ev_day)
        i_cf = np.searchsorted(prep.keys, codes * (1 << 32) + cf_day + (1 << 24))
        # lowest value after the event up to and including the confirmation visit
        n = np.maximum(i_cf - i_ev, 0)
        low = np.full(len(codes), np.inf)
        has = n > 0
        if has.any():
            m = n[has]
            idx = np.repeat((i_ev + 1)[has], m) + (
                np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
            )
            mins = np.full(int(has.sum()), np.inf)
            np.minimum.at(mins, np.repeat(np.arange(int(has.sum())), m), prep.values[idx])
            low[has] = mins
        keep = low >= ev_val - 1e-9
        codes, ev_day, ev_val, base = codes[keep], ev_day[keep], ev_val[keep], base[keep]
        ctype, sustained = ctype[keep], sustained[keep]
    pira = ctype == "PIRA"
    n_cdw, n_pira = len(codes), int(pira.sum())
    lo, hi = poisson_ci(np.array([n_pira]), np.array([prep.person_years / 10.0]), s.confidence)
    # persistence: still worse than the event's baseline at the subject's last visit
    mc = d.settings.minimal_change()
    pc, pb = codes[pira], base[pira]
    counted = prep.last_day[pc] - ev_day[pira] >= s.persistence_min_follow_up_days
    worse = (1.0 if mc.direction > 0 else -1.0) * (prep.last_value[pc] - pb) >= mc.delta(pb) - 1e-9
    n_cnt = int(counted.sum())
    return {
        "n_cdw": n_cdw,
        "n_pira": n_pira,
        "n_raw": int((ctype == "RAW").sum()),
        "pira_per_10py": n_pira / (prep.person_years / 10.0) if prep.person_years else np.nan,
        "pira_ci_low": float(lo[0]),
        "pira_ci_high": float(hi[0]),
        "pira_share_of_cdw": n_pira / n_cdw if n_cdw else np.nan,
        "persistence": float(worse[counted].mean()) if n_cnt else np.nan,
        "persistence_events": n_cnt,
        "sustained_share": float(sustained[pira][counted].mean()) if n_cnt else np.nan,
        "subjects_with_pira": int(len(np.unique(pc))),
    }


def run_multiverse(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    settings: MultiverseSettings | None = None,
    *,
    subset: list[int] | None = None,
    progress: Any = None,
) -> MultiverseResult:
    """Run every definition of the grid on one cohort.

    ``visits`` and ``relapses`` are validated for the progression engine (``subject``
    categorical, ``date``, ``value``, ``validconf``; relapse onsets). ``subset`` runs only those
    definitions (positions in :func:`expand_grid`'s order; callers that spread a grid over
    processes use it). ``progress``, if given, is called as ``progress(done, total)`` after each
    definition.
    """
    from smoulder.clinical.progression import run_validated

    s = settings or MultiverseSettings()
    grid = expand_grid(s)
    if subset is not None:
        grid = [grid[i] for i in subset]
    prep = _prepare(visits)
    rows = []
    t0 = time.perf_counter()
    for k, d in enumerate(grid):
        res = run_validated(visits, relapses, None, d.settings)
        rows.append({"definition": d.name, **d.labels, **_measure(res.events, prep, d, s)})
        if progress is not None:
            progress(k + 1, len(grid))
    table = pd.DataFrame(rows)
    table.insert(1, "subjects", prep.n_subjects)
    table.insert(2, "person_years", prep.person_years)
    dims = [c for c in grid[0].labels] if grid else []
    return MultiverseResult(
        table=table,
        dimensions=dims,
        settings=s,
        version=__version__,
        seconds=time.perf_counter() - t0,
    )


@dataclass
class MultiverseResult(AnalysisResult):
    """One row per definition: PIRA incidence, share of worsening, persistence."""

    pipeline: ClassVar[str] = "smoulder.pipelines.multiverse"

    table: pd.DataFrame
    dimensions: list[str]
    settings: MultiverseSettings
    version: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"multiverse": self.table}

    def methods(self) -> str:
        t = self.table
        n = len(t)
        dims = (
            ", ".join(f"{d} ({t[d].nunique()})" for d in self.dimensions if d in t) or "as listed"
        )
        lo, hi = t["pira_per_10py"].min(), t["pira_per_10py"].max()
        p_lo, p_hi = t["persistence"].min(), t["persistence"].max()
        fu = self.settings.persistence_min_follow_up_days
        return (
            f"PIRA was identified under {n} definitions with smoulder {self.version} (progression "
            f"engine, multiple events, PIRA/RAW classification), the grid combining {dims}. "
            f"For each definition, the incidence of PIRA per 10 person-years of follow-up "
            f"({t['person_years'].iloc[0]:.0f} person-years, {t['subjects'].iloc[0]} subjects) "
            f"with an exact Poisson {self.settings.confidence:.0%} confidence interval, the share "
            "of confirmed worsening classified as PIRA, and persistence (the share of PIRA "
            "events still worse than their baseline by the minimal change at the last visit"
            + (f", among events with at least {fu:g} days of follow-up" if fu else "")
            + f") were computed. Incidence ranged from {lo:.3f} to {hi:.3f} per 10 person-years "
            f"and persistence from {p_lo:.3f} to {p_hi:.3f}."
            + (
                " Definitions requiring confirmation at or above the worsening score kept the "
                "events whose confirmation visits met it (a filter on the engine's events)."
                if "magnitude" in t and (t["magnitude"] == "at or above the worsening").any()
                else ""
            )
        )

    def plot(self, fig: Any = None, **kwargs: Any) -> Any:
        """Specification curve: incidence (with CI) and persistence per definition, sorted by
        incidence, over a matrix of the options each definition uses."""
        import matplotlib.pyplot as plt

        from smoulder.schema.palette import colour

        t = self.table.sort_values("pira_per_10py").reset_index(drop=True)
        dims = [d for d in self.dimensions if d in t and t[d].nunique() > 1]
        n_opt = sum(t[d].nunique() for d in dims)
        if fig is None:
            fig = plt.figure(figsize=(11, 6 + 0.18 * n_opt))
        gs = fig.add_gridspec(3, 1, height_ratios=[3, 1.6, max(1.0, 0.3 * n_opt)], hspace=0.08)
        ax1, ax2, ax3 = (fig.add_subplot(gs[i]) for i in range(3))
        x = np.arange(len(t))
        ax1.fill_between(
            x, t["pira_ci_low"], t["pira_ci_high"], color=colour("PIRA"), alpha=0.2, lw=0
        )
        ax1.plot(x, t["pira_per_10py"], ".", color=colour("PIRA"), ms=3)
        ax1.set_ylabel("PIRA per 10 person-years")
        ax1.set_title(f"PIRA under {len(t)} definitions")
        ax2.plot(x, t["persistence"], ".", color="#2c6db3", ms=3)
        ax2.set_ylabel("persistence")
        ax2.set_ylim(0, 1)
        labels, y = [], 0
        for d in dims:
            for opt in pd.unique(self.table[d]):
                on = (t[d] == opt).to_numpy()
                ax3.plot(x[on], np.full(on.sum(), y), "s", color="#333333", ms=2)
                labels.append(f"{d}: {opt}")
                y += 1
        ax3.set_yticks(range(len(labels)), labels, fontsize=7)
        ax3.invert_yaxis()
        ax3.set_xlabel("definitions, by incidence")
        for ax in (ax1, ax2, ax3):
            ax.set_xlim(-1, len(t))
            ax.grid(alpha=0.25)
        for ax in (ax1, ax2):
            ax.tick_params(labelbottom=False)
        return fig
