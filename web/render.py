"""Template helpers for the pages: safe markdown, safe links, the burden picture's numbers, and the result's
parts in words (the action summary, the lines as ordered and as understood, sources once each, what changed since
the previous check, a taper's dated steps).

Every helper escapes first and adds markup after, so nothing a user or a stored check carries can become HTML.
"""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from stewardship.actions import lines_of_response, plan_actions
from stewardship.model import line_label

from .check_form import apply_suggestion, editable

BURDEN_KINDS = ("sedation", "constipation", "anticholinergic")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation makes it literal


def markdown_lite(text: str | None) -> Markup:
    """A finding's `detail` (markdown) as HTML: paragraphs, `- ` lists, **bold** and line breaks; nothing else.

    The text is escaped before any tag is added, so a `<script>` in it is shown as text."""
    blocks = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line for line in block.splitlines() if line.strip()]
        if lines and all(line.lstrip().startswith("- ") for line in lines):
            items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif lines:
            blocks.append(f"<p>{'<br>'.join(_inline(line) for line in lines)}</p>")
    return Markup("".join(blocks))


def _inline(line: str) -> str:
    """Escaped characters (caller input, see stewardship.model.markdown_text) stay literal: they are set aside
    before **bold** is read and put back, HTML-escaped, after."""
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(1))
        return f"\x00{len(kept) - 1}\x00"

    literal = _ESCAPED.sub(keep, line)
    for reference, character in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):  # markdown_text's references
        literal = literal.replace(reference, character)
    marked = _BOLD.sub(r"<strong>\1</strong>", str(escape(literal)))
    return re.sub("\x00(\\d+)\x00", lambda m: str(escape(kept[int(m.group(1))])), marked)


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: a `javascript:` link would run even when escaped."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def burden_rows(response: dict) -> list[dict]:
    """Sedation, constipation and anticholinergic load per drug (each ingredient of each line), from `derived`.

    Rows with no load at all are left out; the chart's scale is the largest total."""
    rows = []
    for line in (response.get("derived") or {}).get("lines", []):
        for ingredient in line.get("ingredients", []):
            burden = ingredient.get("burden") or {}
            loads = {kind: int(burden.get(kind) or 0) for kind in BURDEN_KINDS}
            if any(loads.values()):
                rows.append({"drug": ingredient.get("name"), "line": line.get("line"), "loads": loads,
                             "total": sum(loads.values())})
    return rows


# ---------------------------------------------------------------------------------------------- the result page
_LINE_REF = re.compile(r"\b(regimen|patient\.medications)\[(\d+)\]")
RENAL_BASES = {"cockcroft-gault": "Cockcroft–Gault", "crcl": "creatinine clearance as given", "egfr": "eGFR as given",
               "dialysis": "on dialysis"}
IDENTIFIED_BY = {"text": "its name", "rxcui": "its RxNorm code (RxCUI)", "ndc": "its NDC",
                 "rxnav": "the National Library of Medicine's RxNav"}
CODE_SYSTEMS = {"http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm", "http://hl7.org/fhir/sid/ndc": "NDC",
                "http://snomed.info/sct": "SNOMED CT", "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM"}


def plural(count: int, singular: str, many: str | None = None) -> str:
    """"1 finding", "2 findings" ("1 day", "3 days"): the count with the word that fits it."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def with_line_words(text: str | None) -> str:
    """Line references inside a rule's text ("stop acetaminophen (regimen[1])") as people read them."""
    return _LINE_REF.sub(lambda m: line_label(m[0]), text or "")


def number(value: float | None) -> str:
    """1800.0 as "1,800", 2.5 as "2.5": no trailing ".0", thousands grouped."""
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"


def quantity(amount: dict | None) -> str:
    if not isinstance(amount, dict) or amount.get("value") is None:
        return ""
    value = amount["value"]
    return f"{number(value) if isinstance(value, (int, float)) else value} {amount.get('unit') or ''}".strip()


def frequency_text(frequency: object) -> str:
    """"TID" as written; `{"timesPerDay": 3}` as "3 times a day"."""
    if isinstance(frequency, dict):
        times = frequency.get("timesPerDay")
        return "once a day" if times == 1 else f"{number(times)} times a day" if times is not None else ""
    return str(frequency or "")


def drug_text(drug: object) -> str:
    """A line's drug as typed, or a coding as its system's name and code ("RxNorm 855332")."""
    if isinstance(drug, dict):
        coding = drug if "code" in drug else next(iter(drug.get("coding") or ()), {})
        if not isinstance(coding, dict):
            return drug.get("text") or ""
        label = coding.get("display") or drug.get("text")
        code = f"{CODE_SYSTEMS.get(coding.get('system'), coding.get('system') or 'code')} {coding.get('code', '')}"
        return f"{label} ({code.strip()})" if label else code.strip()
    return str(drug or "")


def renal_inputs(inputs: dict | None) -> str:
    """What Cockcroft–Gault was fed, in words: "age 78 years, weight 61 kg (actual body weight), female, serum
    creatinine 1.1 mg/dL"."""
    if not inputs:
        return ""
    parts = []
    if inputs.get("ageYears") is not None:
        parts.append(f"age {number(inputs['ageYears'])} years")
    if inputs.get("weightKg") is not None:
        basis = f" ({inputs['weight']})" if inputs.get("weight") else ""
        parts.append(f"weight {number(inputs['weightKg'])} kg{basis}")
    if inputs.get("sex"):
        parts.append(str(inputs["sex"]))
    if inputs.get("serumCreatinineMgDl") is not None:
        parts.append(f"serum creatinine {number(inputs['serumCreatinineMgDl'])} mg/dL")
    return ", ".join(parts)


def _request_line(request: dict, ref: str) -> dict:
    match = _LINE_REF.fullmatch(ref or "")
    if not match or not isinstance(request, dict):
        return {}
    section = request.get("regimen") if match[1] == "regimen" else (request.get("patient") or {}).get("medications")
    index = int(match[2])
    line = section[index] if isinstance(section, list) and index < len(section) else None
    return line if isinstance(line, dict) else {}


def ordered_text(line: dict) -> str:
    """A request line in one phrase: "ibuprofen 600 mg TID", "tramadol 50 mg q6h as needed, 5 days"."""
    words = [drug_text(line.get("drug")), quantity(line.get("dose")), frequency_text(line.get("frequency"))]
    if line.get("prn"):
        words.append("as needed" + (f" (at most {quantity(line['maxDailyDose'])}/day)" if line.get("maxDailyDose")
                                    else ""))
    if line.get("route"):
        words.append(str(line["route"]))
    text = " ".join(word for word in words if word)
    if line.get("durationDays"):
        text += f", {plural(int(line['durationDays']), 'day')}"
    if line.get("startDate"):
        text += f", since {line['startDate']}"
    return text


def line_rows(request: dict, response: dict) -> list[dict]:
    """Every line as ordered (from the stored request) beside what the service understood (`resolved`) and the
    daily amounts it counted (`derived.lines`), ordered lines first."""
    resolved = {entry.get("line"): entry for entry in response.get("resolved") or ()}
    daily = {entry.get("line"): entry for entry in (response.get("derived") or {}).get("lines") or ()}
    rows = []
    for line in lines_of_response(response):
        typed, understood = _request_line(request, line.ref), resolved.get(line.ref, {})
        amounts = {i.get("name"): i for i in daily.get(line.ref, {}).get("ingredients") or ()}
        ingredients = []
        for ingredient in understood.get("ingredients") or ():
            counted = amounts.get(ingredient.get("name"), {})
            ingredients.append({"name": ingredient.get("name"), "rxcui": ingredient.get("rxcui"),
                                "strength": quantity(ingredient.get("strength")),
                                "assessed": ingredient.get("assessed", True),
                                "daily": quantity(counted.get("dailyAmount")),
                                "mme": counted.get("mmePerDay")})
        how = IDENTIFIED_BY.get(understood.get("matchedBy"), understood.get("matchedBy") or "")
        rows.append({"ref": line.ref, "label": line_label(line.ref), "ordered": line.ordered,
                     "drug": drug_text(typed.get("drug")) or understood.get("input", ""),
                     "dose": quantity(typed.get("dose")), "frequency": frequency_text(typed.get("frequency")),
                     "prn": bool(typed.get("prn")), "maxDaily": quantity(typed.get("maxDailyDose")),
                     "route": typed.get("route") or understood.get("route") or "",
                     "days": typed.get("durationDays"), "since": typed.get("startDate"),
                     "doseForm": understood.get("doseForm") or "", "ingredients": ingredients,
                     "identifiedBy": how, "readFrom": understood.get("from"), "fromInput": understood.get("fromInput"),
                     "notes": list(understood.get("notes") or ()), "reason": understood.get("reason")})
    return rows


def sources(evidence: list[dict] | None) -> list[dict]:
    """A finding's evidence with each work once: citations of one work (the same URL) become one entry with its
    places listed ("AGS Beers Criteria (2023): Table 2, skeletal muscle relaxants; Table 4")."""
    works: dict[str, dict] = {}
    for item in evidence or ():
        citation, url = str(item.get("citation") or ""), item.get("url")
        key = url or citation
        if key not in works:
            works[key] = {"url": url, "citations": []}
        if citation not in works[key]["citations"]:
            works[key]["citations"].append(citation)
    listed = []
    for work in works.values():
        citations = work["citations"]
        if len(citations) == 1:
            listed.append({"url": work["url"], "title": citations[0], "places": []})
            continue
        shared = _shared_head(citations)
        if not shared:  # one address for works cited under different titles: each as cited
            listed += [{"url": work["url"], "title": citation, "places": []} for citation in citations]
            continue
        places = [c[len(shared):].lstrip(", ").strip() for c in citations]
        places = [p for p in places if p and not any(o != p and o.startswith(p) for o in places)]
        listed.append({"url": work["url"], "title": shared.rstrip(", ") or citations[0], "places": places})
    return listed


def _shared_head(texts: list[str]) -> str:
    """The longest common start of the texts, cut back to the last ", " so that no word is split."""
    head = texts[0]
    for text in texts[1:]:
        while not text.startswith(head):
            head = head[:-1]
    cut = head.rfind(", ")
    return head[:cut] if cut > 0 else ""


# ------------------------------------------------------------------------------ actions, changes and tapers
ACTION_WORDS = {"stop": "Stop", "substitute": "Substitute", "taper": "Taper", "reduce_dose": "Reduce",
                "add_drug": "Add", "offer_naloxone": "Add", "monitor": "Monitor", "review": "Review", "note": "Note"}


def _suggestion_key(findings: list[dict], suggestion: dict) -> str:
    """"3.1": the suggestion's place in the stored response (finding 3, suggestion 1), for the apply button."""
    for index, finding in enumerate(findings):
        for order, candidate in enumerate(finding.get("suggestions") or ()):
            if candidate is suggestion:
                return f"{index}.{order}"
    return ""


def suggestion_at(response: dict, key: str) -> dict | None:
    """The suggestion a key from `_suggestion_key` names, or None for a key that names none."""
    match = re.fullmatch(r"(\d{1,4})\.(\d{1,3})", key or "")
    findings = response.get("findings") or []
    if not match or int(match[1]) >= len(findings):
        return None
    suggestions = findings[int(match[1])].get("suggestions") or []
    return suggestions[int(match[2])] if int(match[2]) < len(suggestions) else None


def action_rows(stored: dict, orderables: dict) -> list[dict]:
    """The action summary (stewardship.actions) as the page shows it: per row the drug, the action in a word and
    in full, whether one click applies it, and the reasons as links to the findings below."""
    response = stored["response"]
    findings = response.get("findings") or []
    can_edit = editable(stored.get("request"))
    rows = []
    for row in plan_actions(findings, lines_of_response(response)):
        items = []
        for suggestion in row.suggestions:
            applied = apply_suggestion(stored["request"], suggestion, orderables) if can_edit else None
            items.append({"text": with_line_words(suggestion.get("label")),
                          "verb": ACTION_WORDS.get(suggestion.get("action"), "Review"),
                          "apply": _suggestion_key(findings, suggestion) if applied else None,
                          "applyText": f"{applied[1]} and check again" if applied else None,
                          "taper": suggestion.get("action") == "taper" and bool(suggestion.get("steps"))})
        rows.append({"drug": row.line.drug if row.line else "Whole regimen",
                     "where": line_label(row.line.ref) if row.line else "advice for every drug ordered",
                     "severity": row.severity,
                     "todo": items or [{"text": with_line_words(findings[row.reasons[0]].get("summary")),
                                         "verb": ACTION_WORDS["note"], "apply": None, "applyText": None}],
                     "reasons": [{"anchor": f"finding-{i + 1}", "summary": with_line_words(findings[i].get("summary")),
                                  "severity": findings[i].get("severity")} for i in row.reasons]})
    return rows


def tapers(response: dict) -> list[dict]:
    """Every taper a check suggests with its dated steps (stewardship.stopping.taper_steps), in words a patient
    reads: "From Monday 7 December 2026: 400 mg a day in total", then "stop taking it"."""
    found = []
    for finding in response.get("findings") or ():
        for suggestion in finding.get("suggestions") or ():
            if suggestion.get("action") != "taper" or not suggestion.get("steps"):
                continue
            steps = []
            for step in suggestion["steps"]:
                try:
                    day = dt.date.fromisoformat(str(step.get("from")))
                except ValueError:
                    continue
                steps.append({"date": day.isoformat(), "when": f"{day:%A} {day.day} {day:%B %Y}",
                              "stop": bool(step.get("stop")), "dose": quantity(step.get("dailyDose"))})
            found.append({"drug": suggestion.get("drug") or ", ".join(finding.get("drugs") or ()),
                          "advice": with_line_words(suggestion.get("label")), "source": suggestion.get("source"),
                          "steps": steps, "line": line_label(suggestion.get("line", ""))})
    return found


_PATIENT_WORDS = {"id": "patient id", "age": "age", "birthDate": "birth date", "sex": "sex", "weight": "weight",
                  "serumCreatinine": "serum creatinine", "egfr": "eGFR", "crcl": "creatinine clearance",
                  "conditions": "conditions", "painType": "pain", "plannedProcedures": "planned procedure",
                  "outcomes": "outcomes", "gestationalWeeks": "weeks of pregnancy",
                  "childPughClass": "Child-Pugh class"}


def _line_texts(request: dict, section: str) -> list[str]:
    lines = request.get("regimen") if section == "regimen" else (request.get("patient") or {}).get("medications")
    return [ordered_text(line) for line in lines or () if isinstance(line, dict)]


def changes(previous: dict, current: dict) -> dict:
    """What changed from the previous check to this re-check: lines removed, added or changed (matched by drug),
    patient facts changed, findings that are new and findings that are gone (by code and drugs)."""
    def keyed(stored: dict) -> dict[tuple, dict]:
        return {(f.get("code"), tuple(sorted(f.get("drugs") or ()))): f
                for f in (stored.get("response") or {}).get("findings") or ()}

    before, after = keyed(previous), keyed(current)
    old_request = previous.get("request") if isinstance(previous.get("request"), dict) else {}
    new_request = current.get("request") if isinstance(current.get("request"), dict) else {}
    lines = []
    for section, words in (("regimen", "ordered"), ("medications", "already taking")):
        old, new = _line_texts(old_request, section), _line_texts(new_request, section)
        removed = [(i, t) for i, t in enumerate(old) if t not in new]
        added = [(i, t) for i, t in enumerate(new) if t not in old]
        # a changed line: the same drug with another dose or frequency, else a line replaced in its place
        for same in (lambda r, a: r[1].split(" ", 1)[0] == a[1].split(" ", 1)[0], lambda r, a: r[0] == a[0]):
            for gone in list(removed):
                match = next((came for came in added if same(gone, came)), None)
                if match is not None:
                    lines.append({"kind": "changed", "where": words, "before": gone[1], "after": match[1]})
                    removed.remove(gone)
                    added.remove(match)
        lines += [{"kind": "removed", "where": words, "before": t, "after": None} for _, t in removed]
        lines += [{"kind": "added", "where": words, "before": None, "after": t} for _, t in added]
    old_patient = {k: v for k, v in (old_request.get("patient") or {}).items() if k != "medications"}
    new_patient = {k: v for k, v in (new_request.get("patient") or {}).items() if k != "medications"}
    facts = [_PATIENT_WORDS.get(key, key) for key in dict.fromkeys([*old_patient, *new_patient])
             if old_patient.get(key) != new_patient.get(key)]
    return {"lines": lines, "patient": facts,
            "added": [f for key, f in after.items() if key not in before],
            "removed": [f for key, f in before.items() if key not in after],
            "kept": sum(1 for key in after if key in before)}
