"""What a patient's conditions mean: contract keywords from a keyword, a SNOMED CT / ICD-10-CM code, or, where no
code is known, the display text matched conservatively; and whether each is current or history.

A condition counts for the rules when it is current, or when it is history and its keyword is one whose history is
the point (`counts_when_resolved` in drugdata/conditions.yaml: "history of gastric or duodenal ulcers", "history of
falls", substance use disorder in remission ...). A resolved heart failure or pregnancy does not count.

The text fallback matches a whole phrase only: after normalisation the text must equal a display of one of the
keyword's value sets, a listed code's display or a synonym, optionally after a history prefix ("history of peptic
ulcer" is peptic-ulcer history). A text that negates, doubts or places the condition in the family is never
matched ("no history of ulcer", "ruled out GI bleed", "family history of epilepsy", "suspected cirrhosis").
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .knowledge import KnowledgeBase

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# FHIR condition-clinical codes (and the native API's words) that make a record history rather than current.
HISTORY_STATUSES = frozenset({"resolved", "inactive", "remission", "history"})
STATUSES = ("active", "recurrence", "relapse", "resolved", "inactive", "remission", "history")

# SNOMED CT semantic tags at the end of a fully specified name, dropped so that "Peptic ulcer (disorder)" and
# "Peptic ulcer" are one phrase.
_SEMANTIC_TAG = re.compile(r"\s*\((disorder|finding|situation|event|person|morphologic abnormality|"
                           r"observable entity|clinical finding)\)\s*$")
_SPELLING = (("haem", "hem"), ("oesoph", "esoph"), ("oedema", "edema"), ("apnoea", "apnea"))
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Cues that the text does not assert the patient has (or had) the condition. Whole words, anywhere in the text.
_NEGATING = tuple(f" {cue} " for cue in (
    "no", "not known", "denies", "denied", "negative for", "ruled out", "rule out", "r o", "rules out", "excluded",
    "absence of", "absent", "never", "free of", "family history", "family hx", "fh", "fhx", "in family", "mother",
    "father", "sibling", "suspected", "suspicion of", "possible", "probable", "query", "questionable", "risk of",
    "at risk", "risk for", "screening", "screen for", "concern for", "evaluate for", "evaluation for", "unlikely",
    "versus", "vs", "without history"))
# Prefixes that place a condition in the past: the rest of the text is the condition.
_HISTORY_PREFIXES = tuple(f"{prefix} " for prefix in (
    "personal history of", "past medical history of", "past history of", "history of", "hx of", "h o", "hx",
    "previous", "prior", "old"))


def normalise(text: str) -> str:
    """Lower case, no semantic tag, British spellings as American, words separated by single spaces."""
    lowered = _SEMANTIC_TAG.sub("", text.strip().lower())
    for british, american in _SPELLING:
        lowered = lowered.replace(british, american)
    return " ".join(_NOT_WORD.sub(" ", lowered).split())


def match_text(text: str, kb: "KnowledgeBase") -> tuple[tuple[str, ...], bool] | None:
    """The keywords a free-text condition names and whether it says history; None when it names none (or negates)."""
    phrase = normalise(text)
    if not phrase or any(cue in f" {phrase} " for cue in _NEGATING):
        return None
    found = kb.condition_keywords_for_phrase(phrase)
    if found:
        return found, phrase.startswith(_HISTORY_PREFIXES)
    for prefix in _HISTORY_PREFIXES:
        if phrase.startswith(prefix):
            found = kb.condition_keywords_for_phrase(phrase[len(prefix):])
            return (found, True) if found else None
    return None


@dataclass(frozen=True)
class UnderstoodCondition:
    """One patient condition as the check understood it."""
    index: int
    keywords: tuple[str, ...]
    history: bool
    matched_by: str  # keyword | code | text
    text: str | None = None  # the text that was matched, for matched_by text

    def as_json(self) -> dict:
        out = {"input": f"patient.conditions[{self.index}]", "keywords": list(self.keywords),
               "status": "history" if self.history else "active", "matchedBy": self.matched_by}
        if self.text is not None:
            out["text"] = self.text
        return out


def _codings(given: Mapping) -> list[Mapping]:
    codings = list(given.get("codings") or [])
    if given.get("code"):
        codings.insert(0, {"system": given.get("system"), "code": given["code"], "display": given.get("display")})
    return codings


def understand(index: int, given: object, kb: "KnowledgeBase") -> UnderstoodCondition | None:
    """A keyword, or a record {keyword | system+code | codings | text, status}: by keyword, then code, then text."""
    if isinstance(given, str):
        return UnderstoodCondition(index, (given,), False, "keyword")
    if not isinstance(given, Mapping):
        return None
    history = given.get("status") in HISTORY_STATUSES
    if given.get("keyword"):
        return UnderstoodCondition(index, (given["keyword"],), history, "keyword")
    codings = _codings(given)
    coded = tuple(dict.fromkeys(k for c in codings if c.get("code")
                                for k in kb.condition_keywords(str(c.get("system")), str(c["code"]))))
    if coded:
        return UnderstoodCondition(index, coded, history, "code")
    for text in [given.get("text")] + [c.get("display") for c in codings]:
        if isinstance(text, str) and (matched := match_text(text, kb)):
            keywords, said_history = matched
            return UnderstoodCondition(index, keywords, history or said_history, "text", text)
    return None


def counted(understood: Iterable[UnderstoodCondition], kb: "KnowledgeBase") -> frozenset[str]:
    """The keywords the rules use: current ones, history ones whose history counts, and what they imply."""
    keywords = {k for u in understood for k in u.keywords
                if not u.history or (k in kb.conditions and kb.conditions[k].counts_when_resolved)}
    return kb.with_implied(keywords)


def described(given: object) -> str:
    """How an input condition reads in a finding: its codes, else its text."""
    if isinstance(given, Mapping):
        codes = [f"{c.get('system', '')}|{c.get('code', '')}" for c in _codings(given) if c.get("code")]
        texts = [t for t in [given.get("text")] + [c.get("display") for c in _codings(given)] if t]
        return "; ".join(codes[:3] + ([f'"{texts[0]}"'] if texts else [])) or "(empty)"
    return str(given)
