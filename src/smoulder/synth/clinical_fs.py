"""Virtual cohorts with functional-system scores, treatments with switches and known SPMS dates.

Extends the clinical simulator (:mod:`smoulder.synth.clinical`, unchanged) for the SPMS, NEDA and
treatment-epoch analyses. Every visit's EDSS is *computed* from that visit's functional-system
(FS) grades and ambulation score, so scores and EDSS always satisfy the Kurtzke/Neurostatus step
definitions (see :func:`edss_from_fs`). Model, per subject (vectorised over subjects):

* **Latent grades** of the seven Kurtzke systems: a starting burden spread over a random number
  of involved systems; each **relapse** hits one or two systems with a bump of 1-3 grades that
  decays (time constant 20-40 days) to a residual of ``1 - recovery``; after a **progression
  onset** (a fraction ``frac_progressors`` of subjects, onset anywhere from 5 years before to 15
  years after enrolment) the pyramidal grade rises by ``progression_rate`` grades a year, the
  cerebellar and bowel/bladder grades more slowly.
* **Ambulation**: walking restriction grows with the pyramidal and cerebellar grades beyond 2
  (the MSBase iMed 0-13 ambulation score, of which 0-12 occur).
* **Observed** grades = latent + N(0, ``rater_sd``), rounded and clipped to each system's range;
  the EDSS follows from them. With probability ``p_missing_fs`` a visit records the EDSS only.
* **Treatments**: untreated or a first drug at enrolment, then switches (rate
  ``switch_rate_per_year``; escalation to a high-efficacy drug, lateral switches, stops). The
  current drug multiplies the **relapse rate** and the MRI-activity probability by its ratio in
  :data:`DRUG_EFFECTS`; relapse-independent progression is **not** affected (ground truth: PIRA
  rate ratio 1 for every drug).
* **MRI** once a year: activity (probability ``p_mri_active`` times the drug's ratio, 0.5 after
  a relapse in the previous 90 days) and brain volume shrinking by 0.2-0.45 %/year (0.5-0.9 %/year
  once progressing) with 0.3 % measurement noise.
* **Ground truth SPMS date**: the first month after the progression onset at which the
  noise-free course without transient relapse bumps (start + relapse residuals + progression)
  has an EDSS of at least 4, a pyramidal grade of at least 2 (or EDSS >= 5.5) and has worsened by
  one step (1.5 from 0, 1.0 below 6, 0.5 from 6) since the onset.

With ``randomise=True`` the cohort-level parameters themselves are drawn from wide ranges (and
returned in :attr:`FSCohort.params`), so that tests and benchmarks see many kinds of registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smoulder.schema.functional_systems import FS_NAMES, converted_bowel_bladder, converted_visual
from smoulder.schema.treatments import DRUGS
from smoulder.synth.clinical import _ids, _ragged_positions

__all__ = [
    "FSCohort",
    "simulate_fs_cohort",
    "write_fs_cohort",
    "edss_from_fs",
    "DRUG_EFFECTS",
    "msoutcomes_layout",
]

#: drug -> (relapse rate ratio, MRI activity ratio) against no treatment (rounded literature
#: values; the simulation's ground truth, not a claim about any product)
DRUG_EFFECTS: dict[str, tuple[float, float]] = {
    "interferon beta-1a": (0.70, 0.45),
    "glatiramer acetate": (0.70, 0.50),
    "teriflunomide": (0.69, 0.45),
    "dimethyl fumarate": (0.50, 0.30),
    "fingolimod": (0.46, 0.25),
    "cladribine": (0.42, 0.15),
    "natalizumab": (0.32, 0.08),
    "ocrelizumab": (0.30, 0.05),
    "ofatumumab": (0.30, 0.05),
    "alemtuzumab": (0.30, 0.10),
}
_MODERATE = [
    "interferon beta-1a",
    "glatiramer acetate",
    "teriflunomide",
    "dimethyl fumarate",
    "fingolimod",
]
_HIGH = ["natalizumab", "ocrelizumab", "ofatumumab", "alemtuzumab", "cladribine"]
_HIGHEST = np.array([6, 5, 5, 6, 6, 6, 5], dtype=np.float64)  # Kurtzke ranges
_SYS_WEIGHT = np.array([0.25, 0.15, 0.15, 0.2, 0.1, 0.1, 0.05])  # where relapses strike
# ambulation score (iMed 0-13) -> lowest EDSS it implies
_AMB_EDSS = np.array([0, 0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 9.5])


@dataclass
class FSCohort:
    """A simulated cohort with FS scores and treatments, and the ground truth behind it."""

    visits: pd.DataFrame
    relapses: pd.DataFrame
    mri: pd.DataFrame
    treatments: pd.DataFrame
    truth: pd.DataFrame
    drug_truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def edss_from_fs(fs: np.ndarray, ambulation: np.ndarray) -> np.ndarray:
    """EDSS step from raw FS grades (columns in :data:`FS_NAMES` order) and the ambulation score.

    Below 4.0 the Kurtzke (1983) step definitions are exact (visual and bowel/bladder grades
    converted first): 1.0 one grade 1; 1.5 several grade 1; 2.0 one grade 2; 2.5 two; 3.0 one
    grade 3 or three or four grade 2; 3.5 one grade 3 with one or two grade 2, two grade 3, or
    five grade 2. From 4.0 the grades set a floor (4.0 one grade 4 or combinations beyond 3.5;
    4.5 a grade 4 with others above 1; 5.0 two grade 4 or one grade 5 alone; 5.5 beyond) and
    the ambulation score sets the step (2 -> 4.5, 3 -> 5.0, 4 -> 5.5, 5 -> 6.0, ... 12 -> 9.5):
    the EDSS is the higher of the two.
    """
    g = np.array(fs, dtype=np.float64, copy=True)
    g[:, 5] = converted_visual(g[:, 5])
    g[:, 4] = converted_bowel_bladder(g[:, 4])
    mx = g.max(axis=1)
    c = np.stack([(g == k).sum(axis=1) for k in range(7)], axis=1)
    step = np.zeros(len(g))
    step = np.where(mx == 1, np.where(c[:, 1] == 1, 1.0, 1.5), step)
    two = np.select(
        [c[:, 2] == 1, c[:, 2] == 2, c[:, 2] <= 4, c[:, 2] == 5], [2.0, 2.5, 3.0, 3.5], 4.0
    )
    step = np.where(mx == 2, two, step)
    three = np.select(
        [
            (c[:, 3] == 1) & (c[:, 2] == 0),
            (c[:, 3] == 1) & (c[:, 2] <= 2),
            (c[:, 3] == 2) & (c[:, 2] == 0),
        ],
        [3.0, 3.5, 3.5],
        4.0,
    )
    step = np.where(mx == 3, three, step)
    four = np.select([(c[:, 4] == 1) & (c[:, 3] + c[:, 2] == 0), c[:, 4] == 1], [4.0, 4.5], 5.0)
    step = np.where(mx == 4, four, step)
    five = np.where((c[:, 5] == 1) & (c[:, 4] + c[:, 3] + c[:, 2] == 0), 5.0, 5.5)
    step = np.where(mx >= 5, five, step)
    amb = np.clip(np.nan_to_num(np.asarray(ambulation, dtype=np.float64)), 0, 13).astype(int)
    return np.maximum(step, _AMB_EDSS[amb])


def _walking(pyr: np.ndarray, crbl: np.ndarray, gain: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, gain * (1.6 * (pyr - 2.2) + 0.8 * (crbl - 2.5)))


def _draw_params(
    rng: np.random.Generator, randomise: bool, given: dict[str, Any]
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "n_visits": (6, 26),
        "visit_interval_days": (150.0, 250.0),
        "relapse_rate_per_year": 0.35,
        "frac_progressors": 0.45,
        "progression_rate": (0.15, 0.55),
        "rater_sd": 0.3,
        "p_missing_fs": 0.05,
        "p_missing_ambulation": 0.1,
        "p_mri_active": 0.25,
        "switch_rate_per_year": 0.15,
        "p_unscheduled": 0.3,
        "start_date": "2003-01-01",
        "censor_date": "2024-06-30",
    }
    if randomise:
        lo_int = float(rng.uniform(90, 240))
        p.update(
            n_visits=(int(rng.integers(3, 8)), int(rng.integers(12, 35))),
            visit_interval_days=(lo_int, lo_int + float(rng.uniform(30, 200))),
            relapse_rate_per_year=float(rng.uniform(0.05, 1.0)),
            frac_progressors=float(rng.uniform(0.15, 0.75)),
            progression_rate=(float(rng.uniform(0.05, 0.25)), float(rng.uniform(0.3, 0.9))),
            rater_sd=float(rng.uniform(0.15, 0.6)),
            p_missing_fs=float(rng.uniform(0.0, 0.3)),
            p_missing_ambulation=float(rng.uniform(0.0, 0.4)),
            p_mri_active=float(rng.uniform(0.05, 0.5)),
            switch_rate_per_year=float(rng.uniform(0.02, 0.4)),
            p_unscheduled=float(rng.uniform(0.0, 0.8)),
        )
    unknown = set(given) - set(p)
    if unknown:
        raise TypeError(f"unknown simulation parameters {sorted(unknown)} (allowed: {sorted(p)})")
    p.update(given)
    return p


def simulate_fs_cohort(
    n_subjects: int = 200, seed: int = 0, *, randomise: bool = False, **params: Any
) -> FSCohort:
    """Simulate a cohort with FS scores, ambulation, treatments, MRI and SPMS ground truth.

    Parameters
    ----------
    n_subjects : int
        Number of people.
    seed : int
        Seed of the one random generator (the result is a function of ``seed`` and the
        parameters only).
    randomise : bool
        Draw the cohort-level parameters from wide ranges first.
    **params
        Cohort-level parameters (see :attr:`FSCohort.params` for the names and defaults).

    Examples
    --------
    >>> c = simulate_fs_cohort(20, seed=3)
    >>> sorted(c.visits.columns)[:4]
    ['ambulation', 'bowel_bladder', 'brainstem', 'cerebellar']
    """
    rng = np.random.default_rng(seed)
    p = _draw_params(rng, randomise, params)
    n = int(n_subjects)
    ids = _ids(n)
    start = np.datetime64(p["start_date"], "D").astype(np.int64)
    enrol = start + rng.integers(0, 4 * 365, n)
    k = rng.integers(p["n_visits"][0], p["n_visits"][1] + 1, n)
    lo_i, hi_i = p["visit_interval_days"]
    interval = rng.uniform(lo_i, hi_i, n)
    censor = np.datetime64(p["censor_date"], "D").astype(np.int64)
    end = np.minimum(enrol + np.round((k - 1) * interval).astype(np.int64) + 20, censor)
    enrol = np.minimum(enrol, end - 1)

    # treatments: courses from enrolment (or before it) to the end of follow-up
    tr_sub, tr_drug, tr_start, tr_stop = _treatments(rng, n, enrol, end, p["switch_rate_per_year"])
    # relapses: piecewise Poisson over the course segments (untreated outside courses)
    frailty = rng.gamma(2.0, 0.5, n)
    r_sub, r_day = _relapses(
        rng,
        n,
        enrol - 365,
        end,
        tr_sub,
        tr_drug,
        tr_start,
        tr_stop,
        p["relapse_rate_per_year"] * frailty,
    )
    nr = len(r_sub)
    n_hit = 1 + (rng.random(nr) < 0.3)
    hit1 = rng.choice(7, nr, p=_SYS_WEIGHT)
    hit2 = np.where(n_hit == 2, rng.choice(7, nr, p=_SYS_WEIGHT), -1)
    bump = rng.uniform(1.0, 3.0, nr)
    resid = 1.0 - rng.uniform(0.4, 1.0, nr)
    tau = rng.uniform(20.0, 40.0, nr)

    # visits: scheduled, 10 % missed, unscheduled ones after some relapses
    v_sub = np.repeat(np.arange(n), k)
    j = _ragged_positions(k)
    v_day = enrol[v_sub] + np.round(j * interval[v_sub]).astype(np.int64)
    v_day += np.where(j == 0, 0, rng.integers(-30, 31, len(j)))
    kept = (j == 0) | (rng.random(len(j)) >= 0.10)
    v_sub, v_day = v_sub[kept], v_day[kept]
    uns = (rng.random(nr) < p["p_unscheduled"]) & (r_day > enrol[r_sub]) & (r_day < end[r_sub])
    u_day = r_day[uns] + rng.integers(5, 45, int(uns.sum()))
    v_sub = np.r_[v_sub, r_sub[uns]]
    v_day = np.r_[v_day, u_day]
    ok = v_day <= end[v_sub]
    v_sub, v_day = v_sub[ok], v_day[ok]
    order = np.lexsort((v_day, v_sub))
    v_sub, v_day = v_sub[order], v_day[order]
    first = np.r_[True, (v_sub[1:] != v_sub[:-1]) | (v_day[1:] != v_day[:-1])]
    v_sub, v_day = v_sub[first], v_day[first]
    nv = len(v_sub)

    # persons: starting burden, progression, walking gain
    burden = rng.beta(2.0, 3.0, n)
    progressor = rng.random(n) < p["frac_progressors"]
    onset = enrol + np.round(rng.uniform(-5, 15, n) * 365.25).astype(np.int64)
    lo_r, hi_r = p["progression_rate"]
    rate = rng.uniform(lo_r, hi_r, n)
    gain = rng.uniform(0.8, 1.2, n)
    involve = rng.random((n, 7)) < (0.2 + 0.6 * burden[:, None])
    involve[:, 0] |= progressor & (rng.random(n) < 0.7)
    base = involve * (0.6 + burden[:, None] * rng.uniform(0.5, 3.5, (n, 7)))

    def latent(sub: np.ndarray, day: np.ndarray, transient: bool) -> np.ndarray:
        lat = base[sub].copy()
        yrs = np.maximum(0.0, (day - onset[sub]) / 365.25) * progressor[sub]
        prog = rate[sub] * yrs
        lat[:, 0] += prog
        lat[:, 1] += 0.35 * prog
        lat[:, 4] += 0.3 * prog
        _add_relapses(lat, sub, day, r_sub, r_day, hit1, hit2, bump, resid, tau, transient)
        return np.minimum(lat, _HIGHEST)

    lat = latent(v_sub, v_day, True)
    noise = rng.normal(0.0, p["rater_sd"], (nv, 7))
    fs = np.clip(np.round(lat + noise), 0, _HIGHEST) + 0.0
    walk = _walking(lat[:, 0], lat[:, 1], gain[v_sub]) + rng.normal(0, 0.35, nv)
    amb = np.clip(np.round(walk), 0, 12) + 0.0
    edss = edss_from_fs(fs, amb)
    miss_fs = (rng.random(nv) < p["p_missing_fs"]) & (
        _ragged_positions(np.bincount(v_sub, minlength=n)) > 0
    )
    fs[miss_fs] = np.nan
    amb = np.where(miss_fs | (rng.random(nv) < p["p_missing_ambulation"]), np.nan, amb)

    truth_date = _truth_spms(n, enrol, end, onset, progressor, latent, gain)
    m_sub, m_day, active, volume = _mri(
        rng,
        n,
        enrol,
        end,
        r_sub,
        r_day,
        tr_sub,
        tr_drug,
        tr_start,
        tr_stop,
        p["p_mri_active"],
        progressor,
        onset,
    )

    cats = pd.Index(ids)

    def cat(codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes.astype(np.int32), categories=cats)

    def dates(days: np.ndarray) -> np.ndarray:
        return days.astype("datetime64[D]").astype("datetime64[s]")

    visits = pd.DataFrame({"subject": cat(v_sub), "date": dates(v_day), "edss": edss})
    for c_i, name in enumerate(FS_NAMES):
        visits[name] = fs[:, c_i]
    visits["ambulation"] = amb
    visits["days_since_relapse"] = _days_since(v_sub, v_day, r_sub, r_day)
    relapses = pd.DataFrame({"subject": cat(r_sub), "date": dates(r_day)})
    mri = pd.DataFrame(
        {"subject": cat(m_sub), "date": dates(m_day), "active": active, "brain_volume": volume}
    )
    treatments = pd.DataFrame(
        {
            "subject": cat(tr_sub),
            "drug": np.asarray(tr_drug, dtype=object),
            "start": dates(tr_start),
            "stop": pd.Series(dates(np.where(tr_stop < 0, 0, tr_stop))).where(tr_stop >= 0),
        }
    )
    truth = pd.DataFrame(
        {
            "subject": cat(np.arange(n)),
            "progressor": progressor,
            "progression_onset": pd.Series(dates(onset)).where(progressor),
            "progression_rate": np.where(progressor, rate, 0.0),
            "spms_date_true": pd.Series(dates(np.where(truth_date < 0, 0, truth_date))).where(
                truth_date >= 0
            ),
            "first_visit": dates(enrol),
            "end_of_follow_up": dates(end),
        }
    )
    drug_truth = pd.DataFrame(
        {
            "drug": list(DRUG_EFFECTS),
            "drug_class": [DRUGS[d][0] for d in DRUG_EFFECTS],
            "relapse_rate_ratio": [v[0] for v in DRUG_EFFECTS.values()],
            "mri_activity_ratio": [v[1] for v in DRUG_EFFECTS.values()],
            "pira_rate_ratio": 1.0,
        }
    )
    return FSCohort(visits, relapses, mri, treatments, truth, drug_truth, params=p)


def _treatments(
    rng: np.random.Generator, n: int, enrol: np.ndarray, end: np.ndarray, switch_rate: float
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    subs: list[int] = []
    drugs: list[str] = []
    starts: list[int] = []
    stops: list[int] = []
    u = rng.random((n, 8))
    gaps = rng.exponential(365.25 / max(switch_rate, 1e-6), (n, 6))
    pick = rng.integers(0, 5, (n, 8))
    for s in range(n):
        t = int(enrol[s] - (rng.integers(0, 730) if u[s, 0] < 0.4 else 0))
        if u[s, 1] < 0.3:  # untreated at first: starts a drug some time later
            t = int(enrol[s] + rng.integers(60, 1500))
        cur = _HIGH[pick[s, 0]] if u[s, 2] < 0.2 else _MODERATE[pick[s, 0]]
        for q in range(6):
            if t >= end[s]:
                break
            stop = int(t + max(60.0, gaps[s, q]))
            subs.append(s)
            drugs.append(cur)
            starts.append(t)
            if stop >= end[s]:
                stops.append(-1 if u[s, 3] < 0.8 else int(end[s]))
                break
            stops.append(stop)
            if u[s, 4 + q % 4] < 0.1:  # a break, then a new start
                t = stop + int(rng.integers(30, 400))
            else:
                t = stop
            escalate = cur in _MODERATE and rng.random() < 0.5
            pool = _HIGH if (escalate or cur in _HIGH) else _MODERATE
            choices = [d for d in pool if d != cur]
            cur = choices[int(rng.integers(0, len(choices)))]
    return (
        np.array(subs, dtype=np.int64),
        drugs,
        np.array(starts, dtype=np.int64),
        np.array(stops, dtype=np.int64),
    )


def _drug_at(
    sub: np.ndarray,
    day: np.ndarray,
    tr_sub: np.ndarray,
    tr_drug: list[str],
    tr_start: np.ndarray,
    tr_stop: np.ndarray,
) -> np.ndarray:
    """Index of the course each (subject, day) falls in (-1: untreated)."""
    out = np.full(len(sub), -1, dtype=np.int64)
    if len(tr_sub) == 0:
        return out
    key_c = tr_sub * (1 << 24) + tr_start
    key = sub.astype(np.int64) * (1 << 24) + day
    pos = np.searchsorted(key_c, key, side="right") - 1
    ok = pos >= 0
    ok[ok] = tr_sub[pos[ok]] == sub[ok]
    stop = np.where(tr_stop < 0, np.iinfo(np.int64).max, tr_stop)
    ok[ok] = day[ok] < stop[pos[ok]]
    out[ok] = pos[ok]
    return out


def _relapses(rng, n, t0, t1, tr_sub, tr_drug, tr_start, tr_stop, rate):
    """Relapse onsets from piecewise-constant rates: untreated rate times the current drug's."""
    ratio = np.array([DRUG_EFFECTS[d][0] for d in tr_drug]) if len(tr_drug) else np.zeros(0)
    # segment boundaries per subject: follow-up limits plus every course start/stop inside them
    bsub = np.r_[np.arange(n), np.arange(n), tr_sub, tr_sub[tr_stop >= 0]]
    bday = np.r_[t0, t1, tr_start, tr_stop[tr_stop >= 0]]
    lo = t0[bsub]
    hi = t1[bsub]
    bday = np.clip(bday, lo, hi)
    order = np.lexsort((bday, bsub))
    bsub, bday = bsub[order], bday[order]
    same = bsub[1:] == bsub[:-1]
    s_sub, s_a, s_b = bsub[:-1][same], bday[:-1][same], bday[1:][same]
    keep = s_b > s_a
    s_sub, s_a, s_b = s_sub[keep], s_a[keep], s_b[keep]
    course = _drug_at(s_sub, s_a, tr_sub, tr_drug, tr_start, tr_stop)
    mult = np.where(course >= 0, ratio[np.maximum(course, 0)] if len(ratio) else 1.0, 1.0)
    counts = rng.poisson(rate[s_sub] * mult * (s_b - s_a) / 365.25)
    r_sub = np.repeat(s_sub, counts)
    r_day = np.repeat(s_a, counts) + np.floor(
        rng.random(int(counts.sum())) * np.repeat(s_b - s_a, counts)
    ).astype(np.int64)
    order = np.lexsort((r_day, r_sub))
    r_sub, r_day = r_sub[order], r_day[order]
    first = np.r_[True, (r_sub[1:] != r_sub[:-1]) | (r_day[1:] != r_day[:-1])][: len(r_sub)]
    return r_sub[first], r_day[first]


def _add_relapses(lat, sub, day, r_sub, r_day, hit1, hit2, bump, resid, tau, transient):
    """Add every earlier relapse's effect (bump decaying to its residual, or the residual only)."""
    if len(r_sub) == 0:
        return
    key_r = r_sub * (1 << 24) + r_day
    key = sub.astype(np.int64) * (1 << 24) + day
    # relapses of the same subject on or before each time point: a contiguous block ending at pos
    hi = np.searchsorted(key_r, key, side="right")
    lo = np.searchsorted(key_r, sub.astype(np.int64) * (1 << 24), side="left")
    cnt = hi - lo
    if cnt.sum() == 0:
        return
    pt = np.repeat(np.arange(len(sub)), cnt)
    pr = np.repeat(lo, cnt) + _ragged_positions(cnt)
    dt = (day[pt] - r_day[pr]).astype(np.float64)
    frac = resid[pr] + ((1 - resid[pr]) * np.exp(-dt / tau[pr]) if transient else 0.0)
    eff = bump[pr] * frac
    np.add.at(lat, (pt, hit1[pr]), eff)
    two = hit2[pr] >= 0
    np.add.at(lat, (pt[two], hit2[pr][two]), eff[two])


def _truth_spms(n, enrol, end, onset, progressor, latent, gain):
    """First month after onset meeting the rule on the noise-free course (-1: never)."""
    out = np.full(n, -1, dtype=np.int64)
    who = np.flatnonzero(progressor & (onset < end))
    if len(who) == 0:
        return out
    t_from = np.maximum(onset[who], enrol[who] - 5 * 365)
    months = np.maximum(1, ((end[who] - t_from) // 30) + 1)
    g_sub = np.repeat(who, months)
    g_day = np.repeat(t_from, months) + 30 * _ragged_positions(months)
    lat = latent(g_sub, g_day, False)
    fs = np.round(lat)
    amb = np.clip(np.round(_walking(lat[:, 0], lat[:, 1], gain[g_sub])), 0, 12)
    e = edss_from_fs(fs, amb)
    starts = np.r_[0, np.cumsum(months)[:-1]]
    e0 = e[starts]
    e0_g = np.repeat(e0, months)
    step = np.where(e0_g == 0, 1.5, np.where(e0_g < 6, 1.0, 0.5))
    ok = (e >= 4.0) & ((fs[:, 0] >= 2) | (e >= 5.5)) & (e - e0_g >= step - 1e-9)
    first_ok = np.full(len(who), -1)
    idx = np.flatnonzero(ok)
    grp = np.searchsorted(starts, idx, side="right") - 1
    uniq, at = np.unique(grp, return_index=True)
    first_ok[uniq] = idx[at]
    hit = first_ok >= 0
    out[who[hit]] = g_day[first_ok[hit]]
    return out


def _mri(
    rng,
    n,
    enrol,
    end,
    r_sub,
    r_day,
    tr_sub,
    tr_drug,
    tr_start,
    tr_stop,
    p_active,
    progressor,
    onset,
):
    n_scan = np.maximum(1, (end - enrol) // 365 + 1)
    m_sub = np.repeat(np.arange(n), n_scan)
    j = _ragged_positions(n_scan)
    m_day = enrol[m_sub] + j * 365 + np.where(j == 0, 0, rng.integers(-30, 31, len(j)))
    m_day = np.minimum(m_day, end[m_sub])
    course = _drug_at(m_sub, m_day, tr_sub, tr_drug, tr_start, tr_stop)
    ratio = np.array([DRUG_EFFECTS[d][1] for d in tr_drug]) if len(tr_drug) else np.zeros(0)
    mult = np.where(course >= 0, ratio[np.maximum(course, 0)] if len(ratio) else 1.0, 1.0)
    recent = np.zeros(len(m_sub), dtype=bool)
    if len(r_sub):
        key_r = r_sub * (1 << 24) + r_day
        pos = np.searchsorted(key_r, m_sub * (1 << 24) + m_day, side="right") - 1
        ok = pos >= 0
        recent[ok] = (r_sub[pos[ok]] == m_sub[ok]) & (m_day[ok] - r_day[pos[ok]] <= 90)
    active = rng.random(len(m_sub)) < np.where(recent, 0.5, p_active * mult)
    v0 = rng.normal(1450.0, 90.0, n)
    base_rate = rng.uniform(0.002, 0.0045, n)
    prog_rate = rng.uniform(0.005, 0.009, n)
    yrs = (m_day - enrol[m_sub]) / 365.25
    yrs_prog = np.clip((m_day - np.maximum(onset[m_sub], enrol[m_sub])) / 365.25, 0, None)
    loss = base_rate[m_sub] * yrs + np.where(
        progressor[m_sub], (prog_rate - base_rate)[m_sub] * yrs_prog, 0.0
    )
    volume = np.round(v0[m_sub] * np.exp(-loss) * (1 + rng.normal(0, 0.003, len(m_sub))), 1)
    return m_sub, m_day, active, volume


def _days_since(
    v_sub: np.ndarray, v_day: np.ndarray, r_sub: np.ndarray, r_day: np.ndarray
) -> np.ndarray:
    out = np.full(len(v_sub), np.nan)
    if len(r_sub) == 0:
        return out
    key_r = r_sub * (1 << 24) + r_day
    pos = np.searchsorted(key_r, v_sub.astype(np.int64) * (1 << 24) + v_day, side="right") - 1
    ok = pos >= 0
    ok[ok] = r_sub[pos[ok]] == v_sub[ok]
    out[ok] = v_day[ok] - r_day[pos[ok]]
    return out


def msoutcomes_layout(cohort: FSCohort) -> pd.DataFrame:
    """The visits in MSoutcomes' column layout (``ID, dateEDSS, EDSS, FSpyr ... FSamb,
    daysPostRelapse``), as ``spmsDx`` takes them."""
    from smoulder.schema.functional_systems import MSOUTCOMES_COLUMNS

    v = cohort.visits
    out = pd.DataFrame(
        {
            "ID": v["subject"].astype(str),
            "dateEDSS": v["date"].dt.strftime("%Y-%m-%d"),
            "EDSS": v["edss"],
        }
    )
    for name, col in MSOUTCOMES_COLUMNS.items():
        out[col] = v[name]
    out["daysPostRelapse"] = v["days_since_relapse"]
    return out


def write_fs_cohort(cohort: FSCohort, directory: Any) -> dict[str, Any]:
    """Write visits, relapses, MRI, treatments and truth as CSV (ISO dates); return the paths."""
    from pathlib import Path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("visits", "relapses", "mri", "treatments", "truth"):
        df = getattr(cohort, name).copy()
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].dt.strftime("%Y-%m-%d")
        path = d / f"{name}.csv"
        df.to_csv(path, index=False)
        out[name] = path
    return out
