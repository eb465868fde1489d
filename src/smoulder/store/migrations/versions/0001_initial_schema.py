"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_people_pseudonym")),
        sa.UniqueConstraint("subject", name=op.f("uq_people_subject")),
    )
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("settings_json", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_analysis_runs_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_runs")),
        sa.UniqueConstraint("person_id", "kind", name=op.f("uq_analysis_runs_person_id")),
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("edss", sa.Float(), nullable=True),
        sa.Column("t25fw", sa.Float(), nullable=True),
        sa.Column("nhpt", sa.Float(), nullable=True),
        sa.Column("sdmt", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_assessments_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("person_id", "date", name=op.f("uq_assessments_person_id")),
    )
    op.create_table(
        "device_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("onset_date", sa.Date(), nullable=False),
        sa.Column("detected_date", sa.Date(), nullable=True),
        sa.Column("baseline_value", sa.Float(), nullable=True),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("change_pct", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_device_events_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
        sa.UniqueConstraint(
            "person_id", "measure", "onset_date", "source", name=op.f("uq_device_events_person_id")
        ),
    )
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_events_person_id"), ["person_id"], unique=False)

    op.create_table(
        "device_measures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_device_measures_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_measures")),
        sa.UniqueConstraint(
            "person_id", "date", "measure", name=op.f("uq_device_measures_person_id")
        ),
    )
    with op.batch_alter_table("device_measures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_measures_person_measure_date", ["person_id", "measure", "date"], unique=False
        )

    op.create_table(
        "mri_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_mri_sessions_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mri_sessions")),
        sa.UniqueConstraint("person_id", "date", name=op.f("uq_mri_sessions_person_id")),
    )
    op.create_table(
        "person_signals",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("n_pira", sa.Integer(), nullable=False),
        sa.Column("n_raw", sa.Integer(), nullable=False),
        sa.Column("n_prl", sa.Integer(), nullable=False),
        sa.Column("n_sel", sa.Integer(), nullable=False),
        sa.Column("n_digital", sa.Integer(), nullable=False),
        sa.Column("last_edss", sa.Float(), nullable=True),
        sa.Column("last_visit", sa.Date(), nullable=True),
        sa.Column("n_relapses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_signals_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_signals")),
    )
    op.create_table(
        "relapses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("onset_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_relapses_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relapses")),
        sa.UniqueConstraint("person_id", "onset_date", name=op.f("uq_relapses_person_id")),
    )
    op.create_table(
        "treatments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("drug", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("stop_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_treatments_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
        sa.UniqueConstraint(
            "person_id", "drug", "start_date", name=op.f("uq_treatments_person_id")
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_users_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_audit_log_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "care_links",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_care_links_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_care_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "person_id", name=op.f("pk_care_links")),
    )
    with op.batch_alter_table("care_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_links_person_id"), ["person_id"], unique=False)

    op.create_table(
        "lesion_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("volume_mm3", sa.Float(), nullable=True),
        sa.Column("centroid_x_mm", sa.Float(), nullable=True),
        sa.Column("centroid_y_mm", sa.Float(), nullable=True),
        sa.Column("centroid_z_mm", sa.Float(), nullable=True),
        sa.Column("rim_score", sa.Float(), nullable=True),
        sa.Column("prl", sa.Boolean(), nullable=True),
        sa.Column("expansion_pct_per_year", sa.Float(), nullable=True),
        sa.Column("concentricity", sa.Float(), nullable=True),
        sa.Column("constancy", sa.Float(), nullable=True),
        sa.Column("sel", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["mri_sessions.id"],
            name=op.f("fk_lesion_results_session_id_mri_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesion_results")),
        sa.UniqueConstraint(
            "session_id", "method", "label", name=op.f("uq_lesion_results_session_id")
        ),
    )
    with op.batch_alter_table("lesion_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lesion_results_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "lifestyle_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("exercise_min_week", sa.Integer(), nullable=True),
        sa.Column("diet", sa.String(length=20), nullable=True),
        sa.Column("smoking", sa.String(length=20), nullable=True),
        sa.Column("alcohol_units_week", sa.Float(), nullable=True),
        sa.Column("sleep_hours", sa.Float(), nullable=True),
        sa.Column("medications", sa.Text(), nullable=False),
        sa.Column("comorbidities", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.id"], name=op.f("fk_lifestyle_entries_entered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_lifestyle_entries_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifestyle_entries")),
        sa.UniqueConstraint("person_id", "date", name=op.f("uq_lifestyle_entries_person_id")),
    )
    op.create_table(
        "progression_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("event_type", sa.String(length=4), nullable=False),
        sa.Column("cdw_type", sa.String(length=10), nullable=False),
        sa.Column("baseline_date", sa.Date(), nullable=True),
        sa.Column("baseline_value", sa.Float(), nullable=True),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("event_value", sa.Float(), nullable=True),
        sa.Column("confirmation_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_progression_events_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["analysis_runs.id"],
            name=op.f("fk_progression_events_run_id_analysis_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progression_events")),
    )
    with op.batch_alter_table("progression_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_progression_events_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_progression_events_run_id"), ["run_id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_sessions")),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    with op.batch_alter_table("progression_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progression_events_run_id"))
        batch_op.drop_index(batch_op.f("ix_progression_events_person_id"))

    op.drop_table("progression_events")
    op.drop_table("lifestyle_entries")
    with op.batch_alter_table("lesion_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lesion_results_session_id"))

    op.drop_table("lesion_results")
    with op.batch_alter_table("care_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_links_person_id"))

    op.drop_table("care_links")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("users")
    op.drop_table("treatments")
    op.drop_table("relapses")
    op.drop_table("person_signals")
    op.drop_table("mri_sessions")
    with op.batch_alter_table("device_measures", schema=None) as batch_op:
        batch_op.drop_index("ix_device_measures_person_measure_date")

    op.drop_table("device_measures")
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_events_person_id"))

    op.drop_table("device_events")
    op.drop_table("assessments")
    op.drop_table("analysis_runs")
    op.drop_table("people")
