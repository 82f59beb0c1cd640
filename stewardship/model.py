"""The check's vocabulary: what comes in (patient, lines, asOf) and what goes out (findings, derived values).

Plain frozen dataclasses, no I/O. Quantities arrive here already checked and in canonical units (mg, mcg/h, mL,
counts of units, kg, mg/dL, mL/min); the web edge turns JSON into these and names every bad field.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from .knowledge import CONDITION_KEYWORDS, PROCEDURE_KEYWORDS
from .knowledge import ROUTES as ROUTE_KEYWORDS

SEVERITIES = ("critical", "warning", "info")
CATEGORIES = ("renal", "hepatic", "gi", "bleeding", "procedure", "sedation", "constipation", "anticholinergic",
              "serotonergic", "qt", "duplication", "dose", "opioid", "geriatric", "drug_disease", "stopping_rule",
              "unresolved")
CONDITIONS = CONDITION_KEYWORDS
PROCEDURES = PROCEDURE_KEYWORDS
ROUTES = ROUTE_KEYWORDS

# What a caller typed is shown inside findings, whose `detail` is markdown (CDS Hooks cards, the pages): it must
# stay text. `<`, `>` and `&` become HTML character references (rendered as the characters by every markdown
# renderer, and inert in HTML); the other characters that make links, images, emphasis, code, tables and
# autolinks are backslash-escaped, which CommonMark allows for any ASCII punctuation (`:` breaks `scheme:`
# autolinks such as `javascript:`, `www.` GFM's bare-domain autolink). Control characters (CR/LF included) would
# start new markdown blocks: they become spaces.
_ESCAPED = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_{}[]()#!|~:"}})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_BARE_DOMAIN = re.compile(r"(?i)www\.")
SHOWN_INPUT_MAX = 200


def markdown_text(value: object) -> str:
    """Caller-supplied text as it may stand in a finding's summary or detail: one line, at most 200 characters,
    every markdown-active character escaped, so no link, HTML or formatting can come from input."""
    text = str(value)
    # the same drug names and codes come back in every check of a patient: kept, unless long (then rare)
    return _escaped_kept(text) if len(text) <= 2 * SHOWN_INPUT_MAX else _escaped(text)


def _escaped(text: str) -> str:
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > SHOWN_INPUT_MAX:
        text = text[:SHOWN_INPUT_MAX - 1] + "…"
    return _BARE_DOMAIN.sub(lambda m: m.group(0)[:3] + "\\.", text.translate(_ESCAPED))


_escaped_kept = functools.lru_cache(maxsize=4096)(_escaped)



def line_label(ref: str) -> str:
    """`regimen[0]` as "ordered line 1", `patient.medications[1]` as "current medication 2": how a line is named to
    people (suggestions, pages, cards), where `ref` is how it is named to programs."""
    match = re.fullmatch(r"(regimen|patient\.medications)\[(\d+)\]", ref or "")
    if not match:
        return ref
    return f"{'ordered line' if match[1] == 'regimen' else 'current medication'} {int(match[2]) + 1}"

PAIN_TYPES = ("acute", "subacute", "chronic")


@dataclass(frozen=True)
class Dose:
    """One administration: an amount in a canonical unit (mg, mcg/h, mL, or a count: tablet, capsule, patch)."""
    value: float
    unit: str

    def text(self) -> str:
        return f"{self.value:g} {self.unit}"


@dataclass(frozen=True)
class Frequency:
    label: str
    times_per_day: float  # the most frequent reading counts for maxima ("q4-6h" is 6 a day)


@dataclass(frozen=True)
class DrugCandidate:
    """One more way to identify a line's drug, tried when the ones before it do not resolve (an EHR sends an RxNorm
    code outside the knowledge base, an NDC, a display text ...). `source` says where it was read (`coding.display`)."""
    drug: Any  # free text or {"system", "code"}
    source: str


@dataclass(frozen=True)
class DrugLine:
    ref: str  # "regimen[0]" or "patient.medications[2]"
    drug: Any  # free text or {"system", "code"}
    dose: Dose | None = None
    frequency: Frequency | None = None
    prn: bool = False
    max_daily_dose: Dose | None = None
    route: str | None = None
    start_date: dt.date | None = None
    duration_days: int | None = None
    current: bool = False  # True for patient.medications, False for the regimen being ordered
    drug_source: str | None = None  # where `drug` was read (FHIR: "coding", "text" ...); None when typed as is
    alternatives: tuple[DrugCandidate, ...] = ()  # tried in order when `drug` does not resolve
    notes: tuple[str, ...] = ()  # how the line was read where that matters to a finding ("a range: its high end")

    @property
    def input_text(self) -> str:
        if isinstance(self.drug, dict):
            return f"{self.drug.get('system', '')}|{self.drug.get('code', '')}"
        return str(self.drug)

    @property
    def shown_text(self) -> str:
        """`input_text` as it may stand in a finding (escaped: see markdown_text)."""
        return markdown_text(self.input_text)


@dataclass(frozen=True)
class Outcome:
    drug: str
    date: dt.date
    benefit: bool
    pain_score: float | None = None
    baseline_pain_score: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class PlannedProcedure:
    procedure: str
    date: dt.date
    level: str | None = None


@dataclass(frozen=True)
class Patient:
    id: str | None = None
    birth_date: dt.date | None = None
    age_years: float | None = None
    sex: str | None = None  # female | male | other | unknown
    weight_kg: float | None = None
    serum_creatinine_mg_dl: float | None = None
    egfr_ml_min: float | None = None
    crcl_ml_min: float | None = None
    # Keywords, or records {"keyword" | "system"+"code" | "codings": [{"system", "code", "display"}] | "text",
    # "status": active | resolved | inactive | remission}: see stewardship/conditions.py.
    conditions: tuple[Any, ...] = ()
    pain_type: str | None = None
    gestational_weeks: float | None = None
    child_pugh_class: str | None = None
    medications: tuple[DrugLine, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    planned_procedures: tuple[PlannedProcedure, ...] = ()


@dataclass(frozen=True)
class CheckRequest:
    patient: Patient
    regimen: tuple[DrugLine, ...]
    as_of: dt.date


@dataclass(frozen=True)
class Evidence:
    citation: str
    url: str

    def as_json(self) -> dict:
        return {"citation": self.citation, "url": self.url}


@dataclass(frozen=True)
class Finding:
    code: str
    category: str
    severity: str
    drugs: tuple[str, ...]
    summary: str
    detail: str
    evidence: tuple[Evidence, ...]
    suggestions: tuple[dict, ...] = ()
    lines: tuple[str, ...] = ()  # the input lines the finding is about

    def as_json(self, finding_id: str) -> dict:
        return {"id": finding_id, "code": self.code, "category": self.category, "severity": self.severity,
                "drugs": list(self.drugs), "summary": self.summary, "detail": self.detail,
                "evidence": [e.as_json() for e in self.evidence], "suggestions": list(self.suggestions),
                "lines": list(self.lines)}


@dataclass
class CheckResult:
    as_of: dt.date
    derived: dict
    findings: list[Finding]
    resolved: list[dict]
    reminders: list[dict] = field(default_factory=list)
