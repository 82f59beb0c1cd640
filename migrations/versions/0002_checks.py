"""Checks and their findings: every check, its input and its findings, kept together.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("patient_ref", sa.String(200)),
        sa.Column("requester", sa.String(64)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("max_severity", sa.String(16)),
        sa.Column("knowledge_base_version", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
    )
    op.create_index("ix_checks_created_at", "checks", ["created_at"])
    op.create_index("ix_checks_patient_ref", "checks", ["patient_ref"])
    op.create_table(
        "check_findings",
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("drugs", sa.JSON, nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
    )
    op.create_index("ix_check_findings_code", "check_findings", ["code"])


def downgrade() -> None:
    op.drop_index("ix_check_findings_code", "check_findings")
    op.drop_table("check_findings")
    op.drop_index("ix_checks_patient_ref", "checks")
    op.drop_index("ix_checks_created_at", "checks")
    op.drop_table("checks")
