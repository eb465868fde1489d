"""The cohort table: signals per person with a small EDSS trend, filtered and sorted in the database.

Filters: a smouldering signal (PIRA / PRL / SEL / digital / any), the current treatment (a
substance from the controlled list, ``none`` or ``other``), the disease course (RRMS / SPMS / PPMS
/ CIS or ``unknown``), an age range, and a search text. Each row carries the person's age, disease
course, current treatment, the EDSS values of their visits (the trend mark) and the change of EDSS
over the last two years, besides the signal counts. Researchers get the rows rebuilt from the
allow-list (:func:`smoulder.store.pseudonymise.researcher_row`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    asc,
    bindparam,
    cast,
    desc,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from smoulder.schema.disease_course import COURSES
from smoulder.schema.treatments import canonical_treatment, treatment_names
from smoulder.store.models import (
    Assessment,
    CareLink,
    Person,
    PersonSignals,
    Treatment,
    User,
)
from smoulder.store.pseudonymise import researcher_row

COHORT_SORTS = (
    "pseudonym",
    "name",
    "n_pira",
    "n_raw",
    "n_prl",
    "n_sel",
    "n_digital",
    "last_edss",
    "last_visit",
    "n_relapses",
)
COHORT_FILTERS = ("pira", "prl", "sel", "digital", "any")
TREATMENT_FILTERS = (*treatment_names(), "none", "other")
COURSE_FILTERS = (*COURSES, "unknown")
#: a visit older than this is overdue (as on the person page)
OVERDUE_DAYS = 365
TREND_YEARS = 2


#: what a cached cohort page depends on, read in one statement on every request: every write that
#: changes a row of the table (an import, a lifestyle entry, a new analysis with its signal counts)
#: adds 1 to ``data_version`` of each person it touches, so the sum only grows; new or removed
#: people change the count and the largest id; for a clinician, the people linked to them (count,
#: sum and sum of squares of their ids: a different set of people gives different figures unless
#: several links change at once in a way that keeps all three)
_PERSON_PART = (
    select(func.count()).select_from(Person).scalar_subquery(),
    select(func.coalesce(func.sum(Person.data_version), 0)).scalar_subquery(),
    select(func.coalesce(func.max(Person.id), 0)).scalar_subquery(),
)
_MINE = CareLink.user_id == bindparam("u")
_SQ = cast(CareLink.person_id, BigInteger) * cast(CareLink.person_id, BigInteger)
_REVISION = {
    "clinician": select(
        *_PERSON_PART,
        select(func.count()).select_from(CareLink).where(_MINE).scalar_subquery(),
        select(func.coalesce(func.sum(CareLink.person_id), 0)).where(_MINE).scalar_subquery(),
        select(func.coalesce(func.sum(_SQ), 0)).where(_MINE).scalar_subquery(),
    ),
    "other": select(*_PERSON_PART),
}


def revision(conn: Any, user: User) -> tuple[int, ...]:
    """The store's revision as ``user``'s cohort table sees it (``conn``: a connection or session).

    Equal revisions mean the same table for this user on the same day; any committed write that
    changes a person's data, the people, or the people linked to this clinician gives another."""
    stmt = _REVISION["clinician" if user.role == "clinician" else "other"]
    return tuple(int(x) for x in conn.execute(stmt, {"u": user.id}).one())


def _visible(user: User) -> Any:
    from smoulder.store.repo import visible_people

    return visible_people(user)


def _running(today: dt.date) -> Any:
    return and_(
        Treatment.person_id == Person.id,
        Treatment.start_date <= today,
        or_(Treatment.stop_date.is_(None), Treatment.stop_date > today),
    )


def treatment_options(session: Session, user: User) -> list[str]:
    """The controlled substances some visible person is on, sorted (for the filter's list)."""
    drugs = session.scalars(
        select(Treatment.drug)
        .distinct()
        .where(Treatment.person_id.in_(_visible(user).with_only_columns(Person.id)))
    )
    names = {t.name for t in (canonical_treatment(d) for d in drugs) if t is not None}
    return sorted(names)


def _treatment_condition(session: Session, treatment: str, today: dt.date) -> Any:
    typed = list(session.scalars(select(Treatment.drug).distinct()))
    listed = [d for d in typed if canonical_treatment(d) is not None]
    if treatment == "none":
        return not_(exists().where(_running(today)))
    if treatment == "other":
        return exists().where(_running(today), Treatment.drug.not_in(listed or [""]))
    raw = [d for d in listed if canonical_treatment(d).name == treatment]  # type: ignore[union-attr]
    return exists().where(_running(today), Treatment.drug.in_(raw or [""]))


def _trends(
    session: Session, ids: list[int], today: dt.date
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, float | None]]:
    series: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for pid, d, e in session.execute(
        select(Assessment.person_id, Assessment.date, Assessment.edss)
        .where(Assessment.person_id.in_(ids), Assessment.edss.is_not(None))
        .order_by(Assessment.person_id, Assessment.date)
    ):
        series[pid].append({"date": d.isoformat(), "edss": e})
    change: dict[int, float | None] = {}
    for pid, pts in series.items():
        last = dt.date.fromisoformat(pts[-1]["date"])
        since = (last - dt.timedelta(days=round(365.25 * TREND_YEARS))).isoformat()
        window = [p for p in pts if p["date"] >= since]
        change[pid] = window[-1]["edss"] - window[0]["edss"] if len(window) > 1 else None
    return series, change


def _current(session: Session, ids: list[int], today: dt.date) -> dict[int, tuple[str, dt.date]]:
    out: dict[int, tuple[str, dt.date]] = {}
    for pid, drug, start in session.execute(
        select(Treatment.person_id, Treatment.drug, Treatment.start_date)
        .where(
            Treatment.person_id.in_(ids),
            Treatment.start_date <= today,
            or_(Treatment.stop_date.is_(None), Treatment.stop_date > today),
        )
        .order_by(Treatment.person_id, Treatment.start_date)
    ):
        out[pid] = (drug, start)  # the latest started wins
    return out


def cohort(
    session: Session,
    user: User,
    *,
    sort: str = "n_pira",
    descending: bool = True,
    signal: str | None = None,
    query: str | None = None,
    treatment: str | None = None,
    course: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    limit: int = 50,
    offset: int = 0,
    today: dt.date | None = None,
    cache: Any = None,
) -> dict[str, Any]:
    """One page of the cohort table, sorted and filtered in the database.

    ``signal`` keeps people with at least one PIRA event / PRL / definite SEL / digital worsening
    event (``any``: at least one of these); ``treatment`` the people on that substance today
    (``none``: on no treatment; ``other``: on one not on the controlled list); ``course`` one
    disease course (``unknown``: not recorded); ``age_min``/``age_max`` an age range in years
    (from the birth year). ``query`` matches the pseudonym (and, for users who may see them, the
    name or clinic id). ``cache`` (``get(key)``/``put(key, value)``) keeps each person's trend and
    current treatment per data version and day, so a page of known people costs two queries.
    """
    from smoulder.store.repo import person_public, pseudonymised

    today = today or dt.date.today()
    if sort not in COHORT_SORTS:
        sort = "n_pira"
    if sort == "name" and pseudonymised(user):
        sort = "pseudonym"
    base = _visible(user).outerjoin(PersonSignals, PersonSignals.person_id == Person.id)
    conds: list[Any] = []
    counts = {
        "pira": PersonSignals.n_pira,
        "prl": PersonSignals.n_prl,
        "sel": PersonSignals.n_sel,
        "digital": PersonSignals.n_digital,
    }
    if signal in counts:
        conds.append(counts[signal] > 0)
    elif signal == "any":
        conds.append(or_(*(c > 0 for c in counts.values())))
    if treatment in TREATMENT_FILTERS:
        conds.append(_treatment_condition(session, treatment, today))
    if course in COURSES:
        conds.append(Person.disease_course == course)
    elif course == "unknown":
        conds.append(Person.disease_course.is_(None))
    if age_min is not None:
        conds.append(Person.birth_year <= today.year - age_min)
    if age_max is not None:
        conds.append(Person.birth_year >= today.year - age_max)
    if query:
        q = query.strip()[:64]
        like = f"%{q.replace('%', '').replace('_', '')}%"
        fields = [Person.pseudonym.ilike(like)]
        if not pseudonymised(user):
            fields += [Person.name.ilike(like), Person.subject.ilike(like)]
        conds.append(or_(*fields))
    if conds:
        base = base.where(*conds)
    total = session.scalar(
        select(func.count()).select_from(base.with_only_columns(Person.id).subquery())
    )
    col = {"pseudonym": Person.pseudonym, "name": Person.name}.get(sort) or getattr(
        PersonSignals, sort
    )
    order = desc(col) if descending else asc(col)
    page = base.with_only_columns(Person, PersonSignals).order_by(
        order.nulls_last(), Person.pseudonym
    )
    found = list(session.execute(page.limit(max(1, min(limit, 500))).offset(max(0, offset))))
    extras: dict[int, tuple[Any, Any, Any]] = {}
    missing = []
    for p, _ in found:
        hit = cache.get(("cohort-row", p.id, p.data_version, today)) if cache is not None else None
        if hit is None:
            missing.append(p.id)
        else:
            extras[p.id] = hit
    if missing:
        series, change = _trends(session, missing, today)
        running = _current(session, missing, today)
        for p, _ in found:
            if p.id in extras:
                continue
            value = (series.get(p.id, []), change.get(p.id), running.get(p.id))
            extras[p.id] = value
            if cache is not None:
                cache.put(("cohort-row", p.id, p.data_version, today), value)
    rows = []
    for person, sig in found:
        item = person_public(person, user)
        for k in ("n_pira", "n_raw", "n_prl", "n_sel", "n_digital", "n_relapses"):
            item[k] = getattr(sig, k) if sig is not None else 0
        item["last_edss"] = sig.last_edss if sig is not None else None
        last = sig.last_visit if sig is not None else None
        item["last_visit"] = last.isoformat() if last is not None else None
        item["visit_overdue"] = last is None or (today - last).days > OVERDUE_DAYS
        item["age"] = today.year - person.birth_year if person.birth_year else None
        trend, delta, drug = extras[person.id]
        item["treatment"] = drug[0] if drug else None
        item["edss_trend"] = trend
        item["edss_change_2y"] = delta
        rows.append(researcher_row(item) if pseudonymised(user) else item)
    return {
        "total": total,
        "rows": rows,
        "sort": sort,
        "descending": descending,
        "signal": signal,
        "limit": limit,
        "offset": offset,
    }


__all__ = [
    "cohort",
    "revision",
    "treatment_options",
    "COHORT_SORTS",
    "COHORT_FILTERS",
    "TREATMENT_FILTERS",
    "COURSE_FILTERS",
]
