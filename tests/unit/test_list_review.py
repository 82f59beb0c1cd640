"""A check with no order reviews the current medication list as a whole (what a population sweep asks, issue 16):
the same findings come from the list as from ordering the same drugs, and a clean list raises nothing."""
from __future__ import annotations

import datetime as dt

from tests.unit.clinical import AS_OF, line, patient


def test_an_nsaid_on_the_list_at_crcl_under_30_is_flagged_without_an_order(check):
    listed = check(patient(age=70, crcl=25, meds=(line("naproxen", 500, freq="BID"),)))
    ordered = check(patient(age=70, crcl=25), line("naproxen", 500, freq="BID"))

    assert "renal" in listed.categories() and listed.alerts()
    assert listed.alerts() == ordered.alerts()
    assert all(ref.startswith("patient.medications") for f in listed.findings for ref in f.lines)


def test_an_opioid_with_a_benzodiazepine_on_the_list_is_flagged_without_an_order(check):
    listed = check(patient(age=50, meds=(line("oxycodone", 5, freq="q6h"), line("diazepam", 5, freq="BID"))))
    ordered = check(patient(age=50, meds=(line("diazepam", 5, freq="BID"),)), line("oxycodone", 5, freq="q6h"))

    assert "sedation" in listed.categories()
    assert listed.alerts() == ordered.alerts()


def test_a_gabapentinoid_taken_past_its_review_date_is_said_on_the_list(check):
    started = AS_OF - dt.timedelta(weeks=10)
    listed = check(patient(age=50, meds=(line("gabapentin", 300, freq="TID", start=started),)))

    assert "stopping_rule" in listed.categories()


def test_a_clean_list_raises_nothing(check):
    listed = check(patient(age=45, crcl=90, meds=(line("acetaminophen", 500, freq="q6h"),)))

    assert not listed.alerts()
