"""docs/knowledge-base.md, generated from drugdata/ so that it cannot drift (a test compares the two).

Run `make docs` after changing drugdata/.
"""
from __future__ import annotations

import sys

from .knowledge import EFFECTS, KnowledgeBase, load

_SHORT = {"sedation": "sed", "constipation": "const", "anticholinergic": "ACB", "serotonergic": "5-HT", "qt": "QT",
          "bleeding": "bleed", "gi_ulcer": "GI", "nephrotoxic": "renal", "cns_active": "CNS", "fall_risk": "falls",
          "respiratory_depression": "resp"}


def render(kb: KnowledgeBase) -> str:
    lines = [
        "# Knowledge base",
        "",
        "Generated from `drugdata/` by `make docs`; a test fails when this page and the data differ.",
        f"Knowledge-base version `{kb.version}`: {len(kb.ingredients)} ingredients, {len(kb.classes)} classes, "
        f"{len(kb.products)} RxNorm products, {len(kb.sources)} sources.",
        "",
        "This product uses publicly available data from the U.S. National Library of Medicine (NLM), National "
        "Institutes of Health, Department of Health and Human Services; NLM is not responsible for the product and "
        "does not endorse or recommend this or any other product. See `drugdata/rxnorm/SOURCES.md`.",
        "",
        "## Ingredients",
        "",
        "Effect grades 0-3 (ACB = anticholinergic burden score, QT = CredibleMeds tier); blank is 0. "
        "Facts: M max daily dose, R renal bands, H hepatic, MME conversion factor, B Beers statements.",
        "",
        "| ingredient | RxCUI | classes | " + " | ".join(_SHORT[e] for e in EFFECTS) + " | facts | file |",
        "| --- | --- | --- | " + " | ".join("---" for _ in EFFECTS) + " | --- | --- |",
    ]
    for ingredient in sorted(kb.ingredients.values(), key=lambda i: i.name):
        grades = " | ".join(str(ingredient.effect(e) or "") for e in EFFECTS)
        facts = []
        if ingredient.max_daily_doses:
            facts.append(f"M{len(ingredient.max_daily_doses)}")
        if ingredient.renal:
            facts.append(f"R{len(ingredient.renal)}")
        if ingredient.hepatic:
            facts.append(f"H{len(ingredient.hepatic)}")
        if ingredient.mme_factors:
            facts.append("MME " + ", ".join(f"{m.value:g}/{m.dose_unit} {m.route}" for m in ingredient.mme_factors))
        if ingredient.beers:
            facts.append(f"B{len(ingredient.beers)}")
        classes = ", ".join(ingredient.classes)
        if ingredient.topical_classes:
            classes += " (topical: " + ", ".join(ingredient.topical_classes) + ")"
        lines.append(f"| {ingredient.name} | {ingredient.rxcui} | {classes} | {grades} | {' '.join(facts)} | "
                     f"{ingredient.file} |")
    lines += ["", "## Classes", "", "| class | label | members |", "| --- | --- | --- |"]
    for key, klass in sorted(kb.classes.items()):
        members = ", ".join(sorted(i.name for i in kb.ingredients.values()
                                   if key in i.classes or key in i.topical_classes))
        lines.append(f"| {key} | {klass.label} | {members} |")
    lines += ["", "## Interactions", "",
              "`drugdata/interactions.yaml`: the drugs a row changes (objects) and the drugs that change them "
              "(perpetrators). A fact marked unverified was read only in a secondary copy and raises info at most.",
              "", "| row | category | severity | object | perpetrators | object source | status |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in kb.interactions:
        perpetrators = ", ".join([f.ingredient for f in row.perpetrator_facts]
                                 + [f"{g.label} ({', '.join([m.ingredient for m in g.members] + list(g.classes))})"
                                    for g in row.groups])
        for target in row.objects:
            status = "unverified" if target.unverified else "verified"
            lines.append(f"| {row.key} | {row.category} | {row.severity} | {target.ingredient} | {perpetrators} | "
                         f"{target.source.source_id}: {target.source.locator} | {status} |")
    lines += ["", "## Sources", "", "| id | title | edition | link |", "| --- | --- | --- | --- |"]
    for source_id, source in sorted(kb.sources.items()):
        title = source["title"].replace("|", "/")
        lines.append(f"| {source_id} | {title} | {source['edition'].replace('|', '/')} | <{source['url']}> |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(load()))
