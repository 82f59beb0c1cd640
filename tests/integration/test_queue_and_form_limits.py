"""The pages share the API's limits (issue 13, item 9): the queue page comes 50 items a page with links between
pages, and the form is held to the same checks per minute as the API."""
from __future__ import annotations

from dataclasses import replace

import pytest

from api import create_app
from stewardship import accounts
from tests.integration.test_pages import OLDER_CKD_FORM, PASSWORD, _submit, sign_in


def test_the_queue_page_shows_fifty_items_and_links_to_the_next_page(client, app):
    store = app.extensions["store"]
    accounts.add_user(store, "pat.pharmacist", "pharmacist", PASSWORD)
    headers = {"Authorization": f"Bearer {accounts.create_token(store, 'pat.pharmacist')}"}
    body = {"patient": {"age": 70, "crcl": {"value": 25, "unit": "mL/min"}},
            "regimen": [{"drug": "ibuprofen", "dose": {"value": 400, "unit": "mg"}, "frequency": "TID"}]}
    for _ in range(51):
        assert client.post("/api/v1/checks", json=body, headers=headers).status_code == 201
    sign_in(client, "pat.pharmacist")
    first = client.get("/reviews").get_data(as_text=True)
    assert first.count('<tr class="open">') == 50 and "Items 1–50" in first
    assert 'rel="next" href="/reviews?status=open&amp;severity=&amp;category=&amp;age=&amp;offset=50"' in first
    second = client.get("/reviews?offset=50").get_data(as_text=True)
    assert second.count('<tr class="open">') == 1 and 'rel="prev"' in second and 'rel="next"' not in second
    assert client.get("/reviews?offset=-5").status_code == 400


@pytest.fixture
def limited_app(settings):
    application = create_app(replace(settings, checks_per_minute=2))
    yield application
    application.extensions["store"].engine.dispose()


def test_the_form_is_held_to_the_checks_per_minute(limited_app):
    client = limited_app.test_client()
    accounts.add_user(limited_app.extensions["store"], "dr.lee", "prescriber", PASSWORD)
    sign_in(client, "dr.lee")
    assert [_submit(client, OLDER_CKD_FORM).status_code for _ in range(2)] == [303, 303]
    refused = _submit(client, OLDER_CKD_FORM)
    assert refused.status_code == 429 and "Wait" in refused.get_data(as_text=True)
