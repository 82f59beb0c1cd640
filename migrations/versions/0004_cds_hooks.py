"""CDS Hooks: the cards a hook call showed (to join feedback and avoid repeats), hook instances (a repeated call
returns what was answered), feedback, and the JWT ids already seen (replay protection across instances).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_hook_calls",
        sa.Column("hook_instance", sa.String(100), primary_key=True),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("hook", sa.String(32), nullable=False),
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id")),
        sa.Column("patient_ref", sa.String(200)),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cds_cards",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("hook_instance", sa.String(100), sa.ForeignKey("cds_hook_calls.hook_instance"), nullable=False),
        sa.Column("check_id", sa.String(36), sa.ForeignKey("checks.id")),
        sa.Column("hook", sa.String(32), nullable=False),
        sa.Column("patient_ref", sa.String(200)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("suggestions", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_cards_patient_fingerprint", "cds_cards", ["patient_ref", "fingerprint"])
    op.create_index("ix_cds_cards_check", "cds_cards", ["check_id"])
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(36), nullable=False),
        sa.Column("check_id", sa.String(36)),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_system", sa.String(200)),
        sa.Column("override_code", sa.String(100)),
        sa.Column("override_display", sa.String(300)),
        sa.Column("user_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_once"),
    )
    op.create_index("ix_cds_feedback_check", "cds_feedback", ["check_id"])
    op.create_table(
        "jwt_seen",
        sa.Column("iss", sa.String(300), primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jwt_seen")
    op.drop_index("ix_cds_feedback_check", "cds_feedback")
    op.drop_table("cds_feedback")
    op.drop_index("ix_cds_cards_check", "cds_cards")
    op.drop_index("ix_cds_cards_patient_fingerprint", "cds_cards")
    op.drop_table("cds_cards")
    op.drop_table("cds_hook_calls")
