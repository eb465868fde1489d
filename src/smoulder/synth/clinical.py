"""Virtual clinical cohorts with known ground truth.

Model (per subject, all vectorised over subjects):

* **Enrolment** uniformly within three years after ``start_date``; a randomised ``arm``.
* **Scheduled visits** every ``visit_interval_days`` with +-30 days of jitter; 10 % of them
  are missed (never the first). The number of scheduled visits is drawn around
  ``n_visits_mean`` (normal, sd 3, at least 1).
* **Relapses**: a Poisson process (from one year before enrolment to the end of follow-up) with subject-specific rate ``relapse_rate_per_year`` times a
  gamma frailty (mean 1, shape 2), reduced by ``active_effect`` in the second arm. Each relapse
  adds a bump of 0.5-2.0 EDSS points at onset that decays exponentially (time constant 20-40
  days) to a residual of ``(1 - recovery)`` of the bump, ``recovery`` drawn from
  ``relapse_recovery``. Relapses last 20-90 days (``end_date``). With probability
  ``unscheduled_rate`` a relapse brings an unscheduled visit 7-40 days after onset.
* **Relapse-independent drift** (the smouldering process): a fraction ``frac_progressors``
  of subjects worsen linearly at a rate drawn uniformly from ``pira_drift_per_year``
  (EDSS points per year), reduced by ``active_effect`` in the second arm; the others have
  no drift.
* **Latent EDSS** = start (uniform 1.0-4.5) + drift x years + sum of relapse bumps.
  **Observed EDSS** = latent + N(0, ``edss_rater_sd``), rounded to the 0.5 grid, in [0, 10].
* **T25FW** = 4.5 s x exp(0.12 latent) with 10 % log-normal noise; **9HPT** = 18 s x
  exp(0.08 latent) with 8 % noise; **SDMT** = 60 - 3 latent + a practice effect of up to
  +3 points over the first visits + N(0, 5), whole points in [0, 110].
* **MRI** once a year (+-30 days): active (new/enlarging T2 or Gd+) with probability 0.5 when
  a relapse began in the 90 days before, else 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Cohort", "simulate_cohort", "write_cohort", "load_demo"]


@dataclass
class Cohort:
    """A simulated cohort: observed tables and the ground truth behind them."""

    visits: pd.DataFrame
    relapses: pd.DataFrame
    mri: pd.DataFrame
    subjects: pd.DataFrame
    truth: pd.DataFrame


def _ids(n: int) -> np.ndarray:
    width = max(7, len(str(n)))
    return np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _ragged_positions(counts: np.ndarray) -> np.ndarray:
    """0..k-1 within each group of a flat array laid out by ``counts``."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def simulate_cohort(
    n_subjects: int = 200,
    seed: int = 0,
    n_visits_mean: float = 20,
    visit_interval_days: float = 182.6,
    unscheduled_rate: float = 0.15,
    pira_drift_per_year: tuple[float, float] = (0.0, 0.25),
    frac_progressors: float = 0.4,
    relapse_rate_per_year: float = 0.3,
    relapse_recovery: tuple[float, float] = (0.3, 1.0),
    edss_rater_sd: float = 0.35,
    start_date: str = "2005-01-01",
    arms: tuple[str, ...] = ("placebo", "active"),
    active_effect: float = 0.5,
) -> Cohort:
    """Simulate a cohort with known relapse-independent drift and relapses.

    The model is described in the module documentation. Deterministic for a given ``seed``.

    Parameters
    ----------
    n_subjects : int
        Number of people in the cohort.
    seed : int
        Seed of the random generator; the same seed gives the same cohort.
    n_visits_mean : float
        Mean number of scheduled visits per person (normal, sd 3, at least 1).
    visit_interval_days : float
        Days between scheduled visits (each jittered by up to 30 days).
    unscheduled_rate : float
        Probability that a relapse brings an unscheduled visit 7-40 days after its onset.
    pira_drift_per_year : tuple of float
        Range (low, high) of the relapse-independent EDSS drift of a progressor, in EDSS points
        per year (drawn uniformly).
    frac_progressors : float
        Share of people with relapse-independent drift (0-1).
    relapse_rate_per_year : float
        Mean relapse rate per person-year before the treatment effect (gamma frailty, mean 1).
    relapse_recovery : tuple of float
        Range of the share of a relapse's EDSS bump that is recovered (1 = full recovery).
    edss_rater_sd : float
        Standard deviation of the rater's error on the EDSS before rounding to the 0.5 grid.
    start_date : str
        ISO date from which enrolment is spread over three years.
    arms : tuple of str
        Names of the randomised arms; the last one is the active arm.
    active_effect : float
        Multiplier of drift and relapse rate in the active arm (1 = no effect).

    Returns
    -------
    Cohort
        Visits, relapses, MRI, subjects and the ground truth (drift per year, progressor or not).

    Examples
    --------
    >>> c = simulate_cohort(5, seed=1)
    >>> sorted(c.visits.columns)[:3]
    ['date', 'edss', 'nhpt']
    """
    rng = np.random.default_rng(seed)
    n = int(n_subjects)
    if n < 1:
        raise ValueError(f"n_subjects must be at least 1 (given {n_subjects!r})")
    ids = _ids(n)
    start = np.datetime64(start_date, "D").astype(np.int64)
    enrol = start + rng.integers(0, 3 * 365, n)
    arm_idx = rng.integers(0, len(arms), n)
    effect = np.where(arm_idx == len(arms) - 1, active_effect, 1.0) if len(arms) > 1 else np.ones(n)
    sex = np.where(rng.random(n) < 0.7, "F", "M")
    age = np.round(rng.normal(30, 8, n).clip(15, 60), 1)
    progressor = rng.random(n) < frac_progressors
    drift = np.where(progressor, rng.uniform(*pira_drift_per_year, n), 0.0) * effect
    edss0 = rng.uniform(1.0, 4.5, n)

    # scheduled visits
    k = np.maximum(1, np.round(rng.normal(n_visits_mean, 3, n))).astype(np.int64)
    sv_sub = np.repeat(np.arange(n), k)
    j = _ragged_positions(k)
    jitter = np.where(j == 0, 0, rng.integers(-30, 31, len(j)))
    sv_day = enrol[sv_sub] + np.round(j * visit_interval_days).astype(np.int64) + jitter
    kept = (j == 0) | (rng.random(len(j)) >= 0.10)
    sv_sub, sv_day = sv_sub[kept], sv_day[kept]
    end = enrol + np.round((k - 1) * visit_interval_days).astype(np.int64) + 31
    follow = (end - enrol).astype(np.float64)

    # relapses
    frailty = rng.gamma(2.0, 0.5, n)
    rate = relapse_rate_per_year * frailty * effect
    nrel = rng.poisson(rate * follow / 365.25)
    r_sub = np.repeat(np.arange(n), nrel)
    r_day = enrol[r_sub] + np.floor(rng.random(len(r_sub)) * follow[r_sub]).astype(np.int64)
    # relapses in the year before enrolment (the history that brought people to the clinic)
    nhist = rng.poisson(rate)
    h_sub = np.repeat(np.arange(n), nhist)
    h_day = enrol[h_sub] - 1 - np.floor(rng.random(len(h_sub)) * 365).astype(np.int64)
    r_sub = np.r_[r_sub, h_sub]
    r_day = np.r_[r_day, h_day]
    order = np.lexsort((r_day, r_sub))
    r_sub, r_day = r_sub[order], r_day[order]
    # one onset per subject and day
    keep_r = np.r_[True, (r_sub[1:] != r_sub[:-1]) | (r_day[1:] != r_day[:-1])][: len(r_sub)]
    r_sub, r_day = r_sub[keep_r], r_day[keep_r]
    nr = len(r_sub)
    bump = rng.uniform(0.5, 2.0, nr)
    recov = rng.uniform(*relapse_recovery, nr)
    tau = rng.uniform(20.0, 40.0, nr)
    r_end = r_day + rng.integers(20, 91, nr)

    # unscheduled visits after relapses
    uns = rng.random(nr) < unscheduled_rate
    u_sub = r_sub[uns]
    u_day = r_day[uns] + rng.integers(7, 41, int(uns.sum()))
    u_ok = (u_day <= end[u_sub]) & (u_day > enrol[u_sub])
    u_sub, u_day = u_sub[u_ok], u_day[u_ok]

    v_sub = np.r_[sv_sub, u_sub]
    v_day = np.r_[sv_day, u_day]
    v_uns = np.r_[np.zeros(len(sv_sub), bool), np.ones(len(u_sub), bool)]
    order = np.lexsort((v_uns, v_day, v_sub))
    v_sub, v_day, v_uns = v_sub[order], v_day[order], v_uns[order]
    first = np.r_[True, (v_sub[1:] != v_sub[:-1]) | (v_day[1:] != v_day[:-1])]
    v_sub, v_day, v_uns = v_sub[first], v_day[first], v_uns[first]
    nv = len(v_sub)
    v_idx = _ragged_positions(np.bincount(v_sub, minlength=n))

    # latent EDSS: baseline + drift + relapse bumps (pairs of relapse x later visits of the subject)
    years = (v_day - enrol[v_sub]) / 365.25
    latent = edss0[v_sub] + drift[v_sub] * years
    v_off = np.r_[0, np.cumsum(np.bincount(v_sub, minlength=n))]
    # for each relapse, the visits of its subject on or after onset
    lo = v_off[r_sub]
    hi = v_off[r_sub + 1]
    # position of the first visit on/after onset within the subject's visits (vectorised search)
    key_v = v_sub.astype(np.int64) * (1 << 32) + (v_day - start + (1 << 20))
    key_r = r_sub.astype(np.int64) * (1 << 32) + (r_day - start + (1 << 20))
    pos = np.searchsorted(key_v, key_r, side="left")
    pos = np.clip(pos, lo, hi)
    cnt = hi - pos
    if cnt.sum():
        pr = np.repeat(np.arange(nr), cnt)
        pv = np.repeat(pos, cnt) + _ragged_positions(cnt)
        dt = (v_day[pv] - r_day[pr]).astype(np.float64)
        resid = 1.0 - recov[pr]
        contrib = bump[pr] * (resid + (1.0 - resid) * np.exp(-dt / tau[pr]))
        latent += np.bincount(pv, weights=contrib, minlength=nv)
    latent = np.clip(latent, 0.0, 9.5)
    edss = np.clip(np.round((latent + rng.normal(0, edss_rater_sd, nv)) * 2) / 2, 0.0, 10.0)
    t25fw = np.round(4.5 * np.exp(0.12 * latent) * rng.lognormal(0, 0.10, nv), 1)
    nhpt = np.round(18.0 * np.exp(0.08 * latent) * rng.lognormal(0, 0.08, nv), 1)
    practice = 3.0 * (1 - np.exp(-v_idx / 2.0))
    sdmt = np.clip(np.round(60 - 3 * latent + practice + rng.normal(0, 5, nv)), 0, 110)

    # MRI yearly
    n_scan = np.maximum(1, np.floor(follow / 365.25).astype(np.int64) + 1)
    m_sub = np.repeat(np.arange(n), n_scan)
    m_j = _ragged_positions(n_scan)
    m_day = (
        enrol[m_sub]
        + np.round(m_j * 365.25).astype(np.int64)
        + np.where(m_j == 0, 0, rng.integers(-30, 31, len(m_j)))
    )
    key_m = m_sub.astype(np.int64) * (1 << 32) + (m_day - start + (1 << 20))
    # last relapse on or before the scan
    idx = np.searchsorted(key_r, key_m, side="right") - 1
    recent = np.zeros(len(m_sub), dtype=bool)
    ok = idx >= 0
    recent[ok] = (r_sub[idx[ok]] == m_sub[ok]) & (m_day[ok] - r_day[idx[ok]] <= 90)
    active = rng.random(len(m_sub)) < np.where(recent, 0.5, 0.05)

    cats = pd.Index(ids)

    def cat(codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes.astype(np.int32), categories=cats)

    def dates(days: np.ndarray) -> np.ndarray:
        return days.astype("datetime64[D]").astype("datetime64[s]")

    visits = pd.DataFrame(
        {
            "subject": cat(v_sub),
            "date": dates(v_day),
            "edss": edss,
            "t25fw": t25fw,
            "nhpt": nhpt,
            "sdmt": sdmt,
            "unscheduled": v_uns,
        }
    )
    relapses = pd.DataFrame({"subject": cat(r_sub), "date": dates(r_day), "end_date": dates(r_end)})
    mri = pd.DataFrame({"subject": cat(m_sub), "date": dates(m_day), "active": active})
    n_rel_sub = np.bincount(r_sub, minlength=n)
    subjects = pd.DataFrame(
        {
            "subject": cat(np.arange(n)),
            "arm": np.asarray(arms, dtype=object)[arm_idx],
            "sex": sex,
            "age_at_onset": age,
            "true_drift_per_year": drift,
            "n_relapses": n_rel_sub,
        }
    )
    last_lat = np.zeros(n)
    last_lat[v_sub] = latent  # visits sorted: the last assignment per subject wins
    first_lat = np.zeros(n)
    first_lat[v_sub[::-1]] = latent[::-1]
    truth = pd.DataFrame(
        {
            "subject": cat(np.arange(n)),
            "true_drift_per_year": drift,
            "latent_edss_start": first_lat,
            "latent_edss_end": last_lat,
            "true_progressor": drift > 0,
        }
    )
    return Cohort(visits=visits, relapses=relapses, mri=mri, subjects=subjects, truth=truth)


def write_cohort(cohort: Cohort, directory: str | Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the observed tables (ISO dates) as CSV or Parquet; return their paths.

    Parameters
    ----------
    cohort : Cohort
        A simulated cohort; its ``visits``, ``relapses``, ``mri`` and ``subjects`` are written
        (the ``truth`` table is not).
    directory : path
        Folder to write into (created if missing); existing files of the same name are replaced.
    fmt : {"csv", "parquet"}
        File format (``<table>.csv`` or ``<table>.parquet``).

    Returns
    -------
    dict of str to Path
        The path of each table by name (``visits``, ``relapses``, ``mri``, ``subjects``).

    Raises
    ------
    ValueError
        ``fmt`` is neither ``"csv"`` nor ``"parquet"``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet'; got {fmt!r}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("visits", "relapses", "mri", "subjects"):
        df = getattr(cohort, name)
        cols = {}
        for c in df.columns:
            s = df[c]
            if pd.api.types.is_datetime64_any_dtype(s):
                cols[c] = pa.array(s.to_numpy().astype("datetime64[D]"))
            elif isinstance(s.dtype, pd.CategoricalDtype):
                # plain strings: a dictionary column would repeat the whole dictionary in every
                # Parquet row group (a million ids, a hundred times over)
                cols[c] = pa.DictionaryArray.from_arrays(
                    pa.array(s.cat.codes.to_numpy()),
                    pa.array(s.cat.categories.to_numpy(dtype=object)),
                ).cast(pa.string())
            else:
                cols[c] = pa.array(s.to_numpy())
        table = pa.table(cols)
        path = d / f"{name}.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        out[name] = path
    return out


def load_demo() -> Cohort:
    """The bundled demo cohort (60 subjects) as a :class:`Cohort`.

    Returns
    -------
    Cohort
        The demo's visits, relapses, MRI and subjects tables as shipped in ``smoulder.data``,
        with dates parsed, and the truth (``true_drift_per_year``, ``true_progressor``) taken
        from the subjects table.

    Examples
    --------
    >>> demo = load_demo()
    >>> demo.subjects["subject"].nunique()
    60
    """
    from importlib import resources

    base = resources.files("smoulder.data")
    read = {}
    for name in ("visits", "relapses", "mri", "subjects"):
        with resources.as_file(base / f"demo_{name}.csv") as p:
            read[name] = pd.read_csv(p)
    for name in ("visits", "relapses", "mri"):
        read[name]["date"] = pd.to_datetime(read[name]["date"])
    if "end_date" in read["relapses"]:
        read["relapses"]["end_date"] = pd.to_datetime(read["relapses"]["end_date"])
    s = read["subjects"]
    truth = s[["subject", "true_drift_per_year"]].assign(
        true_progressor=s["true_drift_per_year"] > 0
    )
    return Cohort(
        visits=read["visits"], relapses=read["relapses"], mri=read["mri"], subjects=s, truth=truth
    )
