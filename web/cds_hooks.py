"""CDS Hooks 2.0: discovery, `order-select` / `order-sign`, and feedback (contract section 3).

A hook call becomes a check: the draft orders are the regimen, the patient's context comes from prefetch or, where
prefetch left a key out, from the EHR's FHIR server. The check is stored like any other; its findings come back as
cards. A card already shown at order-select is not shown again at order-sign for the unchanged order (to the same
user in the same encounter), and an order created by accepting a suggestion does not bring back the card that
proposed it. A repeated hookInstance gets the first answer again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from flask import Blueprint, current_app, request
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from adapters.cds_auth import JwtRejected
from adapters.fhir import (FhirInputError, PatientFacts, medication_line, read_conditions, read_observations,
                           read_patient, resources)
from adapters.fhir_client import FhirClient, FhirUnavailable
from stewardship.model import CheckRequest, Patient
from stewardship.services import check_and_keep

from .cds_cards import DraftOrder, card, edge_card, fingerprint, suggestions_with_actions
from .errors import ApiError
from .observability import OVERRIDES, count_findings
from .schemas import field_errors

bp = Blueprint("cds_hooks", __name__)
HOOKS = ("order-select", "order-sign")
REQUIRED_CONTEXT = ("patient", "conditions", "medications")  # without these the check means little: 412
REPEAT_WINDOW = dt.timedelta(hours=24)  # an order-select card is not repeated at order-sign within this time
# (to the same user in the same encounter: another prescriber signing the order has not seen it)


class FhirAuthorizationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String(load_default=None)


class ContextSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    userId = fields.String(required=True, validate=validate.Length(min=1))
    patientId = fields.String(required=True, validate=validate.Length(min=1))
    encounterId = fields.String(load_default=None)
    draftOrders = fields.Dict(required=True)
    selections = fields.List(fields.String(), load_default=None)

    @validates_schema
    def _draft_orders_are_a_bundle(self, data: dict, **_: object) -> None:
        if data["draftOrders"].get("resourceType") != "Bundle":
            raise ValidationError("draftOrders must be a FHIR Bundle", "draftOrders")


class HookRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # extension and future fields are tolerated, as the specification asks

    hook = fields.String(required=True, validate=validate.OneOf(HOOKS))
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=100))
    fhirServer = fields.Url(load_default=None, require_tld=False)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, load_default=None)
    context = fields.Nested(ContextSchema, required=True)
    prefetch = fields.Dict(load_default=dict)

    @validates_schema
    def _conditional_fields(self, data: dict, **_: object) -> None:
        if data.get("fhirAuthorization") and not data.get("fhirServer"):
            raise ValidationError("fhirServer is required with fhirAuthorization", "fhirServer")


class CodingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    system = fields.String(load_default=None)
    code = fields.String(required=True)
    display = fields.String(load_default=None)


class FeedbackItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    card = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "overridden")))
    acceptedSuggestions = fields.List(fields.Dict(), load_default=list)
    overrideReason = fields.Dict(load_default=None)
    outcomeTimestamp = fields.String(required=True)

    @validates_schema
    def _accepted_names_its_suggestions(self, data: dict, **_: object) -> None:
        if data["outcome"] == "accepted" and not data["acceptedSuggestions"]:
            raise ValidationError("accepted feedback names the accepted suggestions", "acceptedSuggestions")
        for index, suggestion in enumerate(data["acceptedSuggestions"]):
            if not isinstance(suggestion.get("id"), str):
                raise ValidationError({index: ["each accepted suggestion has an id"]}, "acceptedSuggestions")
        reason = (data.get("overrideReason") or {}).get("reason")
        if reason is not None:
            try:
                CodingSchema().load(reason)
            except ValidationError as error:
                raise ValidationError({"reason": error.messages}, "overrideReason") from None


class FeedbackSchema(Schema):
    class Meta:
        unknown = RAISE

    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True, validate=validate.Length(min=1))


# ---------------------------------------------------------------------------------------------------- routes
@bp.after_request
def _cors(response):  # noqa: ANN001, ANN202 - browser-based CDS clients (the CDS Hooks sandbox) call cross-origin
    if request.path.startswith("/cds-services"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


@bp.route("/cds-services", methods=["GET", "OPTIONS"])
def discovery():
    config = current_app.extensions["cds"]
    return {"services": [{"hook": service.hook, "id": service.id, "title": service.title,
                          "description": service.description, "usageRequirements": config.usage_requirements,
                          "prefetch": config.prefetch}
                         for service in config.services.values()]}


def _authenticate() -> None:
    settings = current_app.config["SETTINGS"]
    if not settings.auth:
        return
    base = (settings.public_url or request.host_url).rstrip("/")
    try:
        current_app.extensions["cds_verifier"].verify(request.headers.get("Authorization"), base + request.path)
    except JwtRejected as error:
        raise ApiError(401, "unauthorized", "the CDS client could not be authenticated",
                       extra={"reason": error.reason}) from None


def _service(service_id: str):  # noqa: ANN202
    service = current_app.extensions["cds"].services.get(service_id)
    if service is None:
        raise ApiError(404, "not_found", f"no CDS service {service_id}")
    return service


@bp.route("/cds-services/<service_id>", methods=["POST", "OPTIONS"])
def call_service(service_id: str):
    if request.method == "OPTIONS":
        return "", 204
    service = _service(service_id)
    _authenticate()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "validation_failed", "the body must be a JSON object", {"(body)": "expected JSON"})
    try:
        call = HookRequestSchema().load(body)
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the hook request has invalid fields",
                       field_errors(error.messages)) from None
    if call["hook"] != service.hook:
        raise ApiError(400, "validation_failed", "wrong hook for this service",
                       {"hook": f"service {service.id} answers {service.hook}"})
    if call["hook"] == "order-select" and not call["context"]["selections"]:
        raise ApiError(400, "validation_failed", "order-select needs selections",
                       {"context.selections": "at least one selected order (Type/id)"})
    store = current_app.extensions["store"]
    answered = store.hook_response(call["hookInstance"])
    if answered is not None:
        return answered
    return _answer(service, call, body)


def _answer(service, call: dict, body: dict) -> dict:  # noqa: ANN001
    config, store = current_app.extensions["cds"], current_app.extensions["store"]
    context = call["context"]
    patient_id = context["patientId"]
    drafts = _drafts(context["draftOrders"])
    data, fetch_failures = _patient_data(call, config)
    facts = PatientFacts()
    kb = current_app.extensions["kb"]
    if data.get("patient"):
        try:
            read_patient(data["patient"], facts)
        except FhirInputError as error:
            facts.unreadable.append(str(error))
    read_conditions(resources(data.get("conditions"), "Condition"), facts, kb)
    read_observations(sum((resources(data.get(k), "Observation") for k in ("creatinine", "egfr", "weight")), []),
                      facts)
    draft_ids = {d.id for d in drafts.values()}
    medications = []
    for index, raw in enumerate(r for r in resources(data.get("medications"), "MedicationRequest")
                                if r.get("id") not in draft_ids):
        try:
            medications.append(medication_line(raw, f"patient.medications[{len(medications)}]", True,
                                               f"prefetch.medications[{index}]")[1])
        except FhirInputError as error:
            facts.unreadable.append(str(error))
    check_request = CheckRequest(
        patient=Patient(id=patient_id, birth_date=facts.birth_date, sex=facts.sex, weight_kg=facts.weight_kg,
                        serum_creatinine_mg_dl=facts.serum_creatinine_mg_dl, egfr_ml_min=facts.egfr_ml_min,
                        conditions=tuple(facts.conditions), medications=tuple(medications)),
        regimen=tuple(dataclasses.replace(d.line, ref=ref) for ref, d in drafts.items()),
        as_of=dt.datetime.now(dt.timezone.utc).date())
    stored_request = {k: v for k, v in body.items() if k != "fhirAuthorization"}  # access tokens are never kept
    result, domain = check_and_keep(current_app.extensions["engine"], store, check_request, stored_request,
                                    context["userId"], source=f"cds:{call['hook']}")
    check_url = f"{(current_app.config['SETTINGS'].public_url or request.host_url).rstrip('/')}/checks/{result['id']}"
    count_findings(result["findings"])
    cards, rows = _cards(domain.findings, call, drafts, patient_id, result, check_url)
    for key, reason in fetch_failures:
        cards.append(edge_card(f"Not checked: {key} could not be read from the FHIR server ({reason})",
                               f"The service asked the EHR's FHIR server for `{key}` and got no usable answer "
                               f"({reason}); findings that need it were NOT checked.", "warning", config, check_url))
    if facts.unreadable:
        cards.append(edge_card("Some FHIR data could not be read and was not checked",
                               "Not used:\n" + "\n".join(f"- {item}" for item in facts.unreadable[:20]), "info",
                               config, check_url))
    response = {"cards": cards}
    return store.save_hook_call(call["hookInstance"], service.id, call["hook"], result["id"], patient_id, response,
                                rows)


class _Draft:
    def __init__(self, order: DraftOrder, line) -> None:  # noqa: ANN001
        self.order, self.line, self.id = order, line, order.id


def _drafts(bundle: dict) -> dict[str, _Draft]:
    config = current_app.extensions["cds"]
    drafts: dict[str, _Draft] = {}
    for index, entry in enumerate(bundle.get("entry") or []):
        raw = (entry or {}).get("resource") or {}
        if raw.get("resourceType") != "MedicationRequest":
            continue
        ref = f"regimen[{len(drafts)}]"
        try:
            order_id, line = medication_line(raw, ref, False, f"context.draftOrders.entry[{index}].resource")
        except FhirInputError as error:
            raise ApiError(400, "validation_failed", "a draft order could not be read",
                           {error.field: error.message}) from None
        marker = next((i.get("value") for i in raw.get("identifier") or []
                       if i.get("system") == config.suggestion_system), None)
        drafts[ref] = _Draft(DraftOrder(ref, order_id or ref, raw, marker), line)
    if not drafts:
        raise ApiError(400, "validation_failed", "no MedicationRequest among the draft orders",
                       {"context.draftOrders": "a Bundle with at least one MedicationRequest"})
    return drafts


def _patient_data(call: dict, config) -> tuple[dict, list[tuple[str, str]]]:  # noqa: ANN001
    """Prefetch first; what it left out, from the FHIR server; 412 when required data cannot be had at all."""
    prefetch = call["prefetch"] or {}
    data, missing = {}, []
    for key in config.prefetch:
        value = prefetch.get(key, ...)
        if value is ... or (isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"):
            missing.append(key)
        else:
            data[key] = value  # None means "the EHR has no data": not missing
    failures: list[tuple[str, str]] = []
    if not missing:
        return data, failures
    if not call.get("fhirServer"):
        required = [key for key in missing if key in REQUIRED_CONTEXT]
        if required:
            raise ApiError(412, "precondition_failed", "prefetch is missing and no fhirServer was given",
                           {f"prefetch.{key}": "not prefetched and not fetchable" for key in required})
        return data, failures
    token = (call.get("fhirAuthorization") or {}).get("access_token")
    client = FhirClient(call["fhirServer"], token, current_app.config["SETTINGS"].fhir_timeout)
    try:
        for key in missing:
            query = config.prefetch[key].replace("{{context.patientId}}", call["context"]["patientId"])
            try:
                data[key] = client.get(query)
            except FhirUnavailable as error:
                failures.append((key, str(error)))
    finally:
        client.close()
    return data, failures


def _cards(findings, call: dict, drafts: dict[str, _Draft], patient_id: str, result: dict,  # noqa: ANN001
           check_url: str) -> tuple[list[dict], list[dict]]:
    config, store = current_app.extensions["cds"], current_app.extensions["store"]
    orders = {ref: d.order for ref, d in drafts.items()}
    if call["hook"] == "order-select":
        selected = {s.split("/")[-1] for s in call["context"]["selections"]}
        focus = {ref for ref, d in drafts.items() if d.id in selected}
        findings = [f for f in findings if focus.intersection(f.lines)]
    context = call["context"]
    seen_by = f"{context['userId']}|{context.get('encounterId') or ''}"
    prints = {id(f): fingerprint(patient_id, f, orders, seen_by) for f in findings}
    already = set()
    if call["hook"] == "order-sign":
        since = dt.datetime.now(dt.timezone.utc) - REPEAT_WINDOW
        already = store.cards_shown(patient_id, list(prints.values()), "order-select", since)
    origins = store.suggestion_origins(patient_id, {d.order.created_by_suggestion for d in drafts.values()
                                                    if d.order.created_by_suggestion})
    by_origin = {ref: origins.get(d.order.created_by_suggestion) for ref, d in drafts.items()}
    cards, rows, seen = [], [], set()
    for finding in findings:
        print_ = prints[id(finding)]
        if finding.category == "unresolved":
            # Issue 5: in the EHR, what does not map is an info card, never an interruption (an EHR's list is full
            # of drugs and problems outside pain care); the native API keeps the contract's warning for a drug line.
            finding = dataclasses.replace(finding, severity="info")
        if print_ in already:
            continue  # shown at order-select for the same, unchanged order
        if any(by_origin.get(ref) == finding.code for ref in finding.lines):
            continue  # this order was created by accepting this card's own suggestion
        ours = [ref for ref in finding.lines if ref in drafts and drafts[ref].order.created_by_suggestion]
        if ours and len(ours) == len([ref for ref in finding.lines if ref in drafts]) and finding.severity == "info":
            continue  # a note about an order the service itself proposed: not worth a card
        key = (finding.code, finding.drugs)
        if key in seen:
            continue
        seen.add(key)
        actions = suggestions_with_actions(finding, config, orders, patient_id, result["derived"])
        shown = card(finding, config, check_url, actions)
        cards.append(shown)
        rows.append({"uuid": shown["uuid"], "fingerprint": print_, "code": finding.code,
                     "category": finding.category, "indicator": finding.severity, "summary": finding.summary,
                     "suggestions": [{"uuid": a["uuid"], "label": a["label"]} for a in actions]})
    return cards, rows


@bp.route("/cds-services/<service_id>/feedback", methods=["POST", "OPTIONS"])
def feedback(service_id: str):
    if request.method == "OPTIONS":
        return "", 204
    _service(service_id)
    _authenticate()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "validation_failed", "the body must be a JSON object", {"(body)": "expected JSON"})
    try:
        items = FeedbackSchema().load(body)["feedback"]
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the feedback has invalid fields",
                       field_errors(error.messages)) from None
    for code in current_app.extensions["store"].add_feedback(service_id, items):
        OVERRIDES.labels(code).inc()
    return {}
