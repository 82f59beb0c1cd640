"""Pharmacist review, the audit log and sign-in attempts (migration 0005), on the one `metadata` of storage.py.

A review item is derived, never written at check time: every check whose worst finding is a warning or critical
(`checks.max_severity`) is one, with the check's id as its id. It is open while it has no decision. Decisions are
append-only: a newer one supersedes the older, which stays in the trail.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, String, Table, Text, case,
                        exists, func, select)
from sqlalchemy.engine import Engine

from .storage import cds_cards, cds_feedback, check_findings, checks, metadata

DECISIONS = ("approved", "changes_requested", "rejected")
REVIEW_SEVERITIES = ("critical", "warning")
REVIEW_STATUSES = ("open", "closed", "all")
QUEUE_LIMIT = 500  # closed/all lists show the newest; open items are always shown whole

review_decisions = Table(
    "review_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_id", String(36), ForeignKey("checks.id"), nullable=False, index=True),
    Column("decision", String(32), nullable=False),
    Column("note", Text),
    Column("decided_by", String(64)),  # null only when the API runs with STEWARDSHIP_AUTH=off
    Column("decided_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("decision IN ('approved', 'changes_requested', 'rejected')", name="ck_review_decisions_decision"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user_name", String(64)),
    Column("action", String(32), nullable=False),  # view_queue, view_check, decide, view_rules, sign_in ...
    Column("target", String(200)),
)

signin_attempts = Table(
    "signin_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("ip", String(64)),
    Column("ok", Boolean, nullable=False),
)

_SEVERITY_WEIGHT = {"critical": 3, "warning": 2}


def review_priority(max_severity: str, age_years: float | None, crcl_ml_min: float | None,
                    has_suggestions: bool) -> int:
    """Severity x patient risk x actionability, 2..18: the queue's order, explained on the page.

    Patient risk counts the two facts that most change what a pain regimen can do to this patient: age 65 or older
    (Beers Criteria population) and CrCl below 30 mL/min (where NSAIDs are avoided and most renal doses are cut).
    An item whose findings carry a concrete suggestion counts twice: a pharmacist can resolve it at once."""
    risk = 1 + (age_years is not None and age_years >= 65) + (crcl_ml_min is not None and crcl_ml_min < 30)
    return _SEVERITY_WEIGHT.get(max_severity, 1) * risk * (2 if has_suggestions else 1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    # SQLite hands back naive datetimes; every time stored here is UTC
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat(timespec="seconds")


def _decision_json(row: Any) -> dict:
    return {"id": row["id"], "checkId": row["check_id"], "decision": row["decision"], "note": row["note"],
            "decidedBy": row["decided_by"], "decidedAt": _iso(row["decided_at"])}


def _item_json(row: Any, latest: dict | None) -> dict:
    response = row["response"]
    derived = response.get("derived") or {}
    findings = [f for f in response.get("findings", []) if f.get("severity") in REVIEW_SEVERITIES]
    has_suggestions = any(f.get("suggestions") for f in findings)
    age, crcl = derived.get("ageYears"), derived.get("crclMlMin")
    return {
        "id": row["id"], "createdAt": _iso(row["created_at"]), "asOf": row["as_of"].isoformat(),
        "requester": row["requester"], "source": row["source"], "patientId": row["patient_ref"],
        "maxSeverity": row["max_severity"], "status": "closed" if latest else "open",
        "priority": review_priority(row["max_severity"], age, crcl, has_suggestions),
        "ageYears": age, "crclMlMin": crcl, "hasSuggestions": has_suggestions,
        "categories": sorted({f["category"] for f in findings}),
        "findings": [{k: f.get(k) for k in ("code", "category", "severity", "summary")} for f in findings],
        "decision": latest,
    }


class ReviewStore:
    """Queries for the review queue, decisions, CDS Hooks feedback of a check, rule statistics, audit and sign-in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # review items
    def items(self, status: str = "open") -> list[dict]:
        """Review items, open before closed, most severe first (contract 4), then by priority within a severity
        (highest first), then oldest first (waited longest)."""
        has_decision = exists().where(review_decisions.c.check_id == checks.c.id)
        query = select(checks).where(checks.c.max_severity.in_(REVIEW_SEVERITIES))
        if status == "open":
            query = query.where(~has_decision)
        else:
            if status == "closed":
                query = query.where(has_decision)
            query = query.order_by(checks.c.created_at.desc()).limit(QUEUE_LIMIT)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            latest = self._latest_decisions(connection, [row["id"] for row in rows]) if status != "open" else {}
        items = [_item_json(row, latest.get(row["id"])) for row in rows]
        return sorted(items, key=lambda i: (i["status"] != "open", -_SEVERITY_WEIGHT.get(i["maxSeverity"], 1),
                                            -i["priority"], i["createdAt"]))

    def _latest_decisions(self, connection, check_ids: list[str]) -> dict[str, dict]:  # noqa: ANN001
        latest: dict[str, dict] = {}
        for start in range(0, len(check_ids), 500):  # stay under the bound-parameter limits of both databases
            rows = connection.execute(select(review_decisions)
                                      .where(review_decisions.c.check_id.in_(check_ids[start:start + 500]))
                                      .order_by(review_decisions.c.id)).mappings()
            latest.update({row["check_id"]: _decision_json(row) for row in rows})  # the last one wins
        return latest

    def check(self, check_id: str) -> dict | None:
        """The stored check with who asked for it, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(checks).where(checks.c.id == check_id)).mappings().first()
        if row is None:
            return None
        return {"id": row["id"], "requester": row["requester"], "source": row["source"],
                "createdAt": _iso(row["created_at"]), "maxSeverity": row["max_severity"],
                "isReviewItem": row["max_severity"] in REVIEW_SEVERITIES, "request": row["request"],
                "response": row["response"]}

    def decisions(self, check_id: str) -> list[dict]:
        """Every decision on the check, oldest first: the last one is in force."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(review_decisions).where(review_decisions.c.check_id == check_id)
                                      .order_by(review_decisions.c.id)).mappings().all()
        return [_decision_json(row) for row in rows]

    def add_decision(self, check_id: str, decision: str, note: str | None, decided_by: str | None) -> dict | None:
        """Append a decision on a review item (None when the check is unknown or not a review item)."""
        with self.engine.begin() as connection:
            severity = connection.execute(select(checks.c.max_severity).where(checks.c.id == check_id)).first()
            if severity is None or severity[0] not in REVIEW_SEVERITIES:
                return None
            new_id = connection.execute(review_decisions.insert().values(
                check_id=check_id, decision=decision, note=note, decided_by=decided_by, decided_at=_now())
            ).inserted_primary_key[0]
            connection.execute(audit_log.insert().values(at=_now(), user_name=decided_by, action="decide",
                                                         target=f"check:{check_id}:{decision}"))
            row = connection.execute(select(review_decisions).where(review_decisions.c.id == new_id)).mappings().one()
        return _decision_json(row)

    def feedback(self, check_id: str) -> list[dict]:
        """CDS Hooks feedback on the check's cards: override reasons and accepted suggestions, oldest first."""
        query = (select(cds_feedback, cds_cards.c.code, cds_cards.c.summary, cds_cards.c.suggestions)
                 .select_from(cds_feedback.outerjoin(cds_cards, cds_feedback.c.card_uuid == cds_cards.c.uuid))
                 .where(cds_feedback.c.check_id == check_id).order_by(cds_feedback.c.id))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        out = []
        for row in rows:
            offered = {s.get("uuid"): s.get("label") for s in row["suggestions"] or []}
            out.append({"cardUuid": row["card_uuid"], "code": row["code"], "summary": row["summary"],
                        "outcome": row["outcome"], "overrideCode": row["override_code"],
                        "overrideDisplay": row["override_display"], "userComment": row["user_comment"],
                        "acceptedSuggestions": [offered.get(uid, uid) for uid in row["accepted_suggestions"] or []],
                        "outcomeTimestamp": row["outcome_timestamp"]})
        return out

    def rule_statistics(self) -> list[dict]:
        """Per finding code: how often it fired, was shown as a card, overridden (with reasons), had a suggestion
        accepted, and how the latest review decision on its checks went. Noisiest (most overridden) first."""
        fired_query = (select(check_findings.c.code, check_findings.c.category,
                              func.count(func.distinct(check_findings.c.check_id)).label("checks"),
                              *[func.sum(case((check_findings.c.severity == s, 1), else_=0)).label(s)
                                for s in ("critical", "warning", "info")])
                       .group_by(check_findings.c.code, check_findings.c.category))
        cards_query = select(cds_cards.c.code, func.count()).group_by(cds_cards.c.code)
        feedback_query = (select(cds_cards.c.code, cds_feedback.c.outcome, cds_feedback.c.override_code,
                                 cds_feedback.c.override_display, func.count())
                          .select_from(cds_feedback.join(cds_cards, cds_feedback.c.card_uuid == cds_cards.c.uuid))
                          .group_by(cds_cards.c.code, cds_feedback.c.outcome, cds_feedback.c.override_code,
                                    cds_feedback.c.override_display))
        latest_ids = select(func.max(review_decisions.c.id)).group_by(review_decisions.c.check_id)
        decisions_query = (select(check_findings.c.code, review_decisions.c.decision,
                                  func.count(func.distinct(check_findings.c.check_id)))
                           .select_from(check_findings.join(review_decisions,
                                                            review_decisions.c.check_id == check_findings.c.check_id))
                           .where(review_decisions.c.id.in_(latest_ids))
                           .group_by(check_findings.c.code, review_decisions.c.decision))
        with self.engine.connect() as connection:
            stats = {row["code"]: {"code": row["code"], "category": row["category"], "checks": row["checks"],
                                   "bySeverity": {s: int(row[s] or 0) for s in ("critical", "warning", "info")},
                                   "cardsShown": 0, "overridden": 0, "overrideReasons": {}, "accepted": 0,
                                   "decisions": {d: 0 for d in DECISIONS}}
                     for row in connection.execute(fired_query).mappings()}
            for code, count in connection.execute(cards_query):
                if code in stats:
                    stats[code]["cardsShown"] = count
            for code, outcome, override_code, override_display, count in connection.execute(feedback_query):
                if code not in stats:
                    continue
                if outcome == "overridden":
                    stats[code]["overridden"] += count
                    reason = override_display or override_code or "(no reason given)"
                    stats[code]["overrideReasons"][reason] = stats[code]["overrideReasons"].get(reason, 0) + count
                elif outcome == "accepted":
                    stats[code]["accepted"] += count
            for code, decision, count in connection.execute(decisions_query):
                if code in stats and decision in DECISIONS:
                    stats[code]["decisions"][decision] = count
        for entry in stats.values():
            entry["overrideRate"] = entry["overridden"] / entry["cardsShown"] if entry["cardsShown"] else None
            entry["actedOn"] = entry["accepted"] + entry["decisions"]["changes_requested"] \
                + entry["decisions"]["rejected"]
        return sorted(stats.values(), key=lambda e: (-(e["overrideRate"] or 0), -e["checks"], e["code"]))

    # audit
    def audit(self, user_name: str | None, action: str, target: str | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(audit_log.insert().values(at=_now(), user_name=user_name, action=action,
                                                         target=target))

    # sign-in rate limiting
    def record_signin(self, user_name: str, ip: str | None, ok: bool) -> None:
        with self.engine.begin() as connection:
            connection.execute(signin_attempts.insert().values(at=_now(), user_name=user_name[:64], ip=ip, ok=ok))

    def signin_failures(self, user_name: str, ip: str | None, window: dt.timedelta) -> tuple[int, int]:
        """Failed sign-ins within the window: for the user (since their last success) and from the address."""
        since = _now() - window
        failed = (signin_attempts.c.ok.is_(False)) & (signin_attempts.c.at >= since)
        with self.engine.connect() as connection:
            last_ok = connection.execute(select(func.max(signin_attempts.c.at)).where(
                signin_attempts.c.user_name == user_name, signin_attempts.c.ok.is_(True),
                signin_attempts.c.at >= since)).scalar()
            by_user = select(func.count()).where(failed, signin_attempts.c.user_name == user_name)
            if last_ok is not None:
                by_user = by_user.where(signin_attempts.c.at > last_ok)
            by_ip = select(func.count()).where(failed, signin_attempts.c.ip == ip)
            return connection.execute(by_user).scalar() or 0, connection.execute(by_ip).scalar() or 0
