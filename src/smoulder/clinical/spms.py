"""Conversion to secondary progressive MS (SPMS) after Lorscheider et al. (Brain 2016).

:func:`assess_spms` takes a validated visits table (subject, date, EDSS, functional-system
scores) and relapse onsets, and returns an :class:`SPMSResult` with one row per subject: whether
and when the objective SPMS definition was met, the EDSS then, the leading functional system and
the evidence visits. The definition is the one CORe operationalised in MSoutcomes' ``spmsDx``
(defaults included); where smoulder deliberately differs, ``docs/spms.md`` says so. The scan runs
compiled and in parallel over subjects (``_spms_kernel.py``).

Examples
--------
>>> import pandas as pd
>>> v = pd.DataFrame(
...     {
...         "subject": "a",
...         "date": pd.to_datetime(["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"]),
...         "edss": [3.0, 4.0, 4.0, 4.5],
...         "pyramidal": [1, 2, 2, 3],
...     }
... )
>>> res = assess_spms(v)
>>> res.summary[["subject", "spms", "spms_date", "leading_fs"]].astype(str).values.tolist()
[['a', 'True', '2020-07-01', 'pyramidal']]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder import __version__
from smoulder._params import Settings
from smoulder._result import AnalysisResult
from smoulder.clinical import _spms_kernel as K
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.schema.functional_systems import ALL_SYSTEMS

__all__ = ["SPMSSettings", "SPMSResult", "assess_spms", "SUMMARY_COLUMNS", "STATUS", "STEP_KINDS"]

#: kinds of step in the audit trail (the ``steps`` table)
STEP_KINDS = {
    K.T_BASELINE: "baseline",
    K.T_FAILED: "worsening did not convert",
    K.T_IMPROVED: "baseline moved: lasting improvement",
    K.T_RELAPSE_JUMP: "baseline moved: relapse followed by an EDSS increase",
    K.T_RELAPSE_WORSENING: "baseline moved: worsening that began with a relapse",
    K.T_CONVERTED: "converted",
}
_REASONS = (
    (K.R_SUSTAINED, "did not last to the last visit"),
    (K.R_RELAPSE, "relapse since the previous visit or within the relapse window"),
    (K.R_EDSS, "EDSS below the minimum at or after it"),
    (K.R_PYRAMIDAL, "pyramidal score below the minimum"),
    (K.R_LEADING, "leading functional system not confirmed"),
    (K.R_STABLE_VISIT, "to the first later visit that stayed stable"),
    (K.R_SKIPPED_NO_FS, "past visits without functional-system scores"),
)

#: per-subject status: why a subject did or did not convert
STATUS = {
    K.S_CONVERTED: "converted",
    K.S_NOT_MET: "not met",
    K.S_FEW_VISITS: "fewer visits than min_visits",
    K.S_NO_FS: "no visit with functional-system scores",
    K.S_NO_BASELINE: "no relapse-free visit with functional-system scores for a baseline",
}

#: columns of the summary table, in the order they are written
SUMMARY_COLUMNS = [
    "subject",
    "spms",
    "spms_date",
    "spms_edss",
    "leading_fs",
    "leading_fs_confirmed",
    "baseline_date",
    "baseline_edss",
    "confirmation_date",
    "confirmed_edss",
    "leading_fs_confirmation_date",
    "previous_visit_date",
    "previous_edss",
    "first_visit_date",
    "last_visit_date",
    "n_visits",
    "n_rebaselines",
    "status",
]


def _days(v: Any, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number of days (got {v!r})") from None
    if math.isnan(f) or f < 0 or math.isinf(f):
        raise SettingsError(f"{name} must be a finite number of days >= 0 (got {v!r})")
    return f


def _half(v: Any, name: str, lo: float, hi: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be an EDSS value (got {v!r})") from None
    if not (lo <= f <= hi) or abs(f * 2 - round(f * 2)) > 1e-9:
        raise SettingsError(
            f"{name} must be on the EDSS grid (0.5 steps) from {lo:g} to {hi:g} (got {v!r})"
        )
    return f


class SPMSSettings(Settings):
    """Every option of the SPMS definition; defaults are MSoutcomes' ``spmsDx`` defaults.

    Parameters
    ----------
    min_edss : float
        Minimum EDSS at conversion and through its confirmation (``minEDSS``, 4).
    min_pyramidal : float
        Minimum pyramidal FS score at conversion (``minFSpyr``, 2; 0 drops the requirement).
    pyramidal_waived_from : float
        EDSS from which the pyramidal requirement counts as met (5.5 in ``spmsDx``; ``inf``:
        never waived).
    relapse_free_days : float
        Days after a relapse onset during which a visit is near the relapse (``tRelapse``, 30).
    confirmation_days : float
        Days the worsening, and the leading FS, must last (``tProgression``, 3 x 30.25).
    improvement_days : float
        Days an improvement must last to move the baseline (``tRegression``, 9 x 30.25).
    rebaseline_days : float
        Days a post-relapse EDSS must stay within one step to become the new baseline
        (``tRelProg``, 6 x 30.25).
    step_from_zero, step, step_high, half_step_from : float
        Minimal EDSS worsening: ``step_from_zero`` from baseline 0, ``step`` below
        ``half_step_from``, ``step_high`` from it (1.5 / 1.0 / 0.5 from 6.0, Lorscheider's three
        strata; ``step_from_zero=1`` is the paper's single-step variant).
    improvement_step : float
        EDSS decrease from baseline that counts as improvement (0.5).
    confirm_leading_fs : bool
        Require confirmation within the leading functional system (the paper's best definition).
    sustained_to_end : bool
        Require the worsening to last to the last visit (CORe).
    tolerated_dips : int
        Consecutive non-worsened visits a worsening bridges (1 in ``spmsDx``: two in a row end it).
    min_visits : int
        Visits with an EDSS a subject needs to be assessed (3).
    """

    section: ClassVar[str] = "spms"

    min_edss: float = 4.0
    min_pyramidal: float = 2.0
    pyramidal_waived_from: float = 5.5
    relapse_free_days: float = 30.0
    confirmation_days: float = 3 * 30.25
    improvement_days: float = 9 * 30.25
    rebaseline_days: float = 6 * 30.25
    step_from_zero: float = 1.5
    step: float = 1.0
    step_high: float = 0.5
    half_step_from: float = 6.0
    improvement_step: float = 0.5
    confirm_leading_fs: bool = True
    sustained_to_end: bool = True
    tolerated_dips: int = 1
    min_visits: int = 3

    @field_validator("min_edss", mode="before")
    @classmethod
    def _min_edss(cls, v: Any) -> float:
        return _half(v, "min_edss", 0.0, 9.5)

    @field_validator("half_step_from", mode="before")
    @classmethod
    def _half_from(cls, v: Any) -> float:
        return _half(v, "half_step_from", 0.5, 10.0)

    @field_validator("pyramidal_waived_from", mode="before")
    @classmethod
    def _waive(cls, v: Any) -> float:
        if isinstance(v, str) and v.strip().lower() in ("inf", "never", "none"):
            return math.inf
        if v is not None and isinstance(v, (int, float)) and math.isinf(v):
            return math.inf
        return _half(v, "pyramidal_waived_from", 0.0, 10.0)

    @field_validator("min_pyramidal", mode="before")
    @classmethod
    def _min_pyr(cls, v: Any) -> float:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise SettingsError(f"min_pyramidal must be a grade from 0 to 6 (got {v!r})") from None
        if not (0 <= f <= 6) or f != math.floor(f):
            raise SettingsError(f"min_pyramidal must be a whole grade from 0 to 6 (got {v!r})")
        return f

    @field_validator(
        "relapse_free_days", "confirmation_days", "improvement_days", "rebaseline_days",
        mode="before",
    )
    @classmethod
    def _day_fields(cls, v: Any, info: Any) -> float:
        return _days(v, info.field_name)

    @field_validator("step_from_zero", "step", "step_high", "improvement_step", mode="before")
    @classmethod
    def _steps(cls, v: Any, info: Any) -> float:
        f = _half(v, info.field_name, 0.5, 10.0)
        return f

    @field_validator("tolerated_dips")
    @classmethod
    def _dips(cls, v: int) -> int:
        if v < 0:
            raise SettingsError(f"tolerated_dips must be 0 or more visits (got {v!r})")
        return v

    @field_validator("min_visits")
    @classmethod
    def _minvis(cls, v: int) -> int:
        if v < 2:
            raise SettingsError(f"min_visits must be at least 2 (got {v!r})")
        return v

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        fp = np.zeros(K.N_F)
        fp[K.F_MIN_EDSS] = self.min_edss
        fp[K.F_MIN_PYR] = self.min_pyramidal
        fp[K.F_PYR_WAIVE] = self.pyramidal_waived_from
        fp[K.F_T_REL] = self.relapse_free_days
        fp[K.F_T_CONF] = self.confirmation_days
        fp[K.F_T_REG] = self.improvement_days
        fp[K.F_T_REBL] = self.rebaseline_days
        fp[K.F_STEP0] = self.step_from_zero
        fp[K.F_STEP] = self.step
        fp[K.F_STEP_HI] = self.step_high
        fp[K.F_HALF_FROM] = self.half_step_from
        fp[K.F_IMPR] = self.improvement_step
        fp[K.F_SIG_EDSS] = 3.0
        fp[K.F_SIG_JUMP] = 0.5
        ip = np.zeros(K.N_I, dtype=np.int64)
        ip[K.I_LEAD] = int(self.confirm_leading_fs)
        ip[K.I_SUST] = int(self.sustained_to_end)
        ip[K.I_DIPS] = self.tolerated_dips
        ip[K.I_MINVIS] = self.min_visits
        return fp, ip


def _sorted_codes(subject: pd.Series) -> tuple[np.ndarray, pd.Index]:
    if isinstance(subject.dtype, pd.CategoricalDtype):
        cats = pd.Index(subject.cat.categories.astype(str))
        order = np.argsort(cats.to_numpy(dtype=object), kind="stable")
        remap = np.empty(len(cats), dtype=np.int64)
        remap[order] = np.arange(len(cats))
        codes = subject.cat.codes.to_numpy().astype(np.int64)
        if (codes < 0).any():
            raise InputDataError("visits table has a missing subject id", column="subject")
        used = np.bincount(remap[codes], minlength=len(cats)) > 0
        new = np.cumsum(used) - 1
        return new[remap[codes]], cats[order][used]
    if subject.isna().any():
        raise InputDataError("visits table has a missing subject id", column="subject")
    codes, uniq = pd.factorize(subject.astype(str), sort=True)
    return codes.astype(np.int64), pd.Index(uniq)


def _day_numbers(dates: Any) -> np.ndarray:
    arr = np.asarray(dates)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(arr).to_numpy()
    return arr.astype("datetime64[D]").astype(np.int64)


def _days_since_relapse(
    codes: np.ndarray, days: np.ndarray, relapses: pd.DataFrame | None, categories: pd.Index
) -> np.ndarray:
    """Days from the most recent relapse onset on or before each visit (inf if none)."""
    out = np.full(len(days), np.inf)
    if relapses is None or len(relapses) == 0:
        return out
    rc = categories.get_indexer(relapses["subject"].astype(str))
    rd = _day_numbers(relapses["date"].to_numpy())
    keep = rc >= 0
    rc, rd = rc[keep].astype(np.int64), rd[keep]
    if len(rc) == 0:
        return out
    shift = np.int64(1 << 22)  # days are within +-4 million of 1970 in any real table
    rkey = rc * (1 << 24) + (rd + shift)
    order = np.argsort(rkey, kind="stable")
    rkey, rd_sorted, rc_sorted = rkey[order], rd[order], rc[order]
    vkey = codes * (1 << 24) + (days + shift)
    pos = np.searchsorted(rkey, vkey, side="right") - 1
    ok = pos >= 0
    same = np.zeros(len(days), dtype=bool)
    same[ok] = rc_sorted[pos[ok]] == codes[ok]
    out[same] = (days[same] - rd_sorted[pos[same]]).astype(np.float64)
    return out


def assess_spms(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    settings: SPMSSettings | None = None,
    **overrides: Any,
) -> SPMSResult:
    """Identify conversion to SPMS for every subject of a validated visits table.

    Parameters
    ----------
    visits : DataFrame
        One row per subject and visit day: ``subject``, ``date``, ``edss`` and any of the
        functional-system columns :data:`~smoulder.schema.functional_systems.ALL_SYSTEMS`
        (validated by :func:`~smoulder.schema.functional_systems.validate_functional_systems`;
        NaN where not assessed). An optional ``days_since_relapse`` column gives the days since
        the most recent relapse onset (its sign is ignored, as MSoutcomes' ``daysPostRelapse``).
    relapses : DataFrame, optional
        Relapse onsets: ``subject``, ``date``. With ``days_since_relapse`` as well, the nearer
        relapse counts.
    settings : SPMSSettings, optional
        The definition; keyword ``overrides`` change single options.

    Returns
    -------
    SPMSResult
    """
    s = (settings or SPMSSettings()).replace(**overrides) if overrides else (settings or SPMSSettings())
    for col in ("subject", "date", "edss"):
        if col not in visits.columns:
            raise InputDataError(f"visits table has no '{col}' column", column=col)
    codes, categories = _sorted_codes(visits["subject"])
    days = _day_numbers(visits["date"].to_numpy())
    edss = visits["edss"].to_numpy(dtype=np.float64)
    if np.isnan(edss).any():
        raise InputDataError(
            "visits table has a visit without an EDSS score; leave such visits out first",
            column="edss",
        )
    fs = np.full((len(visits), K.N_SYSTEMS), np.nan)
    given = []
    for k, name in enumerate(ALL_SYSTEMS):
        if name in visits.columns:
            fs[:, k] = visits[name].to_numpy(dtype=np.float64, na_value=np.nan)
            given.append(name)
    if "pyramidal" not in given and s.min_pyramidal > 0:
        raise InputDataError(
            "visits table has no pyramidal score, which the definition requires",
            column="pyramidal",
            expected="a pyramidal FS column, or min_pyramidal = 0",
        )
    order = np.lexsort((days, codes))
    codes, days, edss, fs = codes[order], days[order], edss[order], fs[order]
    dup = (codes[1:] == codes[:-1]) & (days[1:] == days[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputDataError(
            f"two visits of subject {categories[codes[i]]!r} on {np.datetime64(int(days[i]), 'D')}",
            column="date",
            expected="one visit per subject and day (validate the visits first)",
        )
    dpr = _days_since_relapse(codes, days, relapses, categories)
    if "days_since_relapse" in visits.columns:
        col = np.abs(visits["days_since_relapse"].to_numpy(dtype=np.float64, na_value=np.nan))
        col = np.where(np.isnan(col), np.inf, col)[order]
        dpr = np.minimum(dpr, col)
    nsub = len(categories)
    offsets = np.zeros(nsub + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=nsub), out=offsets[1:])
    hasfs = ~np.isnan(fs).all(axis=1)
    fp, ip = s._arrays()
    out, trail, counts = K.scan_all(
        offsets, days.astype(np.float64), edss, np.ascontiguousarray(fs), hasfs, dpr, fp, ip
    )
    if (out[:, K.O_STATUS] < 0).any():
        bad = categories[int(np.flatnonzero(out[:, K.O_STATUS] < 0)[0])]
        raise RuntimeError(f"internal error: the SPMS scan did not finish for {bad!r}; please report")
    summary = _summary(out, offsets, days, edss, categories, s)
    steps = _steps(trail, counts, offsets, days, edss, categories)
    return SPMSResult(
        summary_table=summary,
        steps=steps,
        settings=s,
        version=__version__,
        systems=tuple(given),
        n_visits_total=len(visits),
    )


def _summary(
    out: np.ndarray,
    offsets: np.ndarray,
    days: np.ndarray,
    edss: np.ndarray,
    categories: pd.Index,
    s: SPMSSettings,
) -> pd.DataFrame:
    base = offsets[:-1]

    def glob(col: int) -> np.ndarray:
        local = out[:, col]
        return np.where(local >= 0, base + local, -1)

    def date(idx: np.ndarray) -> np.ndarray:
        res = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        ok = idx >= 0
        res[ok] = days[idx[ok]].astype("datetime64[D]")
        return res.astype("datetime64[s]")

    def value(idx: np.ndarray) -> np.ndarray:
        res = np.full(len(idx), np.nan)
        ok = idx >= 0
        res[ok] = edss[idx[ok]]
        return res

    ev, bl, cf = glob(K.O_EVENT), glob(K.O_BASE), glob(K.O_CONF)
    lc, pv = glob(K.O_LEADCONF), glob(K.O_PREV)
    status = out[:, K.O_STATUS]
    converted = status == K.S_CONVERTED
    # the lowest EDSS from the event through the confirmation visit (what was checked)
    confirmed = np.full(len(ev), np.nan)
    for i in np.flatnonzero(converted & (cf >= 0)):
        confirmed[i] = edss[ev[i] + 1 : cf[i] + 1].min()
    mask = out[:, K.O_LEADMASK]
    names = np.array(ALL_SYSTEMS, dtype=object)
    lead = np.full(len(ev), "", dtype=object)
    lead_ok = np.zeros(len(ev), dtype=bool)
    for i in np.flatnonzero(converted):
        m = int(mask[i])
        conf_bits = m & ((1 << K.N_SYSTEMS) - 1)
        bits = conf_bits if conf_bits else m >> K.N_SYSTEMS
        lead[i] = "+".join(names[k] for k in range(K.N_SYSTEMS) if bits >> k & 1)
        lead_ok[i] = conf_bits != 0
    n_vis = np.diff(offsets)
    first = days[base].astype("datetime64[D]").astype("datetime64[s]")
    last = days[offsets[1:] - 1].astype("datetime64[D]").astype("datetime64[s]")
    labels = np.array([STATUS[k] for k in sorted(STATUS)], dtype=object)
    return pd.DataFrame(
        {
            "subject": categories.to_numpy(dtype=object),
            "spms": converted,
            "spms_date": date(ev),
            "spms_edss": value(ev),
            "leading_fs": lead,
            "leading_fs_confirmed": lead_ok,
            "baseline_date": date(bl),
            "baseline_edss": value(bl),
            "confirmation_date": date(cf),
            "confirmed_edss": confirmed,
            "leading_fs_confirmation_date": date(lc),
            "previous_visit_date": date(pv),
            "previous_edss": value(pv),
            "first_visit_date": first,
            "last_visit_date": last,
            "n_visits": n_vis.astype(np.int64),
            "n_rebaselines": out[:, K.O_REBL].astype(np.int64),
            "status": labels[status],
        },
        columns=SUMMARY_COLUMNS,
    )


def _steps(
    trail: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    days: np.ndarray,
    edss: np.ndarray,
    categories: pd.Index,
) -> pd.DataFrame:
    """The audit trail as a table: one row per step of the scan, per subject."""
    room = 2 * np.diff(offsets) + 2
    cnt = np.minimum(counts, room)
    sub = np.repeat(np.arange(len(cnt)), cnt)
    within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rows = trail[2 * (offsets[:-1][sub] + sub) + within]
    visit = offsets[:-1][sub] + rows[:, K.C_VISIT]
    base = offsets[:-1][sub] + rows[:, K.C_BASE]
    detail = rows[:, K.C_DETAIL]
    reason = np.array(
        ["; ".join(text for bit, text in _REASONS if d & bit) for d in detail], dtype=object
    )
    kinds = np.array([STEP_KINDS.get(int(k), "") for k in rows[:, K.C_KIND]], dtype=object)
    to_date = days.astype("datetime64[D]").astype("datetime64[s]")
    return pd.DataFrame(
        {
            "subject": categories.to_numpy(dtype=object)[sub],
            "step": within + 1,
            "date": to_date[visit],
            "edss": edss[visit],
            "kind": kinds,
            "reason": reason,
            "baseline_date": to_date[base],
            "baseline_edss": edss[base],
        }
    )


def _fmt(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:g}"


@dataclass
class SPMSResult(AnalysisResult):
    """Per-subject SPMS conversion with its evidence, the settings and the package version."""

    pipeline: ClassVar[str] = "smoulder.pipelines.spms"

    summary_table: pd.DataFrame
    settings: SPMSSettings
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    version: str = ""
    systems: tuple[str, ...] = ()
    n_visits_total: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per subject (:data:`SUMMARY_COLUMNS`)."""
        return self.summary_table

    @property
    def n_converted(self) -> int:
        return int(self.summary_table["spms"].sum())

    def tables(self) -> dict[str, pd.DataFrame]:
        """The per-subject table and the audit trail of every step the scan took."""
        return {"spms": self.summary_table, "steps": self.steps}

    def methods(self) -> str:
        s = self.settings
        n = len(self.summary_table)
        steps = (
            f"at least {s.step:g} EDSS point{'s' if s.step != 1 else ''} above the baseline "
            f"below EDSS {s.half_step_from:g} ({s.step_from_zero:g} from a baseline of 0) and "
            f"{s.step_high:g} from EDSS {s.half_step_from:g}"
        )
        pyr = (
            f"a pyramidal functional-system score of at least {s.min_pyramidal:g}"
            + (
                f" (taken as met from EDSS {s.pyramidal_waived_from:g})"
                if not math.isinf(s.pyramidal_waived_from)
                else ""
            )
            if s.min_pyramidal > 0
            else "no pyramidal requirement"
        )
        lead = (
            f"; the leading functional system (largest increase from baseline among "
            f"{', '.join(self.systems) or 'the scores given'}) had to remain above its baseline "
            f"score for {s.confirmation_days:g} days"
            if s.confirm_leading_fs
            else "; confirmation within the leading functional system was not required"
        )
        sust = (
            "The worsening had to last to the last visit"
            + (
                f" (a run of {s.tolerated_dips} non-worsened visit"
                f"{'s' if s.tolerated_dips != 1 else ''} was bridged, more ended it)"
                if s.tolerated_dips
                else ""
            )
            if s.sustained_to_end
            else "The worsening did not have to last to the last visit"
        )
        return (
            "Conversion to secondary progressive MS was identified with the objective definition "
            "of Lorscheider et al. (Brain 2016) as operationalised by CORe (MSoutcomes spmsDx), "
            f"implemented in smoulder {self.version}. Visits before the first visit with "
            "functional-system scores were ignored and subjects with fewer than "
            f"{s.min_visits} visits were not assessed. The baseline was the first visit more "
            f"than {s.relapse_free_days:g} days after a relapse onset with functional-system "
            f"scores. Worsening was an EDSS {steps}, reaching an EDSS of at least "
            f"{s.min_edss:g}, with {pyr}, with no relapse since the previous visit nor within "
            f"{s.relapse_free_days:g} days before, lasting at least {s.confirmation_days:g} days "
            f"at visits outside {s.relapse_free_days:g} days after relapses with the EDSS "
            f"staying at or above {s.min_edss:g} until confirmation{lead}. {sust}. The baseline "
            f"moved to the first visit of an improvement of {s.improvement_step:g} point lasting "
            f"{s.improvement_days:g} days, to a worsening that began with a relapse, and after "
            "relapses followed by an EDSS increase of 0.5 (EDSS above 3, baseline below "
            f"{s.half_step_from:g}) to the first later visit whose EDSS stayed within one step "
            f"for {s.rebaseline_days:g} days. {self.n_converted} of {n} subjects met the "
            "definition."
        )

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Cumulative proportion converted against years since the first visit (Kaplan-Meier,
        censored at the last visit)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        t_all = self.summary_table
        ok = t_all["status"].isin([STATUS[K.S_CONVERTED], STATUS[K.S_NOT_MET]])
        t_all = t_all[ok]
        end = np.where(t_all["spms"], t_all["spms_date"], t_all["last_visit_date"])
        years = (
            (pd.to_datetime(end) - pd.to_datetime(t_all["first_visit_date"])).dt.days / 365.25
        ).to_numpy()
        event = t_all["spms"].to_numpy(dtype=bool)
        times, surv = _kaplan_meier(years, event)
        ax.step(np.r_[0, times], 1 - np.r_[1.0, surv], where="post", color="#b3412c", **kwargs)
        ax.set_xlabel("years since first visit")
        ax.set_ylabel("proportion converted to SPMS")
        ax.set_ylim(0, max(0.05, float((1 - surv).max()) * 1.1) if len(surv) else 0.05)
        ax.set_title(f"SPMS conversion ({int(event.sum())} of {len(event)} subjects)")
        ax.grid(alpha=0.3)
        return ax


def _kaplan_meier(t: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event times and the Kaplan-Meier survival just after each of them."""
    if len(t) == 0:
        return np.zeros(0), np.zeros(0)
    times = np.unique(t[event])
    at_risk = np.array([(t >= x).sum() for x in times], dtype=float)
    d = np.array([((t == x) & event).sum() for x in times], dtype=float)
    return times, np.cumprod(1 - d / at_risk)
