"""Findings as CDS Hooks cards: indicator = severity, `source.topic` = the finding's category, a summary under 140
characters, markdown detail with the evidence, override reasons on warning and critical cards, a link to the
check's page, and suggestions that carry FHIR actions where the change is concrete (remove or re-dose the draft,
create a PPI, laxative, naloxone or acetaminophen order). Orders a suggestion creates carry an identifier naming
the suggestion, so the card that proposed them is not shown again for them (no alert loops).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stewardship.model import Finding
from stewardship.terminology import RXNORM_SYSTEM

UCUM = "http://unitsofmeasure.org"
CATEGORY_LABELS = {"renal": "Kidney function", "hepatic": "Liver function", "gi": "GI bleeding and ulcer",
                   "bleeding": "Bleeding risk", "procedure": "Procedure planning", "sedation": "Sedation",
                   "constipation": "Constipation", "anticholinergic": "Anticholinergic burden",
                   "serotonergic": "Serotonin syndrome", "qt": "QT prolongation", "duplication": "Duplication",
                   "dose": "Dose", "opioid": "Opioid stewardship", "geriatric": "Older adults (Beers)",
                   "drug_disease": "Drug-disease", "stopping_rule": "Stopping rule", "unresolved": "Not checked"}


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


@dataclass(frozen=True)
class CdsConfig:
    source_label: str
    topic_system: str
    suggestion_system: str
    services: dict[str, Service]
    usage_requirements: str
    prefetch: dict[str, str]
    override_reasons: list[dict]
    orderables: dict[str, dict]


def load_cds_config(path: Path) -> CdsConfig:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    services = {key: Service(key, spec["hook"], spec["title"], spec["description"])
                for key, spec in raw["services"].items()}
    for reason in raw["override_reasons"]:
        if not all(reason.get(k) for k in ("system", "code", "display")):
            raise ValueError(f"{path.name}: an override reason needs system, code and display: {reason}")
    return CdsConfig(raw["source_label"], raw["topic_system"], raw["suggestion_identifier_system"], services,
                     raw["usage_requirements"], dict(raw["prefetch"]), list(raw["override_reasons"]),
                     dict(raw["orderables"]))


@dataclass
class DraftOrder:
    ref: str  # "regimen[0]"
    id: str  # MedicationRequest.id
    resource: dict
    created_by_suggestion: str | None  # the suggestion uuid, for an order our own suggestion created


def fingerprint(patient_id: str, finding: Finding, drafts: dict[str, DraftOrder], seen_by: str) -> str:
    """What makes a card "the same card for the same order": its code, drugs and the orders as written, and who
    saw it where (`seen_by`: the user and encounter), so that a card is held back only from whoever has seen it."""
    orders = sorted(
        (drafts[ref].id, json.dumps({k: drafts[ref].resource.get(k) for k in
                                     ("medicationCodeableConcept", "medicationReference", "dosageInstruction")},
                                    sort_keys=True))
        for ref in finding.lines if ref in drafts)
    text = json.dumps([patient_id, seen_by, finding.code, sorted(finding.drugs), orders], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def card(finding: Finding, config: CdsConfig, check_url: str, actions: list[dict]) -> dict:
    evidence = "\n".join(f"- [{e.citation}]({e.url})" for e in finding.evidence)
    consider = [s["label"] for s in finding.suggestions if s.get("label")
                and not any(a["label"] == s["label"] for a in actions)]
    detail = finding.detail + ("\n\n**Consider:** " + "; ".join(consider) if consider else "") + \
        (f"\n\n**Sources**\n{evidence}" if evidence else "")
    body: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": finding.summary,
        "indicator": finding.severity,
        "detail": detail,
        "source": {"label": config.source_label, "url": check_url,
                   "topic": {"system": config.topic_system, "code": finding.category,
                             "display": CATEGORY_LABELS.get(finding.category, finding.category)}},
        "links": [{"label": "Open this check (findings, arithmetic, pharmacist review)", "url": check_url,
                   "type": "absolute"}],
    }
    if actions:
        body["suggestions"] = actions
        body["selectionBehavior"] = "any"
    if finding.severity in ("warning", "critical"):
        body["overrideReasons"] = config.override_reasons
    return body


def edge_card(summary: str, detail: str, indicator: str, config: CdsConfig, check_url: str) -> dict:
    """A card about the call itself (data that could not be read or fetched), not about a rule."""
    return {"uuid": str(uuid.uuid4()), "summary": summary[:139], "indicator": indicator, "detail": detail,
            "source": {"label": config.source_label, "url": check_url,
                       "topic": {"system": config.topic_system, "code": "unresolved",
                                 "display": CATEGORY_LABELS["unresolved"]}}}


def suggestions_with_actions(finding: Finding, config: CdsConfig, drafts: dict[str, DraftOrder], patient_id: str,
                             derived: dict) -> list[dict]:
    """CDS suggestions for the finding's concrete suggestions (FHIR create / update / delete of draft orders)."""
    built = []
    for proposal in finding.suggestions:
        suggestion_id = str(uuid.uuid4())
        actions = _actions(proposal, config, drafts, patient_id, derived, suggestion_id)
        if actions:
            built.append({"label": proposal["label"][:200], "uuid": suggestion_id, "actions": actions})
    return built


def _actions(proposal: dict, config: CdsConfig, drafts: dict[str, DraftOrder], patient_id: str, derived: dict,
             suggestion_id: str) -> list[dict]:
    action, draft = proposal.get("action"), drafts.get(proposal.get("line", ""))
    if action in ("add_drug", "offer_naloxone") and proposal.get("drug") in config.orderables:
        return [_create(config, proposal["drug"], patient_id, suggestion_id)]
    if action == "stop" and draft:
        return [_delete(draft)]
    if action == "substitute" and draft:
        substitute = proposal.get("substitute")
        steps = [_delete(draft)]
        if substitute in config.orderables and _room_for(substitute, config, derived):
            steps.append(_create(config, substitute, patient_id, suggestion_id))
        return steps if len(steps) > 1 or substitute is None else []
    if action == "reduce_dose" and draft and proposal.get("maxDailyDose"):
        update = _reduced(draft, proposal, derived, suggestion_id, config)
        return [update] if update else []
    return []


def _room_for(drug: str, config: CdsConfig, derived: dict) -> bool:
    """Acetaminophen is only proposed where today's remaining allowance holds the proposed order's maximum."""
    if drug != "acetaminophen":
        return True
    remaining = derived.get("acetaminophenRemainingMgPerDay")
    return remaining is not None and remaining >= 500 * config.orderables[drug].get("max_per_day", 4)


def _delete(draft: DraftOrder) -> dict:
    return {"type": "delete", "description": f"Remove the draft order {draft.id}",
            "resourceId": f"MedicationRequest/{draft.id}"}


def _create(config: CdsConfig, drug: str, patient_id: str, suggestion_id: str) -> dict:
    spec = config.orderables[drug]
    dosage: dict[str, Any] = {"text": spec["text"], "asNeededBoolean": bool(spec.get("prn")),
                              "doseAndRate": [{"doseQuantity": {"value": spec["dose"]["value"],
                                                                "unit": spec["dose"]["unit"], "system": UCUM,
                                                                "code": spec["dose"]["unit"]}}]}
    if spec.get("every_hours"):
        dosage["timing"] = {"repeat": {"frequency": 1, "period": spec["every_hours"], "periodUnit": "h"}}
    if spec.get("max_per_day"):
        dosage["maxDosePerPeriod"] = {"numerator": {"value": spec["max_per_day"], "unit": spec["dose"]["unit"],
                                                    "system": UCUM, "code": spec["dose"]["unit"]},
                                      "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"}}
    resource = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
                "identifier": [{"system": config.suggestion_system, "value": suggestion_id}],
                "subject": {"reference": f"Patient/{patient_id}"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM_SYSTEM, "code": spec["rxcui"],
                                                          "display": spec["display"]}], "text": spec["display"]},
                "dosageInstruction": [dosage]}
    return {"type": "create", "description": f"Add {spec['display']}: {spec['text']}", "resource": resource}


def _reduced(draft: DraftOrder, proposal: dict, derived: dict, suggestion_id: str, config: CdsConfig) -> dict | None:
    """The draft re-dosed so that its daily amount of the ingredient is at most the maximum."""
    ordered = next((i.get("dailyAmount") for line in derived.get("lines", []) if line["line"] == draft.ref
                    for i in line["ingredients"] if i["name"] == proposal.get("drug")), None)
    ceiling = proposal["maxDailyDose"]["value"]
    if not ordered or ordered.get("unit") != "mg" or not ordered.get("value") or ordered["value"] <= ceiling:
        return None
    resource = copy.deepcopy(draft.resource)
    dosage = (resource.get("dosageInstruction") or [{}])[0]
    quantity = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity")
    if not quantity or not quantity.get("value"):
        return None
    factor = ceiling / ordered["value"]
    unit = (quantity.get("code") or quantity.get("unit") or "").lower()
    if unit == "mg":
        new_value = math.floor(quantity["value"] * factor * 10) / 10
    else:  # a count of units: whole or half units only
        new_value = math.floor(quantity["value"] * factor * 2) / 2
    if new_value <= 0:
        return None
    quantity["value"] = new_value
    dosage.pop("text", None)
    resource.setdefault("identifier", []).append({"system": config.suggestion_system, "value": suggestion_id})
    return {"type": "update", "description": f"Lower the dose of draft order {draft.id} to {new_value:g} "
                                             f"{quantity.get('unit') or quantity.get('code') or 'units'} per dose",
            "resource": resource}
