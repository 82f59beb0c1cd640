"""Pharmacist review and sign-in: decisions (append-only), the audit log, and sign-in attempts for rate limiting.

A review item is not stored: it is any check whose worst finding is a warning or critical (`checks.max_severity`),
so a check never writes anything for the review at check time. A decision is never updated or deleted; a newer
one supersedes it, and the trail stays whole.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id"), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("decision IN ('approved', 'changes_requested', 'rejected')",
                           name="ck_review_decisions_decision"),
    )
    op.create_index("ix_review_decisions_check", "review_decisions", ["check_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200)),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "signin_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("ok", sa.Boolean, nullable=False),
    )
    op.create_index("ix_signin_attempts_user_at", "signin_attempts", ["user_name", "at"])
    op.create_index("ix_signin_attempts_ip_at", "signin_attempts", ["ip", "at"])


def downgrade() -> None:
    op.drop_index("ix_signin_attempts_ip_at", "signin_attempts")
    op.drop_index("ix_signin_attempts_user_at", "signin_attempts")
    op.drop_table("signin_attempts")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_review_decisions_check", "review_decisions")
    op.drop_table("review_decisions")
