"""`GET /openapi.json`: the API described for integrators (OpenAPI 3.1), generated from what the app runs.

One source: request bodies and query strings are the marshmallow schemas the routes load (apispec's
MarshmallowPlugin: fields, required, lengths, ranges, enums and `metadata["description"]`), and the paths are the
app's URL rules. What is written here is only what those cannot say:

- FIELD_SHAPES: the JSON shape of the custom fields of web/schemas.py (a drug is a string or a Coding, a dose a
  Quantity {value, unit}, a condition a keyword or a record ...), built from the constants their validation uses;
- DESCRIBED_ELSEWHERE: descriptions of fields of schemas outside web/schemas.py (reviews, reminders);
- RESPONSE_SHAPES: responses, which the engine and the stores build as dicts (nothing loads them);
- _operations(): per route (by endpoint) its summary, its request schema and its responses.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Blueprint, Flask, current_app
from marshmallow import Schema, fields

import stewardship
from stewardship import units
from stewardship.actions import ACTION_ORDER
from stewardship.dosing import FREQUENCY_HELP
from stewardship.governance import KINDS, STATUSES
from stewardship.model import CATEGORIES, CONDITIONS, ROUTES, SEVERITIES
from stewardship.prescribable import NDC_SYSTEM
from stewardship.terminology import RXNORM_SYSTEM

from .cds_hooks import ContextSchema, FeedbackItemSchema, FeedbackSchema, FhirAuthorizationSchema, HookRequestSchema
from .reminders import CompleteSchema, DueQuerySchema
from .reviews import DecisionSchema, PageQuerySchema, QueueQuerySchema
from .schemas import (
    _ROUTE_WORDS,
    ICD10CM,
    MAX_CODE_DIGITS,
    MAX_CODE_LENGTH,
    SNOMED,
    CheckSchema,
    ConditionField,
    DoseField,
    DrugField,
    FrequencyField,
    LineSchema,
    OutcomeSchema,
    PatientSchema,
    ProcedurePlanSchema,
    ProcedureSchema,
    QuantityField,
    RouteField,
)

bp = Blueprint("openapi", __name__)

# Every schema a route loads from a JSON body, by its component name (leaves first: a nested schema is named here
# before the schema that nests it). Query strings are schemas too, expanded into parameters in _operations().
REQUEST_SCHEMAS: dict[str, type[Schema]] = {
    "DrugLine": LineSchema, "Outcome": OutcomeSchema, "PlannedProcedure": ProcedureSchema, "Patient": PatientSchema,
    "CheckRequest": CheckSchema, "ProcedurePlanRequest": ProcedurePlanSchema, "ReminderOutcome": CompleteSchema,
    "ReviewDecision": DecisionSchema, "FhirAuthorization": FhirAuthorizationSchema, "HookContext": ContextSchema,
    "HookRequest": HookRequestSchema, "FeedbackItem": FeedbackItemSchema, "Feedback": FeedbackSchema,
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# ------------------------------------------------------------------------------------ custom fields, as JSON
QUANTITY = {"type": "object", "required": ["value", "unit"], "additionalProperties": False,
            "properties": {"value": {"type": "number", "minimum": 0}, "unit": {"type": "string", "maxLength": 32}}}
CODING = {"type": "object", "required": ["system", "code"], "additionalProperties": False,
          "description": "a drug coded in RxNorm or NDC",
          "properties": {"system": {"type": "string", "enum": [RXNORM_SYSTEM, NDC_SYSTEM]},
                         "code": {"type": "string", "minLength": 1,
                                  "description": f"an RxNorm code has at most {MAX_CODE_DIGITS} digits; an NDC is 11 "
                                                 "digits or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1"},
                         "display": {"type": "string", "maxLength": 200}}}


def _range_notes(field: fields.Field) -> list[str]:
    """A quantity's plausible range is checked in its canonical unit, which JSON Schema cannot say of {value, unit}:
    the validator's own message says it (e.g. "a body weight between 0.5 and 500 kg")."""
    return [v.error for v in field.validators if getattr(v, "error", None)]


def _quantity(field: QuantityField) -> dict:
    return {**_ref("Quantity"),
            "description": "; ".join([field.dimension.examples, *_range_notes(field)])}


_DOSE_UNITS = "; ".join(d.examples for d in (units.MASS, units.COUNT, units.DOSE_RATE, units.VOLUME))


def _dose(field: DoseField) -> dict:
    return {**_ref("Quantity"), "description": f"{_DOSE_UNITS}; above 0"}


def _drug(field: DrugField) -> dict:
    return {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 200}, _ref("Coding")]}


def _frequency(field: FrequencyField) -> dict:
    return {"oneOf": [{"type": "string", "minLength": 1, "description": FREQUENCY_HELP},
                      {"type": "object", "required": ["timesPerDay"], "additionalProperties": False,
                       "properties": {"timesPerDay": {"type": "number", "exclusiveMinimum": 0, "maximum": 48}}}]}


def _route(field: RouteField) -> dict:
    return {"type": "string", "enum": list(ROUTES),
            "description": f"also taken as written: {', '.join(_ROUTE_WORDS)} (answered with the canonical word)"}


def _condition(field: ConditionField) -> dict:
    record = {"keyword": {"type": "string", "enum": list(CONDITIONS)},
              "system": {"type": "string", "enum": [SNOMED, ICD10CM]},
              "code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE_LENGTH},
              "display": {"type": "string", "minLength": 1, "maxLength": 300},
              "text": {"type": "string", "minLength": 1, "maxLength": 300,
                       "description": "what a clinician wrote, matched as a whole phrase when no code is known"},
              "status": {"type": "string", "enum": list(ConditionField.STATUSES), "default": "active"}}
    return {"oneOf": [
        {"type": "string", "enum": list(CONDITIONS), "description": "a keyword"},
        {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": record,
         "description": "a record: a keyword (alone), a system and code, or a text; with its status"}]}


# The custom fields' shapes (checked against their validation in tests/integration/test_openapi.py). A shape's
# description follows the field's own (its metadata), if any.
FIELD_SHAPES: dict[type[fields.Field], Callable[[Any], dict]] = {
    QuantityField: _quantity, DoseField: _dose, DrugField: _drug, FrequencyField: _frequency, RouteField: _route,
    ConditionField: _condition,
}

# Descriptions of fields whose schemas live beside their routes (web/reviews.py, web/reminders.py): by (schema,
# field), and checked to name real fields. They belong in those fields' metadata, as in web/schemas.py.
DESCRIBED_ELSEWHERE: dict[tuple[type[Schema], str], str] = {
    (DecisionSchema, "note"): "required unless approved",
    (DecisionSchema, "intervention"): "what the pharmacist did",
    (DecisionSchema, "findings"): "codes of the check's findings this decision acts on (rule statistics credit only "
                                  "these); a code the check lacks is a 400 naming `findings`",
    (QueueQuerySchema, "q"): "items whose patient id starts with this",
    (QueueQuerySchema, "claimed"): "mine: claimed by the caller; unassigned: claimed by nobody",
    (QueueQuerySchema, "sweep"): "the items of one population sweep (its id, GET /api/v1/sweeps)",
    (CompleteSchema, "date"): "the outcome counts from this day, else from today but never after the reminder's "
                              "due date",
}


def _custom_field(self: Any, field: fields.Field, ret: dict, **_: Any) -> dict:
    """apispec attribute function: a custom field's shape replaces what apispec guessed from its base class."""
    shape_of = next((shape for kind, shape in FIELD_SHAPES.items() if isinstance(field, kind)), None)
    if shape_of is None:
        return {}
    for guessed in ("type", "enum", "format", "x-minimum", "x-maximum"):  # a quantity's range: its description
        ret.pop(guessed, None)
    shape = shape_of(field)
    notes = [note for note in (ret.get("description"), shape.pop("description", None)) if note]
    if field.allow_none:  # load_default=None: null is taken as "not given"
        shape = {"anyOf": [shape, {"type": "null"}]}
    return {**shape, "description": "; ".join(notes)} if notes else shape


def _query_value(self: Any, field: fields.Field, ret: dict, **_: Any) -> dict:
    """apispec parameter function: a query parameter is given or absent, never null (load_default=None means
    absent), so the JSON body's `null` is taken out of its schema."""
    schema = ret["schema"]
    if isinstance(schema.get("type"), list):
        schema["type"] = next(kind for kind in schema["type"] if kind != "null")
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    if schema.get("default", ...) is None:
        del schema["default"]
    return {}


def _described_elsewhere(self: Any, field: fields.Field, ret: dict, **_: Any) -> dict:
    text = DESCRIBED_ELSEWHERE.get((type(field.parent), field.name))
    return {"description": text} if text else {}


# ------------------------------------------------------------------------------------ responses, as dicts
# Responses are built by the engine and the stores, not loaded by a schema: their shapes are described here.
RESPONSE_SHAPES: dict[str, dict] = {
    "Error": {"type": "object", "required": ["error", "message"],
              "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                             "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                        "description": "every bad field, by path (e.g. regimen[0].dose.unit)"}}},
    "Finding": {"type": "object", "properties": {
        "id": {"type": "string"}, "code": {"type": "string", "description": "see docs/findings.md"},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "drugs": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string", "maxLength": 139}, "detail": {"type": "string", "format": "markdown"},
        "evidence": {"type": "array", "items": {"type": "object", "properties": {
            "citation": {"type": "string"}, "url": {"type": "string"}}}},
        "suggestions": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "action": {"type": "string", "enum": list(ACTION_ORDER)}}}},
        "lines": {"type": "array", "items": {"type": "string"}}}},
    "Check": {"type": "object", "properties": {
        "id": {"type": "string"}, "asOf": {"type": "string", "format": "date"},
        "derived": {"type": "object", "description": "ageYears, crclMlMin, renalBasis, mmePerDay, "
                                                     "acetaminophenMgPerDay, acetaminophenMaxMgPerDay, "
                                                     "acetaminophenRemainingMgPerDay, burden, lines (per-line "
                                                     "contributions), conditions, continued"},
        "findings": {"type": "array", "items": _ref("Finding")},
        "reminders": {"type": "array", "items": {"type": "object"}},
        "resolved": {"type": "array", "items": {"type": "object"}}}},
}


# ------------------------------------------------------------------------------------ operations, by endpoint
_ERRORS = {400: "invalid input: every bad field is named; nothing is stored", 401: "no or invalid bearer token",
           404: "not found (also a check or reminder that is another prescriber's)",
           409: "conflicts with what is recorded (nothing changed)",
           429: "too many checks this minute for this user (STEWARDSHIP_CHECKS_PER_MINUTE); the Retry-After header "
                "says when to retry"}
_NOT_A_REVIEWER = {"403": {"description": "not a pharmacist or admin"}}


def _errors(*codes: int) -> dict:
    return {str(code): {"description": _ERRORS[code], "content": {"application/json": {"schema": _ref("Error")}}}
            for code in codes}


def _body(schema: type[Schema]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema()}}}


def _json(description: str, schema: str | None = None) -> dict:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _query(schema: type[Schema]) -> dict:
    return {"in": "query", "schema": schema()}


def _operations() -> dict[str, dict[str, dict]]:
    """Each served route's operations by endpoint (built anew for each spec: apispec resolves schemas in place)."""
    return {
        "health.healthz": {"get": {
            "security": [], "summary": "liveness: {status}; with the service and knowledge-base versions and the "
                                       "database state unless STEWARDSHIP_OPS_TOKEN_REQUIRED=on (then for a valid "
                                       "API token only)",
            "responses": {"200": {"description": "up"}, "503": {"description": "database down"}}}},
        "metrics": {"get": {
            "security": [], "summary": "Prometheus metrics: request latency by route, findings by code and severity, "
                                       "overrides by code (an API token is required when "
                                       "STEWARDSHIP_OPS_TOKEN_REQUIRED=on)",
            "responses": {"200": {"description": "Prometheus text format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors(401)}}},
        "cds_hooks.discovery": {"get": {
            "security": [], "summary": "CDS Hooks 2.0 discovery (order-select, order-sign)",
            "responses": {"200": {"description": "{services: [...]}"}}}},
        "cds_hooks.call_service": {"post": {
            "summary": "a CDS Hooks call (order-select / order-sign): FHIR R4 draft orders and prefetch in, cards "
                       "out; authorized by the EHR's signed JWT",
            "requestBody": _body(HookRequestSchema),
            "responses": {"200": {"description": "{cards: [...]}"},
                          "412": {"description": "required data neither prefetched nor fetchable"},
                          **_errors(400, 401, 404)}}},
        "cds_hooks.feedback": {"post": {
            "summary": "CDS Hooks feedback: accepted suggestions and overrides with reasons",
            "requestBody": _body(FeedbackSchema),
            "responses": {"200": {"description": "stored"}, **_errors(400, 401, 404)}}},
        "api_v1.whoami": {"get": {
            "summary": "the token's user and role (a no-op JSON route)",
            "responses": {"200": {"description": "the user"}, **_errors(401)}}},
        "api_v1.checks.create_check": {"post": {
            "summary": "check a proposed regimen (stored)", "requestBody": _body(CheckSchema),
            "responses": {"201": _json("the check", "Check"), **_errors(400, 401, 429)}}},
        "api_v1.checks.get_check": {"get": {
            "summary": "a stored check, as returned when it was made (a prescriber's token: their own checks)",
            "responses": {"200": _json("the check", "Check"), **_errors(401, 404)}}},
        "api_v1.checks.create_procedure_plan": {"post": {
            "summary": "the hold / restart plan alone for the patient's planned procedures (ASRA Pain Medicine "
                       "guidance): the check's body, regimen optional; not stored",
            "requestBody": _body(ProcedurePlanSchema),
            "responses": {"200": {"description": "{asOf, procedures: [{procedure, date, level, tier, drugs: [{drug, "
                                                 "hold, stopOn, restartOn, tooLate, consultPrescriber, checkInr, "
                                                 "intervalUnknown, verified (false: a label minimum read only in a "
                                                 "secondary copy), labelMinimum (true: the FDA label's own minimum, "
                                                 "read in the label text, not the ASRA interval), guidance: [{note, "
                                                 "unverified, labelFloor, ...}]}]}]}"},
                          **_errors(400, 401)}}},
        "api_v1.reminders.list_reminders": {"get": {
            "summary": "stopping-rule reminders due on or before a date (status due: not completed); a "
                       "prescriber's token lists those scheduled by their own checks",
            "parameters": [_query(DueQuerySchema)],
            "responses": {"200": {"description": "{status, before, reminders: [{id, patientId, drug, kind, due, "
                                                 "startDate, rule, message, status}]}"},
                          **_errors(400, 401)}}},
        "api_v1.reminders.complete": {"post": {
            "summary": "record whether the drug helped; the outcome joins the patient's record (a prescriber's "
                       "token: the reminders of their own checks)",
            "description": "The same answer again is a no-op; the other answer is a 409.",
            "requestBody": _body(CompleteSchema),
            "responses": {"200": {"description": "the completed reminder"}, **_errors(400, 401, 404, 409)}}},
        "api_v1.drugs.search": {"get": {
            "summary": "autocomplete over names, brands and synonyms (up to 20)",
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 2}}],
            "responses": {"200": {"description": "results: [{name, rxcui, kind}]"}, **_errors(400, 401)}}},
        "api_v1.drugs.resolve": {"get": {
            "summary": "what a drug input resolves to (give exactly one of text, rxcui or ndc)",
            "parameters": [{"name": "text", "in": "query", "schema": {"type": "string"}},
                           {"name": "rxcui", "in": "query", "schema": {"type": "string"}},
                           {"name": "ndc", "in": "query", "schema": {"type": "string"},
                            "description": "11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1"}],
            "responses": {"200": {"description": "{input, ingredients: [{name, rxcui, strength, assessed}], "
                                                 "doseForm, route, productRxcui, matchedBy, matchedHow}"},
                          "404": {"description": "{input, reason}: not identified"}, **_errors(400, 401)}}},
        "api_v1.knowledge.knowledge_api": {"get": {
            "summary": "every rule and fact of the knowledge base with its source, verification status (verified, "
                       "or unverified with the reason: such a fact raises info at most), who checked it and when, "
                       "and its next review; the review blocks, overdue first (any API token)",
            "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                           {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(KINDS)}}],
            "responses": {"200": {"description": "{version, asOf, counts: {items, verified, unverified, "
                                                 "noReviewRecorded, byKind}, reviews: [{file, checkedBy, checkedOn, "
                                                 "nextReview, overdue}], filters, items: [{kind, subject, statement, "
                                                 "note, status, unverifiedReason, file, sources: [{id, citation, "
                                                 "url}], checkedBy, checkedOn, nextReview, overdue}]}"},
                          **_errors(400, 401)}}},
        "api_v1.sweeps.list_sweeps": {"get": {
            "summary": "the population sweeps made with `stewardship sweep` (a FHIR Bulk Data export reviewed "
                       "patient by patient at one as-of date), newest first (pharmacist or admin token)",
            "responses": {"200": {"description": "{sweeps: [{id, asOf, startedAt, finishedAt (null until a run "
                                                 "completes), runs, runningUntil (while a run is under way: until "
                                                 "when its hold lasts unless renewed; else null), folder, files, "
                                                 "patients (in the export), checked "
                                                 "(patients reviewed), flagged (warning or critical), unreadable "
                                                 "(lines and resources not read), seconds, worklist (its URL), queue "
                                                 "(the review queue filtered to it)}]}"},
                          **_NOT_A_REVIEWER, **_errors(401)}}},
        "api_v1.sweeps.worklist": {"get": {
            "summary": "every patient a sweep reviewed, most urgent first (as the review queue orders: critical, "
                       "warning, the rest; then priority; then patient id), as the CLI writes it (pharmacist or "
                       "admin token)",
            "parameters": [{"name": "sweep_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "{sweep (as listed), worklist: [{priority, patient_id, check_id, "
                                                 "severity (the worst finding's, or null), code, summary (of the "
                                                 "worst finding), age_years, crcl_ml_min, unreadable}]}"},
                          **_NOT_A_REVIEWER, **_errors(401, 404)}}},
        "api_v1.reviews.list_reviews": {"get": {
            "summary": "the pharmacist's review queue: every check with a warning or critical finding, open (no "
                       "decision yet) first, most severe first, then by priority = severity x patient risk x "
                       "actionability (pharmacist or admin token; a prescriber's is 403)",
            "parameters": [_query(QueueQuerySchema)],
            "responses": {"200": {"description": "one page: {status, limit, offset, nextOffset (null on the last "
                                                 "page), next (the next page's URL, or null), reviews: [{id (the "
                                                 "check's), createdAt, requester, patientId, maxSeverity, status, "
                                                 "priority, ageYears, crclMlMin, hasSuggestions, waitingSeconds "
                                                 "(until now, or until the decision in force), claim ({claimedBy, "
                                                 "claimedAt} or null), categories, findings (every warning and "
                                                 "critical: {code, category, severity, summary}), decision}]}"},
                          **_NOT_A_REVIEWER, **_errors(400, 401)}}},
        "api_v1.reviews.review_item": {"get": {
            "summary": "one review item with its whole decision trail (oldest first; the last is in force), the "
                       "EHR's feedback and the findings (pharmacist or admin token)",
            "responses": {"200": {"description": "{id, createdAt, requester, source, maxSeverity, status, claim, "
                                                 "decisions, feedback, findings}"},
                          **_NOT_A_REVIEWER, **_errors(401, 404)}}},
        "api_v1.reviews.decide": {"post": {
            "summary": "record a decision on a review item; decisions are appended, a newer one supersedes",
            "requestBody": _body(DecisionSchema),
            "responses": {"201": {"description": "{id, checkId, decision, note, decidedBy, decidedAt, intervention, "
                                                 "findings}; with a decision webhook configured its signed "
                                                 "notification is queued in the same transaction"},
                          **_NOT_A_REVIEWER, **_errors(400, 401, 404)}}},
        "api_v1.reviews.claim_item": {"post": {
            "summary": "claim a review item (pharmacist or admin token); claiming one's own claim again changes "
                       "nothing; of two concurrent claims exactly one wins",
            "responses": {"200": {"description": "{checkId, claimedBy, claimedAt}"}, **_NOT_A_REVIEWER,
                          **_errors(400, 401, 404),
                          "409": {"description": "claimed by someone else: {error, message, claim}"}}}},
        "api_v1.reviews.release_item": {"delete": {
            "summary": "release a claim: one's own, or anyone's with an admin token",
            "responses": {"204": {"description": "released"}, **_NOT_A_REVIEWER, **_errors(400, 401, 404),
                          "409": {"description": "another pharmacist's claim: {error, message, claim}"}}}},
        "api_v1.reviews.export_decisions": {"get": {
            "summary": "every review decision as CSV, oldest first, superseded ones too (in_force says which holds); "
                       "a cell starting with = + - @ tab or CR gets a leading apostrophe so that spreadsheets show "
                       "it as text (pharmacist or admin token)",
            "responses": {"200": {"description": "columns: decision_id, decided_at, decided_by, check_id, "
                                                 "check_created_at, patient_id, requester, max_severity, decision, "
                                                 "intervention, findings (codes, '; '-separated), note, in_force "
                                                 "(yes/no)",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **_NOT_A_REVIEWER, **_errors(401)}}},
        "api_v1.reviews.my_checks": {"get": {
            "summary": "the caller's own checks, newest first, each with its review status and the pharmacist's "
                       "decision in force with its note (any token)",
            "parameters": [_query(PageQuerySchema)],
            "responses": {"200": {"description": "{limit, offset, nextOffset, next, checks: [{id, createdAt, "
                                                 "patientId, source, maxSeverity, findings: {critical, warning, info} "
                                                 "(counts), review (not_needed | open | decided), claim, decision "
                                                 "({decision, note, intervention, findings, decidedBy, decidedAt} or "
                                                 "null)}]}"},
                          **_errors(400, 401)}}},
    }


# ------------------------------------------------------------------------------------ the document
def _component_name(schema: Any) -> str:
    """Nested schemas are named from REQUEST_SCHEMAS: one not named there is a KeyError, not an anonymous copy."""
    return {kind: name for name, kind in REQUEST_SCHEMAS.items()}[resolve_schema_cls(schema)]


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: `/checks/<check_id>` is `/checks/{check_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def build(app: Flask) -> dict:
    """The OpenAPI document of `app`: its URL rules, with the operations above and the schemas they load."""
    plugin = MarshmallowPlugin(schema_name_resolver=_component_name)
    spec = APISpec(title="stewardship", version=stewardship.__version__, openapi_version="3.1.0", plugins=[plugin],
                   info={"description": "Medication stewardship checker for pain care. Contract: shared/contract.md; "
                                        "finding codes: docs/findings.md."},
                   security=[{"bearer": []}])
    plugin.converter.add_attribute_function(_custom_field)
    plugin.converter.add_attribute_function(_described_elsewhere)
    plugin.converter.add_parameter_attribute_function(_query_value)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "a token from `stewardship tokens create NAME`"})
    for name, shape in {"Quantity": QUANTITY, "Coding": CODING, **RESPONSE_SHAPES}.items():
        spec.components.schema(name, shape)
    for name, schema in REQUEST_SCHEMAS.items():
        spec.components.schema(name, schema=schema())

    operations = _operations()
    paths: dict[str, dict[str, dict]] = {}
    path_parameters: dict[str, list[dict]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in operations:
            path = openapi_path(rule.rule)
            paths.setdefault(path, {}).update(operations.pop(rule.endpoint))
            path_parameters[path] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                                     for name in sorted(rule.arguments)]
    if operations:
        raise LookupError(f"documented but not served: {', '.join(sorted(operations))}")
    for path, by_method in paths.items():
        spec.path(path=path, operations=by_method, parameters=path_parameters[path])
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    document = current_app.extensions.get("openapi")
    if document is None:  # built once per app: the schemas and routes do not change while it runs
        document = current_app.extensions["openapi"] = build(current_app)
    return document
