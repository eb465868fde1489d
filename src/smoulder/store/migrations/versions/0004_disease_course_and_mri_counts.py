"""Disease course and year of onset of each person; lesion counts of each MRI scan

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disease_course", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("onset_year", sa.Integer(), nullable=True))
    with op.batch_alter_table("mri_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("t2_lesions", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("new_enlarging", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gd_enhancing", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mri_sessions", schema=None) as batch_op:
        batch_op.drop_column("gd_enhancing")
        batch_op.drop_column("new_enlarging")
        batch_op.drop_column("t2_lesions")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("onset_year")
        batch_op.drop_column("disease_course")
