"""SQLAlchemy 2 models of the clinic store.

One person has clinic assessments, relapses, treatments, MRI sessions (with per-lesion PRL/SEL
results), device measures and detected device events, and lifestyle entries. Derived results
(progression events, the per-person signal summary) carry the settings and package version that
produced them and a hash of their inputs, so they are recomputed when the inputs change.

Users have one of three roles: ``clinician`` (sees the people assigned to them), ``researcher``
(sees everyone, pseudonymised: never names or clinic ids) and ``patient`` (sees only their own
record). Every view and change is written to the audit log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("clinician", "researcher", "patient")

_naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time in UTC without tzinfo (stored as naive UTC everywhere)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=_naming)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True)
    birth_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # RRMS / SPMS / PPMS / CIS (smoulder.schema.disease_course) and the year symptoms began
    disease_course: Mapped[str | None] = mapped_column(String(8), nullable=True)
    onset_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class CareLink(Base):
    """A clinician looks after a person (a person may have several clinicians)."""

    __tablename__ = "care_links"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Assessment(Base):
    """One clinic visit: EDSS, timed 25-foot walk (s), 9-hole peg test (s), SDMT (points)."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("person_id", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    edss: Mapped[float | None] = mapped_column(Float, nullable=True)
    t25fw: Mapped[float | None] = mapped_column(Float, nullable=True)
    nhpt: Mapped[float | None] = mapped_column(Float, nullable=True)
    sdmt: Mapped[float | None] = mapped_column(Float, nullable=True)

    person: Mapped[Person] = relationship(back_populates="assessments")


class Relapse(Base):
    __tablename__ = "relapses"
    __table_args__ = (UniqueConstraint("person_id", "onset_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    onset_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Treatment(Base):
    """A disease-modifying therapy course (start, optional stop)."""

    __tablename__ = "treatments"
    __table_args__ = (UniqueConstraint("person_id", "drug", "start_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    drug: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[dt.date] = mapped_column(Date)
    stop_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class MriSession(Base):
    """One MRI scan date; ``active`` = new/enlarging T2 or gadolinium-enhancing lesions; the
    lesion counts when the clinic recorded them (T2/FLAIR lesions, new or enlarging T2 lesions
    since the previous scan, gadolinium-enhancing lesions)."""

    __tablename__ = "mri_sessions"
    __table_args__ = (UniqueConstraint("person_id", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    t2_lesions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_enlarging: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gd_enhancing: Mapped[int | None] = mapped_column(Integer, nullable=True)


class LesionResult(Base):
    """One lesion of one MRI session from the PRL (``method='prl'``) or SEL (``'sel'``) pipeline."""

    __tablename__ = "lesion_results"
    __table_args__ = (UniqueConstraint("session_id", "method", "label"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("mri_sessions.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(8))
    label: Mapped[int] = mapped_column(Integer)
    volume_mm3: Mapped[float | None] = mapped_column(Float, nullable=True)
    centroid_x_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    centroid_y_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    centroid_z_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    rim_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    prl: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    expansion_pct_per_year: Mapped[float | None] = mapped_column(Float, nullable=True)
    concentricity: Mapped[float | None] = mapped_column(Float, nullable=True)
    constancy: Mapped[float | None] = mapped_column(Float, nullable=True)
    sel: Mapped[str | None] = mapped_column(String(10), nullable=True)


class DeviceMeasure(Base):
    """One value of one phone/wearable measure on one day (long table ``subject,date,measure,value,unit``)."""

    __tablename__ = "device_measures"
    __table_args__ = (UniqueConstraint("person_id", "date", "measure"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    measure: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32), default="")


class DeviceEvent(Base):
    """A sustained worsening detected in a device measure (imported or computed by smoulder.digital)."""

    __tablename__ = "device_events"
    __table_args__ = (UniqueConstraint("person_id", "measure", "onset_date", "source"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    measure: Mapped[str] = mapped_column(String(64))
    onset_date: Mapped[dt.date] = mapped_column(Date)
    detected_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    baseline_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    current_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    change_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(40), default="import")


class LifestyleEntry(Base):
    """What a person logged about their lifestyle on one day."""

    __tablename__ = "lifestyle_entries"
    __table_args__ = (UniqueConstraint("person_id", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    exercise_min_week: Mapped[int | None] = mapped_column(Integer, nullable=True)
    diet: Mapped[str | None] = mapped_column(String(20), nullable=True)
    smoking: Mapped[str | None] = mapped_column(String(20), nullable=True)
    alcohol_units_week: Mapped[float | None] = mapped_column(Float, nullable=True)
    sleep_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    medications: Mapped[str] = mapped_column(Text, default="")
    comorbidities: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class AnalysisRun(Base):
    """One analysis of one person's inputs: kind, settings, version and a hash of the inputs."""

    __tablename__ = "analysis_runs"
    __table_args__ = (UniqueConstraint("person_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    settings_json: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(40))
    input_hash: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    message: Mapped[str] = mapped_column(Text, default="")


class ProgressionEvent(Base):
    """A confirmed disability worsening (CDW: PIRA, RAW or undefined) or improvement (CDI)."""

    __tablename__ = "progression_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("analysis_runs.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    event_type: Mapped[str] = mapped_column(String(4))
    cdw_type: Mapped[str] = mapped_column(String(10), default="")
    baseline_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    baseline_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    event_date: Mapped[dt.date] = mapped_column(Date)
    event_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    confirmation_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class PersonSignals(Base):
    """Per-person summary of the smouldering signals (kept up to date by the analyses)."""

    __tablename__ = "person_signals"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    n_pira: Mapped[int] = mapped_column(Integer, default=0)
    n_raw: Mapped[int] = mapped_column(Integer, default=0)
    n_prl: Mapped[int] = mapped_column(Integer, default=0)
    n_sel: Mapped[int] = mapped_column(Integer, default=0)
    n_digital: Mapped[int] = mapped_column(Integer, default=0)
    last_edss: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_visit: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    n_relapses: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # idle timeout: refreshed at most once a minute while the session is used
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class LoginThrottle(Base):
    """Failed sign-ins per key (a user name with a client address, or an address alone), shared
    by every worker process: the web app reserves an attempt here with a compare-and-swap on
    ``version`` before it checks a password, so concurrent attempts cannot exceed the limit."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    """Who viewed or changed what, and when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    resource: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    detail: Mapped[str] = mapped_column(Text, default="")


Index(
    "ix_device_measures_person_measure_date",
    DeviceMeasure.person_id,
    DeviceMeasure.measure,
    DeviceMeasure.date,
)
# a person's audit trail, newest first (shown on every person page)
Index("ix_audit_log_person_at", AuditEntry.person_id, AuditEntry.at)

__all__ = [
    "Base",
    "User",
    "Person",
    "CareLink",
    "Assessment",
    "Relapse",
    "Treatment",
    "MriSession",
    "LesionResult",
    "DeviceMeasure",
    "DeviceEvent",
    "LifestyleEntry",
    "AnalysisRun",
    "ProgressionEvent",
    "PersonSignals",
    "WebSession",
    "LoginThrottle",
    "AuditEntry",
    "ROLES",
    "utcnow",
]
