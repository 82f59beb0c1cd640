"""Optional online fallback: the NLM RxNav REST API, asked only for what the offline subset does not know.

Off unless STEWARDSHIP_RXNAV_URL is set. Every answer (found or not found) is kept in a persistent SQLite cache,
so a code is looked up once; a network failure or timeout is not cached and simply means "not known" (the line
then becomes an `unresolved` finding): the service never fails because RxNav is slow or away.
Endpoints used (RxNav REST): `/REST/rxcui/{rxcui}/related.json?tty=IN` (ingredients of any concept) and
`/REST/approximateTerm.json?term=...&maxEntries=1` (best concept for free text).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import requests

log = logging.getLogger(__name__)


class RxNavClient:
    def __init__(self, base_url: str, timeout: float, cache_path: Path | str) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_path = Path(cache_path)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.session = requests.Session()
        with self._cache() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS rxnav_cache (key TEXT PRIMARY KEY, body TEXT NOT NULL, "
                               "fetched_at REAL NOT NULL)")

    def _cache(self) -> sqlite3.Connection:
        return sqlite3.connect(self.cache_path, timeout=5)

    def _get(self, path: str, params: dict[str, str]) -> dict | None:
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        with self._cache() as connection:
            row = connection.execute("SELECT body FROM rxnav_cache WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return json.loads(row[0])
        try:
            response = self.session.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as error:
            log.warning("rxnav unreachable (%s): %s", type(error).__name__, path)
            return None
        if response.status_code == 404:
            body: dict = {}
        elif response.ok:
            try:
                body = response.json()
            except ValueError:
                log.warning("rxnav answered non-JSON for %s", path)
                return None
        else:
            log.warning("rxnav answered %s for %s", response.status_code, path)
            return None
        with self._cache() as connection:
            connection.execute("INSERT OR REPLACE INTO rxnav_cache (key, body, fetched_at) VALUES (?, ?, ?)",
                               (key, json.dumps(body), time.time()))
        return body

    def ingredients_for_rxcui(self, rxcui: str) -> list[tuple[str, str]] | None:
        body = self._get(f"/REST/rxcui/{rxcui}/related.json", {"tty": "IN"})
        groups = ((body or {}).get("relatedGroup") or {}).get("conceptGroup") or []
        found = [(concept["rxcui"], concept["name"]) for group in groups if group.get("tty") == "IN"
                 for concept in group.get("conceptProperties") or []]
        return found or None

    def rxcui_for_text(self, text: str) -> str | None:
        body = self._get("/REST/approximateTerm.json", {"term": text, "maxEntries": "1"})
        candidates = ((body or {}).get("approximateGroup") or {}).get("candidate") or []
        return candidates[0].get("rxcui") if candidates else None
