"""One action per drug (issue 14): a dozen findings read as the few actions a pharmacist would write down."""
from __future__ import annotations

from stewardship.actions import Line, plan_actions, regimen_level
from tests.unit.clinical import line, patient

MG = "mg"


def _rows(outcome, lines):
    findings = [finding.as_json(str(index)) for index, finding in enumerate(outcome.findings)]
    rows = plan_actions(findings, lines)
    return {row.line.drug if row.line else "regimen": row for row in rows}, findings


def test_the_older_adult_on_warfarin_and_sertraline_reads_as_four_actions(check):
    """The issue's case: ibuprofen + tramadol + cyclobenzaprine at 78 with warfarin and sertraline."""
    outcome = check(patient(age=78, sex="female", weight=61, scr=1.1, patient_id=None,
                            meds=(line("warfarin", 5, MG, "daily"), line("sertraline", 50, MG, "daily"))),
                    line("ibuprofen", 600, MG, "TID"), line("tramadol", 50, MG, "q6h", prn=True),
                    line("cyclobenzaprine", 10, MG, "TID"))
    lines = [Line("regimen[0]", "ibuprofen", ("ibuprofen",)), Line("regimen[1]", "tramadol", ("tramadol",)),
             Line("regimen[2]", "cyclobenzaprine", ("cyclobenzaprine",)),
             Line("patient.medications[0]", "warfarin", ("warfarin",)),
             Line("patient.medications[1]", "sertraline", ("sertraline",))]
    rows, findings = _rows(outcome, lines)
    assert len(findings) >= 10
    assert list(rows) == ["ibuprofen", "tramadol", "cyclobenzaprine", "regimen"]  # the current drugs stay as they are
    assert rows["ibuprofen"].severity == "critical"
    assert rows["ibuprofen"].action == "substitute" and "acetaminophen" in rows["ibuprofen"].suggestions[0]["label"]
    assert findings[rows["ibuprofen"].reasons[0]]["code"] == "bleeding.anticoagulant_nsaid"  # most severe first
    assert rows["cyclobenzaprine"].action == "substitute"
    assert {findings[i]["code"] for i in rows["cyclobenzaprine"].reasons} >= {
        "anticholinergic.acb_total", "geriatric.beers.cyclobenzaprine", "serotonergic.combination"}
    advice = rows["regimen"].suggestions
    assert [s["action"] for s in advice] == ["add_drug", "offer_naloxone"]  # a laxative and naloxone, once each
    every_reason = {i for row in rows.values() for i in row.reasons}
    assert every_reason == set(range(len(findings)))  # nothing is left out of the summary


def test_an_acetaminophen_overdose_from_two_products_stops_the_extra_product(check):
    outcome = check(patient(age=50), line("Norco 5/325", 2, "tablet", "q4h"), line("acetaminophen", 1000, MG, "TID"))
    rows, _ = _rows(outcome, [Line("regimen[0]", "Norco 5/325", ("hydrocodone", "acetaminophen")),
                              Line("regimen[1]", "acetaminophen", ("acetaminophen",))])
    assert rows["acetaminophen"].action == "stop" and rows["acetaminophen"].severity == "critical"
    assert rows["Norco 5/325"].action == "reduce_dose"


def _finding(code, severity, refs, *suggestions, drugs=()):
    return {"code": code, "severity": severity, "lines": list(refs), "drugs": list(drugs),
            "summary": code, "suggestions": list(suggestions)}


def test_a_stop_outranks_a_dose_change_and_a_warning_outranks_an_info_note():
    lines = [Line("regimen[0]", "drug A", ("a",))]
    findings = [_finding("x.info", "info", ["regimen[0]"],
                         {"label": "Stop a", "action": "stop", "line": "regimen[0]"}),
                _finding("x.reduce", "warning", ["regimen[0]"], {"label": "Reduce a", "action": "reduce_dose",
                                                                  "drug": "a"}),
                _finding("x.stop", "warning", ["regimen[0]"], {"label": "Stop a now", "action": "stop", "drug": "a"})]
    row, = plan_actions(findings, lines)
    assert row.suggestions[0]["label"] == "Stop a now" and row.reasons == [1, 2, 0]


def test_a_suggestion_aimed_at_another_line_is_not_this_lines_action():
    lines = [Line("regimen[0]", "Norco", ("hydrocodone", "acetaminophen")),
             Line("regimen[1]", "apap", ("acetaminophen",))]
    duplicate = _finding("dup", "warning", ["regimen[0]", "regimen[1]"],
                         {"label": "Keep one; stop apap", "action": "stop", "line": "regimen[1]"})
    first, second = plan_actions([duplicate], lines)
    assert first.suggestions == [] and first.action == "note" and second.action == "stop"


def test_a_finding_about_a_current_drug_and_an_order_is_acted_on_through_the_order():
    lines = [Line("regimen[0]", "ibuprofen", ("ibuprofen",)), Line("patient.medications[0]", "warfarin", ("warfarin",))]
    pair = _finding("bleed", "critical", ["patient.medications[0]", "regimen[0]"])
    taper = _finding("taper", "warning", ["patient.medications[0]"],
                     {"label": "Taper warfarin", "action": "taper", "line": "patient.medications[0]"})
    rows = plan_actions([pair, taper], lines)
    assert [(row.line.drug, row.reasons) for row in rows] == [("ibuprofen", [0]), ("warfarin", [1])]


def test_naloxone_is_regimen_advice_and_a_ppi_beside_a_substitute_belongs_to_the_nsaid():
    laxative = {"label": "Add a laxative", "action": "add_drug", "drug": "polyethylene glycol 3350"}
    ppi = {"label": "Add a PPI", "action": "add_drug", "drug": "omeprazole"}
    instead = {"label": "Use acetaminophen", "action": "substitute", "drug": "ibuprofen"}
    assert regimen_level(laxative, [laxative])
    assert not regimen_level(ppi, [ppi, instead])
    assert regimen_level({"label": "Offer naloxone", "action": "offer_naloxone"}, [instead])
    short, long = ({"label": label, "action": "offer_naloxone", "drug": "naloxone"}
                   for label in ("Offer naloxone", "Prescribe naloxone nasal spray"))
    findings = [_finding("a", "warning", ["regimen[0]"], short), _finding("b", "warning", ["regimen[0]"], long)]
    rows = plan_actions(findings, [Line("regimen[0]", "oxycodone", ("oxycodone",))])
    assert len(rows) == 1 and rows[0].line is None and rows[0].suggestions == [long] and rows[0].reasons == [0, 1]


def test_a_check_stored_before_findings_named_their_lines_is_grouped_by_drug_name():
    finding = {"code": "old", "severity": "warning", "drugs": ["tramadol"], "summary": "old", "suggestions": []}
    row, = plan_actions([finding], [Line("regimen[0]", "Ultram 50 mg", ("tramadol",))])
    assert row.reasons == [0] and row.action == "note"
