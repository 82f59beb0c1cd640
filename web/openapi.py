"""`GET /openapi.json`: the API described for integrators (OpenAPI 3.1), written to match web/schemas.py."""
from __future__ import annotations

from flask import Blueprint

import stewardship
from stewardship.model import CATEGORIES, CONDITIONS, PAIN_TYPES, PROCEDURES, ROUTES, SEVERITIES

bp = Blueprint("openapi", __name__)

_QUANTITY = {"type": "object", "required": ["value", "unit"],
             "properties": {"value": {"type": "number", "minimum": 0}, "unit": {"type": "string"}}}
_CODING = {"type": "object", "required": ["system", "code"],
           "properties": {"system": {"type": "string"}, "code": {"type": "string"}}}
_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                         "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                    "description": "every bad field, by path (e.g. regimen[0].dose.unit)"}}}
_LINE = {
    "type": "object", "required": ["drug"], "additionalProperties": False,
    "properties": {
        "drug": {"oneOf": [{"type": "string", "maxLength": 200, "description": "name, brand or text, e.g. 'Norco 5/325'"},
                           {"$ref": "#/components/schemas/Coding"}],
                 "description": "free text, or an RxNorm coding of any term type"},
        "dose": {"$ref": "#/components/schemas/Quantity",
                 "description": "mg, g, mcg; tablet, capsule, patch, application (a count of units of the resolved "
                                "product); mcg/h for patches; mL for liquids"},
        "frequency": {"oneOf": [{"type": "string", "description": "once, daily, BID, TID, QID, qHS, q4h ... q24h, "
                                                                  "q4-6h, q48h, q72h, weekly"},
                                {"type": "object", "properties": {"timesPerDay": {"type": "number"}}}]},
        "prn": {"type": "boolean"}, "maxDailyDose": {"$ref": "#/components/schemas/Quantity"},
        "route": {"type": "string", "enum": list(ROUTES),
                  "description": "also taken as written: PO, by mouth, subcutaneous, subcut, SQ, intravenous, "
                                 "intramuscular, PR, SL, intranasal (answered with the canonical word)"},
        "startDate": {"type": "string", "format": "date"}, "durationDays": {"type": "integer", "minimum": 1},
        "note": {"type": "string", "maxLength": 1000}}}
_PATIENT = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "description": "the EHR's patient id"},
        "birthDate": {"type": "string", "format": "date"}, "age": {"type": "number", "minimum": 0, "maximum": 130},
        "sex": {"type": "string", "enum": ["female", "male", "other", "unknown"]},
        "weight": {"$ref": "#/components/schemas/Quantity"},
        "serumCreatinine": {"$ref": "#/components/schemas/Quantity", "description": "mg/dL or umol/L"},
        "egfr": {"$ref": "#/components/schemas/Quantity"}, "crcl": {"$ref": "#/components/schemas/Quantity"},
        "conditions": {"type": "array", "items": {"oneOf": [{"type": "string", "enum": list(CONDITIONS)},
                                                            {"$ref": "#/components/schemas/Coding"}]}},
        "painType": {"type": "string", "enum": list(PAIN_TYPES)},
        "gestationalWeeks": {"type": "number"},
        "childPughClass": {"type": "string", "enum": ["A", "B", "C"]},
        "medications": {"type": "array", "maxItems": 100, "items": {"$ref": "#/components/schemas/DrugLine"}},
        "outcomes": {"type": "array", "items": {"type": "object", "required": ["drug", "date", "benefit"],
                                                "properties": {"drug": {"type": "string"},
                                                               "date": {"type": "string", "format": "date"},
                                                               "benefit": {"type": "boolean"},
                                                               "painScore": {"type": "number"},
                                                               "baselinePainScore": {"type": "number"},
                                                               "note": {"type": "string"}}}},
        "plannedProcedures": {"type": "array", "items": {
            "type": "object", "required": ["procedure", "date"],
            "properties": {"procedure": {"type": "string", "enum": list(PROCEDURES)},
                           "date": {"type": "string", "format": "date"},
                           "level": {"type": "string", "enum": ["cervical", "thoracic", "lumbar", "sacral"]}}}}}}
_FINDING = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "code": {"type": "string", "description": "see docs/findings.md"},
                   "category": {"type": "string", "enum": list(CATEGORIES)},
                   "severity": {"type": "string", "enum": list(SEVERITIES)},
                   "drugs": {"type": "array", "items": {"type": "string"}},
                   "summary": {"type": "string", "maxLength": 139}, "detail": {"type": "string", "format": "markdown"},
                   "evidence": {"type": "array", "items": {"type": "object", "properties": {
                       "citation": {"type": "string"}, "url": {"type": "string"}}}},
                   "suggestions": {"type": "array", "items": {"type": "object", "properties": {
                       "label": {"type": "string"}, "action": {"type": "string", "enum": [
                           "substitute", "reduce_dose", "add_drug", "stop", "taper", "offer_naloxone", "monitor",
                           "review", "hold"]}}}},
                   "lines": {"type": "array", "items": {"type": "string"}}}}
_CHECK = {"type": "object", "properties": {
    "id": {"type": "string"}, "asOf": {"type": "string", "format": "date"},
    "derived": {"type": "object", "description": "ageYears, crclMlMin, renalBasis, mmePerDay, acetaminophenMgPerDay, "
                                                 "acetaminophenMaxMgPerDay, acetaminophenRemainingMgPerDay, burden, "
                                                 "lines (per-line contributions), conditions, continued"},
    "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
    "reminders": {"type": "array", "items": {"type": "object"}},
    "resolved": {"type": "array", "items": {"type": "object"}}}}


def _errors(*codes: int) -> dict:
    described = {400: "invalid input: every bad field is named; nothing is stored", 401: "no or invalid bearer token",
                 404: "not found", 409: "conflicts with what is recorded (nothing changed)"}
    return {str(code): {"description": described[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code in codes}


def spec() -> dict:
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "stewardship", "version": stewardship.__version__,
                 "description": "Medication stewardship checker for pain care. Contract: shared/contract.md; "
                                "finding codes: docs/findings.md."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `stewardship tokens create NAME`"}},
            "schemas": {"Quantity": _QUANTITY, "Coding": _CODING, "Error": _ERROR, "DrugLine": _LINE,
                        "Patient": _PATIENT, "Finding": _FINDING, "Check": _CHECK,
                        "CheckRequest": {"type": "object", "required": ["patient", "regimen"],
                                         "additionalProperties": False,
                                         "properties": {"patient": {"$ref": "#/components/schemas/Patient"},
                                                        "regimen": {"type": "array", "maxItems": 100, "items": {
                                                            "$ref": "#/components/schemas/DrugLine"}},
                                                        "asOf": {"type": "string", "format": "date"}}}}},
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"security": [], "summary": "service and knowledge-base versions",
                                 "responses": {"200": {"description": "up"}, "503": {"description": "database down"}}}},
            "/metrics": {"get": {"security": [], "summary": "Prometheus metrics: request latency by route, findings "
                                                            "by code and severity, overrides by code",
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/cds-services": {"get": {"security": [], "summary": "CDS Hooks 2.0 discovery (order-select, order-sign)",
                                      "responses": {"200": {"description": "{services: [...]}"}}}},
            "/cds-services/{service_id}": {"post": {
                "summary": "a CDS Hooks call (order-select / order-sign): FHIR R4 draft orders and prefetch in, "
                           "cards out; authorized by the EHR's signed JWT",
                "parameters": [{"name": "service_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{cards: [...]}"}, "412": {"description": "required data "
                              "neither prefetched nor fetchable"}, **_errors(400, 401, 404)}}},
            "/cds-services/{service_id}/feedback": {"post": {
                "summary": "CDS Hooks feedback: accepted suggestions and overrides with reasons",
                "parameters": [{"name": "service_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "stored"}, **_errors(400, 401, 404)}}},
            "/api/v1/whoami": {"get": {"summary": "the token's user and role (a no-op JSON route)",
                                       "responses": {"200": {"description": "the user"}, **_errors(401)}}},
            "/api/v1/checks": {"post": {
                "summary": "check a proposed regimen (stored)", "requestBody": {"required": True, "content": json_body},
                "responses": {"201": {"description": "the check", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Check"}}}}, **_errors(400, 401)}}},
            "/api/v1/checks/{check_id}": {"get": {
                "summary": "a stored check, as returned when it was made",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the check", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Check"}}}}, **_errors(401, 404)}}},
            "/api/v1/procedure-plans": {"post": {
                "summary": "the hold / restart plan alone for the patient's planned procedures (ASRA Pain Medicine "
                           "guidance): the check's body, regimen optional; not stored",
                "requestBody": {"required": True, "content": json_body},
                "responses": {"200": {"description": "{asOf, procedures: [{procedure, date, level, tier, drugs: "
                                                     "[{drug, hold, stopOn, restartOn, tooLate, consultPrescriber, "
                                                     "checkInr, intervalUnknown, guidance}]}]}"},
                              **_errors(400, 401)}}},
            "/api/v1/reminders": {"get": {
                "summary": "stopping-rule reminders due on or before a date (status due: not completed)",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["due", "scheduled", "delivered", "completed", "all"]}},
                    {"name": "before", "in": "query", "schema": {"type": "string", "format": "date"}}],
                "responses": {"200": {"description": "reminders: [{id, patientId, drug, kind, due, startDate, rule, "
                                                     "message, status}]"}, **_errors(400, 401)}}},
            "/api/v1/reminders/{reminder_id}/complete": {"post": {
                "summary": "record whether the drug helped; the outcome joins the patient's record",
                "description": "The outcome counts from `date`, else from today but never after the reminder's due "
                               "date. The same answer again is a no-op; the other answer is a 409.",
                "parameters": [{"name": "reminder_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["benefit"], "additionalProperties": False,
                    "properties": {"benefit": {"type": "boolean"}, "note": {"type": "string"},
                                   "date": {"type": "string", "format": "date"}, "painScore": {"type": "number"},
                                   "baselinePainScore": {"type": "number"}}}}}},
                "responses": {"200": {"description": "the completed reminder"}, **_errors(400, 401, 404, 409)}}},
            "/api/v1/drugs": {"get": {
                "summary": "autocomplete over names, brands and synonyms (up to 20)",
                "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string",
                                                                                        "minLength": 2}}],
                "responses": {"200": {"description": "results: [{name, rxcui, kind}]"}, **_errors(400, 401)}}},
            "/api/v1/drugs/resolve": {"get": {
                "summary": "what a drug input resolves to (give text or rxcui)",
                "parameters": [{"name": "text", "in": "query", "schema": {"type": "string"}},
                               {"name": "rxcui", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{input, ingredients: [{name, rxcui, strength}], doseForm}"},
                              "404": {"description": "{input, reason}: not identified"}, **_errors(400, 401)}}},
            "/api/v1/reviews": {"get": {
                "summary": "the pharmacist's review queue: every check with a warning or critical finding, open "
                           "(no decision yet) first, most severe first, then by priority = severity x patient risk "
                           "x actionability (pharmacist or admin token; a prescriber's is 403)",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["open", "closed", "all"], "default": "open"}}],
                "responses": {"200": {"description": "reviews: [{id (the check's), createdAt, requester, patientId, "
                                                     "maxSeverity, status, priority, ageYears, crclMlMin, "
                                                     "hasSuggestions, categories, findings, decision}]"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(400, 401)}}},
            "/api/v1/reviews/{check_id}": {"get": {
                "summary": "one review item with its whole decision trail (oldest first; the last is in force), the "
                           "EHR's feedback and the findings (pharmacist or admin token)",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{id, createdAt, requester, source, maxSeverity, status, "
                                                     "decisions, feedback, findings}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(401, 404)}}},
            "/api/v1/reviews/{check_id}/decision": {"post": {
                "summary": "record a decision on a review item; decisions are appended, a newer one supersedes",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["decision"], "additionalProperties": False,
                    "properties": {"decision": {"type": "string",
                                                "enum": ["approved", "changes_requested", "rejected"]},
                                   "note": {"type": "string", "maxLength": 2000,
                                            "description": "required unless approved"}}}}}},
                "responses": {"201": {"description": "{id, checkId, decision, note, decidedBy, decidedAt}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(400, 401, 404)}}},
        },
    }


@bp.get("/openapi.json")
def openapi():
    return spec()
