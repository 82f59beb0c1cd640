"""`make faults`: PostgreSQL stopped and started again under load.

While clients send checks to a running instance, PostgreSQL is stopped (fast shutdown) for a few seconds and
started again. Expected, and checked: while it is down, every request fails fast with a JSON 503
(`database_unavailable`), never hangs; once it is back, the service answers again by itself (no restart); and no
half-written check is left: every stored check has all its findings, and nothing was stored for a failed request.
(Slow or dead RxNav and FHIR servers are covered by the test suite, against real servers on 127.0.0.1.)

Needs the machine's PostgreSQL cluster and the right to stop it (pg_ctlcluster, as root).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import requests

from harness import CLI, Ehr, accounts, check_body, fresh_schema, instances, main_guard, percentile


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


def run(before: float, down: float, after: float, threads: int) -> int:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=float, default=4)
    parser.add_argument("--down", type=float, default=6)
    parser.add_argument("--after", type=float, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    return run(args.before, args.down, args.after, args.threads)


if __name__ == "__main__":
    main_guard(main)
