"""A small FHIR R4 server for tests, on 127.0.0.1: read any resource by id (Patient, Medication ...) and search
any type by patient, status (comma-separated values are OR, as FHIR token search has it) and code, sorted by date
(`_sort=-date`, `-whenhandedover`, `-effective-time`) and cut at `_count`; with optional bearer-token checking, a
delay, or failures. It records every query it answered. A real HTTP server, not a mock of `requests`."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# Real Synthea FHIR R4 records (copied from shared/samples with their README and Apache-2.0 licence)
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "synthea-10-patients"


def load_samples() -> list[dict]:
    resources = []
    for name in ("Patient", "Condition", "MedicationRequest", "Observation"):
        with (SAMPLES / f"{name}.ndjson").open(encoding="utf-8") as handle:
            resources.extend(json.loads(line) for line in handle if line.strip())
    return resources


class FhirServer:
    def __init__(self, resources: list[dict], token: str | None = None, delay: float = 0.0,
                 fail_with: int | None = None) -> None:
        self.resources = resources
        self.token, self.delay, self.fail_with = token, delay, fail_with
        self.hits: Counter[str] = Counter()
        self.queries: list[str] = []  # every path?query asked, in order
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                server.queries.append(self.path)
                server.hits[url.path.rsplit("/", 1)[-1] if url.path.count("/") > 2 else url.path] += 1
                if server.delay:
                    time.sleep(server.delay)
                if server.fail_with:
                    return self._send(server.fail_with, {"resourceType": "OperationOutcome", "issue": []})
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._send(401, {"resourceType": "OperationOutcome", "issue": []})
                parts = [p for p in url.path.split("/") if p][1:]  # after the /fhir base
                query = parse_qs(url.query)
                if len(parts) == 2:
                    found = next((r for r in server.resources if r["resourceType"] == parts[0]
                                  and r.get("id") == parts[1]), None)
                    return self._send(200, found) if found else self._send(404, {"resourceType": "OperationOutcome"})
                self._send(200, server.search(parts[0], query))

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def search(self, resource_type: str, query: dict[str, list[str]]) -> dict:
        patient = (query.get("patient") or [""])[0].replace("Patient/", "")
        statuses = {s for s in (query.get("status") or [""])[0].split(",") if s}
        codes = {c.split("|")[-1] for c in (query.get("code") or [""])[0].split(",") if c}
        found = []
        for resource in self.resources:
            if resource["resourceType"] != resource_type:
                continue
            if patient and resource.get("subject", {}).get("reference") != f"Patient/{patient}":
                continue
            if statuses and resource.get("status") not in statuses:
                continue
            if codes and not codes & {c.get("code") for c in resource.get("code", {}).get("coding", [])}:
                continue
            found.append(resource)
        sort = (query.get("_sort") or [""])[0]
        if sort.startswith("-"):
            element = {"-date": "effectiveDateTime", "-whenhandedover": "whenHandedOver",
                       "-effective-time": "effectiveDateTime"}.get(sort, "")
            found.sort(key=lambda r: r.get(element, ""), reverse=True)
        if query.get("_count"):
            found = found[:int(query["_count"][0])]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                "entry": [{"resource": r} for r in found]}

    def __enter__(self) -> "FhirServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
