"""The decision webhook against a real HTTP receiver on 127.0.0.1 (started here; no mocks): a decision queues its
notification in its own transaction and never waits for the receiver; `deliver_due` signs each attempt, retries
with growing waits, gives up after MAX_ATTEMPTS, never follows a redirect, and audits every outcome."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from adapters import webhooks
from adapters.reviews import audit_log, webhook_outbox
from api import create_app
from settings import Settings
from stewardship import accounts
from tests.integration.test_reviews_api import OLDER_CKD

SECRET = "s3cret-for-tests-only-0123456789abcdef"


class Receiver:
    """Answers each POST with the next status of `statuses` (then 204), recording path, headers and raw body."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/decisions"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def webhook_app(settings) -> Iterator:
    """webhook_app(url) -> the app with its decision webhook pointed at `url`."""
    made = []

    def build(url: str):
        made.append(create_app(replace(settings, decision_webhook_url=url, decision_webhook_secret=SECRET)))
        return made[-1]
    yield build
    for app in made:
        app.extensions["store"].engine.dispose()


def _decide(app, note: str = "stop ibuprofen") -> tuple[str, dict]:
    store = app.extensions["store"]
    accounts.add_user(store, "pat.pharmacist", "pharmacist", "correct horse battery")
    headers = {"Authorization": f"Bearer {accounts.create_token(store, 'pat.pharmacist')}"}
    client = app.test_client()
    check_id = client.post("/api/v1/checks", json=OLDER_CKD, headers=headers).get_json()["id"]
    answer = client.post(f"/api/v1/reviews/{check_id}/decision", headers=headers,
                         json={"decision": "changes_requested", "note": note, "intervention": "stopped"})
    assert answer.status_code == 201, answer.get_json()
    return check_id, answer.get_json()


def _outbox(app) -> list[dict]:
    with app.extensions["store"].engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(webhook_outbox).order_by(webhook_outbox.c.id))
                .mappings()]


def _audited(app) -> list[str]:
    with app.extensions["store"].engine.connect() as connection:
        return list(connection.execute(select(audit_log.c.action).where(audit_log.c.action.like("webhook%"))
                                       .order_by(audit_log.c.id)).scalars())


def test_a_decision_is_queued_with_itself_and_sent_signed_after_commit(webhook_app, receiver):
    app = webhook_app(receiver.url)
    check_id, decision = _decide(app)
    assert receiver.received == []  # the decision did not wait for the receiver
    [queued] = _outbox(app)
    assert queued["decision_id"] == decision["id"] and queued["delivered_at"] is None

    done = webhooks.deliver_due(app.extensions["store"].engine, receiver.url, SECRET, "cli:test")
    assert [(d.decision_id, d.outcome) for d in done] == [(decision["id"], "delivered")]
    [sent] = receiver.received
    assert sent["path"] == "/decisions" and sent["headers"]["Stewardship-Event"] == "review.decision"
    assert sent["headers"]["Stewardship-Delivery"] == str(queued["id"])
    timestamp, digest = (part.split("=", 1)[1] for part in sent["headers"]["Stewardship-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + sent["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected)
    assert abs(int(timestamp) - dt.datetime.now(dt.timezone.utc).timestamp()) < 60
    body = json.loads(sent["body"])
    assert body["event"] == "review.decision" and body["checkId"] == check_id and body["requester"] == "pat.pharmacist"
    assert body["decision"]["note"] == "stop ibuprofen" and body["decision"]["intervention"] == "stopped"
    assert "patient" not in sent["body"].decode()  # no patient facts leave with the notification
    assert _outbox(app)[0]["delivered_at"] is not None and _audited(app) == ["webhook_delivered"]
    assert webhooks.deliver_due(app.extensions["store"].engine, receiver.url, SECRET, "cli:test") == []


def test_a_failed_delivery_is_retried_later_with_growing_waits_then_given_up(webhook_app):
    with Receiver([500, 503]) as flaky:
        app = webhook_app(flaky.url)
        _decide(app)
        engine, now = app.extensions["store"].engine, dt.datetime.now(dt.timezone.utc)
        assert [d.outcome for d in webhooks.deliver_due(engine, flaky.url, SECRET, "t", now)] == ["retry"]
        assert webhooks.deliver_due(engine, flaky.url, SECRET, "t", now + dt.timedelta(seconds=29)) == []
        later = now + dt.timedelta(seconds=31)
        assert [d.detail for d in webhooks.deliver_due(engine, flaky.url, SECRET, "t", later)] == ["HTTP 503"]
        assert webhooks.deliver_due(engine, flaky.url, SECRET, "t", later + dt.timedelta(seconds=59)) == []
        done = webhooks.deliver_due(engine, flaky.url, SECRET, "t", later + dt.timedelta(seconds=61))
        assert [d.outcome for d in done] == ["delivered"] and len(flaky.received) == 3
        # each attempt is signed with its own time, so a captured request cannot be replayed later as new
        assert len({sent["headers"]["Stewardship-Signature"] for sent in flaky.received}) == 3
    assert _audited(app) == ["webhook_failed", "webhook_failed", "webhook_delivered"]
    assert [webhooks.retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_a_dead_receiver_never_blocks_a_decision_and_is_given_up_after_the_last_attempt(webhook_app):
    with Receiver() as gone:
        url = gone.url
    app = webhook_app(url)  # nothing listens there any more
    _decide(app)
    engine, moment = app.extensions["store"].engine, dt.datetime.now(dt.timezone.utc)
    outcomes = []
    for _ in range(webhooks.MAX_ATTEMPTS + 1):
        outcomes += [d.outcome for d in webhooks.deliver_due(engine, url, SECRET, "t", moment)]
        moment += webhooks.LONGEST_WAIT
    assert outcomes == ["retry"] * (webhooks.MAX_ATTEMPTS - 1) + ["gave_up"]
    [row] = _outbox(app)
    assert row["gave_up_at"] is not None and row["attempts"] == webhooks.MAX_ATTEMPTS
    assert row["last_error"].startswith("ConnectionError")
    assert _audited(app)[-1] == "webhook_gave_up"


def test_only_the_configured_url_is_called_never_a_redirect(webhook_app):
    with Receiver([302]) as redirecting:
        app = webhook_app(redirecting.url)
        _decide(app)
        done = webhooks.deliver_due(app.extensions["store"].engine, redirecting.url, SECRET, "t")
        assert [d.detail for d in done] == ["HTTP 302"]
        assert [sent["path"] for sent in redirecting.received] == ["/decisions"]


def test_without_a_webhook_nothing_is_queued(app, auth_headers):
    client = app.test_client()
    check_id = client.post("/api/v1/checks", json=OLDER_CKD, headers=auth_headers).get_json()["id"]
    assert client.post(f"/api/v1/reviews/{check_id}/decision", headers=auth_headers,
                       json={"decision": "approved"}).status_code == 201
    assert _outbox(app) == []


def test_the_cli_delivers_what_is_due(settings, webhook_app, receiver):
    from cli import main

    app = webhook_app(receiver.url)
    _decide(app)
    result = CliRunner().invoke(main, ["webhooks", "deliver"], env={
        "STEWARDSHIP_DATABASE_URL": settings.database_url, "STEWARDSHIP_DECISION_WEBHOOK_URL": receiver.url,
        "STEWARDSHIP_DECISION_WEBHOOK_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    assert "delivered" in result.output and len(receiver.received) == 1
    unset = CliRunner().invoke(main, ["webhooks", "deliver"], env={"STEWARDSHIP_DECISION_WEBHOOK_URL": ""})
    assert unset.exit_code == 1 and "not set" in unset.output


@pytest.mark.parametrize("env, message", [
    ({"STEWARDSHIP_DECISION_WEBHOOK_URL": "https://hooks.example/d"}, "SECRET"),
    ({"STEWARDSHIP_DECISION_WEBHOOK_URL": "https://hooks.example/d", "STEWARDSHIP_DECISION_WEBHOOK_SECRET": "short"},
     "SECRET"),
    ({"STEWARDSHIP_DECISION_WEBHOOK_URL": "file:///etc/passwd", "STEWARDSHIP_DECISION_WEBHOOK_SECRET": SECRET},
     "http"),
])
def test_a_webhook_is_signed_over_http_or_not_configured_at_all(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
