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
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder import __version__
from smoulder._params import Settings
from smoulder.clinical import _spms_kernel as K
from smoulder.clinical.spms_result import (
    STATUS,
    STEP_KINDS,
    SUMMARY_COLUMNS,
    SPMSResult,
    _steps,
    _summary,
)
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.schema.functional_systems import ALL_SYSTEMS

__all__ = ["SPMSSettings", "SPMSResult", "assess_spms", "SUMMARY_COLUMNS", "STATUS", "STEP_KINDS"]


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
    missing_fs_confirms : bool
        How missing functional-system scores count (True, as ``spmsDx``): a later visit without
        the leading system's score continues its confirmation, and an unknown change at the
        worsening counts as none (+1 for pyramidal). False: the leading system must be observed
        still increased ``confirmation_days`` later, and unknown changes cannot lead.
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
    missing_fs_confirms: bool = True
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
        "relapse_free_days",
        "confirmation_days",
        "improvement_days",
        "rebaseline_days",
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
        ip[K.I_MISSFS] = int(self.missing_fs_confirms)
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
    s = (
        (settings or SPMSSettings()).replace(**overrides)
        if overrides
        else (settings or SPMSSettings())
    )
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
    if s.missing_fs_confirms and "pyramidal" in given:
        ip[K.I_MISSFS] = K.MISSFS_LENIENT_PYR
    with np.errstate(all="ignore"):  # interpreted on a new machine: as silent as compiled
        out, trail, counts = K.scan_for(len(days))(
            offsets, days.astype(np.float64), edss, np.ascontiguousarray(fs), hasfs, dpr, fp, ip
        )
    if (out[:, K.O_STATUS] < 0).any():
        bad = categories[int(np.flatnonzero(out[:, K.O_STATUS] < 0)[0])]
        raise RuntimeError(
            f"internal error: the SPMS scan did not finish for {bad!r}; please report"
        )
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
