"""Response and request models of the REST API (the ``XPublic`` family), so ``/openapi.json``
describes what each route really answers, errors included.

Fields a researcher does not get (names, clinic ids, free text) are optional: the pseudonymised
view leaves them out or sets them to null (see :mod:`smoulder.store.pseudonymise`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
)


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Public):
    """One problem with a request: where (row, column or parameter), the value, what was expected."""

    row: int | None = None
    column: str | None = None
    value: str | None = None
    message: str
    expected: str = ""


class ErrorDetail(_Public):
    """Every error answer: a sentence, and for 422 the list of problems."""

    detail: str
    errors: list[Problem] = Field(default_factory=list)
    retry_after_s: float | None = None


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status code documented with :class:`ErrorDetail`."""
    text = {
        400: "bad request (e.g. a Host header that is not allowed)",
        401: "not signed in",
        403: "not allowed (role, record, or a missing CSRF token)",
        404: "no such record among those the caller may see",
        413: "body too large",
        415: "unsupported file or content type",
        422: "invalid parameters or data; every problem listed",
        429: "too many failed sign-ins: wait retry_after_s seconds",
        503: "busy: try again in a few seconds",
    }
    return {c: {"model": ErrorDetail, "description": text.get(c, "error")} for c in codes}


# --------------------------------------------------------------------------- health and sessions
class HealthPublic(_Public):
    status: Literal["ok"]


class Credentials(_Public):
    """The body of ``POST /api/login`` (at most 16 KiB)."""

    username: str = Field(max_length=1024)
    password: str = Field(max_length=1024)


class LoginResult(_Public):
    username: str
    role: str
    csrf_token: str


class Message(_Public):
    detail: str


class MePublic(_Public):
    username: str
    role: str
    display_name: str
    csrf_token: str


# --------------------------------------------------------------------------- people
class PersonPublic(_Public):
    """A person's identity as the caller may see it (no name or clinic id for researchers)."""

    key: str
    sex: str | None = None
    birth_year: int | None = None
    disease_course: Literal["RRMS", "SPMS", "PPMS", "CIS"] | None = None
    onset_year: int | None = None
    name: str | None = None
    subject: str | None = None


class PatientList(_Public):
    total: int
    patients: list[PersonPublic]


class TrendPoint(_Public):
    date: str | None
    edss: float | None


class CohortRow(PersonPublic):
    """One person's row: signals, age, disease course, current treatment (the substance for
    researchers), the EDSS of every visit (the trend mark) and its change over two years."""

    n_pira: int | None
    n_raw: int | None
    n_prl: int | None
    n_sel: int | None
    n_digital: int | None
    n_relapses: int | None
    last_edss: float | None = None
    last_visit: str | None = None
    visit_overdue: bool | None = None
    age: int | None = None
    treatment: str | None = None
    edss_trend: list[TrendPoint] = Field(default_factory=list)
    edss_change_2y: float | None = None


class CohortPage(_Public):
    total: int
    rows: list[CohortRow]
    sort: str
    descending: bool
    signal: str | None = None
    limit: int
    offset: int


class AssessmentPublic(_Public):
    date: str | None
    edss: float | None = None
    t25fw: float | None = None
    nhpt: float | None = None
    sdmt: float | None = None


class RelapsePublic(_Public):
    onset: str | None
    end: str | None = None


class TreatmentPublic(_Public):
    """A therapy course; for researchers ``drug`` is the substance from the controlled list, or
    null when what the clinic typed is not on it."""

    drug: str | None
    drug_class: str | None = None
    start: str | None
    stop: str | None = None


class LesionPublic(_Public):
    method: str | None
    label: int | None
    volume_mm3: float | None = None
    rim_score: float | None = None
    prl: bool | None = None
    expansion_pct_per_year: float | None = None
    sel: str | None = None


class MriPublic(_Public):
    date: str | None
    active: bool | None = None
    t2_lesions: int | None = None
    new_enlarging: int | None = None
    gd_enhancing: int | None = None
    prl_rated: bool | None = None
    n_prl: int | None = None
    n_lesions: int | None = None
    sel_rated: bool | None = None
    n_sel_definite: int | None = None
    n_sel_possible: int | None = None
    lesions: list[LesionPublic] = Field(default_factory=list)


class EventPublic(_Public):
    type: str | None
    event_type: str | None
    outcome: str | None
    baseline_date: str | None = None
    baseline_value: float | None = None
    event_date: str | None
    event_value: float | None = None
    confirmation_date: str | None = None


class DeviceSeriesPublic(_Public):
    """Weekly medians of one measure."""

    unit: str | None
    dates: list[str | None]
    values: list[float | None]
    n_days: int | None


class DeviceEventPublic(_Public):
    measure: str | None
    onset_date: str | None
    detected_date: str | None = None
    baseline_value: float | None = None
    current_value: float | None = None
    change_pct: float | None = None
    source: str | None = None


class LifestylePublic(_Public):
    """One lifestyle entry; researchers get the coded fields only (no medications, other health
    problems or notes)."""

    date: str | None
    exercise_min_week: int | None = None
    diet: str | None = None
    smoking: str | None = None
    alcohol_units_week: float | None = None
    sleep_hours: float | None = None
    medications: str | None = None
    comorbidities: str | None = None
    notes: str | None = None


class AnalysisPublic(_Public):
    kind: str | None
    version: str | None
    computed_at: str | None
    status: str | None
    message: str | None = None
    settings: Any = None


class SignalPublic(_Public):
    date: str
    signal: str
    source: str


class DatedPublic(_Public):
    """A date with its age as of the day of the answer; ``overdue`` beyond 12 months."""

    date: str
    days: int
    ago: str
    overdue: bool


class FlagPublic(_Public):
    kind: Literal["no_visit", "visit_overdue", "no_scan", "scan_overdue"]
    text: str


class CurrentTreatmentPublic(_Public):
    drug: str
    drug_class: str | None = None
    since: str


class OverviewPublic(_Public):
    """Who this is and how current the record is, as of ``as_of``."""

    as_of: str
    age: int | None = None
    sex: str | None = None
    disease_course: str | None = None
    disease_course_name: str | None = None
    onset_year: int | None = None
    years_since_onset: int | None = None
    first_visit: str | None = None
    treatment: CurrentTreatmentPublic | None = None
    last_visit: DatedPublic | None = None
    previous_visit: DatedPublic | None = None
    last_scan: DatedPublic | None = None
    flags: list[FlagPublic]


class VerdictSignalPublic(_Public):
    """One of the four smouldering signals and its state now."""

    key: Literal["worsening", "prl", "sel", "digital"]
    title: str
    state: Literal["present", "absent", "unknown"]
    value: str
    detail: str
    since: str
    new: bool
    date: str | None = None
    kind: str
    evidence: str


class TimelinePublic(_Public):
    """One person's whole time line with the plain-language summary, the signal list, the
    overview (ages of the last visit and scan, overdue flags) and the verdict (four signals)."""

    person: PersonPublic
    assessments: list[AssessmentPublic]
    relapses: list[RelapsePublic]
    treatments: list[TreatmentPublic]
    mri: list[MriPublic]
    events: list[EventPublic]
    device: dict[str, DeviceSeriesPublic]
    device_events: list[DeviceEventPublic]
    lifestyle: list[LifestylePublic]
    analyses: list[AnalysisPublic]
    summary: list[str]
    signals: list[SignalPublic]
    overview: OverviewPublic
    verdict: list[VerdictSignalPublic]


class AuditEntryPublic(_Public):
    at: str
    action: str
    resource: str
    user: str | None = None
    role: str | None = None
    display_name: str | None = None


class AuditTrail(_Public):
    key: str
    entries: list[AuditEntryPublic]


class LifestyleList(_Public):
    key: str
    entries: list[LifestylePublic]


def _iso_date(v: Any) -> Any:
    if not isinstance(v, str | dt.date) or isinstance(v, dt.datetime):
        raise ValueError("a date as text, YYYY-MM-DD")
    return v


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    Field(description="ISO 8601 date, e.g. 2024-05-01", json_schema_extra={"format": "date"}),
]


class LifestyleCreate(_Public):
    """A lifestyle entry as sent; the ranges are those of the form and the import (a date between
    1900 and today; texts of at most 2,000 characters without control characters)."""

    date: IsoDate
    exercise_min_week: StrictInt | None = Field(None, ge=0, le=10080)
    diet: Literal["healthy", "mixed", "unhealthy", ""] | None = None
    smoking: Literal["never", "former", "current", ""] | None = None
    alcohol_units_week: StrictInt | StrictFloat | None = Field(None, ge=0, le=300)
    sleep_hours: StrictInt | StrictFloat | None = Field(None, ge=0, le=24)
    medications: StrictStr | None = Field(None, max_length=2000)
    comorbidities: StrictStr | None = Field(None, max_length=2000)
    notes: StrictStr | None = Field(None, max_length=2000)


class LifestyleSaved(_Public):
    saved: bool
    date: str


class AnalysisSummary(_Public):
    progression_recomputed: int
    digital: str


class ImportResult(_Public):
    """What an import did."""

    kind: str
    source: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    merged_duplicates: int
    people_created: int
    analysis: AnalysisSummary | None = None


__all__ = [
    n
    for n, v in list(globals().items())
    if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == __name__ and n[0] != "_"
] + ["errors"]


def whole_number(value: object) -> object:
    """Refuse a query value that is not written as a whole number ("0.0", "1e3"): the documented
    type is an integer, and a value in another form is a 422, not silently rounded."""
    if isinstance(value, str) and not value.strip().isdigit():
        raise ValueError("must be a whole number, such as 0 or 50")
    return value


#: put in ``Annotated[int, WHOLE, Query(...)]`` for integer query parameters
WHOLE = BeforeValidator(whole_number)
