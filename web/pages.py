"""The pages for people (contract section 4): sign-in, the prescriber's form and results, the pharmacist's review
queue, a check's page with its decisions, and rule statistics. Server-rendered; every value goes through Jinja's
autoescape, and the only markup added to stored text is `render.markdown_lite`'s, after escaping.

Every page view and decision is written to the audit log.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from adapters.reviews import DECISIONS, REVIEW_SEVERITIES, ReviewStore
from stewardship.model import CATEGORIES, SEVERITIES
from stewardship.services import check_regimen

from . import check_form, render, sessions
from .errors import ApiError
from .observability import count_findings
from .reviews import REVIEWER_ROLES, DecisionSchema
from .schemas import CheckSchema, field_errors

# CSS and script under /assets: the app itself owns /static
bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")
bp.before_request(sessions.load_person)
bp.before_request(sessions.require_csrf)
bp.after_request(sessions.security_headers)
bp.add_app_template_filter(render.markdown_lite, "markdown")
bp.add_app_template_filter(render.safe_url, "safe_url")
bp.add_app_template_filter(check_form.label, "label")
bp.add_app_template_filter(render.line_label, "line_label")

_CHECK_SCHEMA = CheckSchema()
AGE_FILTERS = (65, 75, 85)


@bp.context_processor
def _page_globals() -> dict:
    return {"person": g.get("person"), "csrf_token": sessions.csrf_token, "reviewer_roles": REVIEWER_ROLES,
            "severities": SEVERITIES, "decisions": DECISIONS}


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
    name, password = request.form.get("name", "").strip()[:64], request.form.get("password", "")
    address = request.remote_addr
    store = reviews()
    by_user, by_address = store.signin_failures(name, address, sessions.SIGNIN_WINDOW)
    if by_user >= sessions.MAX_USER_FAILURES or by_address >= sessions.MAX_IP_FAILURES:
        store.audit(name, "sign_in_locked", address)
        message = (f"Too many failed sign-ins. Wait {sessions.SIGNIN_WINDOW.seconds // 60} minutes and try again, "
                   "or ask an admin.")
        return render_template("signin.html", next_page=next_page, name=name, message=message), 429
    user = current_app.extensions["store"].get_user(name)
    ok = sessions.password_matches(user, password)
    store.record_signin(name, address, ok)
    if not ok:
        return render_template("signin.html", next_page=next_page, name=name,
                               message="That name and password do not match an account."), 401
    sessions.start_session(user)
    store.audit(user.name, "sign_in", address)
    return redirect(next_page or url_for("pages.queue" if user.role in REVIEWER_ROLES else "pages.index"), 303)


@bp.post("/signout")
def signout():
    if g.person is not None:
        reviews().audit(g.person.name, "sign_out")
    session.clear()
    return redirect(url_for("pages.signin"), 303)


# the prescriber's form
@bp.route("/", methods=["GET", "POST"])
@sessions.signed_in()
def index():
    if request.method == "GET":
        return render_template("form.html", typed=check_form.CheckForm(), errors={}, form=check_form)
    typed = check_form.read_form(request.form)
    body = check_form.check_body(typed)
    try:
        check_request = _CHECK_SCHEMA.load(body)
    except ValidationError as error:
        errors = check_form.form_errors(field_errors(error.messages))
        return render_template("form.html", typed=typed, errors=errors, form=check_form), 400
    response = check_regimen(current_app.extensions["engine"], current_app.extensions["store"], check_request, body,
                             g.person.name, source="web")
    count_findings(response["findings"])
    reviews().audit(g.person.name, "create_check", f"check:{response['id']}")
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
    if stored is None:
        abort(404, f"There is no check {check_id}.")
    if g.person.role not in REVIEWER_ROLES and stored["requester"] != g.person.name:
        abort(403, "Prescribers can open the checks they made themselves.")
    return stored


def _check_page(stored: dict, decision_errors: dict[str, str], typed_decision: dict[str, str]):
    store = reviews()
    is_reviewer = g.person.role in REVIEWER_ROLES
    store.audit(g.person.name, "view_check", f"check:{stored['id']}")
    return render_template("check.html", stored=stored, response=stored["response"],
                           burden=render.burden_rows(stored["response"]), decision_history=store.decisions(stored["id"]),
                           feedback=store.feedback(stored["id"]) if is_reviewer else [], is_reviewer=is_reviewer,
                           decision_errors=decision_errors, typed_decision=typed_decision)


@bp.get("/checks/<check_id>")
@sessions.signed_in()
def check_page(check_id: str):
    return _check_page(_viewable_check(check_id), {}, {})


@bp.post("/checks/<check_id>/decision")
@sessions.signed_in(*REVIEWER_ROLES)
def decide(check_id: str):
    stored = _viewable_check(check_id)
    typed = {"decision": request.form.get("decision", ""), "note": request.form.get("note", "").strip()}
    try:
        data = DecisionSchema().load({"decision": typed["decision"], "note": typed["note"] or None})
    except ValidationError as error:
        return _check_page(stored, field_errors(error.messages), typed), 400
    if reviews().add_decision(check_id, data["decision"], data["note"], g.person.name) is None:
        abort(404, "This check has no warning or critical finding, so it is not a review item.")
    flash(f"Decision recorded: {check_form.label(data['decision'])}.")
    return redirect(url_for("pages.check_page", check_id=check_id), 303)


# the pharmacist's queue and the rules' record
@bp.get("/reviews")
@sessions.signed_in(*REVIEWER_ROLES)
def queue():
    status = request.args.get("status", "open")
    severity, category = request.args.get("severity", ""), request.args.get("category", "")
    min_age = request.args.get("age", "")
    if status not in ("open", "closed", "all") or severity not in ("", *REVIEW_SEVERITIES) \
            or category not in ("", *CATEGORIES) or min_age not in ("", *map(str, AGE_FILTERS)):
        abort(400, "Unknown filter value.")
    items = [item for item in reviews().items(status)
             if (not severity or item["maxSeverity"] == severity) and (not category or category in item["categories"])
             and (not min_age or (item["ageYears"] is not None and item["ageYears"] >= int(min_age)))]
    reviews().audit(g.person.name, "view_queue", f"status={status} severity={severity} category={category} "
                                                 f"age={min_age}")
    return render_template("reviews.html", items=items, status=status, severity=severity, category=category,
                           min_age=min_age, categories=CATEGORIES, review_severities=REVIEW_SEVERITIES,
                           age_filters=AGE_FILTERS)


@bp.get("/rules")
@sessions.signed_in(*REVIEWER_ROLES)
def rules():
    store = reviews()
    store.audit(g.person.name, "view_rules")
    return render_template("rules.html", stats=store.rule_statistics())
