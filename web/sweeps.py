"""Population sweeps over the JSON API (issue 16): the sweeps made (`stewardship sweep`), newest first, and one
sweep's worklist. For pharmacists and admins, like the review queue whose items a sweep's flagged patients are."""
from __future__ import annotations

from flask import Blueprint, current_app, url_for

from adapters.sweeps import SweepStore

from .errors import ApiError
from .reviews import _reviewer_name, review_priority, review_store

bp = Blueprint("sweeps", __name__)


def sweep_store() -> SweepStore:
    return SweepStore(current_app.extensions["store"].engine)


def _links(sweep: dict) -> dict:
    return {**sweep, "worklist": url_for(".worklist", sweep_id=sweep["id"]),
            "queue": url_for("api_v1.reviews.list_reviews", sweep=sweep["id"])}


@bp.get("/sweeps")
def list_sweeps():
    reviewer = _reviewer_name()
    review_store().audit(reviewer, "view_sweeps", "api")
    return {"sweeps": [_links(sweep) for sweep in sweep_store().list()]}


@bp.get("/sweeps/<sweep_id>/worklist")
def worklist(sweep_id: str):
    """Every patient the sweep reviewed, most urgent first, as the CLI writes it to --out."""
    reviewer = _reviewer_name()
    store = sweep_store()
    sweep = store.get(int(sweep_id)) if sweep_id.isdigit() and len(sweep_id) <= 9 else None
    if sweep is None:
        raise ApiError(404, "not_found", f"no sweep {sweep_id}")
    review_store().audit(reviewer, "view_sweep", f"api:sweep:{sweep_id}")
    return {"sweep": _links(sweep), "worklist": list(store.worklist(sweep["id"], review_priority()))}
