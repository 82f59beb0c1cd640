"""Drop the five indexes that no query reads (issue 15, item 8). Every order-sign wrote them: a finding's random
fingerprint or a card's random id lands on its own index page, so they made about 17 of the call's 54 SQLite page
writes, and a check's findings paid for the code index too.

- `ix_cds_cards_patient_fingerprint`: the look-up of cards already shown went to `cds_card_findings` (migration
  0009) by patient, hook and time (`ix_cds_cards_patient_hook_created`, 0012), joined on that table's primary key;
- `ix_cds_card_findings_fingerprint`: that join reads the primary key (card, fingerprint), not this index;
- `ix_cds_card_findings_code` and `ix_check_findings_code`: rule statistics count over the whole tables (GROUP BY),
  and nothing looks a code up;
- `ix_cds_cards_check`: cards are read by their uuid (feedback) or by patient, never by check, and checks are never
  deleted.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

DROPPED = (("ix_cds_cards_patient_fingerprint", "cds_cards", ["patient_ref", "fingerprint"]),
           ("ix_cds_card_findings_fingerprint", "cds_card_findings", ["fingerprint"]),
           ("ix_cds_card_findings_code", "cds_card_findings", ["code"]),
           ("ix_check_findings_code", "check_findings", ["code"]),
           ("ix_cds_cards_check", "cds_cards", ["check_id"]))


def upgrade() -> None:
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
