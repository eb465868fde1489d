"""Fill a store with the virtual demo clinic: every signal represented, with known ground truth.

Clinic visits, relapses and MRI activity come from :func:`smoulder.synth.simulate_cohort`; on top
of them this module simulates, per person (all seeded):

* **names** (fictional, from short lists) and clinic ids;
* **treatments**: a first disease-modifying therapy some months after enrolment, sometimes a switch;
* **per-lesion PRL results** on the last two MRI scans (more rim lesions in people with
  relapse-independent drift) and **SEL results** on the last scan;
* **device measures**: two years of daily step counts and weekly two-minute walk tests before
  the last visit, with a sustained decline in most people with drift;
* **lifestyle entries** every few months.

Then the analyses run from the store (progression; digital worsening through ``smoulder.digital``
when installed) and demo accounts are created: two clinicians who share the cohort, a researcher,
and one person with MS who can see their own record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smoulder.store.accounts import assign, create_user
from smoulder.store.analyses import refresh
from smoulder.store.importer import import_frame
from smoulder.store.models import Person

FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Femi",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
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


def demo_tables(
    n_subjects: int = 40, seed: int = 7, today: dt.date | None = None
) -> dict[str, pd.DataFrame]:
    """The demo clinic's tables, in the import formats (all text-free of real people)."""
    from smoulder.synth.clinical import simulate_cohort

    today = today or dt.date.today()
    rng = np.random.default_rng(seed)
    start = (pd.Timestamp(today) - pd.DateOffset(years=12)).strftime("%Y-%m-%d")
    c = simulate_cohort(n_subjects, seed=seed, start_date=start)
    limit = pd.Timestamp(today)
    visits = c.visits[c.visits["date"] <= limit].copy()
    relapses = c.relapses[c.relapses["date"] <= limit].copy()
    mri = c.mri[c.mri["date"] <= limit].copy()
    subjects = [str(s) for s in c.subjects["subject"]]
    progressor = dict(zip(map(str, c.truth["subject"]), c.truth["true_progressor"], strict=True))
    people = pd.DataFrame(
        {
            "subject": subjects,
            "name": [
                f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}" for i in range(len(subjects))
            ],
            "sex": [str(s) for s in c.subjects["sex"]],
            "birth_year": [str(int(today.year - 12 - a)) for a in c.subjects["age_at_onset"]],
        }
    )
    v = visits.drop(columns=["unscheduled"]).astype({"subject": str})
    v["date"] = v["date"].map(_iso)
    r = relapses.astype({"subject": str})
    r["end_date"] = [_iso(e) if pd.notna(e) and e <= limit else "" for e in r["end_date"]]
    r["date"] = r["date"].map(_iso)
    m = mri.astype({"subject": str})
    m["date"] = m["date"].map(_iso)
    m["active"] = m["active"].map(lambda x: "true" if x else "false")

    first_visit = v.groupby("subject")["date"].min()
    last_visit = v.groupby("subject")["date"].max()
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
        for k, scan in enumerate(scans[-2:]):
            n_les = int(rng.poisson(9)) + 1
            p_prl = 0.25 if prog else 0.04
            for label in range(1, n_les + 1):
                is_prl = rng.random() < p_prl
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
                if k == len(scans[-2:]) - 1:
                    u = rng.random()
                    cls = (
                        "definite"
                        if u < (0.25 if prog else 0.04)
                        else "possible"
                        if u < (0.35 if prog else 0.1)
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
        # device data: two years before the last visit
        d0 = end - pd.Timedelta(days=728)
        days = pd.date_range(d0, end, freq="D")
        decline = prog and rng.random() < 0.8
        onset = end - pd.Timedelta(days=int(rng.integers(120, 300)))
        factor = np.where(decline & (days >= onset), 0.78, 1.0)
        level = 6500 * rng.lognormal(0, 0.3)
        weekend = np.where(days.dayofweek >= 5, 0.8, 1.0)
        steps = level * factor * weekend * rng.lognormal(0, 0.25, len(days))
        for d, val in zip(days, steps, strict=True):
            devices.append((s, _iso(d), "steps", float(int(val)), "count"))
        walk = 130 * rng.lognormal(0, 0.15)
        for d, f in zip(days[::7], factor[::7], strict=True):
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
        for d in pd.date_range(d0, end, freq="120D"):
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
        "mri": m[["subject", "date", "active"]],
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
) -> DemoClinic:
    """Fill an empty, migrated store with the demo clinic and its accounts; return the logins."""
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
                rep = import_frame(s, kind, tables[kind].astype(str), source=f"demo {kind}")
                out.counts[kind] = rep.inserted
            out.analysis = refresh(s)
            doc1 = create_user(
                s, "dr.demo", password, "clinician", display_name="Dr Demo (neurologist)"
            )
            doc2 = create_user(
                s, "dr.other", password, "clinician", display_name="Dr Other (neurologist)"
            )
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


def write_demo_reports(store: Any, clinic: DemoClinic, reports_dir: Any) -> list[Any]:
    """Consultation reports (HTML and PDF) for the person with MS and the three people with the
    most signals, as their clinician sees them; return the files written."""
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
        me = s.query(Person).filter(Person.pseudonym == clinic.patient_key).one()
        if me not in chosen:
            chosen.insert(0, me)
        for p in chosen:
            rep = build_report(timeline(s, p, viewer), p.name or p.subject)
            stem = reports_dir / f"report-{p.pseudonym}"
            stem.with_suffix(".html").write_text(render_html(rep), encoding="utf-8")
            stem.with_suffix(".pdf").write_bytes(render_pdf(rep))
            written += [stem.with_suffix(".html"), stem.with_suffix(".pdf")]
    return written


__all__ = ["fill_demo_store", "demo_tables", "write_demo_reports", "DemoClinic", "DEMO_PASSWORD"]
