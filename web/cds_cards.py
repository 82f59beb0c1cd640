"""Findings as CDS Hooks cards (contract section 3).

By default (`cards: per_draft` in config/cds_hooks.yaml) a prescriber gets at most one interruptive card per draft
order, one for advice about the regimen as a whole (a bowel regimen, naloxone, sedation stacked across the current
medications) and one info card for everything that needs no action now: a pharmacist would write the result as a
few actions, not a dozen alerts (issue 14). A card's indicator and `source.topic` are those of its most severe
finding, its summary (under 140 characters) names the drug and the single most important action, its markdown
detail gives every reason with its sources, and `extension["stewardship.findings"]` lists the findings it stands
for, so that overrides and feedback stay attributable to each finding code. `cards: per_finding` answers one card
per finding instead.

Suggestions carry FHIR actions where the change is concrete (remove or re-dose the draft, create a PPI, laxative,
naloxone or acetaminophen order); suggestions that would change the same order in different ways are offered as
alternatives (`selectionBehavior: at-most-one`), never as one suggestion. Orders a suggestion creates carry an
identifier naming the suggestion, so the card that proposed them is not shown again for them (no alert loops).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stewardship.actions import ACTION_ORDER
from stewardship.model import SEVERITIES, Finding, markdown_text
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
    cards: str  # one of CARD_POLICIES


CARD_POLICIES = ("per_draft", "per_finding")


def load_cds_config(path: Path) -> CdsConfig:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    services = {key: Service(key, spec["hook"], spec["title"], spec["description"])
                for key, spec in raw["services"].items()}
    for reason in raw["override_reasons"]:
        if not all(reason.get(k) for k in ("system", "code", "display")):
            raise ValueError(f"{path.name}: an override reason needs system, code and display: {reason}")
    cards = raw.get("cards", CARD_POLICIES[0])
    if cards not in CARD_POLICIES:
        raise ValueError(f"{path.name}: cards must be one of {', '.join(CARD_POLICIES)}, not {cards!r}")
    return CdsConfig(raw["source_label"], raw["topic_system"], raw["suggestion_identifier_system"], services,
                     raw["usage_requirements"], dict(raw["prefetch"]), list(raw["override_reasons"]),
                     dict(raw["orderables"]), cards)


@dataclass
class DraftOrder:
    ref: str  # "regimen[0]"
    id: str  # MedicationRequest.id
    resource: dict
    created_by_suggestion: str | None  # the suggestion uuid, for an order our own suggestion created


def orders_as_written(drafts: dict[str, DraftOrder]) -> dict[str, tuple[str, str]]:
    """Each draft order as fingerprints read it, written once per call rather than once per finding: its id, and
    its drug and dosage as JSON text."""
    return {ref: (draft.id, json.dumps({k: draft.resource.get(k) for k in
                                        ("medicationCodeableConcept", "medicationReference", "dosageInstruction")},
                                       sort_keys=True))
            for ref, draft in drafts.items()}


def fingerprint(patient_id: str, finding: Finding, orders: dict[str, tuple[str, str]], seen_by: str) -> str:
    """What makes a card "the same card for the same order": its code, drugs and the orders as written
    (`orders_as_written`), and who saw it where (`seen_by`: the user and encounter), so that a card is held back
    only from whoever has seen it."""
    written = sorted(orders[ref] for ref in finding.lines if ref in orders)
    text = json.dumps([patient_id, seen_by, finding.code, sorted(finding.drugs), written], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


SUMMARY_MAX = 139  # CDS Hooks: a summary is one sentence "<140 characters"
ADDITIONS = frozenset({"add_drug", "offer_naloxone"})  # an order added beside the regimen, not a change to a draft
REGIMEN, INFO = "regimen", "info"


@dataclass(frozen=True)
class CardGroup:
    """The findings one card stands for, most important first: the lead sets the card's indicator and topic."""
    kind: str  # "draft" (about one draft order), REGIMEN, INFO, or "finding" (cards: per_finding)
    findings: tuple[Finding, ...]
    draft: str | None = None  # the draft's ref ("regimen[0]") on a draft card

    @property
    def lead(self) -> Finding:
        return self.findings[0]


def _rank(proposal: dict) -> int:
    """Where the action stands in the result page's ranking, so that a card and the page lead with the same one."""
    action = proposal.get("action")
    return ACTION_ORDER.index(action) if action in ACTION_ORDER else len(ACTION_ORDER)


def _importance(finding: Finding) -> tuple[int, int]:
    """Most severe first; within a severity, the finding whose first suggestion (the rules list theirs most
    important first) is the most concrete action."""
    return (SEVERITIES.index(finding.severity),
            _rank(finding.suggestions[0]) if finding.suggestions else len(ACTION_ORDER) + 1)


def home(finding: Finding, drafts: Collection[str]) -> str:
    """Which card a finding belongs on: INFO for an info finding; else the one draft its suggestions change (an
    NSAID on warfarin: the NSAID's card), or, without such a suggestion, the one draft it is about; else REGIMEN:
    advice that only adds an order (a laxative, naloxone), or that is about several drafts or none (sedation
    stacked across the draft and the current medications)."""
    if finding.severity == "info":
        return INFO
    targets = {p["line"] for p in finding.suggestions if p.get("line") in drafts and p.get("action") not in ADDITIONS}
    if len(targets) == 1:
        return targets.pop()
    if targets or (finding.suggestions and all(p.get("action") in ADDITIONS for p in finding.suggestions)):
        return REGIMEN
    about = [ref for ref in dict.fromkeys(finding.lines) if ref in drafts]
    return about[0] if len(about) == 1 else REGIMEN


def group_findings(findings: Sequence[Finding], drafts: Sequence[str], policy: str) -> list[CardGroup]:
    """The cards to show: `per_draft`, one per draft order (in the order of the drafts), then the regimen card, then
    the info card; `per_finding`, one per finding."""
    if policy == "per_finding":
        return [CardGroup("finding", (finding,)) for finding in findings]
    homes: dict[str, list[Finding]] = {}
    for finding in findings:
        homes.setdefault(home(finding, drafts), []).append(finding)
    return [CardGroup("draft" if key in drafts else key, tuple(sorted(homes[key], key=_importance)),
                      key if key in drafts else None)
            for key in (*drafts, REGIMEN, INFO) if key in homes]


def build_cards(groups: Sequence[CardGroup], config: CdsConfig, drafts: dict[str, DraftOrder], patient_id: str,
                result: dict, check_url: str) -> list[dict]:
    """The groups' cards, in the groups' order. The regimen card is made first: an order it offers to add (naloxone,
    a laxative) is not offered again on a draft card."""
    made: dict[int, dict] = {}
    offered: set[tuple] = set()
    for index in sorted(range(len(groups)), key=lambda i: groups[i].kind != REGIMEN):
        group = groups[index]
        proposals = _merged(group, offered)
        if group.kind == REGIMEN:
            offered.update(proposals)
        made[index] = _card(group, list(proposals.values()), config, drafts, patient_id, result, check_url)
    return [made[index] for index in range(len(groups))]


def card_fingerprint(finding_prints: Iterable[str]) -> str:
    """A card is the set of its findings: the same findings for the same orders make the same card."""
    return hashlib.sha256("|".join(sorted(finding_prints)).encode()).hexdigest()


def finding_entry(finding: Finding) -> dict:
    """A finding as `extension["stewardship.findings"]` lists it (the native API's fields; no empty values)."""
    entry = {"code": finding.code, "category": finding.category, "severity": finding.severity,
             "summary": finding.summary}
    return entry | ({"drugs": list(finding.drugs)} if finding.drugs else {})


def _effect(proposal: dict) -> tuple:
    """What a suggestion would do, so that a change two findings propose is offered once ("Offer naloxone" and
    "Prescribe naloxone nasal spray" add the same order)."""
    action = proposal.get("action")
    if action in ADDITIONS and proposal.get("drug"):
        return ("add", proposal["drug"])
    if action in ("stop", "substitute", "reduce_dose") and proposal.get("line"):  # what _actions can turn into FHIR
        return (action, proposal["line"], proposal.get("substitute"),
                json.dumps(proposal.get("maxDailyDose"), sort_keys=True), proposal.get("durationDays"))
    return ("advice", proposal.get("label"))


def _merged(group: CardGroup, offered: set[tuple]) -> dict[tuple, dict]:
    """The group's suggestions, each change once, the most important first (the lead finding's first)."""
    proposals: dict[tuple, dict] = {}
    for finding in group.findings:
        for proposal in finding.suggestions:
            key = _effect(proposal)
            if proposal.get("label") and key not in proposals and key not in offered:
                proposals[key] = proposal
    return proposals


def _suggestions(proposals: list[dict], config: CdsConfig, drafts: dict[str, DraftOrder], patient_id: str,
                 derived: dict) -> tuple[list[dict], list[str], str]:
    """CDS suggestions for the proposals that carry FHIR actions, the labels of the others (advice), and the
    selectionBehavior: suggestions that change the same draft (stop it, or re-dose it) are alternatives, so at most
    one may be accepted, the most important recommended; each suggestion changes a draft in one way only."""
    built, advice, changes = [], [], []
    for proposal in proposals:
        suggestion_id = str(uuid.uuid4())
        actions = _actions(proposal, config, drafts, patient_id, derived, suggestion_id)
        if not actions:
            advice.append(proposal["label"])
            continue
        built.append({"label": proposal["label"], "uuid": suggestion_id, "actions": actions})
        if any(action["type"] != "create" for action in actions):
            changes.append(proposal["line"])  # _actions deletes or updates only the proposal's own draft
    alternatives = len(changes) != len(set(changes))
    if alternatives:
        built[0]["isRecommended"] = True
    return built, advice, "at-most-one" if alternatives else "any"


def _card(group: CardGroup, proposals: list[dict], config: CdsConfig, drafts: dict[str, DraftOrder],
          patient_id: str, result: dict, check_url: str) -> dict:
    lead = group.lead
    suggestions, advice, behaviour = _suggestions(proposals, config, drafts, patient_id, result["derived"])
    if group.kind == "finding":
        summary, detail = lead.summary, _finding_detail(lead, advice)
    else:
        subject = _subject(group, result) if group.kind == "draft" else None
        main = proposals[0]["label"] if proposals and group.kind != INFO else None  # info: nothing is urgent
        summary = _summary(group, subject, main)
        detail = _grouped_detail(group, subject, drafts, main, suggestions, advice)
    body: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": lead.severity,
        "detail": detail,
        "source": {"label": config.source_label, "url": check_url,
                   "topic": {"system": config.topic_system, "code": lead.category,
                             "display": CATEGORY_LABELS.get(lead.category, lead.category)}},
        "links": [{"label": "Open this check (findings, arithmetic, pharmacist review)", "url": check_url,
                   "type": "absolute"}],
    }
    if suggestions:
        body["suggestions"] = suggestions
        body["selectionBehavior"] = behaviour
    if lead.severity in ("warning", "critical"):
        body["overrideReasons"] = config.override_reasons
    body["extension"] = {"stewardship.findings": [finding_entry(finding) for finding in group.findings]}
    return body


def _subject(group: CardGroup, result: dict) -> str:
    """The draft order in words: its ingredients as identified ("Hydrocodone / acetaminophen")."""
    names = [i["name"] for entry in result.get("resolved", []) if entry.get("line") == group.draft
             for i in entry.get("ingredients", [])]
    text = " / ".join(names or group.lead.drugs) or "This order"
    return text[:1].upper() + text[1:]


def _summary(group: CardGroup, subject: str | None, main: str | None) -> str:
    """One sentence under 140 characters: the drug and its most important action, then why (the reasons' topics);
    the info card, its notes. Cut only at a word, never mid-word."""
    lead, count = group.lead, len(group.findings)
    if group.kind == INFO:
        shown = [lead.summary]
        for finding in group.findings[1:]:
            if len(_notes(count, [*shown, finding.summary])) > SUMMARY_MAX:
                break
            shown.append(finding.summary)
        return _fit(_notes(count, shown) if count > 1 else lead.summary)
    head = main or lead.summary
    if subject and subject.lower() not in head.lower():
        head = f"{subject}: {head}"
    reasons = f"{count} {'regimen-wide ' if group.kind == REGIMEN else ''}reasons"
    topics = ", ".join(dict.fromkeys(CATEGORY_LABELS.get(f.category, f.category) for f in group.findings))
    for tail in ((f" — {reasons}: {topics}", f" — {reasons}") if count > 1
                 else ((f" — {lead.summary}",) if main else ())):
        if len(head + tail) <= SUMMARY_MAX:
            return head + tail
    return _fit(head)


def _notes(count: int, shown: list[str]) -> str:
    rest = count - len(shown)
    return f"{count} notes: " + "; ".join(shown) + (f" (+{rest} more)" if rest else "")


def _fit(text: str) -> str:
    if len(text) <= SUMMARY_MAX:
        return text
    return text[:SUMMARY_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:-— ") + "…"


def _sources(finding: Finding) -> str:
    links = dict.fromkeys(f"[{e.citation}]({e.url})" for e in finding.evidence)
    return "Sources: " + " · ".join(links) if links else ""


def _finding_detail(finding: Finding, advice: list[str]) -> str:
    evidence = "\n".join(f"- [{e.citation}]({e.url})" for e in dict.fromkeys(finding.evidence))
    return finding.detail + ("\n\n**Consider:** " + "; ".join(advice) if advice else "") + \
        (f"\n\n**Sources**\n{evidence}" if evidence else "")


def _grouped_detail(group: CardGroup, subject: str | None, drafts: dict[str, DraftOrder], main: str | None,
                    suggestions: list[dict], advice: list[str]) -> str:
    count = len(group.findings)
    reasons = f"{count} reason{'s' if count > 1 else ''}"
    if group.kind == "draft":
        intro = f"**{subject}** (draft order {markdown_text(drafts[group.draft].id)}): {reasons} below."
    elif group.kind == REGIMEN:
        intro = f"**The regimen as a whole** (the draft orders with the current medications): {reasons} below."
    else:
        intro = f"**For information**, nothing to act on now: {count} note{'s' if count > 1 else ''} below."
    parts = [intro]
    if main:
        parts.append(f"**Most important:** {main}")
    offered = [s["label"] for s in suggestions if s["label"] != main]
    if offered:
        parts.append("**Also offered:** " + "; ".join(offered))
    others = [label for label in advice if label != main]
    if others:
        parts.append("**Consider:** " + "; ".join(others))
    for number, finding in enumerate(group.findings, 1):
        parts.append(f"**{number}. {finding.summary}** ({finding.severity}; "
                     f"{CATEGORY_LABELS.get(finding.category, finding.category)})")
        parts.extend(text for text in (finding.detail, _sources(finding)) if text)
    return "\n\n".join(parts)


def edge_card(summary: str, detail: str, indicator: str, config: CdsConfig, check_url: str) -> dict:
    """A card about the call itself (data that could not be read or fetched), not about a rule."""
    return {"uuid": str(uuid.uuid4()), "summary": summary[:139], "indicator": indicator, "detail": detail,
            "source": {"label": config.source_label, "url": check_url,
                       "topic": {"system": config.topic_system, "code": "unresolved",
                                 "display": CATEGORY_LABELS["unresolved"]}}}


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
