"""Population sweeps (issue 16): a row per sweep (an export and an as-of date, keyed by their digest) and a row per
(sweep, patient) reviewed, unique, pointing at the stored check. Tables in adapters/sweeps.py.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("export", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("patients", sa.Integer),
        sa.Column("unreadable", sa.Integer),
        sa.Column("seconds", sa.Float),
        sa.UniqueConstraint("key", name="uq_sweeps_key"),
    )
    op.create_table(
        "sweep_patients",
        sa.Column("sweep_id", sa.Integer, sa.ForeignKey("sweeps.id"), primary_key=True),
        sa.Column("patient_ref", sa.String(200), primary_key=True),
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id"), nullable=False),
        sa.Column("age_years", sa.Float),
        sa.Column("crcl_ml_min", sa.Float),
        sa.Column("has_suggestions", sa.Boolean, nullable=False),
        sa.Column("unreadable", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sweep_patients_check_id", "sweep_patients", ["check_id"])


def downgrade() -> None:
    op.drop_index("ix_sweep_patients_check_id", "sweep_patients")
    op.drop_table("sweep_patients")
    op.drop_table("sweeps")
