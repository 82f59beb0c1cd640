"""CDS Hooks 2.0: discovery, `order-select` / `order-sign`, and feedback (contract section 3).

A hook call becomes a check: the draft orders are the regimen, the patient's context comes from prefetch or, where
prefetch left a key out, from the EHR's FHIR server. The check is stored like any other; its findings come back as
cards (web/cds_cards.py: by default one per draft order). A card already shown at order-select is not shown again at
order-sign for the unchanged order (to the same user in the same encounter), and an order created by accepting a
suggestion does not bring back the card that proposed it. A repeated hookInstance gets the first answer again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from flask import Blueprint, current_app, g, request
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from adapters.cds_auth import JwtRejected, TrustedIssuer
from adapters.fhir import (
    FhirInputError,
    PatientFacts,
    included_medications,
    medication_references,
    read_medication,
    resources,
)
from adapters.fhir_client import FhirClient, FhirUnavailable, encode_token
from adapters.fhir_intake import FhirRecord
from adapters.fhir_intake import check_request as fhir_check_request
from adapters.reviews import ReviewStore
from adapters.storage import HookCall, HookInstanceRepeated, HookInstanceTaken
from stewardship.model import markdown_text
from stewardship.services import keep_check, run_check

from .cds_cards import (
    DraftOrder,
    build_cards,
    card_fingerprint,
    edge_card,
    fingerprint,
    group_findings,
    orders_as_written,
)
from .checks import json_body
from .errors import ApiError
from .observability import OVERRIDES, count_findings
from .schemas import load_or_400

log = logging.getLogger(__name__)
bp = Blueprint("cds_hooks", __name__)
HOOKS = ("order-select", "order-sign")
REQUIRED_CONTEXT = ("patient", "conditions", "medications")  # without these the check means little: 412
# Prefetch keys whose resources are the patient's medications (all four FHIR medication resources; only
# `medications`, the MedicationRequests, is required). Medications they reference are read into REFERENCED.
MEDICATION_KEYS = ("medications", "medicationStatements", "medicationDispenses", "medicationAdministrations")
REFERENCED = "referencedMedications"
MAX_MEDICATION_READS = 20  # Medication resources read by reference in one hook call (each within the time budget)
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

    # Lengths as stored (checks.requester, patient_ref): PostgreSQL refuses longer values, so they are a 400 here.
    userId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    patientId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    encounterId = fields.String(load_default=None, validate=validate.Length(max=200))
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

    system = fields.String(load_default=None, validate=validate.Length(max=200))
    code = fields.String(required=True, validate=validate.Length(min=1, max=100))
    display = fields.String(load_default=None, validate=validate.Length(max=300))


class FeedbackItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    card = fields.String(required=True, validate=validate.Length(min=1, max=36))  # our card uuids
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "overridden")))
    acceptedSuggestions = fields.List(fields.Dict(), load_default=list, validate=validate.Length(max=50))
    overrideReason = fields.Dict(load_default=None)
    outcomeTimestamp = fields.String(required=True, validate=validate.Length(min=1, max=40))

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
                _CODING.load(reason)
            except ValidationError as error:
                raise ValidationError({"reason": error.messages}, "overrideReason") from None


class FeedbackSchema(Schema):
    class Meta:
        unknown = RAISE

    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True, validate=validate.Length(min=1))


# built once (a marshmallow schema is reusable; building one deep-copies its fields on every call)
_HOOK_REQUEST, _FEEDBACK, _CODING = HookRequestSchema(), FeedbackSchema(), CodingSchema()


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


def _authenticate() -> TrustedIssuer | None:
    """The calling EHR's trust entry (None with STEWARDSHIP_AUTH=off). The reason for a refusal is logged, not
    answered: the caller learns nothing about which issuers or keys exist."""
    settings = current_app.config["SETTINGS"]
    if not settings.auth:
        return None
    base = (settings.public_url or request.host_url).rstrip("/")
    try:
        issuer, _ = current_app.extensions["cds_verifier"].verify(request.headers.get("Authorization"),
                                                                  base + request.path)
    except JwtRejected as error:
        log.warning("CDS client refused: %s", error.reason)
        raise ApiError(401, "unauthorized", "the CDS client could not be authenticated") from None
    return issuer


def _audit(action: str, user: str | None, target: str) -> None:
    ReviewStore(current_app.extensions["store"].engine).audit((user or "")[:64] or None, action, target[:200])


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
    g.cds_issuer = _authenticate()
    body = json_body()
    call = load_or_400(_HOOK_REQUEST, body, "the hook request has invalid fields")
    if call["hook"] != service.hook:
        raise ApiError(400, "validation_failed", "wrong hook for this service",
                       {"hook": f"service {service.id} answers {service.hook}"})
    if call["hook"] == "order-select" and not call["context"]["selections"]:
        raise ApiError(400, "validation_failed", "order-select needs selections",
                       {"context.selections": "at least one selected order (Type/id)"})
    return _answer(service, call, body)


def _answered_before(call: dict) -> dict | None:
    """The answer already kept for this hookInstance (a repeated call gets it again), or None; a 409 when another
    CDS client used the hookInstance.

    Looked up only where the call would ask the EHR's FHIR server for what prefetch left out, so that a repeated
    call does not ask again. Otherwise (everything prefetched, or no FHIR server this EHR may name) a repeated call
    is found when its check is kept (the hookInstance is unique: HookInstanceRepeated) and answered the same; that
    saves every call a database round trip, and a repeat costs only the check, which is worked out again and not
    kept."""
    try:
        return current_app.extensions["store"].hook_response(call["hookInstance"], _issuer_name())
    except HookInstanceTaken:
        raise ApiError(409, "conflict", "this hookInstance was already used",
                       {"hookInstance": "each hook call needs a new hookInstance"}) from None


def _issuer_name() -> str | None:
    issuer = g.get("cds_issuer")
    return issuer.iss if issuer else None


def _answer(service, call: dict, body: dict) -> dict:  # noqa: ANN001
    config, store = current_app.extensions["cds"], current_app.extensions["store"]
    context = call["context"]
    patient_id = context["patientId"]
    now = dt.datetime.now(dt.timezone.utc)
    facts, draft_facts = PatientFacts(), PatientFacts()
    draft_raws = _draft_resources(context["draftOrders"], facts)
    # A draft that cannot be read is a 400 before any FHIR request. The drafts are read again only where prefetch or
    # the FHIR server brought Medication resources the draft bundle did not hold (a medicationReference to follow).
    sent = included_medications(context["draftOrders"])
    drafts = _drafts(draft_raws, sent, now, draft_facts)
    ordered = [raw for _, raw in draft_raws]
    data, missing, referenced = _prefetched(call, config, ordered)
    fetch_failures: list[tuple[str, str]] = []
    if missing or referenced:
        base = _fhir_server(call, g.get("cds_issuer"))
        if base is not None:  # the FHIR server would be asked: not for a call answered before
            answered = _answered_before(call)
            if answered is not None:
                return answered
        fetch_failures = _fetch(call, config, base, ordered, data, missing)
    known = included_medications(context["draftOrders"], *(data.get(k) for k in (*MEDICATION_KEYS, REFERENCED)))
    if known != sent:
        draft_facts = PatientFacts()
        drafts = _drafts(draft_raws, known, now, draft_facts)
    facts.unreadable.extend(draft_facts.unreadable)
    facts.incomplete.extend(draft_facts.incomplete)
    record = FhirRecord(patient_id, data.get("patient"), resources(data.get("conditions"), "Condition"),
                        sum((resources(data.get(k), "Observation") for k in ("creatinine", "egfr", "weight")), []),
                        [(k, data.get(k)) for k in MEDICATION_KEYS])
    regimen = [dataclasses.replace(d.line, ref=ref) for ref, d in drafts.items()]
    check_request = fhir_check_request(record, known, now, now.date(), current_app.extensions["engine"].resolver,
                                       facts, regimen, skip={f"MedicationRequest/{d.id}" for d in drafts.values()})
    engine = current_app.extensions["engine"]
    result, domain = run_check(engine, store, check_request)
    check_url = f"{(current_app.config['SETTINGS'].public_url or request.host_url).rstrip('/')}/checks/{result['id']}"
    cards, rows = _cards(domain.findings, call, drafts, patient_id, result, check_url)
    response = {"cards": cards + _unread_cards(fetch_failures, facts, config, check_url)}
    stored_request = {k: v for k, v in body.items() if k != "fhirAuthorization"}  # access tokens are never kept
    try:  # the check, the call and its cards: one transaction
        keep_check(engine, store, check_request, stored_request, result, domain, context["userId"],
                   f"cds:{call['hook']}", HookCall(call["hookInstance"], _issuer_name(), service.id, call["hook"],
                                                   response, rows))
    except HookInstanceRepeated:  # the same call, answered by a concurrent request first: that answer stands
        return _answered_before(call) or response
    count_findings(result["findings"])
    return response


def _unread_cards(fetch_failures: list[tuple[str, str]], facts: PatientFacts, config,  # noqa: ANN001
                  check_url: str) -> list[dict]:
    """The cards that say what was not checked: prefetch keys the FHIR server did not answer (a warning each;
    one for the medications recorded outside orders together), FHIR data that could not be read, and resources
    read although FHIR required elements were missing (info)."""
    cards = []
    optional_medications = [(key, reason) for key, reason in fetch_failures if key in MEDICATION_KEYS[1:]]
    for key, reason in [failure for failure in fetch_failures if failure not in optional_medications]:
        cards.append(edge_card(f"Not checked: {key} could not be read from the FHIR server ({reason})",
                               f"The service asked the EHR's FHIR server for `{key}` and got no usable answer "
                               f"({reason}); findings that need it were NOT checked.", "warning", config, check_url))
    if optional_medications:  # one card for the statements, dispenses and administrations it could not read
        cards.append(edge_card(
            "Not checked: medication statements, dispenses or administrations could not be read from the FHIR server",
            "The service asked the EHR's FHIR server for the medications recorded outside orders and got no usable "
            "answer:\n" + "\n".join(f"- `{key}`: {markdown_text(reason)}" for key, reason in optional_medications)
            + "\n\nA drug recorded only there was NOT checked against the order.", "warning", config, check_url))
    if facts.unreadable:
        cards.append(edge_card("Some FHIR data could not be read and was not checked",
                               "Not used:\n" + "\n".join(f"- {markdown_text(item)}" for item in facts.unreadable[:20]),
                               "info", config, check_url))
    if facts.incomplete:
        cards.append(edge_card("Read although FHIR required elements were missing",
                               "These resources lack elements FHIR requires but this check does not need; they were "
                               "read without them:\n"
                               + "\n".join(f"- {markdown_text(item)}" for item in facts.incomplete[:20]),
                               "info", config, check_url))
    return cards


class _Draft:
    def __init__(self, order: DraftOrder, line) -> None:  # noqa: ANN001
        self.order, self.line, self.id = order, line, order.id


def _draft_resources(bundle: dict, facts: PatientFacts) -> list[tuple[int, dict]]:
    """The draft MedicationRequests with their entry index. Other resource types (a lab order beside the drugs) are
    noted as not checked; a bundle without any MedicationRequest is a 400."""
    found = []
    for index, entry in enumerate(bundle.get("entry") or []):
        raw = entry.get("resource") if isinstance(entry, dict) else None
        kind = raw.get("resourceType") if isinstance(raw, dict) else None
        if kind == "MedicationRequest":
            found.append((index, raw))
        else:
            facts.unreadable.append(f"context.draftOrders.entry[{index}]: {kind or 'no resource'} is not a "
                                    "medication order; not checked")
    if not found:
        raise ApiError(400, "validation_failed", "no MedicationRequest among the draft orders",
                       {"context.draftOrders": "a Bundle with at least one MedicationRequest"})
    return found


def _drafts(draft_raws: list[tuple[int, dict]], known: dict[str, dict], now: dt.datetime,
            facts: PatientFacts) -> dict[str, _Draft]:
    """The draft orders as regimen lines. What FHIR requires but the check does not need (`intent`, `status`,
    `subject`) may be missing and is said; a draft that is not valid FHIR or names no medication is a 400."""
    config = current_app.extensions["cds"]
    drafts: dict[str, _Draft] = {}
    for index, raw in draft_raws:
        ref = f"regimen[{len(drafts)}]"
        where = f"context.draftOrders.entry[{index}].resource"
        try:
            record = read_medication(raw, ref, where, now, known, ordered=True)
        except FhirInputError as error:
            raise ApiError(400, "validation_failed", "a draft order could not be read",
                           {error.field: error.message}) from None
        if record.missing:
            facts.incomplete.append(f"{where} ({record.reference}): {', '.join(record.missing)} not given")
        facts.unreadable.extend(f"{where} ({record.reference}): {problem}" for problem in record.problems)
        marker = next((i.get("value") for i in raw.get("identifier") or []
                       if isinstance(i, dict) and i.get("system") == config.suggestion_system), None)
        drafts[ref] = _Draft(DraftOrder(ref, raw.get("id") or ref, raw, marker), record.line)
    return drafts


def _prefetched(call: dict, config, drafts: list[dict]) -> tuple[dict, list[str], list[str]]:  # noqa: ANN001
    """The prefetched data by key, the prefetch keys left out (or answered with an OperationOutcome), and the
    `Medication/<id>` references of drafts and medication records that no bundle brought."""
    prefetch = call["prefetch"] or {}
    data, missing = {}, []
    for key in config.prefetch:
        value = prefetch.get(key, ...)
        if value is ... or (isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"):
            missing.append(key)
        else:
            data[key] = value  # None means "the EHR has no data": not missing
    return data, missing, _unsent_medications(data, drafts, call["context"]["draftOrders"])


def _fhir_server(call: dict, issuer: TrustedIssuer | None) -> str | None:
    """The base URL of the call's fhirServer where the calling EHR's trust entry lists it; None: no FHIR request is
    made for this call (issue 13, SSRF; with STEWARDSHIP_AUTH=off there is no issuer)."""
    server = call.get("fhirServer")
    return issuer.allows_fhir_server(server) if issuer and server else None


def _fetch(call: dict, config, base: str | None, drafts: list[dict],  # noqa: ANN001
           data: dict, missing: list[str]) -> list[tuple[str, str]]:
    """What prefetch left out, from the FHIR server at `base` (`_fhir_server`: None when the calling issuer's trust
    entry does not list the call's fhirServer, and then nothing is asked), into `data`; 412 when required data cannot
    be had at all. Then the Medications that drafts and medication records reference but nobody sent (under
    REFERENCED, as a Bundle). The keys and references that could not be read, with why."""
    failures: list[tuple[str, str]] = []
    server = call.get("fhirServer")
    if base is None:
        why = "no fhirServer was given" if not server else "fhirServer is not one this EHR may name"
        required = [key for key in missing if key in REQUIRED_CONTEXT]
        if required:
            fields_ = {f"prefetch.{key}": "not prefetched and not fetchable" for key in required}
            if server:
                fields_["fhirServer"] = "not among the FHIR servers configured for this EHR; not contacted"
            raise ApiError(412, "precondition_failed", f"prefetch is missing and {why}", fields_)
        if server:
            failures.extend((key, "fhirServer not allowed for this EHR; not contacted") for key in missing)
        return failures
    settings = current_app.config["SETTINGS"]
    try:
        patient = encode_token(call["context"]["patientId"])
    except FhirUnavailable as error:
        return _fetch_refused(missing, str(error))
    token = (call.get("fhirAuthorization") or {}).get("access_token")
    client = FhirClient(base, token, settings.fhir_timeout, settings.fhir_budget, settings.fhir_max_bytes)
    try:
        for key in missing:
            try:
                data[key] = client.get(config.prefetch[key].replace("{{context.patientId}}", patient))
            except FhirUnavailable as error:
                failures.append((key, str(error)))
        found = []
        for reference in _unsent_medications(data, drafts, call["context"]["draftOrders"])[:MAX_MEDICATION_READS]:
            try:
                medication = client.get(f"Medication/{encode_token(reference.split('/', 1)[1])}")
            except FhirUnavailable as error:
                failures.append((reference, str(error)))
                continue
            if medication.get("resourceType") == "Medication":
                found.append({"resource": {**medication, "id": reference.split("/", 1)[1]}})
        if found:
            data[REFERENCED] = {"resourceType": "Bundle", "type": "collection", "entry": found}
    finally:
        client.close()
    return failures


def _unsent_medications(data: dict, drafts: list[dict], draft_bundle: dict) -> list[str]:
    """`Medication/<id>` references of drafts and medication records that no bundle brought."""
    records = [raw for key in MEDICATION_KEYS for kind in ("MedicationRequest", "MedicationStatement",
                                                           "MedicationDispense", "MedicationAdministration")
               for raw in resources(data.get(key), kind)]
    known = included_medications(draft_bundle, *(data.get(k) for k in MEDICATION_KEYS))
    return medication_references([*drafts, *records], known)


def _fetch_refused(missing: list[str], why: str) -> list[tuple[str, str]]:
    required = [key for key in missing if key in REQUIRED_CONTEXT]
    if required:
        raise ApiError(412, "precondition_failed", f"prefetch is missing and {why}",
                       {"context.patientId": why, **{f"prefetch.{key}": "not prefetched and not fetchable"
                                                     for key in required}})
    return [(key, why) for key in missing]


def _cards(findings, call: dict, drafts: dict[str, _Draft], patient_id: str, result: dict,  # noqa: ANN001
           check_url: str) -> tuple[list[dict], list[dict]]:
    """The findings as cards (config `cards`: per draft order, or per finding) and the rows that keep them: each
    card with the findings it stands for, so that feedback counts for every finding code."""
    config, store = current_app.extensions["cds"], current_app.extensions["store"]
    orders = {ref: d.order for ref, d in drafts.items()}
    if call["hook"] == "order-select":
        selected = {s.split("/")[-1] for s in call["context"]["selections"]}
        focus = {ref for ref, d in drafts.items() if d.id in selected}
        findings = [f for f in findings if focus.intersection(f.lines)]
    origins = store.suggestion_origins(patient_id, {d.order.created_by_suggestion for d in drafts.values()
                                                    if d.order.created_by_suggestion})
    by_origin = {ref: origins.get(d.order.created_by_suggestion, frozenset()) for ref, d in drafts.items()}
    shown, seen = [], set()
    for finding in findings:
        if finding.category == "unresolved":
            # Issue 5: in the EHR, what does not map is an info card, never an interruption (an EHR's list is full
            # of drugs and problems outside pain care); the native API keeps the contract's warning for a drug line.
            finding = dataclasses.replace(finding, severity="info")
        if any(finding.code in by_origin.get(ref, ()) for ref in finding.lines):
            continue  # this order was created by accepting a suggestion of a card that stood for this finding
        ours = [ref for ref in finding.lines if ref in drafts and drafts[ref].order.created_by_suggestion]
        if ours and len(ours) == len([ref for ref in finding.lines if ref in drafts]) and finding.severity == "info":
            continue  # a note about an order the service itself proposed: not worth a card
        if (finding.code, finding.drugs) not in seen:
            seen.add((finding.code, finding.drugs))
            shown.append(finding)
    context = call["context"]
    seen_by = f"{context['userId']}|{context.get('encounterId') or ''}"
    written = orders_as_written(orders)
    prints = {id(f): fingerprint(patient_id, f, written, seen_by) for f in shown}
    already = set()
    if call["hook"] == "order-sign":
        since = dt.datetime.now(dt.timezone.utc) - REPEAT_WINDOW
        already = store.cards_shown(patient_id, list(prints.values()), "order-select", since)
    # a card shown at order-select for the same, unchanged orders is held back: only when all its findings were on it
    groups = [group for group in group_findings(shown, list(orders), config.cards)
              if not all(prints[id(f)] in already for f in group.findings)]
    cards = build_cards(groups, config, orders, patient_id, result, check_url)
    rows = [{"uuid": card["uuid"], "fingerprint": card_fingerprint(prints[id(f)] for f in group.findings),
             "code": group.lead.code, "category": group.lead.category, "indicator": group.lead.severity,
             "summary": card["summary"],
             "suggestions": [{"uuid": s["uuid"], "label": s["label"]} for s in card.get("suggestions", [])],
             "findings": [{"fingerprint": prints[id(f)], "code": f.code, "category": f.category,
                           "severity": f.severity} for f in group.findings]}
            for group, card in zip(groups, cards)]
    return cards, rows


@bp.route("/cds-services/<service_id>/feedback", methods=["POST", "OPTIONS"])
def feedback(service_id: str):
    if request.method == "OPTIONS":
        return "", 204
    _service(service_id)
    g.cds_issuer = _authenticate()
    body = json_body()
    items = load_or_400(_FEEDBACK, body, "the feedback has invalid fields")["feedback"]
    for code in current_app.extensions["store"].add_feedback(service_id, items, _issuer_name()):
        OVERRIDES.labels(code).inc()
    _audit("cds_feedback", None, f"{service_id} cards:{len(items)} iss:{_issuer_name() or '-'}")
    return {}
