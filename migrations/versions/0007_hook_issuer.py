"""CDS Hooks answers and cards belong to the issuer that called: a hookInstance answered for one EHR is never
returned to another, and feedback is taken only from the EHR the card was shown to (issue 13, item 15). A hook's
`context.userId` (`Practitioner/<id>`, up to 77 characters for a 64-character FHIR id) is kept whole as the check's
requester: the column grows from 64 to 200 characters, as long as the schema admits (issue 13, item 10).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cds_hook_calls") as batch:
        batch.add_column(sa.Column("issuer", sa.String(300)))
    with op.batch_alter_table("checks") as batch:
        batch.alter_column("requester", type_=sa.String(200), existing_type=sa.String(64))


def downgrade() -> None:
    with op.batch_alter_table("checks") as batch:
        batch.alter_column("requester", type_=sa.String(64), existing_type=sa.String(200))
    with op.batch_alter_table("cds_hook_calls") as batch:
        batch.drop_column("issuer")
