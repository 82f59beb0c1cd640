"""One run at a time holds a population sweep: the run that holds it and until when (adapters/sweeps.py). Two runs
of one sweep at once would each check the patients neither had recorded yet, storing two checks for them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sweeps", sa.Column("held_by_run", sa.Integer(), nullable=True))
    op.add_column("sweeps", sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("held_until")
        batch.drop_column("held_by_run")
