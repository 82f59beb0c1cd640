"""Stopping-rule reminders and the outcomes that complete them.

A reminder is unique per patient, drug, start date and kind, so scheduling it twice creates nothing twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("patient_ref", sa.String(200), nullable=False),
        sa.Column("drug", sa.String(100), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("completed_by", sa.String(64)),
        sa.UniqueConstraint("patient_ref", "drug", "start_date", "kind", name="uq_reminders_course_kind"),
    )
    op.create_index("ix_reminders_status_due", "reminders", ["status", "due"])
    op.create_table(
        "patient_outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_ref", sa.String(200), nullable=False),
        sa.Column("drug", sa.String(100), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("benefit", sa.Boolean, nullable=False),
        sa.Column("pain_score", sa.Float),
        sa.Column("baseline_pain_score", sa.Float),
        sa.Column("note", sa.Text),
        sa.Column("reminder_id", sa.String(36), sa.ForeignKey("reminders.id")),
        sa.Column("recorded_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_patient_outcomes_patient", "patient_outcomes", ["patient_ref"])


def downgrade() -> None:
    op.drop_index("ix_patient_outcomes_patient", "patient_outcomes")
    op.drop_table("patient_outcomes")
    op.drop_index("ix_reminders_status_due", "reminders")
    op.drop_table("reminders")
