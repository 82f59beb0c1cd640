"""Reading what prefetch did not bring from the EHR's FHIR server (`fhirServer` + `fhirAuthorization`).

Every request has a timeout and the answer is read as JSON or refused: a slow or failing server costs at most
its timeout and becomes `FhirUnavailable`, which the hook turns into a card saying what could not be checked.
The access token is used for these requests only: never stored, never logged.
"""
from __future__ import annotations

import logging
from urllib.parse import urljoin

import requests

log = logging.getLogger(__name__)


class FhirUnavailable(RuntimeError):
    """The FHIR server could not answer (unreachable, timeout, error status, not JSON)."""


class FhirClient:
    MAX_PAGES = 5  # a searchset is paged; a patient's active list rarely needs more

    def __init__(self, base_url: str, access_token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/fhir+json"
        if access_token:
            self.session.headers["Authorization"] = f"Bearer {access_token}"

    def get(self, query: str) -> dict:
        """GET a relative FHIR query (as a prefetch template renders it); a searchset's pages are joined."""
        body = self._get(urljoin(self.base_url, query))
        if body.get("resourceType") != "Bundle":
            return body
        entries = list(body.get("entry") or [])
        pages = 1
        next_url = _next_link(body)
        while next_url and pages < self.MAX_PAGES:
            page = self._get(next_url)
            entries.extend(page.get("entry") or [])
            next_url, pages = _next_link(page), pages + 1
        return {**body, "entry": entries}

    def _get(self, url: str) -> dict:
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as error:
            log.warning("FHIR server unreachable: %s", type(error).__name__)
            raise FhirUnavailable(f"no answer ({type(error).__name__})") from None
        if not response.ok:
            raise FhirUnavailable(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise FhirUnavailable("not JSON") from None
        if not isinstance(body, dict):
            raise FhirUnavailable("not a FHIR resource")
        if body.get("resourceType") == "OperationOutcome":
            raise FhirUnavailable("OperationOutcome")
        return body

    def close(self) -> None:
        self.session.close()


def _next_link(bundle: dict) -> str | None:
    return next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
