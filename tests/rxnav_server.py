"""A small RxNav-shaped REST server for tests, on 127.0.0.1 (a real HTTP server, not a mock of requests)."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# Fictional codes (99999xxx) stand for concepts newer than the offline subset; the ingredients are real ones.
RELATED = {
    "99999901": [("5640", "ibuprofen")],
    "99999903": [("161", "acetaminophen"), ("7804", "oxycodone")],
    "99999904": [("36567", "simvastatin")],
}
APPROXIMATE = {"brufen forte": "99999901"}
SLOW = {"99999902"}


class RxNavServer:
    def __init__(self, delay: float = 2.0) -> None:
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's interface
                url = urlparse(self.path)
                query = parse_qs(url.query)
                server.hits[url.path] += 1
                parts = url.path.strip("/").split("/")
                if parts[:2] == ["REST", "rxcui"] and len(parts) == 4 and parts[3] == "related.json":
                    code = parts[2]
                    if code in SLOW:
                        time.sleep(delay)
                    concepts = [{"rxcui": c, "name": n, "tty": "IN"} for c, n in RELATED.get(code, [])]
                    groups = [{"tty": "IN", "conceptProperties": concepts}] if concepts else [{"tty": "IN"}]
                    self._send(200, {"relatedGroup": {"rxcui": code, "termType": query.get("tty", [""])[0],
                                                      "conceptGroup": groups}})
                elif url.path == "/REST/approximateTerm.json":
                    term = query.get("term", [""])[0].lower()
                    code = APPROXIMATE.get(term)
                    candidates = [{"rxcui": code, "score": "100", "rank": "1"}] if code else []
                    self._send(200, {"approximateGroup": {"inputTerm": term, "candidate": candidates}})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RxNavServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
