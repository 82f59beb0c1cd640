"""Sessions that can be ended, accounts that can be disabled, tokens that can be revoked or expire, and sign-in
lock-outs that count every try once (issue 13, items 7, 8 and 11).

- `web_sessions`: a signed-in browser; the cookie carries only a random id, the table only its SHA-256. Sign-out,
  `stewardship users sign-out` and disabling the user end it; so do 12 hours, or the idle timeout.
- `users.disabled_at`, `api_tokens.expires_at` and `api_tokens.revoked_at`.
- `signin_throttle`: one row per user name and per client address tried; each try locks its rows while it counts
  and reserves, so concurrent tries are counted one after the other. It also points at the one `sign_in_locked`
  audit row that counts the refused tries of a lock window, in the new `audit_log.times`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_web_sessions_user_name", "web_sessions", ["user_name"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True)))
    op.create_table(
        "signin_throttle",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_audit_id", sa.Integer),
        sa.Column("locked_since", sa.DateTime(timezone=True)),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("times", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("times")
    op.drop_table("signin_throttle")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    op.drop_index("ix_web_sessions_user_name", "web_sessions")
    op.drop_table("web_sessions")
