"""`GET /openapi.json`: the API described for integrators (OpenAPI 3.1), written to match web/schemas.py."""
from __future__ import annotations

from flask import Blueprint

import stewardship
from adapters.reviews import INTERVENTIONS
from stewardship.governance import KINDS
from stewardship.model import CATEGORIES, CONDITIONS, PAIN_TYPES, PROCEDURES, ROUTES, SEVERITIES

bp = Blueprint("openapi", __name__)

_QUANTITY = {"type": "object", "required": ["value", "unit"], "additionalProperties": False,
             "properties": {"value": {"type": "number", "minimum": 0}, "unit": {"type": "string", "maxLength": 32}}}
_CODING = {"type": "object", "required": ["system", "code"], "additionalProperties": False,
           "properties": {"system": {"type": "string"},
                          "code": {"type": "string", "maxLength": 64,
                                   "description": "an RxNorm code has at most 12 digits; an NDC is 11 digits "
                                                  "or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1"},
                          "display": {"type": "string", "maxLength": 200}}}
_ERROR = {"type": "object", "required": ["error", "message"],
          "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                         "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                    "description": "every bad field, by path (e.g. regimen[0].dose.unit)"}}}
_LINE = {
    "type": "object", "required": ["drug"], "additionalProperties": False,
    "properties": {
        "drug": {"oneOf": [{"type": "string", "maxLength": 200, "description": "name, brand or text, e.g. 'Norco 5/325'"},
                           {"$ref": "#/components/schemas/Coding"}],
                 "description": "free text (a name, brand, RxNorm display such as 'Warfarin Sodium 10 MG Oral "
                                "Tablet', or a code typed as 'rxcui:855332' or an NDC), or a coding: RxNorm "
                                "(any term type) or NDC (http://hl7.org/fhir/sid/ndc; 11 digits or hyphenated "
                                "5-4-2, 4-4-2, 5-3-2, 5-4-1); a coding's display is tried where its code is unknown"},
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
        "conditions": {"type": "array", "items": {"oneOf": [
            {"type": "string", "enum": list(CONDITIONS)}, {"$ref": "#/components/schemas/Coding"},
            {"type": "object", "additionalProperties": False,
             "description": "a keyword, a SNOMED CT / ICD-10-CM code, or free text matched as a whole phrase when no "
                            "code is known; status resolved / inactive / remission makes it history (it counts only "
                            "for ulcer, GI bleed, falls and substance use disorder rules)",
             "properties": {"keyword": {"type": "string", "enum": list(CONDITIONS)}, "system": {"type": "string"},
                            "code": {"type": "string"}, "display": {"type": "string"},
                            "text": {"type": "string", "maxLength": 300},
                            "status": {"type": "string", "enum": ["active", "resolved", "inactive", "remission"]}}}]}},
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
                 404: "not found (also a check or reminder that is another prescriber's)",
                 409: "conflicts with what is recorded (nothing changed)",
                 429: "too many checks this minute for this user (STEWARDSHIP_CHECKS_PER_MINUTE); the Retry-After "
                      "header says when to retry"}
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
            "/healthz": {"get": {"security": [], "summary": "liveness: {status}; with the service and knowledge-base "
                                                            "versions and the database state unless "
                                                            "STEWARDSHIP_OPS_TOKEN_REQUIRED=on (then for a valid API "
                                                            "token only)",
                                 "responses": {"200": {"description": "up"}, "503": {"description": "database down"}}}},
            "/metrics": {"get": {"security": [], "summary": "Prometheus metrics: request latency by route, findings "
                                                            "by code and severity, overrides by code (an API token "
                                                            "is required when STEWARDSHIP_OPS_TOKEN_REQUIRED=on)",
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}},
                                               **_errors(401)}}},
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
                    "schema": {"$ref": "#/components/schemas/Check"}}}}, **_errors(400, 401, 429)}}},
            "/api/v1/checks/{check_id}": {"get": {
                "summary": "a stored check, as returned when it was made (a prescriber's token: their own checks)",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the check", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Check"}}}}, **_errors(401, 404)}}},
            "/api/v1/procedure-plans": {"post": {
                "summary": "the hold / restart plan alone for the patient's planned procedures (ASRA Pain Medicine "
                           "guidance): the check's body, regimen optional; not stored",
                "requestBody": {"required": True, "content": json_body},
                "responses": {"200": {"description": "{asOf, procedures: [{procedure, date, level, tier, drugs: "
                                                     "[{drug, hold, stopOn, restartOn, tooLate, consultPrescriber, "
                                                     "checkInr, intervalUnknown, verified (false: a label minimum "
                                                     "read only in a secondary copy), guidance: [{note, "
                                                     "unverified, ...}]}]}]}"},
                              **_errors(400, 401)}}},
            "/api/v1/reminders": {"get": {
                "summary": "stopping-rule reminders due on or before a date (status due: not completed); a "
                           "prescriber's token lists those scheduled by their own checks",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["due", "scheduled", "delivered", "completed", "all"]}},
                    {"name": "before", "in": "query", "schema": {"type": "string", "format": "date"}}],
                "responses": {"200": {"description": "reminders: [{id, patientId, drug, kind, due, startDate, rule, "
                                                     "message, status}]"}, **_errors(400, 401)}}},
            "/api/v1/reminders/{reminder_id}/complete": {"post": {
                "summary": "record whether the drug helped; the outcome joins the patient's record (a "
                           "prescriber's token: the reminders of their own checks)",
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
                "summary": "what a drug input resolves to (give exactly one of text, rxcui or ndc)",
                "parameters": [{"name": "text", "in": "query", "schema": {"type": "string"}},
                               {"name": "rxcui", "in": "query", "schema": {"type": "string"}},
                               {"name": "ndc", "in": "query", "schema": {"type": "string"},
                                "description": "11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1"}],
                "responses": {"200": {"description": "{input, ingredients: [{name, rxcui, strength, assessed}], "
                                                     "doseForm, route, productRxcui, matchedBy, matchedHow}"},
                              "404": {"description": "{input, reason}: not identified"}, **_errors(400, 401)}}},
            "/api/v1/knowledge": {"get": {
                "summary": "every rule and fact of the knowledge base with its source, verification status "
                           "(verified, or unverified with the reason: such a fact raises info at most), who checked "
                           "it and when, and its next review; the review blocks, overdue first (any API token)",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string",
                                                                            "enum": ["verified", "unverified"]}},
                               {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(KINDS)}}],
                "responses": {"200": {"description": "{version, asOf, counts: {items, verified, unverified, "
                                                     "noReviewRecorded, byKind}, reviews: [{file, checkedBy, "
                                                     "checkedOn, nextReview, overdue}], filters, items: [{kind, "
                                                     "subject, statement, note, status, unverifiedReason, file, "
                                                     "sources: [{id, citation, url}], checkedBy, checkedOn, "
                                                     "nextReview, overdue}]}"}, **_errors(400, 401)}}},
            "/api/v1/sweeps": {"get": {
                "summary": "the population sweeps made with `stewardship sweep` (a FHIR Bulk Data export reviewed "
                           "patient by patient at one as-of date), newest first (pharmacist or admin token)",
                "responses": {"200": {"description": "{sweeps: [{id, asOf, startedAt, finishedAt (null until a run "
                                                     "completes), runs, folder, files, patients (in the export), "
                                                     "checked (patients reviewed), flagged (warning or critical), "
                                                     "unreadable (lines and resources not read), seconds, worklist "
                                                     "(its URL), queue (the review queue filtered to it)}]}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(401)}}},
            "/api/v1/sweeps/{sweep_id}/worklist": {"get": {
                "summary": "every patient a sweep reviewed, most urgent first (as the review queue orders: critical, "
                           "warning, the rest; then priority; then patient id), as the CLI writes it (pharmacist or "
                           "admin token)",
                "parameters": [{"name": "sweep_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "{sweep (as listed), worklist: [{priority, patient_id, "
                                                     "check_id, severity (the worst finding's, or null), code, "
                                                     "summary (of the worst finding), age_years, crcl_ml_min, "
                                                     "unreadable}]}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(401, 404)}}},
            "/api/v1/reviews": {"get": {
                "summary": "the pharmacist's review queue: every check with a warning or critical finding, open "
                           "(no decision yet) first, most severe first, then by priority = severity x patient risk "
                           "x actionability (pharmacist or admin token; a prescriber's is 403)",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["open", "closed", "all"], "default": "open"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200,
                                                                "default": 50}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                 "maximum": 1000000, "default": 0}},
                    {"name": "q", "in": "query", "description": "items whose patient id starts with this",
                     "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
                    {"name": "claimed", "in": "query", "description": "mine: claimed by the caller; unassigned: "
                                                                      "claimed by nobody",
                     "schema": {"type": "string", "enum": ["mine", "unassigned"]}},
                    {"name": "sweep", "in": "query", "description": "the items of one population sweep (its id, "
                                                                    "GET /api/v1/sweeps)",
                     "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": {"description": "one page: {status, limit, offset, nextOffset (null on the "
                                                     "last page), next (the next page's URL, or null), reviews: "
                                                     "[{id (the check's), createdAt, requester, patientId, "
                                                     "maxSeverity, status, priority, ageYears, crclMlMin, "
                                                     "hasSuggestions, waitingSeconds (until now, or until the "
                                                     "decision in force), claim ({claimedBy, claimedAt} or null), "
                                                     "categories, findings (every warning and critical: {code, "
                                                     "category, severity, summary}), decision}]}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(400, 401)}}},
            "/api/v1/reviews/{check_id}": {"get": {
                "summary": "one review item with its whole decision trail (oldest first; the last is in force), the "
                           "EHR's feedback and the findings (pharmacist or admin token)",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{id, createdAt, requester, source, maxSeverity, status, "
                                                     "claim, decisions, feedback, findings}"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(401, 404)}}},
            "/api/v1/reviews/{check_id}/decision": {"post": {
                "summary": "record a decision on a review item; decisions are appended, a newer one supersedes",
                "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["decision"], "additionalProperties": False,
                    "properties": {"decision": {"type": "string",
                                                "enum": ["approved", "changes_requested", "rejected"]},
                                   "note": {"type": "string", "maxLength": 2000,
                                            "description": "required unless approved"},
                                   "intervention": {"type": "string", "enum": list(INTERVENTIONS),
                                                    "description": "what the pharmacist did"},
                                   "findings": {"type": "array", "maxItems": 50,
                                                "items": {"type": "string", "minLength": 1, "maxLength": 120},
                                                "description": "codes of the check's findings this decision acts "
                                                               "on (rule statistics credit only these); a code "
                                                               "the check lacks is a 400 naming `findings`"}}}}}},
                "responses": {"201": {"description": "{id, checkId, decision, note, decidedBy, decidedAt, "
                                                     "intervention, findings}; with a decision webhook configured "
                                                     "its signed notification is queued in the same transaction"},
                              "403": {"description": "not a pharmacist or admin"}, **_errors(400, 401, 404)}}},
            "/api/v1/reviews/{check_id}/claim": {
                "post": {"summary": "claim a review item (pharmacist or admin token); claiming one's own claim again "
                                    "changes nothing; of two concurrent claims exactly one wins",
                         "parameters": [{"name": "check_id", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                         "responses": {"200": {"description": "{checkId, claimedBy, claimedAt}"},
                                       "403": {"description": "not a pharmacist or admin"},
                                       "409": {"description": "claimed by someone else: {error, message, claim}"},
                                       **_errors(400, 401, 404)}},
                "delete": {"summary": "release a claim: one's own, or anyone's with an admin token",
                           "parameters": [{"name": "check_id", "in": "path", "required": True,
                                           "schema": {"type": "string"}}],
                           "responses": {"204": {"description": "released"},
                                         "403": {"description": "not a pharmacist or admin"},
                                         "409": {"description": "another pharmacist's claim: {error, message, claim}"},
                                         **_errors(400, 401, 404)}}},
            "/api/v1/reviews/decisions.csv": {"get": {
                "summary": "every review decision as CSV, oldest first, superseded ones too (in_force says which "
                           "holds); a cell starting with = + - @ tab or CR gets a leading apostrophe so that "
                           "spreadsheets show it as text (pharmacist or admin token)",
                "responses": {"200": {"description": "columns: " + ", ".join((
                    "decision_id", "decided_at", "decided_by", "check_id", "check_created_at", "patient_id",
                    "requester", "max_severity", "decision", "intervention", "findings (codes, '; '-separated)",
                    "note", "in_force (yes/no)")),
                    "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "403": {"description": "not a pharmacist or admin"}, **_errors(401)}}},
            "/api/v1/my/checks": {"get": {
                "summary": "the caller's own checks, newest first, each with its review status and the "
                           "pharmacist's decision in force with its note (any token)",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200,
                                                                "default": 50}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                 "maximum": 1000000, "default": 0}}],
                "responses": {"200": {"description": "{limit, offset, nextOffset, next, checks: [{id, createdAt, "
                                                     "patientId, source, maxSeverity, findings: {critical, "
                                                     "warning, info} (counts), review (not_needed | open | "
                                                     "decided), claim, decision ({decision, note, intervention, "
                                                     "findings, decidedBy, decidedAt} or null)}]}"},
                              **_errors(400, 401)}}},
        },
    }


@bp.get("/openapi.json")
def openapi():
    return spec()
