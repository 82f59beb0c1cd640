"""`make load`: a realistic mix against two instances of the service on one PostgreSQL database, for a bounded
time on 127.0.0.1, then proof that nothing was lost or doubled.

Mix per client thread: native checks (a quarter of them retried with the same Idempotency-Key, as a client does
after a timeout), CDS Hooks order-select then order-sign for the same draft (signed JWT, prefetch), review-queue
reads and pharmacist decisions. Requests alternate between the two instances.

Printed: throughput, p50/p95/p99 per kind, errors; then the audit: every 2xx check is stored exactly once, every
retried key made one check, every 201 decision is in the trail.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psycopg
import requests
from harness import CLI, Ehr, accounts, check_body, fresh_schema, hook_body, instances, main_guard, percentile


def run(seconds: float, threads: int, workers: int) -> int:
    with fresh_schema() as (url, conninfo):
        # migrate once before the instances start, rather than racing two of them at it
        subprocess.run([CLI, "db", "upgrade"], env=dict(os.environ, STEWARDSHIP_DATABASE_URL=url), check=True,
                       capture_output=True)
        tokens = accounts(url)
        ehr = Ehr(Path(tempfile.mkdtemp(prefix="stewardship-ehr-")))
        with instances(url, ehr, count=2, workers=workers) as bases:
            latencies: dict[str, list[float]] = defaultdict(list)
            errors: dict[str, int] = defaultdict(int)
            check_ids: list[str] = []
            retried_keys: set[str] = set()
            decisions: list[str] = []
            lock = threading.Lock()
            deadline = time.monotonic() + seconds

            def client(index: int) -> None:
                rng = random.Random(index)
                prescriber = {"Authorization": f"Bearer {tokens['prescriber']}"}
                pharmacist = {"Authorization": f"Bearer {tokens['pharmacist']}"}
                with requests.Session() as session:
                    turn = index
                    while time.monotonic() < deadline:
                        base = bases[turn % 2]
                        turn += 1
                        roll = rng.random()
                        try:
                            if roll < 0.45:
                                key = f"load-{index}-{turn}"
                                body = check_body(rng)
                                started = time.perf_counter()
                                answer = session.post(f"{base}/api/v1/checks", json=body, timeout=10,
                                                      headers={**prescriber, "Idempotency-Key": key})
                                kind = "check"
                                if answer.status_code == 201 and rng.random() < 0.25:
                                    again = session.post(f"{bases[turn % 2]}/api/v1/checks", json=body, timeout=10,
                                                         headers={**prescriber, "Idempotency-Key": key})
                                    with lock:
                                        retried_keys.add(key)
                                        if again.json().get("id") != answer.json().get("id"):
                                            errors["retry gave a second check"] += 1
                                if answer.status_code == 201:
                                    with lock:
                                        check_ids.append(answer.json()["id"])
                            elif roll < 0.75:
                                select = hook_body("order-select", rng)
                                sign = {**select, "hook": "order-sign", "hookInstance": select["hookInstance"] + "-s",
                                        "context": {k: v for k, v in select["context"].items() if k != "selections"}}
                                started = time.perf_counter()
                                for hook, body in (("order-select", select), ("order-sign", sign)):
                                    path = f"/cds-services/stewardship-{hook}"
                                    answer = session.post(f"{base}{path}", json=body, timeout=10,
                                                          headers={"Authorization": f"Bearer {ehr.token(base + path)}"})
                                    if answer.status_code != 200:
                                        break
                                kind = "hooks (select + sign)"
                            elif roll < 0.9:
                                started = time.perf_counter()
                                answer = session.get(f"{base}/api/v1/reviews?status=open", headers=pharmacist,
                                                     timeout=10)
                                kind = "review queue"
                            else:
                                queue = session.get(f"{base}/api/v1/reviews?status=open", headers=pharmacist,
                                                    timeout=10).json().get("reviews", [])
                                if not queue:
                                    continue
                                target = rng.choice(queue)["id"]
                                started = time.perf_counter()
                                answer = session.post(f"{base}/api/v1/reviews/{target}/decision", headers=pharmacist,
                                                      json={"decision": "approved"}, timeout=10)
                                kind = "decision"
                                if answer.status_code == 201:
                                    with lock:
                                        decisions.append(target)
                            elapsed = time.perf_counter() - started
                            with lock:
                                if answer.status_code >= 400:
                                    errors[f"{kind} HTTP {answer.status_code}"] += 1
                                else:
                                    latencies[kind].append(elapsed)
                        except requests.RequestException as error:
                            with lock:
                                errors[type(error).__name__] += 1

            started_at = time.monotonic()
            pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            took = time.monotonic() - started_at
        total = sum(len(v) for v in latencies.values())
        print(f"load: {seconds:g} s, {threads} client threads, 2 instances x {workers} gunicorn workers, one "
              f"PostgreSQL; {total} successful requests in {took:.1f} s = {total / took:.0f} req/s")
        for kind, values in sorted(latencies.items()):
            print(f"  {kind:24s} n={len(values):5d}  p50 {percentile(values, 50) * 1000:6.1f} ms  "
                  f"p95 {percentile(values, 95) * 1000:6.1f} ms  p99 {percentile(values, 99) * 1000:6.1f} ms")
        print(f"  errors: {dict(errors) or 'none'}")

        with psycopg.connect(conninfo) as connection:
            stored = {row[0] for row in connection.execute("SELECT id FROM checks WHERE source = 'api'")}
            duplicates = connection.execute(
                "SELECT count(*) FROM (SELECT id FROM checks GROUP BY id HAVING count(*) > 1) d").fetchone()[0]
            trail = connection.execute("SELECT count(*) FROM review_decisions").fetchone()[0]
            keys = connection.execute("SELECT count(*) FROM idempotency_keys WHERE status_code = 201").fetchone()[0]
        lost = set(check_ids) - stored
        extra = len(stored) - len(set(check_ids))
        print(f"audit: {len(set(check_ids))} checks answered 201, {len(stored)} stored: lost {len(lost)}, "
              f"extra {extra}, duplicated {duplicates}; {len(retried_keys)} retried keys -> {keys} keys stored "
              f"once each; {len(decisions)} decisions answered 201, {trail} in the trail")
        ok = not lost and extra == 0 and duplicates == 0 and trail == len(decisions) and not errors
        print("audit: " + ("nothing lost, nothing doubled" if ok else "FAILED"))
        return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    args = parser.parse_args()
    return run(args.seconds, args.threads, args.workers)


if __name__ == "__main__":
    main_guard(main)
