"""Reading what prefetch did not bring from the EHR's FHIR server (`fhirServer` + `fhirAuthorization`).

The EHR's access token goes only where that EHR's trust entry allows (issue 13, SSRF):
- the base URL is one the issuer listed (`fhirServers`, checked before a client is made: see cds_hooks);
- every request stays under that base: a query is appended to it (never resolved with `..`), a search's `next`
  link is followed only when it has the base's origin and path, and redirects are never followed;
- the patient id is a FHIR id (`[A-Za-z0-9-.]{1,64}`, not a dot segment) and is percent-encoded where it goes.

Every answer is bounded: one time budget for all the requests of a hook call (a trickling server is cut when the
budget runs out, not only when one read stalls), a size cap on all the bytes read (streamed, so a huge answer is
refused without being held), and the body must be a JSON object. Anything else is `FhirUnavailable`, which the hook
turns into a card saying what could not be checked. The token is never stored or logged.
"""
from __future__ import annotations

import json
import logging
import re
import time
from urllib.parse import quote, urlsplit

import requests
import urllib3

log = logging.getLogger(__name__)

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 `id` datatype


class FhirUnavailable(RuntimeError):
    """The FHIR server could not answer (unreachable, timeout, error status, redirect, too large, not JSON)."""


def encode_token(value: str) -> str:
    """A context value (the patient id) as it may stand in a FHIR query: a FHIR id, percent-encoded."""
    if not FHIR_ID.fullmatch(value) or set(value) == {"."}:
        raise FhirUnavailable("the patient id is not a FHIR id")
    return quote(value, safe="")


class FhirClient:
    MAX_PAGES = 5  # a searchset is paged; a patient's active list rarely needs more
    CHUNK = 64 * 1024

    def __init__(self, base_url: str, access_token: str | None, timeout: float, budget: float,
                 max_bytes: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._base = urlsplit(self.base_url + "/")
        self.timeout = timeout
        self.deadline = time.monotonic() + budget
        self.bytes_left = max_bytes
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or .netrc credentials from the environment
        self.session.headers["Accept"] = "application/fhir+json"
        if access_token:
            self.session.headers["Authorization"] = f"Bearer {access_token}"

    def get(self, query: str) -> dict:
        """GET a relative FHIR query (as a prefetch template renders it); a searchset's pages are joined."""
        body = self._get(f"{self.base_url}/{query.lstrip('/')}")
        if body.get("resourceType") != "Bundle":
            return body
        entries = list(body.get("entry") or [])
        pages = 1
        next_url = _next_link(body)
        while next_url and pages < self.MAX_PAGES:
            if not self._under_base(next_url):
                log.warning("FHIR next link outside the server's base was not followed")
                raise FhirUnavailable("a next link points outside the FHIR server")
            page = self._get(next_url)
            entries.extend(page.get("entry") or [])
            next_url, pages = _next_link(page), pages + 1
        return {**body, "entry": entries}

    def _under_base(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == (self._base.scheme, self._base.netloc) \
            and parts.path.startswith(self._base.path) and "/../" not in parts.path + "/" \
            and not parts.username and not parts.password

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FhirUnavailable("time budget used up")
        return left

    def _get(self, url: str) -> dict:
        wait = min(self.timeout, self._remaining())
        try:
            response = self.session.get(url, timeout=wait, allow_redirects=False, stream=True)
        except requests.RequestException as error:
            log.warning("FHIR server unreachable: %s", type(error).__name__)
            raise FhirUnavailable(f"no answer ({type(error).__name__})") from None
        with response:
            if 300 <= response.status_code < 400:
                raise FhirUnavailable(f"HTTP {response.status_code} redirect not followed")
            if not response.ok:
                raise FhirUnavailable(f"HTTP {response.status_code}")
            raw = self._read(response)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise FhirUnavailable("not JSON") from None
        if not isinstance(body, dict):
            raise FhirUnavailable("not a FHIR resource")
        if body.get("resourceType") == "OperationOutcome":
            raise FhirUnavailable("OperationOutcome")
        return body

    def _read(self, response: requests.Response) -> bytes:
        """The body, read as it arrives: stopped at the size cap or when the time budget runs out."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.bytes_left:
            raise FhirUnavailable("answer too large")
        chunks: list[bytes] = []
        try:
            while True:
                self._remaining()
                chunk = response.raw.read1(self.CHUNK)
                if not chunk:
                    break
                self.bytes_left -= len(chunk)
                if self.bytes_left < 0:
                    raise FhirUnavailable("answer too large")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, ValueError) as error:
            raise FhirUnavailable(f"answer broken off ({type(error).__name__})") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.session.close()


def _next_link(bundle: dict) -> str | None:
    link = next((link.get("url") for link in bundle.get("link") or []
                 if isinstance(link, dict) and link.get("relation") == "next"), None)
    return link if isinstance(link, str) else None
