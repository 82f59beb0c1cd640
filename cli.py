"""The `stewardship` command: accounts, tokens, database and serving (contract section 5)."""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from adapters.storage import SqlStore, make_engine, upgrade
from settings import Settings
from stewardship import accounts, knowledge


@contextmanager
def _store() -> Iterator[SqlStore]:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        yield SqlStore(engine)
    finally:
        engine.dispose()


@click.group()
def main() -> None:
    """Medication stewardship checker for pain care."""


@main.group()
def users() -> None:
    """Accounts for people (prescriber, pharmacist, admin)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
def users_add(name: str, role: str) -> None:
    """Add a user; the password is read from stdin (asked twice on a terminal)."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise click.ClickException("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with _store() as store:
            accounts.add_user(store, name, role, password)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"user {name} added with role {role}")


@main.group()
def tokens() -> None:
    """Bearer tokens for the JSON API."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Print a new bearer token for user NAME (shown once; only its hash is kept)."""
    try:
        with _store() as store:
            click.echo(accounts.create_token(store, name))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration not yet applied."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo("database is at the newest schema")


@main.group()
def reminders() -> None:
    """Stopping-rule reminders."""


@reminders.command("due")
@click.option("--before", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="deliver reminders due on or before this date (default: today)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def reminders_due(before: dt.datetime | None, as_json: bool) -> None:
    """Deliver due reminders, each once, even with several sweepers on one PostgreSQL database (a nightly job)."""
    day = before.date() if before else dt.date.today()

    def deliver(reminder: dict) -> None:
        if as_json:
            click.echo(json.dumps(reminder, sort_keys=True))
        else:
            click.echo(f"{reminder['due']}  {reminder['patientId']}  {reminder['drug']}  {reminder['kind']}: "
                       f"{reminder['message']}")
        sys.stdout.flush()  # delivered means written out before the transaction that marks it commits

    with _store() as store:
        count = store.deliver_due(day, deliver)
    click.echo(f"{count} reminder(s) delivered", err=True)


@main.group()
def kb() -> None:
    """The knowledge base in drugdata/."""


@kb.command("check")
def kb_check() -> None:
    """Validate drugdata/: schema, sources, classes and codes."""
    sys.exit(knowledge.main([str(Settings.from_env().drugdata)]))


def _forget_metrics_of(_server, worker) -> None:  # noqa: ANN001 - gunicorn's child_exit hook
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, envvar="PORT", type=int)
@click.option("--workers", default=2, show_default=True, type=int, envvar="WEB_CONCURRENCY",
              help="gunicorn sync worker processes (make serve: 2 x cores + 1)")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn after bringing the database to the newest schema."""
    from gunicorn.app.base import BaseApplication

    from api import create_app

    settings = Settings.from_env()
    upgrade(settings.database_url)

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("timeout", 30)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                self.cfg.set("child_exit", _forget_metrics_of)

        def load(self):  # noqa: ANN201 - gunicorn's interface
            return create_app(settings)

    click.echo(f"serving on http://{host}:{port} (database: {settings.database_url.split('://')[0]})")
    _Server().run()


if __name__ == "__main__":
    main()
