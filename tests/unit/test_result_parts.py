"""The result page's parts in words (issue 14): units and labels instead of machine keys, each source once, what
changed between two checks, and a stored check back in the form with a suggestion applied."""
from __future__ import annotations

from werkzeug.datastructures import MultiDict

from web import check_form, render

BEERS = "American Geriatrics Society 2023 updated AGS Beers Criteria (2023)"
ORDERABLES = {"acetaminophen": {"display": "acetaminophen 500 MG Oral Tablet", "dose": {"value": 1, "unit": "{tablet}"},
                                "every_hours": 6, "prn": True},
              "naloxone": {"display": "naloxone hydrochloride 40 MG/ML Nasal Spray", "dose": {"value": 1,
                                                                                              "unit": "{spray}"},
                           "prn": True}}


def test_a_work_cited_three_times_is_one_source_with_its_places():
    listed = render.sources([{"citation": f"{BEERS}, Table 2, skeletal muscle relaxants", "url": "https://doi.org/x"},
                             {"citation": f"{BEERS}, Table 2", "url": "https://doi.org/x"},
                             {"citation": f"{BEERS}, Table 4", "url": "https://doi.org/x"},
                             {"citation": "CDC 2022", "url": "https://cdc.gov"}])
    assert listed == [{"url": "https://doi.org/x", "title": BEERS, "places": ["Table 2, skeletal muscle relaxants",
                                                                             "Table 4"]},
                      {"url": "https://cdc.gov", "title": "CDC 2022", "places": []}]


def test_machine_keys_read_as_words_and_units():
    assert render.renal_inputs({"ageYears": 78, "weightKg": 61.0, "sex": "female", "serumCreatinineMgDl": 1.1,
                                "weight": "actual body weight"}) == \
        "age 78 years, weight 61 kg (actual body weight), female, serum creatinine 1.1 mg/dL"
    assert render.frequency_text({"timesPerDay": 3}) == "3 times a day" and render.frequency_text("TID") == "TID"
    assert render.with_line_words("Keep one; stop acetaminophen (regimen[1])") == \
        "Keep one; stop acetaminophen (ordered line 2)"
    assert render.ordered_text({"drug": "tramadol", "dose": {"value": 50, "unit": "mg"}, "frequency": "q6h",
                                "prn": True, "durationDays": 1}) == "tramadol 50 mg q6h as needed, 1 day"
    assert render.drug_text({"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"}) == \
        "RxNorm 5640"
    assert (render.plural(1, "finding"), render.plural(2, "finding")) == ("1 finding", "2 findings")
    assert (render.number(1800.0), render.number(2.5), render.number(141.3)) == ("1,800", "2.5", "141.3")


def _stored(request: dict, findings: list[dict]) -> dict:
    return {"request": request, "response": {"findings": findings}}


def test_what_changed_pairs_a_replaced_line_and_lists_findings_gone_and_new():
    before = {"patient": {"age": 78}, "regimen": [
        {"drug": "ibuprofen", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID"},
        {"drug": "tramadol", "dose": {"value": 50, "unit": "mg"}, "frequency": "q6h"}]}
    after = {"patient": {"age": 79}, "regimen": [
        {"drug": "acetaminophen", "dose": {"value": 500, "unit": "mg"}, "frequency": "q6h"},
        {"drug": "tramadol", "dose": {"value": 25, "unit": "mg"}, "frequency": "q6h"}]}
    bleed = {"code": "bleeding.anticoagulant_nsaid", "drugs": ["warfarin", "ibuprofen"], "summary": "bleed"}
    bowel = {"code": "constipation.opioid_without_bowel_regimen", "drugs": ["tramadol"], "summary": "bowel"}
    liver = {"code": "hepatic.x", "drugs": ["acetaminophen"], "summary": "liver"}
    changed = render.changes(_stored(before, [bleed, bowel]), _stored(after, [bowel, liver]))
    assert changed["lines"] == [
        {"kind": "changed", "where": "ordered", "before": "tramadol 50 mg q6h", "after": "tramadol 25 mg q6h"},
        {"kind": "changed", "where": "ordered", "before": "ibuprofen 600 mg TID", "after": "acetaminophen 500 mg q6h"}]
    assert changed["patient"] == ["age"]
    assert (changed["removed"], changed["added"], changed["kept"]) == ([bleed], [liver], 1)


def test_a_stored_request_opens_in_the_form_and_goes_back_as_it_was_sent():
    sent = {"patient": {"age": 70, "weight": {"value": 61.5, "unit": "kg"}, "crcl": {"value": 50, "unit": "mL/min"},
                        "conditions": ["ckd", {"system": "http://snomed.info/sct", "code": "431857002"}],
                        "medications": [{"drug": "warfarin", "startDate": "2025-01-02"}]},
            "regimen": [{"drug": {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"},
                         "dose": {"value": 400, "unit": "mg"}, "frequency": {"timesPerDay": 3}, "prn": True}],
            "asOf": "2026-11-27"}
    typed, left_out = check_form.form_from_request(sent)
    assert typed.regimen[0]["drug"] == "rxcui:5640" and typed.regimen[0]["frequency"] == "3 times a day"
    assert typed.conditions == ["ckd"] and typed.medications[0]["startDate"] == "2025-01-02"
    assert any("codes" in item for item in left_out) and "creatinine clearance" in left_out
    assert any("2026-11-27" in item for item in left_out)
    posted = MultiDict([(name, value) for name, value in typed.fields.items()]
                       + [("patient.conditions", c) for c in typed.conditions]
                       + [(f"regimen[0].{k}", v) for k, v in typed.regimen[0].items()]
                       + [(f"patient.medications[0].{k}", v) for k, v in typed.medications[0].items()])
    body = check_form.check_body(check_form.read_form(posted))
    assert body["regimen"] == [{"drug": "rxcui:5640", "dose": {"value": 400, "unit": "mg"},
                                "frequency": {"timesPerDay": 3}, "prn": True}]
    assert body["patient"]["weight"] == {"value": 61.5, "unit": "kg"}


def test_a_suggestion_applied_replaces_removes_or_adds_a_line():
    sent = {"patient": {"age": 78}, "regimen": [{"drug": "ibuprofen", "dose": {"value": 600, "unit": "mg"},
                                                 "frequency": "TID"}, {"drug": "tramadol"}], "previousCheckId": "x"}
    body, done = check_form.apply_suggestion(sent, {"action": "substitute", "line": "regimen[0]",
                                                    "substitute": "acetaminophen"}, ORDERABLES)
    assert done == "Replace ibuprofen with acetaminophen 500 MG Oral Tablet" and "previousCheckId" not in body
    assert body["regimen"][0] == {"drug": "acetaminophen 500 MG Oral Tablet", "dose": {"value": 1, "unit": "tablet"},
                                  "frequency": "q6h", "prn": True}
    body, done = check_form.apply_suggestion(sent, {"action": "stop", "line": "regimen[1]"}, ORDERABLES)
    assert [line["drug"] for line in body["regimen"]] == ["ibuprofen"] and done == "Stop tramadol"
    body, _ = check_form.apply_suggestion(sent, {"action": "offer_naloxone", "drug": "naloxone"}, ORDERABLES)
    assert body["regimen"][-1] == {"drug": "naloxone hydrochloride 40 MG/ML Nasal Spray", "prn": True}  # no spray unit
    assert check_form.apply_suggestion(sent, {"action": "monitor", "label": "Watch"}, ORDERABLES) is None
    assert sent["regimen"][0]["drug"] == "ibuprofen"  # the stored request itself is never changed


def test_form_errors_name_fields_as_the_form_labels_them():
    assert check_form.field_words("regimen[1].frequency") == "Ordered line 2: how often"
    assert check_form.field_words("patient.weight") == "Weight"
