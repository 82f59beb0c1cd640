"""The knowledge base as a P&T committee reads it (issue 12, Governance): every rule and fact with its source, whether
it is verified, who checked it and when, and its next review. `GET /api/v1/knowledge` (any API token) gives it as
JSON; the `/knowledge` page (pharmacists and admins, web/pages.py) shows the same listing. Both are read-only.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping

from flask import Blueprint, current_app, g, request

from adapters.reviews import ReviewStore
from stewardship.governance import KINDS, STATUSES, FileReview, Item, catalogue, file_reviews

from .errors import ApiError

bp = Blueprint("knowledge", __name__)


def _items() -> list[Item]:
    """The catalogue of what the service loaded at start-up, built once per app."""
    cached = current_app.extensions.get("knowledge_catalogue")
    if cached is None:
        settings = current_app.config["SETTINGS"]
        engine = current_app.extensions["engine"]
        cached = (catalogue(engine.kb, engine.rulebook, settings.config_dir),
                  file_reviews(engine.kb, settings.config_dir))
        current_app.extensions["knowledge_catalogue"] = cached
    return cached[0]


def _reviews() -> list[FileReview]:
    _items()
    return current_app.extensions["knowledge_catalogue"][1]


def read_filters(args: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """`status` (verified | unverified) and `kind` from the query; the second dict names each bad field."""
    chosen = {"status": args.get("status", ""), "kind": args.get("kind", "")}
    errors = {}
    if chosen["status"] not in ("", *STATUSES):
        errors["status"] = f"one of {', '.join(STATUSES)}"
    if chosen["kind"] not in ("", *KINDS):
        errors["kind"] = f"one of {', '.join(KINDS)}"
    return chosen, errors


def listing(filters: Mapping[str, str], today: dt.date) -> dict:
    """The listing: counts over everything, the reviews (overdue first), and the items the filters keep."""
    items = _items()
    kept = [i for i in items if (not filters.get("status") or i.status == filters["status"])
            and (not filters.get("kind") or i.kind == filters["kind"])]
    reviews = _reviews()
    return {
        "version": current_app.extensions["kb"].version,
        "asOf": today.isoformat(),
        "counts": {"items": len(items), "verified": sum(i.status == "verified" for i in items),
                   "unverified": sum(i.status == "unverified" for i in items),
                   "noReviewRecorded": sum(i.review is None for i in items),
                   "byKind": dict(sorted(Counter(i.kind for i in items).items()))},
        "reviews": [{"file": r.what, "checkedBy": r.review.checked_by, "checkedOn": r.review.checked_on.isoformat(),
                     "nextReview": r.review.next_review.isoformat(), "overdue": r.overdue(today)}
                    for r in sorted(reviews, key=lambda r: (not r.overdue(today), r.review.next_review, r.what))],
        "filters": {k: v or None for k, v in filters.items()},
        "items": [i.as_json(today) for i in kept],
    }


@bp.get("/knowledge")
def knowledge_api():
    filters, errors = read_filters(request.args)
    if errors:
        raise ApiError(400, "validation_failed", "unknown filter value", errors)
    user = getattr(g, "user", None)
    ReviewStore(current_app.extensions["store"].engine).audit(user.name if user else None, "view_knowledge",
                                                              f"api:status={filters['status']} kind={filters['kind']}")
    return listing(filters, dt.date.today())
