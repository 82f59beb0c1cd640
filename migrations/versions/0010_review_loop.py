"""The review loop: claims, intervention categories, the findings a decision acts on, decision webhooks (issue 14).

- `review_decisions.intervention`: what the pharmacist did (stopped, dose_changed, substituted, monitoring_added,
  no_change); null for decisions recorded before this revision, or that name none.
- `review_decision_findings`: the finding codes of the check that a decision acts on (rule statistics credit only
  these).
- `review_claims`: one row per claimed review item, so that two pharmacists never work the same item unknowingly;
  the primary key makes a claim atomic (the second insert fails).
- `webhook_outbox`: a decision's notification, written in the decision's transaction when
  STEWARDSHIP_DECISION_WEBHOOK_URL is set, sent after commit by `stewardship webhooks deliver`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_decisions") as batch:
        batch.add_column(sa.Column("intervention", sa.String(32)))
        batch.create_check_constraint(
            "ck_review_decisions_intervention",
            "intervention IN ('stopped', 'dose_changed', 'substituted', 'monitoring_added', 'no_change')")
    op.create_table(
        "review_decision_findings",
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("review_decisions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("code", sa.String(120), primary_key=True),
    )
    op.create_index("ix_review_decision_findings_code", "review_decision_findings", ["code"])
    op.create_table(
        "review_claims",
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_claims_claimed_by", "review_claims", ["claimed_by"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("review_decisions.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("gave_up_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(300)),
    )
    op.create_index("ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_next_attempt_at", "webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_index("ix_review_claims_claimed_by", "review_claims")
    op.drop_table("review_claims")
    op.drop_index("ix_review_decision_findings_code", "review_decision_findings")
    op.drop_table("review_decision_findings")
    with op.batch_alter_table("review_decisions") as batch:
        batch.drop_constraint("ck_review_decisions_intervention", type_="check")
        batch.drop_column("intervention")
