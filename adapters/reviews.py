"""Pharmacist review, the audit log and sign-in attempts (migration 0005) with their lock-out throttle (0008), on
the one `metadata` of storage.py.

A review item is derived, never written at check time: every check whose worst finding is a warning or critical
(`checks.max_severity`) is one, with the check's id as its id. It is open while it has no decision. Decisions are
append-only: a newer one supersedes the older, which stays in the trail.

The review loop (migration 0010, issue 14): a pharmacist claims an item (one claim per item, atomic: the primary key
refuses a second), a decision carries an intervention category and names the findings it acts on, and, when a
decision webhook is configured, the decision's notification is written to `webhook_outbox` in the decision's own
transaction (sent later by adapters/webhooks.py, so that a slow or dead receiver never holds up a decision).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    case,
    exists,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from stewardship.review_priority import ReviewPriority

from .storage import _aware, _iso, _now, cds_card_findings, cds_cards, cds_feedback, check_findings, checks, metadata

log = logging.getLogger(__name__)
DECISIONS = ("approved", "changes_requested", "rejected")
INTERVENTIONS = ("stopped", "dose_changed", "substituted", "monitoring_added", "no_change")
CLAIM_FILTERS = ("mine", "unassigned")
REVIEW_SEVERITIES = ("critical", "warning")
REVIEW_STATUSES = ("open", "closed", "all")
QUEUE_LIMIT = 500  # closed/all lists page through the newest; open items are all there, page by page

review_decisions = Table(
    "review_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_id", String(36), ForeignKey("checks.id"), nullable=False),
    Column("decision", String(32), nullable=False),
    Column("note", Text),
    Column("decided_by", String(64)),  # null only when the API runs with STEWARDSHIP_AUTH=off
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("intervention", String(32)),  # migration 0010; null: none named (and every decision before 0010)
    CheckConstraint("decision IN ('approved', 'changes_requested', 'rejected')", name="ck_review_decisions_decision"),
    CheckConstraint("intervention IN ('stopped', 'dose_changed', 'substituted', 'monitoring_added', 'no_change')",
                    name="ck_review_decisions_intervention"),
    Index("ix_review_decisions_check", "check_id"),  # migration 0005's name
)

review_decision_findings = Table(  # migration 0010: the finding codes of its check that a decision acts on
    "review_decision_findings", metadata,
    Column("decision_id", Integer, ForeignKey("review_decisions.id", ondelete="CASCADE"), primary_key=True),
    Column("code", String(120), primary_key=True, index=True),
)

review_claims = Table(  # migration 0010: who works an item; the primary key lets exactly one claim in
    "review_claims", metadata,
    Column("check_id", String(36), ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True),
    Column("claimed_by", String(64), nullable=False, index=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)

webhook_outbox = Table(  # migration 0010: decision notifications waiting to be sent (adapters/webhooks.py)
    "webhook_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", Integer, ForeignKey("review_decisions.id"), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes signed and sent, fixed when the decision is made
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("delivered_at", DateTime(timezone=True)),
    Column("gave_up_at", DateTime(timezone=True)),
    Column("last_error", String(300)),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user_name", String(64)),
    Column("action", String(32), nullable=False),  # view_queue, view_check, decide, view_rules, sign_in ...
    Column("target", String(200)),
    # how many like events this row stands for (migration 0008): the refused tries of one lock window share a row
    Column("times", Integer, nullable=False, server_default="1"),
)

signin_attempts = Table(
    "signin_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("ip", String(64)),
    Column("ok", Boolean, nullable=False),
    Index("ix_signin_attempts_user_at", "user_name", "at"),  # migration 0005's names
    Index("ix_signin_attempts_ip_at", "ip", "at"),
)

signin_throttle = Table(  # migration 0008: a row per user name and per address tried, locked while a try counts
    "signin_throttle", metadata,
    Column("scope", String(8), primary_key=True),  # name | address
    Column("key", String(64), primary_key=True),
    Column("touched_at", DateTime(timezone=True), nullable=False),
    Column("locked_audit_id", Integer),  # the sign_in_locked audit row counting this lock window's refused tries
    Column("locked_since", DateTime(timezone=True)),
)


def _severity_weight(priority: ReviewPriority, max_severity: ColumnElement) -> ColumnElement:
    weights = priority.severity
    return case((max_severity == "critical", weights["critical"]), (max_severity == "warning", weights["warning"]),
                else_=weights["other"])


def review_priority(priority: ReviewPriority, max_severity: ColumnElement, derived: Mapping[str, ColumnElement],
                    has_suggestions: ColumnElement) -> ColumnElement:
    """Severity x patient risk x actionability with config/review_priority.yaml's weights: the queue's order,
    explained on the page. A SQL expression, so that the database orders and pages the queue without handing over
    every item. `derived` gives the column of each value a risk factor reads (ageYears, crclMlMin); an unknown
    value (NULL) adds no risk."""
    risk: ColumnElement = literal(priority.base_risk)
    for factor in priority.risk_factors:
        value = derived[factor.derived]
        holds = value >= factor.at_least if factor.at_least is not None else value < factor.below
        risk = risk + case((holds, factor.adds), else_=0)
    return _severity_weight(priority, max_severity) * risk * case((has_suggestions, priority.actionable), else_=1)


def _has_review_suggestions(dialect: str) -> ColumnElement:
    """Whether a warning or critical finding of the check carries a suggestion, read inside the database (the
    check's JSON never leaves it): JSON functions differ between PostgreSQL and SQLite."""
    if dialect == "postgresql":
        finding = func.json_array_elements(checks.c.response["findings"]).table_valued("value").alias("finding")
        severity = func.json_extract_path_text(finding.c.value, "severity")
        suggestions = func.json_array_length(func.json_extract_path(finding.c.value, "suggestions"))
    else:
        finding = func.json_each(checks.c.response, "$.findings").table_valued("value").alias("finding")
        severity = func.json_extract(finding.c.value, "$.severity")
        suggestions = func.json_array_length(finding.c.value, "$.suggestions")
    return exists(select(1).select_from(finding).where(severity.in_(REVIEW_SEVERITIES), suggestions > 0))


def _decision_json(row: Any, findings: list[str]) -> dict:
    return {"id": row["id"], "checkId": row["check_id"], "decision": row["decision"], "note": row["note"],
            "decidedBy": row["decided_by"], "decidedAt": _iso(row["decided_at"]),
            "intervention": row["intervention"], "findings": findings}


def _claim_json(row: Any) -> dict | None:
    if row["claimed_by"] is None:
        return None
    return {"claimedBy": row["claimed_by"], "claimedAt": _iso(row["claimed_at"])}


def _item_json(row: Any, findings: list[dict], latest: dict | None, now: dt.datetime) -> dict:
    # an item waits from its check until its decision in force (or until now, while open)
    until = dt.datetime.fromisoformat(latest["decidedAt"]) if latest else now
    return {
        "id": row["id"], "createdAt": _iso(row["created_at"]), "asOf": row["as_of"].isoformat(),
        "requester": row["requester"], "source": row["source"], "patientId": row["patient_ref"],
        "maxSeverity": row["max_severity"], "status": "closed" if latest else "open", "priority": row["priority"],
        "ageYears": row["age"], "crclMlMin": row["crcl"], "hasSuggestions": bool(row["has_suggestions"]),
        "waitingSeconds": max(0, int((until - _aware(row["created_at"])).total_seconds())),
        "claim": _claim_json(row), "categories": sorted({f["category"] for f in findings}), "findings": findings,
        "decision": latest,
    }


def decision_notification(decision: dict, requester: str | None) -> str:
    """The webhook body for a decision: who decided what on whose check, and the note for the prescriber. No
    patient facts: a receiver that needs them reads the check through the API."""
    return json.dumps({"event": "review.decision", "checkId": decision["checkId"], "requester": requester,
                       "decision": decision}, sort_keys=True, separators=(",", ":"))


class UnknownFindings(ValueError):
    """A decision named finding codes that its check does not have."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


class ClaimTaken(Exception):
    """Another person holds the claim on this review item."""

    def __init__(self, claim: dict) -> None:
        super().__init__(f"claimed by {claim['claimedBy']} at {claim['claimedAt']}")
        self.claim = claim


class ReviewStore:
    """Queries for the review queue, decisions, CDS Hooks feedback of a check, rule statistics, audit and sign-in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # review items
    def items(self, priority: ReviewPriority, status: str = "open", limit: int = 50, offset: int = 0,
              severity: str | None = None, category: str | None = None, min_age: int | None = None,
              patient: str | None = None, claimed: str | None = None, reviewer: str | None = None,
              sweep: int | None = None) -> tuple[list[dict], bool]:
        """One page of review items, and whether more follow. Open before closed, most severe first (contract 4),
        then by `priority` within a severity (highest first), then oldest first (waited longest). The database
        orders and pages them, reading only summary columns: a check's full JSON is never loaded for the queue.

        `patient` keeps the items whose patient id starts with it; `claimed` is `mine` (claimed by `reviewer`) or
        `unassigned` (claimed by nobody)."""
        has_decision = exists().where(review_decisions.c.check_id == checks.c.id)
        candidates = (select(checks.c.id, checks.c.created_at, checks.c.as_of, checks.c.requester, checks.c.source,
                             checks.c.patient_ref, checks.c.max_severity, has_decision.label("decided"),
                             checks.c.response["derived"].label("derived"),
                             _has_review_suggestions(self.engine.dialect.name).label("has_suggestions"),
                             review_claims.c.claimed_by, review_claims.c.claimed_at)
                      .select_from(checks.outerjoin(review_claims, review_claims.c.check_id == checks.c.id))
                      .where(checks.c.max_severity.in_(REVIEW_SEVERITIES)))
        if patient:
            candidates = candidates.where(checks.c.patient_ref.startswith(patient, autoescape=True))
        if claimed == "mine":
            candidates = candidates.where(review_claims.c.claimed_by == reviewer)
        elif claimed == "unassigned":
            candidates = candidates.where(review_claims.c.claimed_by.is_(None))
        if status == "open":
            candidates = candidates.where(~has_decision)
        else:
            newest = select(checks.c.id).where(checks.c.max_severity.in_(REVIEW_SEVERITIES))
            if status == "closed":
                newest = newest.where(has_decision)
            candidates = candidates.where(
                checks.c.id.in_(newest.order_by(checks.c.created_at.desc()).limit(QUEUE_LIMIT)))
        if severity:
            candidates = candidates.where(checks.c.max_severity == severity)
        if sweep is not None:  # the patients one population sweep flagged (issue 16)
            from .sweeps import sweep_patients  # imported here: adapters/sweeps.py orders its worklist by this module

            candidates = candidates.where(checks.c.id.in_(select(sweep_patients.c.check_id)
                                                          .where(sweep_patients.c.sweep_id == sweep)))
        if category:
            candidates = candidates.where(exists().where(check_findings.c.check_id == checks.c.id,
                                                         check_findings.c.category == category,
                                                         check_findings.c.severity.in_(REVIEW_SEVERITIES)))
        # Materialized, so that each check's large JSON is read twice (for `derived`, for the suggestions), not again
        # for every expression and the ORDER BY that use them (PostgreSQL's `json` is parsed at each access).
        item = candidates.cte("candidates").prefix_with("MATERIALIZED")
        age, crcl = item.c.derived["ageYears"], item.c.derived["crclMlMin"]  # as stored, for the answer
        order = review_priority(priority, item.c.max_severity,
                                {"ageYears": age.as_float(), "crclMlMin": crcl.as_float()},
                                item.c.has_suggestions).label("priority")
        query = select(item.c.id, item.c.created_at, item.c.as_of, item.c.requester, item.c.source,
                       item.c.patient_ref, item.c.max_severity, age.label("age"), crcl.label("crcl"),
                       item.c.has_suggestions, item.c.claimed_by, item.c.claimed_at, order)
        if min_age is not None:
            query = query.where(age.as_float() >= min_age)
        query = query.order_by(case((item.c.decided, 1), else_=0),
                               _severity_weight(priority, item.c.max_severity).desc(), order.desc(),
                               item.c.created_at, item.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit + 1).offset(offset)).mappings().all()
            page = rows[:limit]
            ids = [row["id"] for row in page]
            findings = self._review_findings(connection, ids)
            latest = self._latest_decisions(connection, ids) if status != "open" else {}
        now = _now()
        return [_item_json(row, findings.get(row["id"], []), latest.get(row["id"]), now) for row in page], \
            len(rows) > limit

    def _review_findings(self, connection, check_ids: list[str]) -> dict[str, list[dict]]:  # noqa: ANN001
        """The warning and critical findings of these checks, in the check's order, from the findings table."""
        found: dict[str, list[dict]] = {}
        if not check_ids:
            return found
        rows = connection.execute(select(check_findings.c.check_id, check_findings.c.code, check_findings.c.category,
                                         check_findings.c.severity, check_findings.c.summary)
                                  .where(check_findings.c.check_id.in_(check_ids),
                                         check_findings.c.severity.in_(REVIEW_SEVERITIES))
                                  .order_by(check_findings.c.check_id, check_findings.c.position)).mappings()
        for row in rows:
            found.setdefault(row["check_id"], []).append(
                {"code": row["code"], "category": row["category"], "severity": row["severity"],
                 "summary": row["summary"]})
        return found

    def _latest_decisions(self, connection, check_ids: list[str]) -> dict[str, dict]:  # noqa: ANN001
        latest: dict[str, dict] = {}
        for start in range(0, len(check_ids), 500):  # stay under the bound-parameter limits of both databases
            newest = (select(func.max(review_decisions.c.id))
                      .where(review_decisions.c.check_id.in_(check_ids[start:start + 500]))
                      .group_by(review_decisions.c.check_id))
            rows = connection.execute(select(review_decisions).where(review_decisions.c.id.in_(newest))).mappings()
            latest.update({row["check_id"]: row for row in rows})
        named = self._named_findings(connection, [row["id"] for row in latest.values()])
        return {check_id: _decision_json(row, named.get(row["id"], [])) for check_id, row in latest.items()}

    @staticmethod
    def _named_findings(connection, decision_ids: list[int]) -> dict[int, list[str]]:  # noqa: ANN001
        """The finding codes each decision names, sorted."""
        named: dict[int, list[str]] = {}
        for start in range(0, len(decision_ids), 500):
            named_by = review_decision_findings.c
            rows = connection.execute(select(named_by.decision_id, named_by.code)
                                      .where(named_by.decision_id.in_(decision_ids[start:start + 500]))
                                      .order_by(named_by.decision_id, named_by.code))
            for decision_id, code in rows:
                named.setdefault(decision_id, []).append(code)
        return named

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
            named = self._named_findings(connection, [row["id"] for row in rows])
        return [_decision_json(row, named.get(row["id"], [])) for row in rows]

    def add_decision(self, check_id: str, decision: str, note: str | None, decided_by: str | None,
                     intervention: str | None = None, findings: tuple[str, ...] = (),
                     notify: bool = False) -> dict | None:
        """Append a decision on a review item (None when the check is unknown or not a review item). `findings`
        must be codes of the check's findings (else UnknownFindings, and nothing is stored). With `notify`, the
        decision's webhook notification is queued in the same transaction: it exists exactly when the decision
        does."""
        with self.engine.begin() as connection:
            check = connection.execute(select(checks.c.max_severity, checks.c.requester)
                                       .where(checks.c.id == check_id)).first()
            if check is None or check.max_severity not in REVIEW_SEVERITIES:
                return None
            known = set(connection.execute(select(check_findings.c.code)
                                           .where(check_findings.c.check_id == check_id)).scalars())
            unknown = sorted(set(findings) - known)
            if unknown:
                raise UnknownFindings(unknown)
            now = _now()
            new_id = connection.execute(review_decisions.insert().values(
                check_id=check_id, decision=decision, note=note, decided_by=decided_by, decided_at=now,
                intervention=intervention)).inserted_primary_key[0]
            if findings:
                connection.execute(review_decision_findings.insert(),
                                   [{"decision_id": new_id, "code": code} for code in sorted(set(findings))])
            connection.execute(audit_log.insert().values(at=now, user_name=decided_by, action="decide",
                                                         target=f"check:{check_id}:{decision}"))
            row = connection.execute(select(review_decisions).where(review_decisions.c.id == new_id)).mappings().one()
            made = _decision_json(row, sorted(set(findings)))
            if notify:
                connection.execute(webhook_outbox.insert().values(
                    decision_id=new_id, body=decision_notification(made, check.requester), created_at=now,
                    attempts=0, next_attempt_at=now))
        return made

    # claims
    def claim(self, check_id: str, claimed_by: str) -> dict | None:
        """Claim a review item for `claimed_by`: the claim ({"claimedBy", "claimedAt"}), or None when the check is
        unknown or no review item. Claiming one's own claim again changes nothing; another person's raises
        ClaimTaken. Of two concurrent claims exactly one gets in: the insert is ON CONFLICT DO NOTHING on the
        item's primary key, and the holder is read back in the same transaction."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as connection:
            severity = connection.execute(select(checks.c.max_severity).where(checks.c.id == check_id)).scalar()
            if severity not in REVIEW_SEVERITIES:
                return None
            now = _now()
            # RETURNING says whether this insert got in (psycopg reports no rowcount for ON CONFLICT DO NOTHING)
            inserted = connection.execute(dialect.insert(review_claims)
                                          .values(check_id=check_id, claimed_by=claimed_by, claimed_at=now)
                                          .on_conflict_do_nothing(index_elements=["check_id"])
                                          .returning(review_claims.c.check_id)).first() is not None
            holder = connection.execute(select(review_claims).where(review_claims.c.check_id == check_id)
                                        ).mappings().one()
            claim = _claim_json(holder)
            if holder["claimed_by"] != claimed_by:
                raise ClaimTaken(claim)
            if inserted:
                connection.execute(audit_log.insert().values(at=now, user_name=claimed_by, action="claim_review",
                                                             target=f"check:{check_id}"))
        return claim

    def release(self, check_id: str, released_by: str, anyones: bool = False) -> bool:
        """End the claim on an item: one's own, or with `anyones` (an admin) whoever holds it. False when there was
        no claim to end; ClaimTaken when it is another person's and `anyones` is not given."""
        with self.engine.begin() as connection:
            holder = connection.execute(select(review_claims).where(review_claims.c.check_id == check_id)
                                        .with_for_update()).mappings().first()
            if holder is None:
                return False
            if holder["claimed_by"] != released_by and not anyones:
                raise ClaimTaken(_claim_json(holder))
            connection.execute(review_claims.delete().where(review_claims.c.check_id == check_id))
            connection.execute(audit_log.insert().values(at=_now(), user_name=released_by, action="release_claim",
                                                         target=f"check:{check_id} held_by:{holder['claimed_by']}"))
        return True

    def claim_of(self, check_id: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(review_claims).where(review_claims.c.check_id == check_id)
                                     ).mappings().first()
        return _claim_json(row) if row else None

    # a prescriber's own checks
    def checks_by(self, requester: str | None, limit: int, offset: int) -> tuple[list[dict], bool]:
        """One page of the checks `requester` made (None: those made without a user, STEWARDSHIP_AUTH=off), newest
        first, each with its findings counted by severity, its review status (`not_needed`, `open`, `decided`),
        the claim on it and the decision in force with its note. Whether more follow."""
        who = checks.c.requester == requester if requester is not None else checks.c.requester.is_(None)
        query = (select(checks.c.id, checks.c.created_at, checks.c.patient_ref, checks.c.source,
                        checks.c.max_severity, review_claims.c.claimed_by, review_claims.c.claimed_at)
                 .select_from(checks.outerjoin(review_claims, review_claims.c.check_id == checks.c.id))
                 .where(who).order_by(checks.c.created_at.desc(), checks.c.id).limit(limit + 1).offset(offset))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            page = rows[:limit]
            ids = [row["id"] for row in page]
            counts: dict[str, dict[str, int]] = {}
            if ids:
                for check_id, severity, count in connection.execute(
                        select(check_findings.c.check_id, check_findings.c.severity, func.count())
                        .where(check_findings.c.check_id.in_(ids))
                        .group_by(check_findings.c.check_id, check_findings.c.severity)):
                    counts.setdefault(check_id, {})[severity] = count
            latest = self._latest_decisions(connection, ids)
        out = []
        for row in page:
            decision = latest.get(row["id"])
            review = "not_needed" if row["max_severity"] not in REVIEW_SEVERITIES else \
                "decided" if decision else "open"
            out.append({"id": row["id"], "createdAt": _iso(row["created_at"]), "patientId": row["patient_ref"],
                        "source": row["source"], "maxSeverity": row["max_severity"],
                        "findings": {s: counts.get(row["id"], {}).get(s, 0) for s in ("critical", "warning", "info")},
                        "review": review, "claim": _claim_json(row), "decision": decision})
        return out, len(rows) > limit

    # export
    def decision_rows(self, batch: int = 500) -> Iterator[dict]:
        """Every decision, oldest first, with its check's patient, requester and worst severity, the findings it
        names and whether it is in force; read `batch` decisions at a time, so that an export of any length holds
        one batch in memory."""
        in_force = select(func.max(review_decisions.c.id)).group_by(review_decisions.c.check_id)
        after = 0
        while True:
            query = (select(review_decisions, checks.c.patient_ref, checks.c.requester, checks.c.max_severity,
                            checks.c.created_at.label("check_created_at"),
                            review_decisions.c.id.in_(in_force).label("in_force"))
                     .select_from(review_decisions.join(checks, checks.c.id == review_decisions.c.check_id))
                     .where(review_decisions.c.id > after).order_by(review_decisions.c.id).limit(batch))
            with self.engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
                named = self._named_findings(connection, [row["id"] for row in rows])
            for row in rows:
                yield {**_decision_json(row, named.get(row["id"], [])), "patientId": row["patient_ref"],
                       "requester": row["requester"], "maxSeverity": row["max_severity"],
                       "checkCreatedAt": _iso(row["check_created_at"]), "inForce": bool(row["in_force"])}
            if len(rows) < batch:
                return
            after = rows[-1]["id"]

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
        accepted, how the latest review decision on its checks went, and the checks whose decision in force acted on
        it by name (`actedOnByDecision`) or acted without naming findings (`unattributedDecisions`, not credited).
        Noisiest (most overridden) first."""
        fired_query = (select(check_findings.c.code, check_findings.c.category,
                              func.count(func.distinct(check_findings.c.check_id)).label("checks"),
                              *[func.sum(case((check_findings.c.severity == s, 1), else_=0)).label(s)
                                for s in ("critical", "warning", "info")])
                       .group_by(check_findings.c.code, check_findings.c.category))
        # a card counts, and its feedback counts, for each finding code it stood for (one card per draft order)
        card_codes = select(cds_card_findings.c.card_uuid, cds_card_findings.c.code).distinct().subquery()
        cards_query = select(card_codes.c.code, func.count()).group_by(card_codes.c.code)
        feedback_query = (select(card_codes.c.code, cds_feedback.c.outcome, cds_feedback.c.override_code,
                                 cds_feedback.c.override_display, func.count())
                          .select_from(cds_feedback.join(card_codes,
                                                         cds_feedback.c.card_uuid == card_codes.c.card_uuid))
                          .group_by(card_codes.c.code, cds_feedback.c.outcome, cds_feedback.c.override_code,
                                    cds_feedback.c.override_display))
        latest_ids = select(func.max(review_decisions.c.id)).group_by(review_decisions.c.check_id)
        decisions_query = (select(check_findings.c.code, review_decisions.c.decision,
                                  func.count(func.distinct(check_findings.c.check_id)))
                           .select_from(check_findings.join(review_decisions,
                                                            review_decisions.c.check_id == check_findings.c.check_id))
                           .where(review_decisions.c.id.in_(latest_ids))
                           .group_by(check_findings.c.code, review_decisions.c.decision))
        # A decision acts on the findings it names, unless it approved the order unchanged (issue 14). Decisions
        # that asked for changes or rejected without naming any are not credited to every finding of the check;
        # they are counted apart, as "unattributed", so that the credit stays honest and nothing is hidden.
        acted = ~((review_decisions.c.decision == "approved")
                  & (func.coalesce(review_decisions.c.intervention, "no_change") == "no_change"))
        named_query = (select(review_decision_findings.c.code, func.count(func.distinct(review_decisions.c.check_id)))
                       .select_from(review_decision_findings.join(
                           review_decisions, review_decisions.c.id == review_decision_findings.c.decision_id))
                       .where(review_decisions.c.id.in_(latest_ids), acted)
                       .group_by(review_decision_findings.c.code))
        names_none = ~exists().where(review_decision_findings.c.decision_id == review_decisions.c.id)
        unattributed_query = (select(check_findings.c.code, func.count(func.distinct(check_findings.c.check_id)))
                              .select_from(check_findings.join(
                                  review_decisions, review_decisions.c.check_id == check_findings.c.check_id))
                              .where(review_decisions.c.id.in_(latest_ids), names_none,
                                     review_decisions.c.decision.in_(("changes_requested", "rejected")))
                              .group_by(check_findings.c.code))
        with self.engine.connect() as connection:
            stats = {row["code"]: {"code": row["code"], "category": row["category"], "checks": row["checks"],
                                   "bySeverity": {s: int(row[s] or 0) for s in ("critical", "warning", "info")},
                                   "cardsShown": 0, "overridden": 0, "overrideReasons": {}, "accepted": 0,
                                   "decisions": {d: 0 for d in DECISIONS}, "actedOnByDecision": 0,
                                   "unattributedDecisions": 0}
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
            for key, query in (("actedOnByDecision", named_query), ("unattributedDecisions", unattributed_query)):
                for code, count in connection.execute(query):
                    if code in stats:
                        stats[code][key] = count
        for entry in stats.values():
            entry["overrideRate"] = entry["overridden"] / entry["cardsShown"] if entry["cardsShown"] else None
            entry["actedOn"] = entry["accepted"] + entry["actedOnByDecision"]
        return sorted(stats.values(), key=lambda e: (-(e["overrideRate"] or 0), -e["checks"], e["code"]))

    # audit
    def audit(self, user_name: str | None, action: str, target: str | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(audit_log.insert().values(at=_now(), user_name=user_name, action=action,
                                                         target=target))

    # sign-in rate limiting (issue 13, item 8)
    def reserve_signin(self, user_name: str, ip: str, window: dt.timedelta, max_user: int,
                       max_ip: int) -> int | None:
        """Count and reserve one sign-in try in one transaction: the id of the reserved attempt (a failure until
        `signin_succeeded`), or None when the name (since its last success) or the address has reached its limit
        of failures within the window.

        Concurrent tries are counted one after the other: the transaction first upserts the `signin_throttle` rows
        of the address and the name, which holds their row locks on PostgreSQL (INSERT ... ON CONFLICT DO UPDATE)
        and the database's write lock on SQLite until commit, so no more tries than the limit are ever evaluated
        (40 concurrent guesses used to get 6). A refused try adds one to the `times` of its key's `sign_in_locked`
        audit row of the window instead of writing a row of its own (a locked address used to write ~200 rows/s)."""
        now = _now()
        since = now - window
        with self.engine.begin() as connection:
            for scope, key in (("address", ip), ("name", user_name)):  # always in this order: no deadlock
                self._lock_throttle(connection, scope, key, now)
            by_user, by_ip = self._failures(connection, user_name, ip, since)
            if by_user >= max_user or by_ip >= max_ip:
                scope, key = ("name", user_name) if by_user >= max_user else ("address", ip)
                self._count_refusal(connection, scope, key, user_name, now, since)
                attempt = None
            else:
                attempt = connection.execute(signin_attempts.insert().values(at=now, user_name=user_name, ip=ip,
                                                                             ok=False)).inserted_primary_key[0]
        self._forget_signins_before(since)
        return attempt

    def _forget_signins_before(self, since: dt.datetime) -> None:
        """Delete the sign-in tries and throttle rows older than the window: nothing reads them again (the counts
        and the lock windows look at the window alone; a name or address tried again gets its row back), and a
        caller trying a new name or address from each request would otherwise grow both tables without end.

        After the try's own transaction, in one of its own, best effort: a throttle row another try holds is
        skipped (FOR UPDATE SKIP LOCKED on PostgreSQL), so this never waits for a try nor deadlocks with one, and a
        failure is logged, never the sign-in's. One window for every caller (web.sessions.SIGNIN_WINDOW)."""
        stale = select(signin_throttle.c.scope, signin_throttle.c.key) \
            .where(signin_throttle.c.touched_at < since).with_for_update(skip_locked=True)
        try:
            with self.engine.begin() as connection:
                connection.execute(signin_attempts.delete().where(signin_attempts.c.at < since))
                connection.execute(signin_throttle.delete().where(
                    tuple_(signin_throttle.c.scope, signin_throttle.c.key).in_(stale)))
        except SQLAlchemyError:
            log.warning("old sign-in tries could not be deleted; the next sign-in tries again", exc_info=True)

    def signin_succeeded(self, attempt_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(signin_attempts.update().where(signin_attempts.c.id == attempt_id).values(ok=True))

    @staticmethod
    def _lock_throttle(connection, scope: str, key: str, now: dt.datetime) -> None:  # noqa: ANN001
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(signin_throttle).values(scope=scope, key=key, touched_at=now)
                           .on_conflict_do_update(index_elements=["scope", "key"], set_={"touched_at": now}))

    @staticmethod
    def _failures(connection, user_name: str, ip: str, since: dt.datetime) -> tuple[int, int]:  # noqa: ANN001
        """Failed (or still being evaluated) sign-ins within the window: for the user since their last success,
        and from the address."""
        failed = (signin_attempts.c.ok.is_(False)) & (signin_attempts.c.at >= since)
        last_ok = connection.execute(select(func.max(signin_attempts.c.at)).where(
            signin_attempts.c.user_name == user_name, signin_attempts.c.ok.is_(True),
            signin_attempts.c.at >= since)).scalar()
        by_user = select(func.count()).where(failed, signin_attempts.c.user_name == user_name)
        if last_ok is not None:
            by_user = by_user.where(signin_attempts.c.at > last_ok)
        by_ip = select(func.count()).where(failed, signin_attempts.c.ip == ip)
        return connection.execute(by_user).scalar() or 0, connection.execute(by_ip).scalar() or 0

    @staticmethod
    def _count_refusal(connection, scope: str, key: str, user_name: str, now: dt.datetime,  # noqa: ANN001
                       since: dt.datetime) -> None:
        """One `sign_in_locked` audit row per locked key and window, its `times` the tries refused."""
        where = (signin_throttle.c.scope == scope) & (signin_throttle.c.key == key)
        audit_id, locked_since = connection.execute(select(signin_throttle.c.locked_audit_id,
                                                           signin_throttle.c.locked_since).where(where)).one()
        if audit_id is not None and _aware(locked_since) >= since:
            connection.execute(audit_log.update().where(audit_log.c.id == audit_id)
                               .values(times=audit_log.c.times + 1))
            return
        audit_id = connection.execute(audit_log.insert().values(
            at=now, user_name=user_name, action="sign_in_locked", target=f"{scope}:{key}")).inserted_primary_key[0]
        connection.execute(signin_throttle.update().where(where).values(locked_audit_id=audit_id, locked_since=now))
