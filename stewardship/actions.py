"""One action per drug: a check's findings as a pharmacist would write them down (issue 14).

A regimen like ibuprofen + tramadol + cyclobenzaprine for a 78-year-old on warfarin and sertraline raises a dozen
findings, each with its own suggestion, and a drug appears in several of them. `plan_actions` folds them into one
row per line (the drug's single most important action, with every finding that concerns it as a reason) and one
row of regimen-level advice (a bowel regimen, naloxone), which would otherwise be repeated under every opioid.

It works on findings in the API's JSON shape (`Finding.as_json`), so the result page (a stored check) and the
CDS Hooks cards (a fresh result) group the same way. Pure: no I/O, no framework.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Most decisive first: a drug that should go is stopped or replaced before its dose is worth adjusting, and adding
# a protective drug (naloxone, for an overdose, before a laxative or a PPI) or monitoring is what is left when the
# drug stays (the order a pharmacist's note takes). The one ranking of the result page and the CDS Hooks cards; the
# actions are those of stewardship.rules.common.suggestion.
ACTION_ORDER = ("stop", "substitute", "taper", "reduce_dose", "hold", "offer_naloxone", "add_drug", "monitor",
                "review")
SEVERITY_ORDER = ("critical", "warning", "info")
# Advice for the whole regimen: one naloxone prescription covers every opioid, one laxative every constipating drug.
REGIMEN_ACTIONS = ("offer_naloxone",)
ADDED_DRUG = "add_drug"


@dataclass(frozen=True)
class Line:
    """A line of the check as the grouping needs it: its reference, how to name it, and its ingredients."""
    ref: str  # "regimen[0]", "patient.medications[1]"
    drug: str  # as people should read it (what was typed, or what it was understood as)
    ingredients: tuple[str, ...] = ()

    @property
    def ordered(self) -> bool:
        return self.ref.startswith("regimen[")


@dataclass
class ActionRow:
    """One row of the action summary. `line` is None for the regimen-level row.

    `suggestions` holds the chosen action (one for a drug; every distinct piece of advice for the regimen row);
    `reasons` are indices into the findings, most severe first."""
    line: Line | None
    severity: str
    suggestions: list[dict] = field(default_factory=list)
    reasons: list[int] = field(default_factory=list)

    @property
    def action(self) -> str:
        """The chosen suggestion's action, or "note" where the findings offer nothing to do."""
        return self.suggestions[0].get("action", "review") if self.suggestions else "note"


def _rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _worst(severities: Sequence[str]) -> str:
    return min(severities, key=_rank) if severities else "info"


def regimen_level(suggestion: Mapping, siblings: Sequence[Mapping]) -> bool:
    """Naloxone always; an added drug when the finding offers nothing else (a laxative with an opioid). A PPI
    offered beside "use acetaminophen instead" belongs to the NSAID: it is the alternative to replacing it."""
    action = suggestion.get("action")
    if action in REGIMEN_ACTIONS:
        return True
    return action == ADDED_DRUG and all(s.get("action") in (*REGIMEN_ACTIONS, ADDED_DRUG) for s in siblings)


def _aims_at(suggestion: Mapping, line: Line) -> bool | None:
    """True when the suggestion names this line (or its drug), False when it names another, None when it names
    none (advice about the combination, such as "reduce the number of CNS-active drugs")."""
    if suggestion.get("line"):
        return suggestion["line"] == line.ref
    if suggestion.get("drug"):
        return suggestion["drug"] in line.ingredients
    return None


def _lines_of(finding: Mapping, lines: Sequence[Line]) -> list[Line]:
    """The lines a finding is about (its `lines`; by drug name for checks stored before findings carried them),
    ordered lines only when it touches any: warfarin + ibuprofen is acted on by changing the ibuprofen order."""
    refs = finding.get("lines") or []
    about = [line for line in lines if line.ref in refs] if refs else \
        [line for line in lines if set(line.ingredients) & set(finding.get("drugs") or ())]
    ordered = [line for line in about if line.ordered]
    chosen = ordered or about
    named = {s.get("line") for s in finding.get("suggestions") or ()}  # a stop aimed at a medication line
    return chosen + [line for line in lines if line.ref in named and line not in chosen]


def plan_actions(findings: Sequence[Mapping], lines: Sequence[Line]) -> list[ActionRow]:
    """Rows in line order (as given), then the regimen row; a line no finding concerns has no row.

    A drug's action is the suggestion ranked first by: from a warning or critical finding before an info one,
    ACTION_ORDER, severity, aimed at this line before advice about the combination, then the findings' order."""
    candidates: dict[str, list[tuple[tuple, dict]]] = {line.ref: [] for line in lines}
    reasons: dict[str, list[int]] = {line.ref: [] for line in lines}
    advice: dict[tuple, tuple[dict, int]] = {}
    advice_reasons: list[int] = []
    for index, finding in enumerate(findings):
        suggestions = list(finding.get("suggestions") or ())
        severity = finding.get("severity", "info")
        regimen_wide = [s for s in suggestions if regimen_level(s, suggestions)]
        for suggestion in regimen_wide:
            key = (suggestion.get("action"), suggestion.get("drug") or suggestion.get("label"))
            kept = advice.get(key)
            if kept is None or len(suggestion.get("label", "")) > len(kept[0].get("label", "")):
                advice[key] = (suggestion, min(index, kept[1]) if kept else index)  # the most specific wording
            if index not in advice_reasons:
                advice_reasons.append(index)
        own = [s for s in suggestions if s not in regimen_wide]
        if regimen_wide and not own:
            continue  # the regimen row says it; the opioid's row would only repeat it
        for line in _lines_of(finding, lines):
            reasons[line.ref].append(index)
            for order, suggestion in enumerate(own):
                aimed = _aims_at(suggestion, line)
                if aimed is False:
                    continue
                action = suggestion.get("action", "review")
                key = (severity == "info", ACTION_ORDER.index(action) if action in ACTION_ORDER else len(ACTION_ORDER),
                       _rank(severity), aimed is None, index, order)
                candidates[line.ref].append((key, suggestion))
    rows = []
    for line in lines:
        if not reasons[line.ref]:
            continue
        ranked = sorted(reasons[line.ref], key=lambda i: (_rank(findings[i].get("severity", "info")), i))
        best = min(candidates[line.ref], key=lambda pair: pair[0])[1] if candidates[line.ref] else None
        rows.append(ActionRow(line, _worst([findings[i].get("severity", "info") for i in ranked]),
                              [best] if best else [], ranked))
    if advice:
        ordered_advice = [pair[0] for pair in sorted(advice.values(), key=lambda pair: pair[1])]
        ranked = sorted(advice_reasons, key=lambda i: (_rank(findings[i].get("severity", "info")), i))
        rows.append(ActionRow(None, _worst([findings[i].get("severity", "info") for i in ranked]), ordered_advice,
                              ranked))
    return rows


def lines_of_response(response: Mapping) -> list[Line]:
    """The lines of a check's response (its `resolved` entries), ordered lines first, each in its input order."""
    entries = list(response.get("resolved") or ())

    def order(entry: Mapping) -> tuple[int, int]:
        ref = entry.get("line", "")
        number = ref.rsplit("[", 1)[-1].rstrip("]")
        return (0 if ref.startswith("regimen[") else 1, int(number) if number.isdigit() else 0)

    return [Line(entry.get("line", ""), str(entry.get("input", "")),
                 tuple(i.get("name") for i in entry.get("ingredients") or () if i.get("name")))
            for entry in sorted(entries, key=order)]
