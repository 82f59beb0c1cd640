"""Drug look-up for people and forms: autocomplete (`?q=`) and what an input resolves to (contract 2.5)."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from stewardship.terminology import Resolution, Resolver

from .errors import ApiError

bp = Blueprint("drugs", __name__)
RESOLVE_BY = ("text", "rxcui", "ndc")


def resolver() -> Resolver:
    return current_app.extensions["resolver"]


def resolution_json(result: Resolution) -> dict:
    """As the check's `resolved` entries say it: `matchedBy` is rxcui, ndc, text or rxnav; `matchedHow` the detail
    (the term type of the code, or which kind of name matched); `assessed: false` marks an ingredient the knowledge
    base has no stewardship facts for."""
    return {
        "input": result.input,
        "ingredients": [{"name": i.name, "rxcui": i.rxcui, "strength": i.strength.as_json() if i.strength else None,
                         "assessed": i.known} for i in result.ingredients],
        "doseForm": result.dose_form,
        "route": result.route,
        "productRxcui": result.product_rxcui,
        "matchedBy": result.identified_by,
        "matchedHow": result.matched_by,
    }


@bp.get("/drugs")
def search():
    query = request.args.get("q", "")
    if len(query.strip()) < 2:
        raise ApiError(400, "validation_failed", "the query is too short", {"q": "give at least 2 characters"})
    return {"query": query, "results": resolver().search(query, limit=20)}


@bp.get("/drugs/resolve")
def resolve():
    given = {name: request.args[name] for name in RESOLVE_BY if request.args.get(name)}
    if len(given) != 1:
        why = "give exactly one of text, rxcui or ndc"
        raise ApiError(400, "validation_failed", why, {name: why for name in RESOLVE_BY})
    (by, value), = given.items()
    terminology = resolver()
    result = {"text": terminology.resolve_text, "rxcui": terminology.resolve_rxcui,
              "ndc": terminology.resolve_ndc}[by](value)
    if not result.resolved:
        raise ApiError(404, "not_found", result.reason, extra={"input": result.input, "reason": result.reason})
    return resolution_json(result)
