"""The decision webhook: each review decision, POSTed to the one URL an operator configured
(STEWARDSHIP_DECISION_WEBHOOK_URL), signed with STEWARDSHIP_DECISION_WEBHOOK_SECRET.

The decision's transaction writes its notification to `webhook_outbox` (adapters/reviews.py); `deliver_due` sends
the due ones after commit (`stewardship webhooks deliver`, run every minute by cron or a systemd timer). A dead or
slow receiver therefore never holds up or undoes a decision. Delivery is at least once: a receiver drops repeats by
the `Stewardship-Delivery` id.

Signature (the scheme Stripe and GitHub webhooks use, with a timestamp against replay):
`Stewardship-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a receiver recomputes it over
the raw body and refuses a `t` older than a few minutes. Every attempt is signed anew with its own time.

Retries: a failed attempt (no answer, or not 2xx) is tried again after 30 s, 1, 2, 4 ... minutes (doubling, at most
an hour apart), MAX_ATTEMPTS times in all, then given up. Redirects are not followed: only the configured URL is
ever called. Every delivery, failure and giving-up goes to the audit log.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

import requests
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from .reviews import audit_log, webhook_outbox

MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_WAIT = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=2)  # an attempt in flight holds its row this long; a crashed sender's row comes back
TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    decision_id: int
    attempt: int
    outcome: str  # delivered | retry | gave_up
    detail: str


def signature(secret: str, body: str, timestamp: int) -> str:
    """The `Stewardship-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay(attempt: int) -> dt.timedelta:
    """The wait after failed attempt number `attempt` (1-based): 30 s, doubling, at most LONGEST_WAIT."""
    return min(FIRST_RETRY * 2 ** (attempt - 1), LONGEST_WAIT)


def _lease_next(engine: Engine, now: dt.datetime) -> dict | None:
    """Take the oldest due notification for one attempt: its row is pushed LEASE into the future and its attempts
    counted in a short transaction, so that concurrent senders never send it together and a crash loses nothing."""
    with engine.begin() as connection:
        row = connection.execute(
            select(webhook_outbox).where(webhook_outbox.c.delivered_at.is_(None), webhook_outbox.c.gave_up_at.is_(None),
                                         webhook_outbox.c.next_attempt_at <= now)
            .order_by(webhook_outbox.c.next_attempt_at, webhook_outbox.c.id).limit(1)
            .with_for_update(skip_locked=True)).mappings().first()
        if row is None:
            return None
        taken = connection.execute(update(webhook_outbox).where(webhook_outbox.c.id == row["id"],
                                                                webhook_outbox.c.attempts == row["attempts"])
                                   .values(attempts=row["attempts"] + 1, next_attempt_at=now + LEASE))
        if taken.rowcount != 1:
            return {}  # another sender took it between the read and the write (SQLite): look again
        return {**row, "attempts": row["attempts"] + 1}


def _post(url: str, secret: str, row: dict, now: dt.datetime) -> str | None:
    """Send one notification: None when the receiver took it (2xx), else what went wrong."""
    headers = {"Content-Type": "application/json", "Stewardship-Event": "review.decision",
               "Stewardship-Delivery": str(row["id"]),
               "Stewardship-Signature": signature(secret, row["body"], int(now.timestamp()))}
    try:
        answer = requests.post(url, data=row["body"].encode(), headers=headers, timeout=TIMEOUT_SECONDS,
                               allow_redirects=False)
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}"[:300]
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def deliver_due(engine: Engine, url: str, secret: str, actor: str, now: dt.datetime | None = None,
                limit: int = 1000) -> list[Delivery]:
    """Attempt every notification due at `now` (default: the clock), at most `limit`; each outcome is recorded on
    its row and in the audit log under `actor`."""
    outcomes: list[Delivery] = []
    while len(outcomes) < limit:
        moment = now or dt.datetime.now(dt.timezone.utc)
        row = _lease_next(engine, moment)
        if row is None:
            break
        if not row:
            continue
        error = _post(url, secret, row, moment)
        attempt = row["attempts"]
        if error is None:
            outcome, values, detail = "delivered", {"delivered_at": moment, "last_error": None}, "2xx"
        elif attempt >= MAX_ATTEMPTS:
            outcome, values, detail = "gave_up", {"gave_up_at": moment, "last_error": error}, error
        else:
            outcome, detail = "retry", error
            values = {"next_attempt_at": moment + retry_delay(attempt), "last_error": error}
        with engine.begin() as connection:
            connection.execute(update(webhook_outbox).where(webhook_outbox.c.id == row["id"]).values(**values))
            action = {"delivered": "webhook_delivered", "retry": "webhook_failed", "gave_up": "webhook_gave_up"}
            connection.execute(audit_log.insert().values(
                at=moment, user_name=actor[:64], action=action[outcome],
                target=f"decision:{row['decision_id']} delivery:{row['id']} attempt:{attempt} {detail}"[:200]))
        outcomes.append(Delivery(row["id"], row["decision_id"], attempt, outcome, detail))
    return outcomes
