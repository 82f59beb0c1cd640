"""docs/findings.md, generated from config/rules.yaml, config/drug_disease.yaml and drugdata/ (`make docs`):
every finding code with its rule, threshold, severity and sources. A test fails when the page and the rules differ."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from .knowledge import Citation, KnowledgeBase, load
from .rulebook import Rulebook, load_rulebook


def _severity(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{case}: {severity}" for case, severity in value.items())
    return str(value or "(per entry)")


def _cited(sources: Iterable[Citation]) -> str:
    return "; ".join(f"{c.title} ({c.edition}), {c.locator}" for c in sources)


def _thresholds(values: Mapping[str, float]) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in values.items()) or "-"


def render(kb: KnowledgeBase, rulebook: Rulebook) -> str:
    lines = ["# Finding codes", "",
             "Generated from `config/rules.yaml`, `config/drug_disease.yaml` and `drugdata/` by `make docs`; a test "
             "fails when this page and the rules differ. Severity: `critical` do not sign as is, `warning` act or "
             "justify, `info` worth knowing. Each rule can be switched off in `config/rules.yaml` (`enabled: false`) "
             "or in a site override file named by `STEWARDSHIP_RULES`.", ""]
    category = None
    for key, rule in sorted(rulebook.rules.items(), key=lambda item: (item[1].category, item[0])):
        if rule.category != category:
            category = rule.category
            lines += [f"## {category}", ""]
        lines += [f"### `{rule.codes or key}`{'' if rule.enabled else ' (disabled)'}", "",
                  f"- **When**: {rule.when}", f"- **Then**: {rule.then}",
                  f"- **Severity**: {_severity(rule.severity)}", f"- **Thresholds**: {_thresholds(rule.thresholds)}"]
        if rule.classes:
            lines.append(f"- **Classes**: {', '.join(rule.classes)}")
        lines.append("- **Sources**: " + _cited(rule.sources))
        lines += [f"- **Sources for {case}**: " + _cited(sources) for case, sources in rule.case_sources.items()]
        lines.append("")
        if key == "renal.band":
            lines += ["| drug | band | action | reduced maximum | source |", "| --- | --- | --- | --- | --- |"]
            for ingredient in sorted(kb.ingredients.values(), key=lambda i: i.name):
                for band in ingredient.renal:
                    limit = f"{band.max_daily_dose.value:g} {band.max_daily_dose.unit}/day" \
                        if band.max_daily_dose else "-"
                    if band.min_interval_hours:
                        limit += f", every {band.min_interval_hours:g} h at most"
                    release = f" ({band.release} release)" if band.release != "any" else ""
                    lines.append(f"| {ingredient.name}{release} | {band.label} | {band.action} | {limit} | "
                                 f"{band.source.text} |")
            lines.append("")
        if key == "hepatic.band":
            lines += ["| drug | Child-Pugh | action | source |", "| --- | --- | --- | --- |"]
            for ingredient in sorted(kb.ingredients.values(), key=lambda i: i.name):
                for fact in ingredient.hepatic:
                    lines.append(f"| {ingredient.name} | {fact.severity_class} | {fact.action} | {fact.source.text} |")
            lines.append("")
        if key == "stopping_rule.course":
            lines += ["| stopping rule | classes | review | decision | re-review after benefit | sources |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for stop in rulebook.stopping.rules:
                lines.append(f"| {stop.label} | {', '.join(stop.classes)}"
                             f"{' (' + ', '.join(stop.pain_types) + ' pain)' if stop.pain_types else ''} | "
                             f"{stop.review_days} days | {stop.decision_days} days | {stop.re_review_days} days | "
                             + "; ".join(f"{c.title}, {c.locator}" for c in stop.sources) + " |")
            lines += ["", f"Benefit: {rulebook.stopping.benefit}", ""]
        if key.endswith(".interaction"):
            lines += ["| code | severity | objects | source of each object |", "| --- | --- | --- | --- |"]
            for row in kb.interactions:
                if row.category == rule.category:
                    severity = row.severity + (f" ({row.severity_moderate} with a moderate inhibitor only)"
                                               if row.severity_moderate else "")
                    lines.append(f"| `{key}.{row.key}`{'' if row.enabled else ' (disabled)'} | {severity} | "
                                 + ", ".join(o.ingredient + (" (unverified: info)" if o.unverified else "")
                                             for o in row.objects) + " | "
                                 + "; ".join(f"{o.source.source_id}: {o.source.locator}" for o in row.objects) + " |")
            lines.append("")
        if key == "drug_disease.table":
            lines += ["| code | condition | severity | sources |", "| --- | --- | --- | --- |"]
            for entry in rulebook.drug_disease:
                lines.append(f"| `drug_disease.{entry.key}`{'' if entry.enabled else ' (disabled)'} | "
                             f"{entry.condition} | {entry.severity} | "
                             + "; ".join(f"{c.title}, {c.locator}" for c in entry.sources) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    knowledge_base = load()
    sys.stdout.write(render(knowledge_base, load_rulebook(knowledge_base)))
