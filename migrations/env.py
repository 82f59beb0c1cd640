"""Alembic environment: the URL comes from the caller (adapters.storage.upgrade) or STEWARDSHIP_DATABASE_URL."""
from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from adapters.storage import all_tables
from settings import Settings

url = context.config.attributes.get("database_url") or Settings.from_env().database_url


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=all_tables(),
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
