"""The machine's control for `make bench` sections 3 and 4: a WSGI app that does nothing but compute.

`GET /?ms=N` keeps its worker busy for N ms and answers two bytes. Served by gunicorn like the service (2 sync
workers), it shows what this machine adds to a request's own time as the client sees it: on a virtual machine that
share can grow with the time the client waited idle (`bench/run.py` prints it beside the ratios)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    busy_ms = float(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
    until = time.perf_counter() + busy_ms / 1000
    while time.perf_counter() < until:  # computing, not sleeping: a sleeping worker would be woken by a timer
        pass
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
