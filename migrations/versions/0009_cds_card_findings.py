"""CDS cards that stand for several findings (issue 14): by default one card per draft order, so a card's findings
are kept beside it, one row each, and feedback and rule statistics count for every finding code a card lists. The
cards shown so far stood for one finding each (their code, category, indicator and fingerprint): they are copied in,
so that statistics and the order-select/order-sign repeat check carry on across the upgrade.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_card_findings",
        sa.Column("card_uuid", sa.String(36), sa.ForeignKey("cds_cards.uuid"), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(120), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
    )
    op.create_index("ix_cds_card_findings_fingerprint", "cds_card_findings", ["fingerprint"])
    op.create_index("ix_cds_card_findings_code", "cds_card_findings", ["code"])
    op.execute("INSERT INTO cds_card_findings (card_uuid, fingerprint, code, category, severity) "
               "SELECT uuid, fingerprint, code, category, indicator FROM cds_cards")


def downgrade() -> None:
    op.drop_index("ix_cds_card_findings_code", "cds_card_findings")
    op.drop_index("ix_cds_card_findings_fingerprint", "cds_card_findings")
    op.drop_table("cds_card_findings")
