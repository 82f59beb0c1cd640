"""How the FHIR adapter reads medication records: every R4 Dosage shape, the free-text sig as a last resort, the
drug's codings and texts as candidates in fallback order, which records are current, and one medication per drug.
Pure functions over FHIR JSON: no I/O."""
from __future__ import annotations

import datetime as dt

import pytest

from adapters.fhir import (
    FhirInputError,
    MedicationRecord,
    drug_candidates,
    included_medications,
    medication_references,
    one_per_medication,
    read_medication,
)
from adapters.fhir_dosage import parse_sig, read_dosage, read_dosages
from stewardship.model import Dose, DrugLine

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
TABLETS = {"unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}


def per_day(reading) -> float:
    return reading.dose.value * reading.frequency.times_per_day


# ---------------------------------------------------------------------------------------------- dose shapes
def test_a_dose_range_every_4_to_6_hours_counts_at_its_high_end_and_says_so():
    reading = read_dosage({"doseAndRate": [{"doseRange": {"low": {"value": 1, **TABLETS},
                                                          "high": {"value": 2, **TABLETS}}}],
                           "timing": {"repeat": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}},
                           "asNeededBoolean": True})
    assert reading.dose == Dose(2, "tablet") and reading.frequency.times_per_day == 6 and reading.prn
    assert per_day(reading) == 12
    assert any("high end" in note for note in reading.notes)
    assert any("most frequent" in note for note in reading.notes)


def test_a_dose_quantity_in_mg_with_frequency_max_counts_the_most_frequent_reading():
    reading = read_dosage({"doseAndRate": [{"doseQuantity": {"value": 0.6, "unit": "g", "code": "g"}}],
                           "timing": {"repeat": {"frequency": 2, "frequencyMax": 3, "period": 1, "periodUnit": "d"}}})
    assert reading.dose == Dose(600, "mg") and reading.frequency.times_per_day == 3


def test_a_fentanyl_patch_rate_is_a_delivery_rate_in_mcg_per_hour():
    reading = read_dosage({"doseAndRate": [{"rateQuantity": {"value": 25, "unit": "mcg/h", "code": "ug/h"}}],
                           "route": {"coding": [{"system": "http://snomed.info/sct", "code": "45890007"}]},
                           "timing": {"repeat": {"frequency": 1, "period": 72, "periodUnit": "h"}}})
    assert reading.dose == Dose(25, "mcg/h") and reading.route == "transdermal"


def test_an_intravenous_infusion_rate_ratio_is_its_hourly_amount_24_times_a_day():
    reading = read_dosage({"doseAndRate": [{"rateRatio": {"numerator": {"value": 4, "code": "mg"},
                                                          "denominator": {"value": 2, "code": "h"}}}],
                           "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}})
    assert reading.route == "iv" and per_day(reading) == pytest.approx(48)


@pytest.mark.parametrize("code, times", [("BID", 2), ("TID", 3), ("QID", 4), ("Q4H", 6), ("QD", 1), ("QOD", 0.5),
                                         ("AM", 1), ("BED", 1)])
def test_timing_abbreviations_are_administrations_a_day(code, times):
    reading = read_dosage({"timing": {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                                     "v3-GTSAbbreviation", "code": code}]}},
                           "doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}]})
    assert reading.frequency.times_per_day == pytest.approx(times)


def test_when_at_bedtime_is_once_a_day_and_time_of_day_counts_each_time():
    assert read_dosage({"timing": {"repeat": {"when": ["HS"]}}}).frequency.times_per_day == 1
    assert read_dosage({"timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}}}).frequency.times_per_day == 2


def test_bounds_duration_and_bounds_period_are_the_course_length():
    assert read_dosage({"timing": {"repeat": {"boundsDuration": {"value": 5, "code": "d"}}}}).course_days == 5
    assert read_dosage({"timing": {"repeat": {"boundsPeriod": {"start": "2026-11-01", "end": "2026-11-14"}}}}) \
        .course_days == 14


def test_max_dose_per_period_is_a_maximum_per_day_in_r4_and_r5_shapes():
    ratio = {"numerator": {"value": 3000, "code": "mg"}, "denominator": {"value": 1, "code": "d"}}
    assert read_dosage({"maxDosePerPeriod": ratio}).max_daily == Dose(3000, "mg")
    assert read_dosage({"maxDosePerPeriod": [ratio]}).max_daily == Dose(3000, "mg")


def test_an_unreadable_timing_code_or_unit_is_a_problem_not_a_guess():
    reading = read_dosage({"timing": {"code": {"coding": [{"code": "WHENEVER"}]}},
                           "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "furlong"}}]})
    assert reading.dose is None and reading.frequency is None and len(reading.problems) == 2


def test_a_period_without_a_frequency_is_said_not_assumed():
    reading = read_dosage({"timing": {"repeat": {"period": 6, "periodUnit": "h"}}})
    assert reading.frequency is None and reading.problems


# ---------------------------------------------------------------------------------------------- free text
@pytest.mark.parametrize("text, dose, times, prn", [
    ("1-2 tablets every 4-6 hours as needed", Dose(2, "tablet"), 6, True),
    ("Take one tablet by mouth twice daily", Dose(1, "tablet"), 2, False),
    ("10 mg at bedtime", Dose(10, "mg"), 1, False),
    ("take 2 capsules three times a day", Dose(2, "tablet"), 3, False),
    ("500 mg q6h prn pain", Dose(500, "mg"), 4, True),
])
def test_a_free_text_sig_is_read_at_the_high_end(text, dose, times, prn):
    sig = parse_sig(text)
    assert (sig.dose, sig.frequency.times_per_day, sig.prn) == (dose, times, prn)


def test_a_free_text_maximum_per_day_is_read():
    assert parse_sig("1 tablet every 6 hours as needed, max 4 tablets per day").max_daily == Dose(4, "tablet")


def test_text_fills_only_what_structured_elements_left_out_and_says_so():
    reading = read_dosage({"text": "1-2 tablets every 4-6 hours as needed",
                           "doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}]})
    assert reading.dose == Dose(1, "tablet") and reading.frequency.times_per_day == 6
    assert any("read from the dosage text" in note for note in reading.notes)


def test_text_that_says_nothing_readable_leaves_the_dose_unknown():
    reading = read_dosage({"text": "use as directed"})
    assert reading.dose is None and reading.frequency is None


# --------------------------------------------------------------------------------------- several instructions
def test_concurrent_instructions_are_added_up():
    reading = read_dosages([
        {"sequence": 1, "timing": {"repeat": {"when": ["MORN"]}}, "doseAndRate": [{"doseQuantity": {"value": 300, "code": "mg"}}]},
        {"sequence": 1, "timing": {"repeat": {"when": ["HS"]}}, "doseAndRate": [{"doseQuantity": {"value": 600, "code": "mg"}}]}])
    assert per_day(reading) == 900 and any("added up" in note for note in reading.notes)


def test_sequential_instructions_count_the_largest_daily_amount():
    reading = read_dosages([
        {"sequence": 1, "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
         "doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}]},
        {"sequence": 2, "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
         "doseAndRate": [{"doseQuantity": {"value": 2, **TABLETS}}]}])
    assert per_day(reading) == 6 and any("largest daily amount" in note for note in reading.notes)


# ------------------------------------------------------------------------------------------- drug candidates
def test_candidates_are_codes_then_displays_then_text():
    raw = {"medicationCodeableConcept": {"coding": [
        {"system": NDC, "code": "00093-0311-01", "display": "Warfarin 10mg tab"},
        {"system": RXNORM, "code": "855295", "display": "Warfarin Sodium 10 MG Oral Tablet"}],
        "text": "warfarin 10 mg"}}
    found = [(c.source, c.drug) for c in drug_candidates(raw, {})]
    assert found == [("coding (RxNorm)", {"system": RXNORM, "code": "855295"}),
                     ("coding (NDC)", {"system": NDC, "code": "00093-0311-01"}),
                     ("coding.display", "Warfarin 10mg tab"), ("coding.display", "Warfarin Sodium 10 MG Oral Tablet"),
                     ("text", "warfarin 10 mg")]


def test_a_contained_medication_gives_its_code_then_its_ingredients_with_strength_and_form():
    raw = {"contained": [{"resourceType": "Medication", "id": "m1",
                          "code": {"text": "Norco"},
                          "form": {"text": "Oral Tablet"},
                          "ingredient": [
                              {"itemCodeableConcept": {"text": "hydrocodone bitartrate"},
                               "strength": {"numerator": {"value": 10, "unit": "mg"}, "denominator": {"value": 1}}},
                              {"itemCodeableConcept": {"text": "acetaminophen"},
                               "strength": {"numerator": {"value": 325, "unit": "mg"}, "denominator": {"value": 1}}}]}],
           "medicationReference": {"reference": "#m1"}}
    found = [(c.source, c.drug) for c in drug_candidates(raw, {})]
    assert found == [("contained Medication.text", "Norco"),
                     ("contained Medication.ingredient",
                      "hydrocodone bitartrate 10 mg / acetaminophen 325 mg Oral Tablet")]


def test_a_referenced_medication_is_found_in_a_bundle_or_named_for_fetching():
    bundle = {"resourceType": "Bundle", "entry": [
        {"fullUrl": "https://ehr.example.org/fhir/Medication/m2",
         "resource": {"resourceType": "Medication", "id": "m2", "code": {"coding": [{"system": RXNORM, "code": "855332"}]}}}]}
    known = included_medications(bundle)
    raws = [{"medicationReference": {"reference": "Medication/m2"}},
            {"medicationReference": {"reference": "Medication/m3", "display": "warfarin"}},
            {"medicationReference": {"reference": "https://elsewhere.example.org/Medication/m4"}}]
    assert drug_candidates(raws[0], known)[0].drug == {"system": RXNORM, "code": "855332"}
    assert medication_references(raws, known) == ["Medication/m3"]  # never an absolute URL
    assert drug_candidates(raws[1], known)[0].drug == "warfarin"


# ---------------------------------------------------------------------------------------------- records
def dispense(status: str, handed_over: str | None, days: int | None = None, **extra) -> dict:
    raw = {"resourceType": "MedicationDispense", "id": f"d-{status}", "status": status,
           "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "855332"}]},
           "subject": {"reference": "Patient/pt-78"}, **extra}
    if handed_over:
        raw["whenHandedOver"] = handed_over
    if days:
        raw["daysSupply"] = {"value": days, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
    return raw


@pytest.mark.parametrize("raw, current", [
    (dispense("completed", "2026-11-01T10:00:00Z", 30), True),  # day 27 of 30
    (dispense("completed", "2026-10-01T10:00:00Z", 30), False),  # ran out on 30 October
    (dispense("completed", "2026-11-20T10:00:00Z"), True),  # no days' supply: a month, said
    (dispense("in-progress", None), True),
    (dispense("entered-in-error", "2026-11-26T10:00:00Z", 30), False),
    (dispense("declined", "2026-11-26T10:00:00Z", 30), False),
])
def test_a_dispense_is_current_through_its_days_supply(raw, current):
    assert read_medication(raw, "", "x", NOW).current is current


def test_a_dispense_without_days_supply_works_it_out_from_quantity_and_sig():
    raw = dispense("completed", "2026-11-20T10:00:00Z", quantity={"value": 10, **TABLETS},
                   dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}],
                                       "timing": {"code": {"coding": [{"code": "BID"}]}}}])
    record = read_medication(raw, "", "x", NOW)
    assert record.line.duration_days == 5 and not record.current  # 20-24 November


def test_a_record_read_again_is_current_by_the_day_of_each_call_and_where_it_is_named():
    raw = dispense("completed", "2026-11-20T10:00:00Z")  # no days' supply: counted for a month, and said so
    first = read_medication(raw, "", "prefetch.medicationDispenses[0]", NOW)
    later = read_medication(raw, "", "prefetch.medicationDispenses[0]", NOW + dt.timedelta(days=60))
    elsewhere = read_medication(raw, "", "prefetch.medications[3]", NOW)
    assert first.current and not later.current
    assert any("days' supply not given" in note for note in first.line.notes)
    assert not any("days' supply not given" in note for note in later.line.notes)
    assert first == elsewhere  # the same content at another place: the same reading


def test_a_medication_reference_is_read_with_what_the_referenced_medication_says_each_time():
    raw = {"resourceType": "MedicationStatement", "id": "s-ref", "status": "active",
           "subject": {"reference": "Patient/pt-78"}, "medicationReference": {"reference": "Medication/m1"}}
    unknown = read_medication(raw, "", "x", NOW)
    known = read_medication(raw, "", "x", NOW, {"Medication/m1": {
        "resourceType": "Medication", "id": "m1", "code": {"coding": [{"system": RXNORM, "code": "1049621"}]}}})
    assert "not available" in str(unknown.line.drug) and known.line.drug != unknown.line.drug


def administration(status: str, when: str) -> dict:
    return {"resourceType": "MedicationAdministration", "id": f"a-{status}", "status": status,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049621"}]},
            "subject": {"reference": "Patient/pt-78"}, "effectiveDateTime": when,
            "dosage": {"dose": {"value": 5, "code": "mg"}}}


@pytest.mark.parametrize("raw, current", [
    (administration("completed", "2026-11-27T02:00:00Z"), True),
    (administration("completed", "2026-11-25T02:00:00Z"), False),  # more than 24 hours ago
    (administration("in-progress", "2026-11-01T02:00:00Z"), True),
    (administration("not-done", "2026-11-27T02:00:00Z"), False),
])
def test_an_administration_counts_for_24_hours(raw, current):
    assert read_medication(raw, "", "x", NOW).current is current


@pytest.mark.parametrize("status, period, current", [
    ("active", None, True), ("intended", None, True), ("not-taken", None, False),
    ("completed", {"start": "2026-10-01", "end": "2026-11-26"}, True),
    ("stopped", {"start": "2026-01-01", "end": "2026-06-01"}, False),
    ("entered-in-error", None, False)])
def test_a_statement_is_current_by_its_status_and_end(status, period, current):
    raw = {"resourceType": "MedicationStatement", "id": "s", "status": status,
           "medicationCodeableConcept": {"text": "warfarin 5 mg"}, "subject": {"reference": "Patient/pt-78"}}
    if period:
        raw["effectivePeriod"] = period
    assert read_medication(raw, "", "x", NOW).current is current


def test_a_draft_without_intent_status_or_subject_is_read_and_what_was_missing_is_said():
    record = read_medication({"resourceType": "MedicationRequest", "id": "draft-1",
                              "medicationCodeableConcept": {"text": "ibuprofen 600 mg"}}, "regimen[0]", "x", NOW,
                             ordered=True)
    assert record.missing == ("status", "intent", "subject") and record.line.drug == "ibuprofen 600 mg"


def test_a_draft_without_any_medication_cannot_be_read():
    with pytest.raises(FhirInputError):
        read_medication({"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
                         "subject": {"reference": "Patient/1"}}, "regimen[0]", "x", NOW, ordered=True)


# ---------------------------------------------------------------------------------------------- one per drug
def record(reference: str, drug: str, dose: Dose | None = None, start: dt.date | None = None,
           fulfils: tuple[str, ...] = ()) -> MedicationRecord:
    return MedicationRecord(reference, DrugLine("", drug, dose=dose, start_date=start, current=True), True, fulfils)


def by_text(line: DrugLine) -> str:
    return str(line.drug).split()[0]


def test_the_same_drug_as_request_dispense_and_administration_is_one_medication():
    kept = one_per_medication([
        record("MedicationAdministration/a", "warfarin 5 mg", start=dt.date(2026, 11, 27)),
        record("MedicationDispense/d", "warfarin 5 mg tablet", Dose(1, "tablet"), dt.date(2026, 11, 1),
               ("MedicationRequest/r",)),
        record("MedicationRequest/r", "warfarin", start=dt.date(2025, 2, 1))], by_text)
    assert len(kept) == 1
    assert kept[0].reference == "MedicationRequest/r" and kept[0].line.dose == Dose(1, "tablet")
    assert kept[0].line.start_date == dt.date(2025, 2, 1)


def test_two_orders_of_one_drug_at_different_doses_stay_two_medications():
    kept = one_per_medication([record("MedicationRequest/er", "oxycodone", Dose(20, "mg")),
                               record("MedicationRequest/ir", "oxycodone", Dose(5, "mg"))], by_text)
    assert len(kept) == 2
