"""The engine on generated patients and regimens (hypothesis): it never crashes, and every finding is well formed."""
from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stewardship.dosing import parse_frequency
from stewardship.model import CheckRequest, Dose, DrugLine, Patient, PlannedProcedure

DRUGS = ["ibuprofen", "Norco 10/325", "oxycodone", "gabapentin", "warfarin", "sertraline", "acetaminophen",
         "fentanyl 25 mcg/hr patch", "methadone", "unicorn tears", {"system": "http://www.nlm.nih.gov/research/"
                                                                            "umls/rxnorm", "code": "857001"}]
lines = st.builds(
    lambda drug, value, unit, frequency, prn, days: (drug, Dose(value, unit) if value else None,
                                                      parse_frequency(frequency) if frequency else None, prn, days),
    st.one_of(st.sampled_from(DRUGS), st.text(max_size=30)),
    st.one_of(st.none(), st.floats(min_value=0.01, max_value=5000, allow_nan=False)),
    st.sampled_from(["mg", "tablet", "mcg/h", "mL"]),
    st.one_of(st.none(), st.sampled_from(["daily", "BID", "TID", "q4-6h", "q72h", "weekly", "once"])),
    st.booleans(), st.one_of(st.none(), st.integers(min_value=1, max_value=400)))


@given(age=st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
       crcl=st.one_of(st.none(), st.floats(min_value=0, max_value=300, allow_nan=False)),
       conditions=st.lists(st.sampled_from(["ckd", "dialysis", "peptic_ulcer", "long_qt", "pregnancy", "falls",
                                            "sleep_apnea"]), max_size=4),
       regimen=st.lists(lines, max_size=6), meds=st.lists(lines, max_size=4),
       procedure=st.one_of(st.none(), st.sampled_from(["scs_trial", "facet_rfa", "trigger_point_injection"])))
@hypothesis_settings(max_examples=120, deadline=None, database=None)
def test_the_engine_never_crashes_on_generated_patients_and_regimens(engine, age, crcl, conditions, regimen, meds,
                                                                    procedure):
    def drug_lines(prefix: str, items: list, current: bool) -> tuple:
        return tuple(DrugLine(ref=f"{prefix}[{i}]", drug=d, dose=dose, frequency=f, prn=prn, duration_days=days,
                              current=current) for i, (d, dose, f, prn, days) in enumerate(items))

    planned = (PlannedProcedure(procedure, dt.date(2026, 12, 10)),) if procedure else ()
    request = CheckRequest(Patient(id="fuzz", age_years=age, crcl_ml_min=crcl, conditions=tuple(conditions),
                                   medications=drug_lines("patient.medications", meds, True),
                                   planned_procedures=planned),
                           drug_lines("regimen", regimen, False), dt.date(2026, 11, 27))
    result = engine.check(request)
    for finding in result.findings:
        assert len(finding.summary) < 140 and finding.evidence and finding.severity in ("info", "warning", "critical")
