"""The pages for people (contract section 4): sign-in, the prescriber's form and results, the pharmacist's review
queue, a check's page with its decisions, and rule statistics. Server-rendered; every value goes through Jinja's
autoescape, and the only markup added to stored text is `render.markdown_lite`'s, after escaping.

Every page view and decision is written to the audit log.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from adapters.reviews import (
    CLAIM_FILTERS,
    DECISIONS,
    INTERVENTIONS,
    REVIEW_SEVERITIES,
    ClaimTaken,
    ReviewStore,
    UnknownFindings,
)
from stewardship.model import CATEGORIES, SEVERITIES
from stewardship.services import check_regimen

from . import check_form, knowledge, render, sessions
from .access import may_see
from .cds_cards import CATEGORY_LABELS
from .checks import seconds_until_next_check
from .errors import ApiError
from .observability import count_findings
from .reviews import (
    PAGE_SIZE,
    REVIEWER_ROLES,
    DecisionSchema,
    csv_response,
    record_decision,
    review_priority,
    unknown_findings_message,
    waited,
)
from .schemas import CheckSchema, field_errors

# CSS and script under /assets: the app itself owns /static
bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")
bp.before_request(sessions.load_person)
bp.before_request(sessions.require_csrf)
bp.after_request(sessions.security_headers)
bp.add_app_template_filter(render.markdown_lite, "markdown")
bp.add_app_template_filter(render.safe_url, "safe_url")
bp.add_app_template_filter(check_form.label, "label")
bp.add_app_template_filter(check_form.field_words, "field_words")
bp.add_app_template_filter(render.line_label, "line_label")
for _helper in (render.with_line_words, render.sources, render.renal_inputs, render.plural, render.number):
    bp.add_app_template_filter(_helper, _helper.__name__.removeprefix("with_"))
bp.add_app_template_filter(waited, "waited")

_CHECK_SCHEMA = CheckSchema()
AGE_FILTERS = (65, 75, 85)


@bp.context_processor
def _page_globals() -> dict:
    return {"person": g.get("person"), "csrf_token": sessions.csrf_token, "reviewer_roles": REVIEWER_ROLES,
            "severities": SEVERITIES, "decisions": DECISIONS, "interventions": INTERVENTIONS}


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException):
    return render_template("error.html", error=error), error.code or 500


def reviews() -> ReviewStore:
    return ReviewStore(current_app.extensions["store"].engine)


# sign-in
@bp.route("/signin", methods=["GET", "POST"])
def signin():
    next_page = sessions.safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("signin.html", next_page=next_page, name="", message=None)
    name, password = sessions.recorded(request.form.get("name", "").strip()), request.form.get("password", "")
    # the client's address: the socket's, or the one the trusted proxies forwarded (STEWARDSHIP_TRUSTED_PROXIES)
    address = sessions.recorded(request.remote_addr or "unknown")
    store = reviews()
    attempt = store.reserve_signin(name, address, sessions.SIGNIN_WINDOW, sessions.MAX_USER_FAILURES,
                                   sessions.MAX_IP_FAILURES)
    if attempt is None:  # counted on one audit row per locked name or address (reserve_signin)
        message = (f"Too many failed sign-ins. Wait {sessions.SIGNIN_WINDOW.seconds // 60} minutes and try again, "
                   "or ask an admin.")
        return render_template("signin.html", next_page=next_page, name=name, message=message), 429
    user = sessions.authenticate(name, password)
    if user is None:
        store.audit(name, "sign_in_failed", f"address:{address}")  # the name tried, never the password
        return render_template("signin.html", next_page=next_page, name=name,
                               message="That name and password do not match an account."), 401
    store.signin_succeeded(attempt)
    sessions.start_session(user)
    store.audit(user.name, "sign_in", address)
    return redirect(next_page or url_for("pages.queue" if user.role in REVIEWER_ROLES else "pages.index"), 303)


@bp.post("/signout")
def signout():
    if g.person is not None:
        reviews().audit(g.person.name, "sign_out")
    sessions.end_session()
    return redirect(url_for("pages.signin"), 303)


# the prescriber's form
@bp.route("/", methods=["GET", "POST"])
@sessions.signed_in()
def index():
    if request.method == "GET":
        return render_template("form.html", typed=check_form.CheckForm(), errors={}, form=check_form)
    previous = request.form.get("previousCheckId") or None
    if previous is not None:
        _viewable_check(previous)  # a re-check links only to a check its author may open
    typed = check_form.read_form(request.form)
    body = check_form.check_body(typed)
    try:
        check_request = _CHECK_SCHEMA.load(body)
    except ValidationError as error:
        errors = check_form.form_errors(field_errors(error.messages))
        return render_template("form.html", typed=typed, errors=errors, form=check_form, previous=previous), 400
    return _keep_check(check_request, body, previous)


def _keep_check(check_request, body: dict, previous: str | None):
    """Run and keep a check made on a page. A re-check keeps the check it follows in its stored request
    (`previousCheckId`: in the stored JSON only, never in the API's schema), so that its page says what changed."""
    wait = seconds_until_next_check(g.person.name)
    if wait is not None:
        abort(429, f"Too many checks in the last minute. Wait {wait} seconds and submit again.")
    kept = {**body, "previousCheckId": previous} if previous else body
    response = check_regimen(current_app.extensions["engine"], current_app.extensions["store"], check_request, kept,
                             g.person.name, source="web")
    count_findings(response["findings"])
    return redirect(url_for("pages.check_page", check_id=response["id"]), 303)


@bp.get("/drugs/suggest")
def suggest():
    """Drug names for the form's autocomplete (a `<datalist>`); for signed-in people only."""
    if g.person is None:
        raise ApiError(401, "unauthorized", "sign in first")
    query = request.args.get("q", "")
    return {"query": query, "results": current_app.extensions["resolver"].search(query, limit=10)}


# a check, its review and its decisions
def _viewable_check(check_id: str) -> dict:
    stored = reviews().check(check_id)
    if stored is None or not may_see(g.person, stored["requester"]):
        # Another prescriber's check answers as one that does not exist: its id says nothing (issue 13, item 16).
        abort(404, f"There is no check {check_id} among the checks you may open.")
    return stored


def _check_page(stored: dict, decision_errors: dict[str, str], typed_decision: dict[str, str]):
    store = reviews()
    is_reviewer = g.person.role in REVIEWER_ROLES
    store.audit(g.person.name, "view_check", f"check:{stored['id']}")
    return render_template("check.html", stored=stored, response=stored["response"],
                           burden=render.burden_rows(stored["response"]), decision_history=store.decisions(stored["id"]),
                           feedback=store.feedback(stored["id"]) if is_reviewer else [], is_reviewer=is_reviewer,
                           decision_errors=decision_errors, typed_decision=typed_decision,
                           claim=store.claim_of(stored["id"]), **_result_parts(stored))


def _result_parts(stored: dict) -> dict:
    """The result's own parts (issue 14): the action summary, the lines as ordered and as understood, and what
    changed since the check this one re-checks (where it is still there and this person may open it)."""
    request_json = stored["request"]
    previous_id = request_json.get("previousCheckId") if isinstance(request_json, dict) else None
    previous = reviews().check(previous_id) if isinstance(previous_id, str) else None
    if previous is not None and not may_see(g.person, previous["requester"]):
        previous = None
    return {"actions": render.action_rows(stored, _orderables()), "lines": render.line_rows(request_json,
                                                                                             stored["response"]),
            "editable": check_form.editable(request_json), "previous": previous,
            "changes": render.changes(previous, stored) if previous else None,
            "has_taper": bool(render.tapers(stored["response"])), "renal_bases": render.RENAL_BASES,
            "category_words": CATEGORY_LABELS}


def _orderables() -> dict:
    """The orders a suggestion adds (config/cds_hooks.yaml), so a page and a CDS card propose the same order."""
    return current_app.extensions["cds"].orderables


@bp.get("/checks/<check_id>")
@sessions.signed_in()
def check_page(check_id: str):
    return _check_page(_viewable_check(check_id), {}, {})


@bp.get("/checks/<check_id>/edit")
@sessions.signed_in()
def edit_check(check_id: str):
    """The form filled in as it was for this check; submitting it makes a re-check linked to this one."""
    stored = _viewable_check(check_id)
    if not check_form.editable(stored["request"]):
        abort(404, "This check came from an EHR through CDS Hooks: change the order there and sign it again.")
    typed, left_out = check_form.form_from_request(stored["request"])
    return render_template("form.html", typed=typed, errors={}, form=check_form, previous=check_id,
                           left_out=left_out)


@bp.post("/checks/<check_id>/apply")
@sessions.signed_in()
def apply_suggestion(check_id: str):
    """One click: a suggestion applied to the check's lines (a line stopped, replaced or added), checked again."""
    stored = _viewable_check(check_id)
    chosen = render.suggestion_at(stored["response"], request.form.get("suggestion", ""))
    applied = check_form.apply_suggestion(stored["request"], chosen, _orderables()) \
        if chosen and check_form.editable(stored["request"]) else None
    if applied is None:
        abort(400, "That suggestion is no change to a line of this check: edit the check instead.")
    body, done = applied
    try:
        check_request = _CHECK_SCHEMA.load(body)
    except ValidationError as error:  # the stored request was valid, so the change is at fault: show it in the form
        typed, left_out = check_form.form_from_request(body)
        errors = check_form.form_errors(field_errors(error.messages))
        return render_template("form.html", typed=typed, errors=errors, form=check_form, previous=check_id,
                               left_out=left_out), 400
    flash(f"Applied: {done}. Checked again.")
    return _keep_check(check_request, body, check_id)


@bp.get("/checks/<check_id>/taper")
@sessions.signed_in()
def taper_sheet(check_id: str):
    """The patient's sheet for the tapers a check suggests: dated steps in plain words, to print and hand over."""
    stored = _viewable_check(check_id)
    tapers = render.tapers(stored["response"])
    if not tapers:
        abort(404, "This check suggests no taper.")
    reviews().audit(g.person.name, "view_taper_sheet", f"check:{check_id}")
    return render_template("taper.html", stored=stored, tapers=tapers)


@bp.post("/checks/<check_id>/decision")
@sessions.signed_in(*REVIEWER_ROLES)
def decide(check_id: str):
    stored = _viewable_check(check_id)
    typed = {"decision": request.form.get("decision", ""), "note": request.form.get("note", "").strip(),
             "intervention": request.form.get("intervention", ""), "findings": request.form.getlist("findings")}
    try:
        data = DecisionSchema().load({"decision": typed["decision"], "note": typed["note"] or None,
                                      "intervention": typed["intervention"] or None, "findings": typed["findings"]})
        decision = record_decision(check_id, data, g.person.name)
    except ValidationError as error:
        return _check_page(stored, field_errors(error.messages), typed), 400
    except UnknownFindings as error:
        return _check_page(stored, {"findings": unknown_findings_message(error)}, typed), 400
    if decision is None:
        abort(404, "This check has no warning or critical finding, so it is not a review item.")
    flash(f"Decision recorded: {check_form.label(data['decision'])}.")
    return redirect(url_for("pages.check_page", check_id=check_id), 303)


# the pharmacist's queue and the rules' record
@bp.get("/reviews")
@sessions.signed_in(*REVIEWER_ROLES)
def queue():
    status = request.args.get("status", "open")
    severity, category = request.args.get("severity", ""), request.args.get("category", "")
    min_age, offset = request.args.get("age", ""), request.args.get("offset", "0")
    patient, claimed = request.args.get("q", "").strip(), request.args.get("claimed", "")
    sweep = request.args.get("sweep", "")  # a population sweep's flagged patients (issue 16)
    if not (sweep == "" or (sweep.isdigit() and len(sweep) <= 9)):
        abort(400, "Unknown filter value.")
    if status not in ("open", "closed", "all") or severity not in ("", *REVIEW_SEVERITIES) \
            or category not in ("", *CATEGORIES) or min_age not in ("", *map(str, AGE_FILTERS)) \
            or not (offset.isdigit() and len(offset) <= 7) or len(patient) > 200 or claimed not in ("", *CLAIM_FILTERS):
        abort(400, "Unknown filter value.")
    priority = review_priority()
    items, more = reviews().items(priority, status, PAGE_SIZE, int(offset), severity or None, category or None,
                                  int(min_age) if min_age else None, patient or None, claimed or None,
                                  g.person.name, int(sweep) if sweep else None)
    reviews().audit(g.person.name, "view_queue", f"status={status} severity={severity} category={category} "
                                                 f"age={min_age} claimed={claimed}{' q' if patient else ''}")
    return render_template("reviews.html", items=items, status=status, severity=severity, category=category,
                           min_age=min_age, categories=CATEGORIES, review_severities=REVIEW_SEVERITIES,
                           patient=patient, claimed=claimed, claim_filters=CLAIM_FILTERS, sweep=sweep,
                           priority=priority, age_filters=AGE_FILTERS, first=int(offset) + 1,
                           previous_offset=max(int(offset) - PAGE_SIZE, 0) if int(offset) else None,
                           next_offset=int(offset) + PAGE_SIZE if more else None)


@bp.post("/reviews/<check_id>/claim")
@sessions.signed_in(*REVIEWER_ROLES)
def claim(check_id: str):
    """Claim (`action=claim`) or release (`action=release`) an item, then back to the page it was done from."""
    action, back = request.form.get("action", ""), sessions.safe_next(request.form.get("next"))
    store = reviews()
    try:
        if action == "claim":
            if store.claim(check_id, g.person.name) is None:
                abort(404, f"There is no review item {check_id}.")
            flash("Claimed: this item is yours to review.")
        elif action == "release":
            if not store.release(check_id, g.person.name, anyones=g.person.role == "admin"):
                abort(404, f"Review item {check_id} is not claimed.")
            flash("Claim released.")
        else:
            abort(400, "Say claim or release.")
    except ClaimTaken as taken:
        flash(f"Not claimed: this item is already {taken}.")
    return redirect(back or url_for("pages.check_page", check_id=check_id), 303)


@bp.get("/reviews/decisions.csv")
@sessions.signed_in(*REVIEWER_ROLES)
def decisions_csv():
    return csv_response(g.person.name, "web")


@bp.get("/my/checks")
@sessions.signed_in()
def my_checks():
    """The checks the signed-in person made, with what the pharmacist decided on each (issue 14, the loop)."""
    offset = request.args.get("offset", "0")
    if not (offset.isdigit() and len(offset) <= 7):
        abort(400, "Unknown page.")
    store = reviews()
    found, more = store.checks_by(g.person.name, PAGE_SIZE, int(offset))
    store.audit(g.person.name, "view_my_checks", f"offset={offset}")
    return render_template("my_checks.html", found=found, first=int(offset) + 1,
                           previous_offset=max(int(offset) - PAGE_SIZE, 0) if int(offset) else None,
                           next_offset=int(offset) + PAGE_SIZE if more else None)


@bp.get("/sweeps")
@sessions.signed_in(*REVIEWER_ROLES)
def sweeps():
    """The population sweeps made (`stewardship sweep`), each with its flagged patients in the queue (issue 16)."""
    from .sweeps import sweep_store

    reviews().audit(g.person.name, "view_sweeps")
    return render_template("sweeps.html", sweeps=sweep_store().list())


@bp.get("/rules")
@sessions.signed_in(*REVIEWER_ROLES)
def rules():
    store = reviews()
    store.audit(g.person.name, "view_rules")
    return render_template("rules.html", stats=store.rule_statistics())


@bp.get("/knowledge")
@sessions.signed_in(*REVIEWER_ROLES)
def knowledge_page():
    """Every rule and fact with its source, verification status, reviewer and next review (web/knowledge.py)."""
    filters, errors = knowledge.read_filters(request.args)
    if errors:
        abort(400, "Unknown filter value: " + "; ".join(f"{k} must be {v}" for k, v in errors.items()) + ".")
    reviews().audit(g.person.name, "view_knowledge", f"status={filters['status']} kind={filters['kind']}")
    return render_template("knowledge.html", listing=knowledge.listing(filters, dt.date.today()),
                           kinds=knowledge.KINDS, statuses=knowledge.STATUSES)
