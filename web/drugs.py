"""Drug look-up for people and forms: autocomplete (`?q=`) and what an input resolves to (contract 2.5)."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from stewardship.terminology import Resolution, Resolver

from .errors import ApiError

bp = Blueprint("drugs", __name__)


def resolver() -> Resolver:
    return current_app.extensions["resolver"]


def resolution_json(result: Resolution) -> dict:
    return {
        "input": result.input,
        "ingredients": [{"name": i.name, "rxcui": i.rxcui,
                         "strength": i.strength.as_json() if i.strength else None} for i in result.ingredients],
        "doseForm": result.dose_form,
        "route": result.route,
        "productRxcui": result.product_rxcui,
        "matchedBy": result.matched_by,
    }


@bp.get("/drugs")
def search():
    query = request.args.get("q", "")
    if len(query.strip()) < 2:
        raise ApiError(400, "validation_failed", "the query is too short", {"q": "give at least 2 characters"})
    return {"query": query, "results": resolver().search(query, limit=20)}


@bp.get("/drugs/resolve")
def resolve():
    text, rxcui = request.args.get("text"), request.args.get("rxcui")
    if bool(text) == bool(rxcui):
        raise ApiError(400, "validation_failed", "give exactly one of text or rxcui",
                       {"text": "text or rxcui is required (not both)", "rxcui": "text or rxcui is required (not both)"})
    result = resolver().resolve_rxcui(rxcui) if rxcui else resolver().resolve_text(text)
    if not result.resolved:
        raise ApiError(404, "not_found", result.reason, extra={"input": result.input, "reason": result.reason})
    return resolution_json(result)
