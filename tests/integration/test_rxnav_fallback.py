"""The optional RxNav fallback, against a real RxNav-shaped server on 127.0.0.1: used only for what the offline
subset lacks, cached on disk, bounded by its timeout, and harmless when the server is away."""
from __future__ import annotations

import socket
import time

import pytest

from adapters.rxnav import RxNavClient
from stewardship.terminology import Resolver
from tests.rxnav_server import RxNavServer


@pytest.fixture
def rxnav():
    with RxNavServer(delay=2.0) as server:
        yield server


def _resolver(kb, url: str, tmp_path, timeout: float = 1.0) -> Resolver:
    return Resolver(kb, RxNavClient(url, timeout, tmp_path / "rxnav-cache.sqlite3"))


def test_a_code_the_offline_subset_lacks_is_resolved_online(kb, rxnav, tmp_path):
    result = _resolver(kb, rxnav.url, tmp_path).resolve_rxcui("99999901")
    assert result.resolved and result.matched_by == "rxnav"
    assert [(i.name, i.rxcui, i.known) for i in result.ingredients] == [("ibuprofen", "5640", True)]


def test_free_text_the_offline_index_does_not_know_is_asked_online(kb, rxnav, tmp_path):
    result = _resolver(kb, rxnav.url, tmp_path).resolve_text("Brufen forte")
    assert result.resolved and [i.name for i in result.ingredients] == ["ibuprofen"]


def test_an_ingredient_outside_the_knowledge_base_is_marked_unknown(kb, rxnav, tmp_path):
    result = _resolver(kb, rxnav.url, tmp_path).resolve_rxcui("99999904")
    assert result.resolved and result.unknown_ingredients[0].name == "simvastatin"


def test_offline_knowledge_is_used_first_without_asking_rxnav(kb, rxnav, tmp_path):
    _resolver(kb, rxnav.url, tmp_path).resolve_rxcui("197806")
    assert sum(rxnav.hits.values()) == 0


def test_answers_are_cached_on_disk_across_restarts(kb, rxnav, tmp_path):
    _resolver(kb, rxnav.url, tmp_path).resolve_rxcui("99999903")
    again = _resolver(kb, rxnav.url, tmp_path).resolve_rxcui("99999903")
    assert {i.name for i in again.ingredients} == {"acetaminophen", "oxycodone"}
    assert rxnav.hits["/REST/rxcui/99999903/related.json"] == 1


def test_a_slow_server_costs_at_most_its_timeout_and_yields_unresolved(kb, rxnav, tmp_path):
    started = time.monotonic()
    result = _resolver(kb, rxnav.url, tmp_path, timeout=0.3).resolve_rxcui("99999902")
    assert time.monotonic() - started < 1.5
    assert not result.resolved


def test_no_server_at_all_is_not_a_failure(kb, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _resolver(kb, f"http://127.0.0.1:{port}", tmp_path, timeout=0.5).resolve_rxcui("99999901")
    assert not result.resolved and "99999901" in result.reason


def test_the_fallback_is_off_by_default():
    from settings import Settings

    assert Settings.from_env({}).rxnav_url is None
