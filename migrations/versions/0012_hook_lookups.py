"""Indexes for the two look-ups every order-sign call makes (issue 15, item 8):

- the cards shown at order-select for the patient in the last hours (`SqlStore.cards_shown`): by patient, hook and
  time, instead of every card the patient was ever shown (SQLite chose that index once a patient had a history);
- the expired token ids purged on each call (`SqlStore.remember_jti`): by expiry, instead of the whole table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cds_cards_patient_hook_created", "cds_cards", ["patient_ref", "hook", "created_at"])
    op.create_index("ix_jwt_seen_expires_at", "jwt_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_jwt_seen_expires_at", table_name="jwt_seen")
    op.drop_index("ix_cds_cards_patient_hook_created", table_name="cds_cards")
