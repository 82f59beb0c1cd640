"""The `stewardship` command: accounts, tokens, database and serving (contract section 5)."""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from adapters.reviews import ReviewStore
from adapters.storage import SqlStore, make_engine, schema_differences, upgrade
from settings import VAR, Settings, packaged
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


@contextmanager
def _accounts() -> Iterator[SqlStore]:
    """The store, for an account command: a refused request (unknown user ...) is a message and exit status 1."""
    try:
        with _store() as store:
            yield store
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None


def _operator() -> str:
    """The audit log's actor for a command: the operating-system account that ran it (issue 13, item 11)."""
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # a container user without a login name
        operator = "unknown"
    return f"cli:{operator}"[:64]


def _audit(store: SqlStore, action: str, target: str) -> None:
    """Account commands go to the audit log like the pages' actions."""
    ReviewStore(store.engine).audit(_operator(), action, target)


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
            _audit(store, "add_user", f"user:{name} role:{role}")
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"user {name} added with role {role}")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable user NAME: no sign-in, and its web sessions end and its tokens are revoked at once."""
    with _accounts() as store:
        accounts.set_disabled(store, name, True)
        _audit(store, "disable_user", f"user:{name}")
    click.echo(f"user {name} disabled: its sessions are ended and its tokens revoked")


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Let a disabled user NAME sign in again (its old sessions and tokens stay ended)."""
    with _accounts() as store:
        accounts.set_disabled(store, name, False)
        _audit(store, "enable_user", f"user:{name}")
    click.echo(f"user {name} enabled")


@users.command("sign-out")
@click.argument("name")
def users_sign_out(name: str) -> None:
    """End every web session of user NAME now (a stolen cookie too); it can sign in again."""
    with _accounts() as store:
        count = accounts.end_sessions(store, name)
        _audit(store, "end_sessions", f"user:{name}")
    click.echo(f"{count} session(s) of {name} ended")


@main.group()
def tokens() -> None:
    """Bearer tokens for the JSON API."""


@tokens.command("create")
@click.argument("name")
@click.option("--expires-in-days", type=click.IntRange(1, accounts.MAX_TOKEN_DAYS), default=None,
              help="refuse the token from this many days on (default: until revoked)")
def tokens_create(name: str, expires_in_days: int | None) -> None:
    """Print a new bearer token for user NAME (shown once; only its hash is kept)."""
    with _accounts() as store:
        token = accounts.create_token(store, name, expires_in_days)
        expiry = f" expires_in_days:{expires_in_days}" if expires_in_days else ""
        _audit(store, "create_token", f"user:{name} token:{token.split('_')[1]}{expiry}")
    click.echo(token)


@tokens.command("list")
@click.argument("name")
def tokens_list(name: str) -> None:
    """The tokens of user NAME: id (the part after `stw_`), created, expires, and whether still usable."""
    now = dt.datetime.now(dt.timezone.utc)
    with _accounts() as store:
        issued = accounts.list_tokens(store, name)
    for token in issued:
        state = "revoked" if token.revoked_at else "usable" if token.usable(now) else "expired"
        expires = token.expires_at.isoformat(timespec="minutes") if token.expires_at else "never"
        click.echo(f"{token.token_id}  created {token.created_at.isoformat(timespec='minutes')}  "
                   f"expires {expires}  {state}")


@tokens.command("revoke")
@click.argument("name")
@click.option("--id", "token_id", default=None, help="only this token (its id, the part after `stw_`)")
def tokens_revoke(name: str, token_id: str | None) -> None:
    """Revoke every token of user NAME, or one with --id; a revoked token is refused at once."""
    with _accounts() as store:
        count = accounts.revoke_tokens(store, name, token_id)
        _audit(store, "revoke_tokens", f"user:{name}" + (f" token:{token_id}" if token_id else ""))
    click.echo(f"{count} token(s) of {name} revoked")


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration not yet applied."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo("database is at the newest schema")


@db.command("check")
def db_check() -> None:
    """Compare the database with the models (Alembic's autogenerate comparison); exit 1 on any difference."""
    differences = schema_differences(Settings.from_env().database_url)
    for line in differences:
        click.echo(line)
    if differences:
        click.echo(f"{len(differences)} difference(s) between the database and the models: a migration is "
                   "missing or not applied", err=True)
        sys.exit(1)
    click.echo("the database matches the models")


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
def webhooks() -> None:
    """The decision webhook (STEWARDSHIP_DECISION_WEBHOOK_URL)."""


@webhooks.command("deliver")
def webhooks_deliver() -> None:
    """Send the review decisions' notifications that are due, each signed; failures are retried by later runs with
    growing waits, then given up (adapters/webhooks.py). Run it every minute (cron, systemd timer)."""
    from adapters import webhooks as outbox

    settings = Settings.from_env()
    if settings.decision_webhook_url is None:
        raise click.ClickException("STEWARDSHIP_DECISION_WEBHOOK_URL is not set: there is nowhere to deliver to")
    with _store() as store:
        done = outbox.deliver_due(store.engine, settings.decision_webhook_url, settings.decision_webhook_secret or "",
                                  _operator())
    for delivery in done:
        click.echo(f"delivery {delivery.outbox_id} (decision {delivery.decision_id}) attempt {delivery.attempt}: "
                   f"{delivery.outcome} ({delivery.detail})")
    failed = sum(delivery.outcome != "delivered" for delivery in done)
    click.echo(f"{len(done) - failed} delivered, {failed} failed", err=True)


@main.group()
def kb() -> None:
    """The knowledge base in drugdata/."""


@kb.command("check")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the day the reviews are checked against (default: today), e.g. the next P&T meeting")
def kb_check(as_of: dt.datetime | None) -> None:
    """Validate drugdata/: schema, sources, classes and codes (a bad file fails), and the review dates (one checked
    after today fails: a mistyped date); warn about every review whose next_review date has passed (drugdata/ and config/
    `reviewed:` blocks)."""
    from stewardship import governance

    settings = Settings.from_env()
    status = knowledge.main([str(settings.drugdata)])
    if status:
        sys.exit(status)
    day = as_of.date() if as_of else dt.date.today()
    try:
        kb = knowledge.load(settings.drugdata)
        overdue = governance.overdue_reviews(kb, settings.config_dir, day)
        future = governance.future_reviews(kb, settings.config_dir, dt.date.today())
    except knowledge.KnowledgeBaseError as error:
        click.echo(f"config is invalid:\n{error}", err=True)
        sys.exit(1)
    for early in future:
        click.echo(f"error: review dated in the future: {early.what}: checked {early.review.checked_on.isoformat()}"
                   f" (after today) by {early.review.checked_by}", err=True)
    if future:
        sys.exit(1)
    for due in overdue:
        review = due.review
        click.echo(f"warning: review overdue: {due.what}: next review was due {review.next_review.isoformat()} "
                   f"(checked {review.checked_on.isoformat()} by {review.checked_by})", err=True)
    if overdue:
        click.echo(f"{len(overdue)} review(s) overdue as of {day.isoformat()}", err=True)


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the day each patient is reviewed at: current medications, ages, course lengths (default: today)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the worklist, written to PATH.csv and PATH.json (default: var/sweeps/sweep-<id>)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run on a Dask cluster (tcp://HOST:PORT of `dask scheduler`); its workers write to the same "
                   "PostgreSQL database and read FOLDER and --out's folder at the same paths")
@click.option("--workers", type=click.IntRange(0, 256), default=os.cpu_count() or 1, show_default="CPUs",
              help="local worker processes, no server; 0: in this process")
def sweep(folder: Path, as_of: dt.datetime | None, out: Path | None, scheduler: str | None, workers: int) -> None:
    """Review every patient of a FHIR Bulk Data export (NDJSON files in FOLDER: Patient, Condition, Observation,
    MedicationRequest/Statement/Dispense/Administration, Medication) at --as-of: each current medication list is
    checked as a whole and stored as a check with source `sweep` (flagged ones enter the review queue). A re-run of
    the same export at the same date stores no second check. The last line:
    `sweep: patients=N checked=N flagged=K unreadable=U seconds=S`."""
    from adapters.population_sweep import SweepRefused, run_sweep

    settings = Settings.from_env()
    upgrade(settings.database_url)
    day = as_of.date() if as_of else dt.date.today()
    try:
        summary = run_sweep(folder, day, settings, out, workers, scheduler,
                            lambda problem: click.echo(f"unreadable: {problem}", err=True))
    except SweepRefused as error:
        raise click.ClickException(str(error)) from None
    if summary.not_used:
        click.echo("not used: " + ", ".join(f"{kind} {count}" for kind, count in summary.not_used.items()))
    if summary.already:
        click.echo(f"already: {summary.already} patient(s) were reviewed by an earlier run of sweep "
                   f"{summary.sweep_id} (same export, as-of {day.isoformat()}): no second check stored")
    csv_path, json_path = summary.worklist
    click.echo(f"worklist: {csv_path} {json_path} (sweep {summary.sweep_id}; flagged ones in the review queue at "
               f"/reviews?sweep={summary.sweep_id})")
    click.echo(summary.line())


def _forget_metrics_of(_server, worker) -> None:  # noqa: ANN001 - gunicorn's child_exit hook
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# The nginx in front of gunicorn for `serve --proxy` (Debian's package, as CI installs it) and its config template.
NGINX = Path("/usr/sbin/nginx")
NGINX_TEMPLATE = packaged("deploy") / "nginx.conf"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on, or unix:PATH")
@click.option("--port", default=8000, show_default=True, envvar="PORT", type=int)
@click.option("--workers", default=2, show_default=True, type=int, envvar="WEB_CONCURRENCY",
              help="gunicorn sync worker processes (make serve: 2 x cores + 1)")
@click.option("--proxy", is_flag=True,
              help="production (make serve): nginx listens on HOST:PORT and buffers every request and answer, so "
                   "that slow clients cannot hold gunicorn's workers; gunicorn serves behind it on a unix socket")
@click.option("--var", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="with --proxy: nginx's config, pid, temporary files and access log, and gunicorn's socket "
                   "(default: var/proxy-PORT)")
def serve(host: str, port: int, workers: int, proxy: bool, folder: Path | None) -> None:
    """Serve the app with gunicorn after bringing the database to the newest schema; with --proxy, behind nginx."""
    if proxy:
        sys.exit(_serve_behind_nginx(host, port, workers, (folder or VAR / f"proxy-{port}").resolve()))

    from gunicorn.app.base import BaseApplication

    from api import create_app

    settings = Settings.from_env()
    upgrade(settings.database_url)
    bind = host if host.startswith("unix:") else f"{host}:{port}"

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            self.cfg.set("timeout", 30)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                self.cfg.set("child_exit", _forget_metrics_of)

        def load(self):  # noqa: ANN201 - gunicorn's interface
            return create_app(settings)

    where = bind if host.startswith("unix:") else f"http://{bind}"
    click.echo(f"serving on {where} (database: {settings.database_url.split('://')[0]})")
    _Server().run()


def _serve_behind_nginx(host: str, port: int, workers: int, folder: Path) -> int:
    """nginx on HOST:PORT in front of `serve` on a unix socket in `folder`: started together, stopped together
    (SIGTERM or SIGINT), reloaded together (SIGHUP), and when either exits the other is stopped. Returns the exit
    status: 0 when asked to stop, 1 when a process exited by itself."""
    if not NGINX.is_file():
        raise click.ClickException(f"--proxy needs nginx at {NGINX}: install it with `apt-get install nginx-light`")
    from api import MAX_BODY_BYTES

    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "gunicorn.sock"
    socket_path.unlink(missing_ok=True)  # a stale one from a killed run would pass for a started gunicorn below
    config = NGINX_TEMPLATE.read_text()
    for name, value in {"VAR": str(folder), "LISTEN": f"{host}:{port}", "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
                        "MAX_BODY_TEXT": f"{MAX_BODY_BYTES:,}"}.items():
        config = config.replace(f"@{name}@", value)
    (folder / "nginx.conf").write_text(config)

    stop_signals: list[int] = []
    children: list[tuple[str, subprocess.Popen, int]] = []  # name, process, the signal that stops it gracefully

    def _stop(signum: int, _frame: object) -> None:
        stop_signals.append(signum)

    def _reload(_signum: int, _frame: object) -> None:
        for _, child, _ in children:
            child.send_signal(signal.SIGHUP)  # nginx re-reads its config, gunicorn starts fresh workers

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)

    # Behind nginx, which appends the address it saw to X-Forwarded-For, the app believes that one proxy; an
    # operator with another proxy in front of nginx (a TLS terminator) sets the count to 2 in the environment.
    gunicorn = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--host", f"unix:{socket_path}",
                                 "--workers", str(workers)], env={"STEWARDSHIP_TRUSTED_PROXIES": "1", **os.environ})
    children.append(("gunicorn", gunicorn, signal.SIGTERM))
    # nginx starts once gunicorn listens (after the migrations), so that the first callers get no 502
    while not socket_path.exists() and gunicorn.poll() is None and not stop_signals:
        time.sleep(0.1)
    if gunicorn.poll() is None and not stop_signals:
        nginx = subprocess.Popen([str(NGINX), "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", "stderr"])
        children.append(("nginx", nginx, signal.SIGQUIT))
        click.echo(f"serving on http://{host}:{port} through nginx ({folder / 'nginx.conf'})")
    while not stop_signals and all(child.poll() is None for _, child, _ in children):
        time.sleep(0.2)

    if not stop_signals:
        for name, child, _ in children:
            if child.poll() is not None:
                click.echo(f"{name} exited with status {child.returncode}: stopping", err=True)
    # nginx first, so that nothing new reaches gunicorn; each finishes what it has in flight (nginx within its
    # worker_shutdown_timeout, gunicorn within its graceful timeout of 30 s)
    for _, child, graceful in reversed(children):
        if child.poll() is None:
            child.send_signal(graceful)
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0 if stop_signals else 1


if __name__ == "__main__":
    main()
