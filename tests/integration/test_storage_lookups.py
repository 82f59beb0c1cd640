"""The store's look-ups by a list of values (cards already shown, a course's reminders, a user's recent checks) find
exactly what was stored, whatever the list's length: they run as IN lists of a fixed number of parameters, the values
repeated to fill them (adapters/storage.py). On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from adapters.storage import cds_card_findings, cds_cards, cds_hook_calls

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)


def _cards_with_findings(store, patient: str, hook: str, fingerprints: list[str], at: dt.datetime) -> None:
    """One hook call with one card standing for these findings."""
    call = f"{patient}-{hook}-{at:%d%H%M}"
    with store.engine.begin() as connection:
        connection.execute(cds_hook_calls.insert().values(hook_instance=call, service_id=hook, hook=hook,
                                                          response={}, created_at=at))
        connection.execute(cds_cards.insert().values(
            uuid=call, hook_instance=call, hook=hook, patient_ref=patient, fingerprint="card",
            code="renal.nsaid.avoid", category="renal", indicator="critical", summary="Avoid", suggestions=[],
            created_at=at))
        connection.execute(cds_card_findings.insert(), [
            {"card_uuid": call, "fingerprint": fingerprint, "code": "renal.nsaid.avoid", "category": "renal",
             "severity": "critical"} for fingerprint in fingerprints])


@pytest.mark.parametrize("asked", [1, 3, 4, 5, 17, 33])
def test_cards_shown_are_found_among_any_number_of_fingerprints_asked(app, asked):
    store = app.extensions["store"]
    shown = [f"{n:064x}" for n in range(0, 40, 2)]  # every even one was on a card at order-select
    _cards_with_findings(store, "Patient/1", "order-select", shown, NOW)
    _cards_with_findings(store, "Patient/2", "order-select", [f"{n:064x}" for n in range(40)], NOW)  # another's
    _cards_with_findings(store, "Patient/1", "order-sign", [f"{n:064x}" for n in range(40)], NOW)  # another hook
    _cards_with_findings(store, "Patient/1", "order-select", [f"{n:064x}" for n in range(40)],
                         NOW - dt.timedelta(days=2))  # before the window
    fingerprints = [f"{n:064x}" for n in range(asked)]
    found = store.cards_shown("Patient/1", fingerprints, "order-select", NOW - dt.timedelta(hours=1))
    assert found == {f for f in fingerprints if f in shown}


def test_a_course_reminder_already_scheduled_is_reused_whatever_the_number_of_drugs_planned(app):
    store = app.extensions["store"]
    plans = [{"drug": drug, "startDate": dt.date(2026, 11, 1), "kind": "review", "due": dt.date(2026, 11, 29),
              "rule": "stopping.review", "message": f"Review {drug}"}
             for drug in ("gabapentin", "pregabalin", "duloxetine", "amitriptyline", "nortriptyline")]
    with store.engine.begin() as connection:
        first, created = store._ensure_reminders(connection, "Patient/1", plans[:1])
    assert len(created) == 1
    with store.engine.begin() as connection:
        again, created_again = store._ensure_reminders(connection, "Patient/1", plans)
    assert again[0]["id"] == first[0]["id"] and len(created_again) == 4
    assert [r["drug"] for r in again] == [p["drug"] for p in plans]
