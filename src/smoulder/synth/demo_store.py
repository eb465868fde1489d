"""Fill a store with the virtual demo clinic: every signal represented, with known ground truth.

Clinic visits, relapses and MRI activity come from :func:`smoulder.synth.simulate_cohort`; on top
of them this module simulates, per person (all seeded):

* **names** (fictional, from short lists, first names that fit the recorded sex) and clinic ids;
  a **disease course** (RRMS / SPMS / PPMS / CIS) and **year of onset** that fit the simulation;
* **clinic scores** a neurologist would believe: EDSS at most 8.0 (never 10, death, followed by
  9.5) and no timed walk from EDSS 7 on;
* **treatments**: a first disease-modifying therapy some months after enrolment, sometimes a switch;
* **MRI lesion counts** that only grow: T2 lesions, with new/enlarging and gadolinium-enhancing
  lesions at the scans the simulator marks active;
* **per-lesion PRL results** on the last two MRI scans, the same lesions on both (a rim lesion
  keeps its rim; more rim lesions in people with relapse-independent drift) and **SEL results**
  on the last scan;
* **device measures**: three years of daily step counts and weekly two-minute walk tests up to
  shortly after the last visit, with a sustained decline starting 9-15 months before the end in
  most people with drift;
* **lifestyle entries** every few months.

Then the analyses run from the store (progression; digital worsening through ``smoulder.digital``
when installed) and demo accounts are created: two clinicians who share the cohort, a researcher,
and one person with MS who can see their own record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smoulder.store.accounts import assign, create_user
from smoulder.store.analyses import refresh
from smoulder.store.importer import import_frame
from smoulder.store.models import Person

# fictional first names that fit the recorded sex (F / M)
FEMALE = [
    "Ada",
    "Chloe",
    "Elena",
    "Greta",
    "Ines",
    "Kira",
    "Maya",
    "Olga",
    "Rosa",
    "Tara",
    "Uma",
    "Yara",
    "Nadia",
    "Lena",
    "Sofia",
    "Hanna",
]
MALE = [
    "Ben",
    "Dev",
    "Femi",
    "Hugo",
    "Jonas",
    "Luca",
    "Nils",
    "Pavel",
    "Sami",
    "Viktor",
    "Wen",
    "Omar",
]
LAST = [
    "Almeida",
    "Berger",
    "Castell",
    "Dunmore",
    "Eklund",
    "Farrow",
    "Gallo",
    "Hartmann",
    "Ilves",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rossi",
]
DMTS = [
    "ocrelizumab",
    "natalizumab",
    "dimethyl fumarate",
    "fingolimod",
    "teriflunomide",
    "interferon beta-1a",
    "ofatumumab",
    "cladribine",
]
DEMO_PASSWORD = "smoulder-demo-2024"


@dataclass
class DemoClinic:
    """What :func:`fill_demo_store` made: logins (user name, password, role, what they see) and counts."""

    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    patient_key: str = ""
    analysis: dict[str, Any] = field(default_factory=dict)


def _iso(x: Any) -> str:
    return pd.Timestamp(x).strftime("%Y-%m-%d")


# the simulator's settings for the demo (smoulder.synth.simulate_cohort): about 12 years of
# six-monthly visits from 12 years ago, so most people have been seen within the last year and a
# few have not (they show the overdue flags)
DEMO_COHORT: dict[str, Any] = {"n_visits_mean": 24, "edss_rater_sd": 0.3}
#: no EDSS above this in the demo (8.0: restricted to bed or chair; 10 is death)
DEMO_EDSS_MAX = 8.0
#: from this EDSS on nobody walks 25 feet (the timed walk is left empty)
NO_WALK_EDSS = 7.0
DEVICE_YEARS = 3


def _believable_visits(v: pd.DataFrame) -> pd.DataFrame:
    """Clinic scores a neurologist would believe: no EDSS above :data:`DEMO_EDSS_MAX` (the
    simulator can reach 10, death, and go down again), no timed 25-foot walk from
    :data:`NO_WALK_EDSS` on."""
    v = v.copy()
    v["edss"] = v["edss"].clip(upper=DEMO_EDSS_MAX)
    v.loc[v["edss"] >= NO_WALK_EDSS, "t25fw"] = np.nan
    return v


def _course(prog: bool, n_relapses: int, last_edss: float, years: float) -> str:
    """A disease course that fits the simulated person: progressive when the drift is there and
    the EDSS is high, CIS for a short quiet follow-up, relapsing-remitting otherwise."""
    if prog and n_relapses == 0 and last_edss >= 3.0:
        return "PPMS"
    if prog and last_edss >= 4.0:
        return "SPMS"
    if n_relapses <= 1 and years < 3 and last_edss < 2.5:
        return "CIS"
    return "RRMS"


def _mri_counts(active: list[bool], rng: Any) -> list[tuple[int, int, int]]:
    """T2 lesion counts that only grow (new lesions at active scans), with new/enlarging and
    gadolinium-enhancing counts consistent with each scan's activity."""
    t2 = int(rng.poisson(10)) + 3
    out = []
    for k, act in enumerate(active):
        new = int(rng.poisson(1.5)) + 1 if act and k else 0
        gd = int(rng.binomial(new, 0.5)) if act else 0
        if act and k == 0:
            gd = int(rng.integers(1, 3))
        t2 += new
        out.append((t2, new, gd))
    return out


def demo_tables(
    n_subjects: int = 40, seed: int = 7, today: dt.date | None = None
) -> dict[str, pd.DataFrame]:
    """The demo clinic's tables, in the import formats (all text-free of real people).

    Made to look like a clinic: names that fit the recorded sex, EDSS never above 8.0 (so never
    10 followed by 9.5), T2 lesion counts that only grow with new lesions at active scans, the
    same rim lesions from one scan to the next, and three years of phone data with a sustained
    decline starting 9 to 15 months before the end in most people with relapse-independent drift.
    """
    from smoulder.synth.clinical import simulate_cohort

    today = today or dt.date.today()
    rng = np.random.default_rng(seed)
    start = (pd.Timestamp(today) - pd.DateOffset(years=12)).strftime("%Y-%m-%d")
    c = simulate_cohort(n_subjects, seed=seed, start_date=start, **DEMO_COHORT)
    limit = pd.Timestamp(today)
    visits = _believable_visits(c.visits[c.visits["date"] <= limit])
    relapses = c.relapses[c.relapses["date"] <= limit].copy()
    mri = c.mri[c.mri["date"] <= limit].copy()
    subjects = [str(s) for s in c.subjects["subject"]]
    progressor = dict(zip(map(str, c.truth["subject"]), c.truth["true_progressor"], strict=True))
    sexes = [str(x) for x in c.subjects["sex"]]
    first_names = {"F": FEMALE, "M": MALE}
    used: dict[str, int] = {"F": 0, "M": 0}
    names = []
    for i, sx in enumerate(sexes):
        pool = first_names.get(sx, FEMALE + MALE)
        names.append(f"{pool[used.get(sx, 0) % len(pool)]} {LAST[(i * 7) % len(LAST)]}")
        used[sx] = used.get(sx, 0) + 1
    birth = [int(today.year - 12 - a) for a in c.subjects["age_at_onset"]]
    v = visits.drop(columns=["unscheduled"]).astype({"subject": str})
    v["date"] = v["date"].map(_iso)
    r = relapses.astype({"subject": str})
    r["end_date"] = [_iso(e) if pd.notna(e) and e <= limit else "" for e in r["end_date"]]
    r["date"] = r["date"].map(_iso)
    m = mri.astype({"subject": str})
    m["date"] = m["date"].map(_iso)

    first_visit = v.groupby("subject")["date"].min()
    last_visit = v.groupby("subject")["date"].max()
    last_edss = v.dropna(subset=["edss"]).groupby("subject")["edss"].last()
    n_rel = r.groupby("subject").size()
    courses, onsets = [], []
    for s, by in zip(subjects, birth, strict=True):
        years = (
            (pd.Timestamp(last_visit[s]) - pd.Timestamp(first_visit[s])).days / 365.25
            if s in first_visit
            else 0.0
        )
        courses.append(
            _course(bool(progressor[s]), int(n_rel.get(s, 0)), float(last_edss.get(s, 0.0)), years)
        )
        first_year = int(first_visit[s][:4]) if s in first_visit else today.year
        onsets.append(str(max(by + 15, first_year - int(rng.integers(0, 9)))))
    people = pd.DataFrame(
        {
            "subject": subjects,
            "name": names,
            "sex": sexes,
            "birth_year": [str(b) for b in birth],
            "disease_course": courses,
            "onset_year": onsets,
        }
    )
    counts = []
    for s in subjects:
        rows = m[m["subject"] == s].sort_values("date")
        counts += _mri_counts([bool(a) for a in rows["active"]], rng)
    m = m.sort_values(["subject", "date"]).reset_index(drop=True)
    m["t2_lesions"] = [str(x[0]) for x in counts]
    m["new_enlarging"] = [str(x[1]) for x in counts]
    m["gd_enhancing"] = [str(x[2]) for x in counts]
    m["active"] = m["active"].map(lambda x: "true" if x else "false")

    t2_of = {
        (a, b): int(t) for a, b, t in zip(m["subject"], m["date"], m["t2_lesions"], strict=True)
    }
    treat, prl, sel, devices, life = [], [], [], [], []
    for s in subjects:
        if s not in first_visit:
            continue
        t0 = pd.Timestamp(first_visit[s]) + pd.Timedelta(days=int(rng.integers(60, 400)))
        end = pd.Timestamp(last_visit[s])
        if t0 < end:
            drug = DMTS[int(rng.integers(len(DMTS)))]
            if rng.random() < 0.4:
                stop = t0 + (end - t0) * rng.uniform(0.3, 0.7)
                stop = pd.Timestamp(stop.date())
                treat.append((s, drug, _iso(t0), _iso(stop)))
                second = DMTS[(DMTS.index(drug) + 1 + int(rng.integers(len(DMTS) - 1))) % len(DMTS)]
                treat.append((s, second, _iso(stop + pd.Timedelta(days=30)), ""))
            else:
                treat.append((s, drug, _iso(t0), ""))
        scans = sorted(m.loc[m["subject"] == s, "date"])
        prog = bool(progressor[s])
        # the same lesions on the last two scans (labels 1..T2 count); a rim lesion keeps its rim
        rim: set[int] = set()
        p_prl = 0.22 if prog else 0.04
        for k, scan in enumerate(scans[-2:]):
            n_les = min(t2_of[(s, scan)], 45)
            for label in range(1, n_les + 1):
                if k == 0 or label not in rim:
                    is_prl = rng.random() < (p_prl if k == 0 else p_prl / 8)
                else:
                    is_prl = rng.random() < 0.92
                if is_prl:
                    rim.add(label)
                else:
                    rim.discard(label)
                vol = float(np.round(rng.lognormal(np.log(250 if is_prl else 90), 0.5), 1))
                prl.append(
                    (
                        s,
                        scan,
                        label,
                        int(vol),
                        vol,
                        *np.round(rng.normal(0, 40, 3), 1),
                        float(np.round(np.clip(rng.normal(0.7 if is_prl else 0.2, 0.1), 0, 1), 3)),
                        "true" if is_prl else "false",
                    )
                )
                if k == len(scans[-2:]) - 1 and len(scans) > 1:
                    u = rng.random()
                    cls = (
                        "definite"
                        if u < (0.07 if prog else 0.01)
                        else "possible"
                        if u < (0.14 if prog else 0.05)
                        else "no"
                    )
                    sel.append(
                        (
                            s,
                            scan,
                            label,
                            vol,
                            *np.round(rng.normal(0, 40, 3), 1),
                            float(np.round(rng.normal(4.0 if cls == "definite" else 0.5, 1.0), 2)),
                            float(
                                np.round(
                                    rng.uniform(0.6, 1)
                                    if cls == "definite"
                                    else rng.uniform(0, 0.6),
                                    3,
                                )
                            ),
                            float(np.round(rng.uniform(0.5, 1), 3)),
                            cls,
                        )
                    )
        # device data: three years up to shortly after the last visit
        d_end = min(end + pd.Timedelta(days=int(rng.integers(0, 60))), limit)
        d0 = d_end - pd.Timedelta(days=round(DEVICE_YEARS * 365.25))
        days = pd.date_range(d0, d_end, freq="D")
        decline = prog and rng.random() < 0.8
        onset = d_end - pd.Timedelta(days=int(rng.integers(270, 460)))
        factor = np.where(decline & (days >= onset), 0.78, 1.0)
        level = 6500 * rng.lognormal(0, 0.3)
        weekend = np.where(days.dayofweek >= 5, 0.8, 1.0)
        steps = level * factor * weekend * rng.lognormal(0, 0.25, len(days))
        for d, val in zip(days, steps, strict=True):
            devices.append((s, _iso(d), "steps", float(int(val)), "count"))
        walk = 130 * rng.lognormal(0, 0.15)
        wfactor = np.where(decline & (days >= onset), 0.85, 1.0)
        for d, f in zip(days[::7], wfactor[::7], strict=True):
            devices.append(
                (
                    s,
                    _iso(d),
                    "two_minute_walk",
                    float(np.round(walk * f * rng.lognormal(0, 0.08), 1)),
                    "m",
                )
            )
        # lifestyle: every ~4 months over the last two years
        smoke = ["never", "former", "current"][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
        for d in pd.date_range(d_end - pd.Timedelta(days=728), end, freq="120D"):
            life.append(
                (
                    s,
                    _iso(d),
                    str(int(rng.integers(0, 300))),
                    ["healthy", "mixed", "unhealthy"][int(rng.integers(3))],
                    smoke,
                    str(int(rng.integers(0, 15))),
                    str(float(np.round(rng.uniform(5, 9), 1))),
                    "vitamin D" if rng.random() < 0.5 else "",
                    "hypertension" if rng.random() < 0.2 else "",
                    "",
                )
            )
    return {
        "people": people,
        "visits": v,
        "relapses": r[["subject", "date", "end_date"]],
        "treatments": pd.DataFrame(treat, columns=["subject", "drug", "start_date", "stop_date"]),
        "mri": m[["subject", "date", "active", "t2_lesions", "new_enlarging", "gd_enhancing"]],
        "prl": pd.DataFrame(
            prl,
            columns=[
                "subject",
                "date",
                "label",
                "n_voxels",
                "volume_mm3",
                "centroid_x_mm",
                "centroid_y_mm",
                "centroid_z_mm",
                "rim_score",
                "prl",
            ],
        ),
        "sel": pd.DataFrame(
            sel,
            columns=[
                "subject",
                "date",
                "label",
                "volume_mm3",
                "centroid_x_mm",
                "centroid_y_mm",
                "centroid_z_mm",
                "expansion_pct_per_year",
                "concentricity",
                "constancy",
                "sel",
            ],
        ),
        "devices": pd.DataFrame(devices, columns=["subject", "date", "measure", "value", "unit"]),
        "lifestyle": pd.DataFrame(
            life,
            columns=[
                "subject",
                "date",
                "exercise_min_week",
                "diet",
                "smoking",
                "alcohol_units_week",
                "sleep_hours",
                "medications",
                "comorbidities",
                "notes",
            ],
        ),
    }


def fill_demo_store(
    store: Any,
    n_subjects: int = 40,
    seed: int = 7,
    today: dt.date | None = None,
    password: str = DEMO_PASSWORD,
    progress: Callable[[str], None] | None = None,
) -> DemoClinic:
    """Fill an empty, migrated store with the demo clinic and its accounts; return the logins.

    ``progress``, when given, is told each step as it begins (the command line shows a step that
    takes more than a second)."""
    say = progress or (lambda _: None)
    say(f"making {n_subjects} virtual people (visits, scans, phones and wearables)")
    tables = demo_tables(n_subjects, seed, today)
    out = DemoClinic()
    with store.session() as s:
        try:
            for kind in (
                "people",
                "visits",
                "relapses",
                "treatments",
                "mri",
                "prl",
                "sel",
                "devices",
                "lifestyle",
            ):
                say(f"importing the demo {kind} ({len(tables[kind]):,} rows)")
                rep = import_frame(s, kind, tables[kind].astype(str), source=f"demo {kind}")
                out.counts[kind] = rep.inserted
            say("analysing everyone: confirmed worsening, rim and expanding lesions, phone data")
            out.analysis = refresh(s)
            say("making the demo accounts")
            doc1 = create_user(s, "dr.demo", password, "clinician", display_name="Dr Demo")
            doc2 = create_user(s, "dr.other", password, "clinician", display_name="Dr Other")
            create_user(s, "researcher", password, "researcher", display_name="Demo researcher")
            people = s.query(Person).order_by(Person.subject).all()
            for i, p in enumerate(people):
                assign(s, doc1 if i % 2 == 0 else doc2, p)
            # the person with MS: the first person with a PIRA event (else the first person)
            from smoulder.store.models import PersonSignals

            sig = {x.person_id: x for x in s.query(PersonSignals)}
            me = next((p for p in people if sig.get(p.id) and sig[p.id].n_pira > 0), people[0])
            create_user(s, "patient", password, "patient", person=me, display_name=me.name)
            out.patient_key = me.pseudonym
            s.commit()
        except BaseException:
            s.rollback()
            raise
    out.logins = [
        ("dr.demo", password, "clinician", "half of the cohort"),
        ("dr.other", password, "clinician", "the other half"),
        ("researcher", password, "researcher", "everyone, pseudonymised"),
        ("patient", password, "patient", "their own record only"),
    ]
    return out


def write_demo_reports(
    store: Any,
    clinic: DemoClinic | str,
    reports_dir: Any,
    progress: Callable[[str], None] | None = None,
) -> list[Any]:
    """Consultation reports (HTML and PDF) for the person with MS and the three people with the
    most signals, as their clinician sees them; return the files written.

    ``clinic`` is what :func:`fill_demo_store` returned, or the pseudonym of the person with MS.
    Each file is written whole under a temporary name and then renamed, so that a reader (or an
    interrupted run) never finds half a report."""
    from pathlib import Path

    from smoulder.report import build_report, render_html, render_pdf
    from smoulder.store.models import PersonSignals, User
    from smoulder.store.repo import timeline

    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with store.session() as s:
        viewer = s.query(User).filter(User.username == "dr.demo").one()  # sees names
        rows = (
            s.query(Person, PersonSignals)
            .join(PersonSignals, PersonSignals.person_id == Person.id)
            .order_by(
                (
                    PersonSignals.n_pira
                    + PersonSignals.n_prl
                    + PersonSignals.n_sel
                    + PersonSignals.n_digital
                ).desc(),
                Person.subject,
            )
            .limit(3)
            .all()
        )
        chosen = [p for p, _ in rows]
        key = clinic if isinstance(clinic, str) else clinic.patient_key
        me = s.query(Person).filter(Person.pseudonym == key).one()
        if me not in chosen:
            chosen.insert(0, me)
        for i, p in enumerate(chosen, 1):
            if progress is not None:
                progress(f"writing consultation report {i} of {len(chosen)} (HTML and PDF)")
            rep = build_report(timeline(s, p, viewer), p.name or p.subject)
            stem = reports_dir / f"report-{p.pseudonym}"
            for path, body in (
                (stem.with_suffix(".html"), render_html(rep).encode("utf-8")),
                (stem.with_suffix(".pdf"), render_pdf(rep)),
            ):
                part = path.with_name(f".{path.name}.part")
                try:
                    part.write_bytes(body)
                    part.replace(path)
                except BaseException:  # an error, or the job stopped with the server
                    part.unlink(missing_ok=True)
                    raise
                written.append(path)
    return written


__all__ = ["fill_demo_store", "demo_tables", "write_demo_reports", "DemoClinic", "DEMO_PASSWORD"]
