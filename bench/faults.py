"""`make faults`: PostgreSQL stopped and started again under load, and slow clients against production serving.

While clients send checks to a running instance, PostgreSQL is stopped (fast shutdown) for a few seconds and
started again. Expected, and checked: while it is down, every request fails fast with a JSON 503
(`database_unavailable`), never hangs; once it is back, the service answers again by itself (no restart); and no
half-written check is left: every stored check has all its findings, and nothing was stored for a failed request.
(Slow or dead RxNav and FHIR servers are covered by the test suite, against real servers on 127.0.0.1.)

Slow sockets: an instance served as `make serve` does (nginx in front of W gunicorn sync workers) gets 4 x W
connections that trickle their headers, or send headers and trickle a body, one byte at a time, and keeps them
open while `GET /healthz` is timed over and over. Expected, and checked: every healthz answers in under 1 s, and a
body over the app's limit still gets the JSON 413. For contrast, the same sockets against plain gunicorn (reported,
not checked: each holds a worker until gunicorn's 30 s timeout).

Needs the machine's PostgreSQL cluster and the right to stop it (pg_ctlcluster, as root), and nginx for the slow
sockets (/usr/sbin/nginx, Debian's nginx-light). `--scenario` runs one of the two alone.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests
from harness import CLI, Ehr, accounts, check_body, fresh_schema, instances, main_guard, percentile

from api import MAX_BODY_BYTES


def _cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]
                   + (["-m", "fast"] if action == "stop" else []), check=True, capture_output=True)


def _wait_for_postgres(limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come back")


def database_down(before: float, down: float, after: float, threads: int) -> int:
    with fresh_schema() as (url, conninfo):
        subprocess.run([CLI, "db", "upgrade"], env=dict(os.environ, STEWARDSHIP_DATABASE_URL=url), check=True,
                       capture_output=True)
        tokens = accounts(url)
        ehr = Ehr(Path(tempfile.mkdtemp(prefix="stewardship-ehr-")))
        with instances(url, ehr, count=1, workers=2) as (base,):
            phase = {"name": "before"}
            outcomes: Counter[tuple[str, str]] = Counter()
            failure_seconds: list[float] = []
            answered: dict[str, int] = {}
            lock = threading.Lock()
            stop = threading.Event()

            def client(index: int) -> None:
                rng = random.Random(index)
                headers = {"Authorization": f"Bearer {tokens['prescriber']}"}
                with requests.Session() as session:
                    while not stop.is_set():
                        started = time.perf_counter()
                        try:
                            answer = session.post(f"{base}/api/v1/checks", json=check_body(rng), headers=headers,
                                                  timeout=15)
                            status = str(answer.status_code)
                            body = answer.json()
                        except (requests.RequestException, ValueError) as error:
                            status, body = type(error).__name__, {}
                        elapsed = time.perf_counter() - started
                        with lock:
                            outcomes[(phase["name"], status)] += 1
                            if status == "201":
                                answered[body["id"]] = len(body["findings"])
                            elif phase["name"] == "down":
                                failure_seconds.append(elapsed)
                                if status == "503" and body.get("error") != "database_unavailable":
                                    outcomes[("down", "503 without the JSON error")] += 1
                        time.sleep(0.02)

            pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
            for thread in pool:
                thread.start()
            try:
                time.sleep(before)
                phase["name"] = "down"
                _cluster("stop")
                time.sleep(down)
                _cluster("start")
                _wait_for_postgres()
                phase["name"] = "recovering"
                time.sleep(2)  # the pools notice the new server (pool_pre_ping) within a request or two
                phase["name"] = "after"
                time.sleep(after)
            finally:
                stop.set()
                for thread in pool:
                    thread.join()
                _wait_for_postgres()

        print(f"faults: PostgreSQL stopped for {down:g} s under {threads} client threads sending checks")
        for (name, status), count in sorted(outcomes.items()):
            print(f"  {name:10s} {status:28s} {count:5d}")
        if failure_seconds:
            print(f"  while down: failures answered in p50 {percentile(failure_seconds, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(failure_seconds, 95) * 1000:.0f} ms, max {max(failure_seconds) * 1000:.0f} ms")
        with psycopg.connect(conninfo) as connection:
            stored = dict(connection.execute(
                "SELECT c.id, count(f.position) FROM checks c LEFT JOIN check_findings f ON f.check_id = c.id "
                "GROUP BY c.id").fetchall())
        half_written = [check for check, findings in stored.items() if findings != answered.get(check, findings)]
        unanswered = set(stored) - set(answered)
        # around the stop and the start some requests still (or already) succeed; every one that fails must be a 503
        down_ok = all(status in ("201", "503") for (name, status) in outcomes if name == "down") and \
            outcomes[("down", "503")] > 0
        recovered = outcomes[("after", "201")] > 0 and not any(
            name == "after" and status != "201" for (name, status) in outcomes)
        fast = not failure_seconds or max(failure_seconds) < 10
        print(f"audit: {len(answered)} checks answered 201, {len(stored)} stored; half-written {len(half_written)}, "
              f"stored without a 201 {len(unanswered)}; every failure while down a JSON 503: {down_ok}; "
              f"recovered by itself: {recovered}; failures fast (< 10 s): {fast}")
        ok = not half_written and not unanswered and down_ok and recovered and fast
        print("audit: " + ("the service failed fast, recovered by itself and lost nothing" if ok else "FAILED"))
        return 0 if ok else 1


def _under_slow_sockets(base: str, count: int, hold: float, limit: float) -> tuple[list[float], int, int]:
    """`count` slow sockets to `base` (half trickle their headers, half send headers and trickle a body), kept open
    `hold` seconds while `GET /healthz` is timed, each call bounded by `limit` seconds. Returns the healthz
    latencies (a call that timed out or failed counts as `limit`), how many of them failed, and how many slow
    sockets the server had not closed by the end."""
    address = urlsplit(base)
    host = f"{address.hostname}:{address.port}".encode()
    sockets = []
    for index in range(count):
        slow = socket.create_connection((address.hostname, address.port), timeout=2)
        if index % 2:
            # a complete request head, then a body that will not arrive within the scenario
            slow.sendall(b"POST /api/v1/checks HTTP/1.1\r\nHost: " + host +
                         b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        else:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nX-Slow: ")  # headers never finished
        sockets.append(slow)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            for slow in sockets:
                try:
                    slow.send(b" ")  # one byte: a header value or JSON whitespace
                except OSError:
                    pass  # closed by the server: counted at the end

    trickler = threading.Thread(target=trickle)
    trickler.start()
    latencies: list[float] = []
    failures = 0
    try:
        time.sleep(0.5)  # the slow sockets take their places (with plain gunicorn: every worker)
        deadline = time.monotonic() + hold - 0.5
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                requests.get(f"{base}/healthz", timeout=limit).raise_for_status()
                latencies.append(time.perf_counter() - started)
            except requests.RequestException:
                failures += 1
                latencies.append(limit)
            time.sleep(0.1)
    finally:
        stop.set()
        trickler.join()
        still_open = 0
        for slow in sockets:
            slow.setblocking(False)
            try:
                slow.recv(1)  # an answer (a 408) or b"" (closed): the server gave up on it
            except BlockingIOError:
                still_open += 1  # nothing to read and not closed: the server still waits for the rest
            except OSError:
                pass  # reset by the server
            slow.close()
    return latencies, failures, still_open


def slow_sockets(workers: int, hold: float) -> int:
    """4 x `workers` slow sockets against production serving (checked) and against plain gunicorn (reported)."""
    count = 4 * workers
    with fresh_schema() as (url, _):
        ehr = Ehr(Path(tempfile.mkdtemp(prefix="stewardship-ehr-")))
        with instances(url, ehr, count=1, workers=workers, proxy=True) as (base,):
            latencies, failures, still_open = _under_slow_sockets(base, count, hold, limit=5)
            too_large = requests.post(f"{base}/api/v1/checks", data=b" " * (MAX_BODY_BYTES + 1),
                                      headers={"Content-Type": "application/json"}, timeout=10)
            json_413 = too_large.status_code == 413 and too_large.json().get("error") == "payload_too_large"
        # plain gunicorn's healthz calls are bounded short: they are expected to wait for as long as they are allowed
        with instances(url, ehr, count=1, workers=workers) as (base,):
            plain, plain_failures, _ = _under_slow_sockets(base, count, min(hold, 5), limit=2)

    def figures(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"

    print(f"slow sockets: {count} (4 x {workers} workers) trickling headers or a body, held {hold:g} s")
    print(f"  behind nginx (make serve): {len(latencies)} healthz calls, {figures(latencies)}, {failures} failed; "
          f"slow sockets still open at the end {still_open}/{count}; body over the limit a JSON 413: {json_413}")
    print(f"  plain gunicorn (for contrast, calls bounded at 2 s): {len(plain)} healthz calls, {figures(plain)}, "
          f"{plain_failures} failed or timed out")
    ok = bool(latencies) and max(latencies) < 1 and not failures and json_413
    print("audit: " + ("slow clients held no worker: every healthz under 1 s" if ok else "FAILED"))
    return 0 if ok else 1
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("all", "database", "slow-sockets"), default="all")
    parser.add_argument("--before", type=float, default=4)
    parser.add_argument("--down", type=float, default=6)
    parser.add_argument("--after", type=float, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for the slow sockets (4 x this many)")
    parser.add_argument("--hold", type=float, default=8, help="seconds the slow sockets stay open (nginx: under 10)")
    args = parser.parse_args()
    codes = []
    if args.scenario in ("all", "database"):
        codes.append(database_down(args.before, args.down, args.after, args.threads))
    if args.scenario in ("all", "slow-sockets"):
        codes.append(slow_sockets(args.workers, args.hold))
    return max(codes)


if __name__ == "__main__":
    main_guard(main)
