"""`make bench`: performance figures measured in one run on this machine (no timed assertions in tests).

0. Start-up and memory: knowledge base + terminology (RxNorm prescribable content and its indexes) load time in
   this process (goal < 2 s), and the resident memory of a fresh process that created the app (goal < 150 MB a
   worker).
1. Terminology: resolver inputs per second over 10,000 mixed inputs as EHRs, the API and the form send them:
   RxCUIs of every term type, NDCs (11-digit and hyphenated), coding displays, names, brands, typos and unknowns
   (goal >= 10,000/s).
2. Engine: checks per second for regimens of 5, 20 and 50 lines (in process, no I/O), and cost per line.
3. HTTP: a 10-line POST /api/v1/checks through gunicorn (2 workers, SQLite) against GET /healthz of the same app
   as a caller without a token sees it (issue 15, item 8: at most 3x at p50), same client, same run: p50 and p95
   latency one request at a time and their ratios, the authenticated no-op GET /api/v1/whoami as a second
   reference; then the throughput with 4 clients at once.
4. CDS Hooks: an order-sign call (signed JWT, full prefetch; a new draft order each time) for a patient on 10
   drugs, p50 and p95 as a ratio to the same GET /healthz (at most 4x) and to whoami; and the same call with a
   medication list the service has not validated before.
   Sections 3 and 4 run their four kinds of request in interleaved rounds, so that load from anything else on the
   machine falls on each of them alike rather than on whichever ran while it lasted. Then the same requests
   interleaved one by one (each kind in turn, as a server meets them in use): within a round a kind runs 80 times in a
   row, and /healthz, the lightest, is answered faster when it follows itself (p50 1.6-1.7 ms in rounds, 2.2 ms one
   by one, in the same runs on 2026-12-05, while the order-sign took 7.6-8.2 ms both ways; most of the difference lies
   outside the service's own time, which its log put at 0.32 and 0.43 ms), so both ratios are printed, and each
   round's own ratio beside the pooled one (one run on 2026-12-06: the order-sign 4.04x to 6.17x round by round,
   3.32x one by one). Then where a request's time goes: the service's own time for each (from its request log, the
   one-at-a-time requests tagged by their request id) and what the client waited beyond it; and the machine's share
   of that, measured on bench/control.py (gunicorn serving requests that only compute, for no time and for as long as
   a check and an order-sign took the service).
5. Population sweep (`stewardship sweep`, SQLite): patients per second over the Synthea sample cloned with new ids,
   with 1 and 2 local worker processes, and the cost of one patient against one POST /api/v1/checks of section 3.

`python bench/run.py --only http` runs sections 3 and 4 alone (also: startup, resolver, engine, sweep).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from harness import free_port  # noqa: E402 - the load and fault scenarios' own

from stewardship import knowledge  # noqa: E402
from stewardship.dosing import parse_frequency  # noqa: E402
from stewardship.engine import Engine  # noqa: E402
from stewardship.model import CheckRequest, Dose, DrugLine, Patient  # noqa: E402
from stewardship.rulebook import load_rulebook  # noqa: E402
from stewardship.terminology import Resolver  # noqa: E402

TEXT_INPUTS = [
    "ibuprofen", "Ibuprofen 600 mg", "advil", "Norco 10/325", "Norco 5/325", "Percocet 5/325",
    "oxycodone HCl 5 mg tab", "hydrocodone/acetaminophen 5/325", "gabapentin 300 mg", "Neurontin",
    "duloxetine 60 mg capsule", "fentanyl 25 mcg/hr patch", "diclofenac 1% gel", "lidocaine 5% patch",
    "tramadol 50 mg", "OxyContin 10", "APAP 500 mg", "Tylenol", "ibuprofin", "gabapentine", "tramdol",
    "unicorn tears", "xyzzy 5 mg", "Eliquis 5 mg", "warfarin sodium 5 mg", "cyclobenzaprine 10 mg",
]
# (drug, dose mg, frequency): a pain clinic's usual lines, cycled to build regimens of any length
LINES = [("ibuprofen", 400, "TID"), ("acetaminophen", 500, "q6h"), ("oxycodone", 5, "q6h"), ("gabapentin", 300, "TID"),
         ("duloxetine", 60, "daily"), ("cyclobenzaprine", 10, "TID"), ("sertraline", 50, "daily"),
         ("warfarin", 5, "daily"), ("omeprazole", 20, "daily"), ("tramadol", 50, "q6h"), ("naproxen", 250, "BID"),
         ("pregabalin", 75, "BID"), ("amitriptyline", 10, "qHS"), ("lisinopril", 10, "daily"),
         ("furosemide", 20, "daily"), ("senna", 8.6, "qHS"), ("prednisone", 10, "daily"),
         ("hydromorphone", 2, "q6h"), ("meloxicam", 7.5, "daily"), ("alprazolam", 0.5, "BID")]


def mixed_inputs(kb: knowledge.KnowledgeBase, count: int, seed: int = 7) -> list[object]:
    """A third codes (RxNorm codings of every term type, subset and prescribable content, and unknown ones), a
    sixth NDCs (half hyphenated 5-4-2), the rest text: typed names and coding displays (RxNorm product names)."""
    rng = random.Random(seed)
    content = kb.prescribable
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    codes = (rng.sample(sorted(kb.products), 300) + [c.rxcui for c in kb.concepts.values()][:100]
             + rng.sample(sorted(content.concepts), 600) + ["1361048", "99999999"])
    ndcs = [ndc for ndc, _ in rng.sample(list(content.ndcs()), 300)]
    ndcs += [f"{n[:5]}-{n[5:9]}-{n[9:]}" for n in ndcs[:150]] + ["99999-9999-99"]
    displays = [content.concepts[c][1] for c in rng.sample(sorted(content.products), 300)]
    pool = ([{"system": rxnorm, "code": code} for code in codes] * 2 + ndcs * 2 + TEXT_INPUTS * 40 + displays * 2)
    return [rng.choice(pool) for _ in range(count)]


def bench_startup() -> knowledge.KnowledgeBase:
    started = time.perf_counter()
    kb = knowledge.load()
    loaded = time.perf_counter()
    Resolver(kb)
    ready = time.perf_counter()
    print(f"start-up: knowledge base + terminology ready in {ready - started:.2f} s (goal < 2 s): knowledge base "
          f"{loaded - started:.2f} s, RxNorm content and indexes {ready - loaded:.2f} s ({len(kb.ingredients)} "
          f"ingredients; {len(kb.products):,} subset products; {len(kb.prescribable.concepts):,} prescribable "
          f"concepts, {len(kb.prescribable.products):,} products, {kb.prescribable.ndc_count:,} NDCs)")
    workdir = Path(tempfile.mkdtemp(prefix="stewardship-bench-"))
    probe = ("import re; from api import create_app; app = create_app(); "
             "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    env = dict(os.environ, STEWARDSHIP_DATABASE_URL=f"sqlite:///{workdir / 'memory.sqlite3'}")
    started = time.perf_counter()
    rss_kb = int(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1])
    print(f"memory: a fresh process that created the app: {rss_kb / 1024:.0f} MB resident (goal < 150 MB a worker; "
          f"import, load and app creation took {time.perf_counter() - started:.2f} s)")
    return kb


class _Unmemoised(Resolver):
    """Every input looked up as if seen for the first time: the resolver's own rate, not its memo's."""
    MEMO_SIZE = 0


def bench_resolver(kb: knowledge.KnowledgeBase, count: int = 10_000, rounds: int = 5) -> None:
    resolver = _Unmemoised(kb)
    inputs = mixed_inputs(kb, count)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in inputs:
            resolver.resolve(item)
        rates.append(count / (time.perf_counter() - started))
    kinds = {"code": sum(isinstance(i, dict) for i in inputs),
             "NDC": sum(isinstance(i, str) and i[:1].isdigit() for i in inputs)}
    kinds["text"] = count - kinds["code"] - kinds["NDC"]
    print(f"resolver: {statistics.median(rates):,.0f} inputs/s, none from its memo (goal >= 10,000; median of "
          f"{rounds} rounds of {count:,} mixed inputs: " + ", ".join(f"{n:,} {kind}" for kind, n in kinds.items())
          + f"; min {min(rates):,.0f}, max {max(rates):,.0f})")


def regimen_request(size: int) -> CheckRequest:
    lines = tuple(DrugLine(ref=f"regimen[{i}]", drug=LINES[i % len(LINES)][0],
                           dose=Dose(LINES[i % len(LINES)][1], "mg"),
                           frequency=parse_frequency(LINES[i % len(LINES)][2])) for i in range(size))
    return CheckRequest(Patient(id="bench", age_years=72, sex="female", weight_kg=60, serum_creatinine_mg_dl=1.4,
                                conditions=("peptic_ulcer", "falls")), lines, __import__("datetime").date(2026, 11, 27))


def bench_engine(kb: knowledge.KnowledgeBase) -> None:
    engine = Engine(kb, Resolver(kb), load_rulebook(kb))
    per_check = {}
    for size in (5, 20, 50):
        request = regimen_request(size)
        findings = len(engine.check(request).findings)
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < 2.0:
            engine.check(request)
            runs += 1
        per_check[size] = (time.perf_counter() - started) / runs
        print(f"engine: {size:>2} lines: {1 / per_check[size]:,.0f} checks/s ({per_check[size] * 1000:.2f} ms a "
              f"check, {per_check[size] * 1e6 / size:,.0f} us a line, {findings} findings)")
    growth = per_check[50] / per_check[5]
    print(f"engine: cost 50 lines / 5 lines = {growth:.1f}x for 10x the lines (linear would be 10x; interacting "
          "pairs add to it)")


Call = tuple[str, str, "dict | None", dict]  # method, url, JSON body, headers


def _timed(session: requests.Session, call: Call) -> float:
    method, url, body, headers = call
    started = time.perf_counter()
    response = session.request(method, url, json=body, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:200]}")
    return elapsed


def _load(make_call: Callable[[], Call], total: int, threads: int) -> tuple[list[float], float]:
    """`total` calls from `threads` client threads (a session each): the latencies and the seconds it took."""
    latencies: list[float] = []
    failures: list[Exception] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        try:
            with requests.Session() as session:
                for _ in range(count):
                    elapsed = _timed(session, make_call())
                    with lock:
                        latencies.append(elapsed)
        except (RuntimeError, requests.RequestException) as error:  # said once, by the bench, not by each thread
            failures.append(error)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {threads} client threads failed; the first: {failures[0]}")
    return latencies, time.perf_counter() - started


def _one_by_one(kinds: dict[str, Callable[[], Call]], cycles: int) -> dict[str, list[float]]:
    """One client sending each kind of request in turn, `cycles` times: the latencies by kind."""
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    with requests.Session() as session:
        for _ in range(cycles):
            for kind, make_call in kinds.items():
                latencies[kind].append(_timed(session, make_call()))
    return latencies


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) >= 2 else values[0]


def _ehr_signer(workdir: Path):  # noqa: ANN202 - returns (issuers file, sign(aud) -> token)
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    issuers = workdir / "issuers.json"
    issuers.write_text(json.dumps([{"iss": "https://ehr.bench", "jwks": {"keys": [{**public, "kid": "k1"}]}}]))

    def sign(audience: str) -> str:
        now = int(time.time())
        return jwt.encode({"iss": "https://ehr.bench", "aud": audience, "iat": now, "exp": now + 300,
                           "jti": str(uuid.uuid4())}, key, algorithm="RS384", headers={"kid": "k1", "typ": "JWT"})
    return issuers, sign


def _order_sign_body(draft_id: str = "draft-1", orders: str = "rx") -> dict:
    """The hook call; `orders` prefixes the ids of the ten active orders (new ids: a medication list never seen)."""
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    current = [("855332", 1), ("197806", 3), ("1049621", 4), ("310431", 3), ("198051", 1), ("314076", 1),
               ("310798", 1), ("197361", 1), ("313782", 4), ("205323", 1)]  # ten active orders, RxNorm SCDs

    def request(order_id: str, code: str, per_day: int, status: str) -> dict:
        return {"resourceType": "MedicationRequest", "id": order_id, "status": status, "intent": "order",
                "subject": {"reference": "Patient/bench"}, "authoredOn": "2026-11-01",
                "medicationCodeableConcept": {"coding": [{"system": rxnorm, "code": code}]},
                "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1}}],
                                       "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}}]}

    active = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": request(f"{orders}{i}", code, n, "active")}
                        for i, (code, n) in enumerate(current)]}
    draft = request(draft_id, "857001", 4, "draft")

    def labs(code: str, value: float, unit: str) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
            "resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-11-20",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}}]}

    return {"hook": "order-sign", "hookInstance": "", "context": {
        "userId": "Practitioner/1", "patientId": "bench",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "bench", "gender": "female",
                                 "birthDate": "1950-05-05"},
                     "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
                     "medications": active, "creatinine": labs("2160-0", 1.3, "mg/dL"), "egfr": None,
                     "weight": labs("29463-7", 64, "kg"),
                     # every prefetch key answered (a full prefetch: nothing is left for the FHIR server), the
                     # medications recorded outside orders with none
                     **dict.fromkeys(("medicationStatements", "medicationDispenses", "medicationAdministrations"),
                                     {"resourceType": "Bundle", "type": "searchset", "entry": []})}}


def bench_http(total: int = 400, threads: int = 4, rounds: int = 5) -> float:
    """Sections 3 and 4; returns the p50 latency of the 10-line POST /api/v1/checks (seconds).

    The ratios are of latency, one request at a time (what a caller waits for each, as issue 15 measured it: p50
    1.4 ms for /healthz), so that they compare the requests' own costs; then `threads` clients at once give the
    throughput of the two workers, where every request also waits for the others on two shared cores."""
    import uuid

    workdir = Path(tempfile.mkdtemp(prefix="stewardship-bench-"))
    issuers, sign = _ehr_signer(workdir)
    env = dict(os.environ, STEWARDSHIP_DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
               STEWARDSHIP_CDS_ISSUERS=str(issuers))
    cli = str(ROOT / ".venv" / "bin" / "stewardship")
    subprocess.run([cli, "users", "add", "bench", "--role", "prescriber"], input="bench-password\n", text=True,
                   env=env, check=True, capture_output=True)
    token = subprocess.run([cli, "tokens", "create", "bench"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    port = free_port()
    # The audience of the EHR's tokens is the public URL; the bench is one user far above a prescriber's pace.
    env.update(STEWARDSHIP_PUBLIC_URL=f"http://127.0.0.1:{port}", STEWARDSHIP_CHECKS_PER_MINUTE="0")
    server_log = workdir / "server.log"  # the service's JSON request lines: its own time for each request
    with server_log.open("w") as log_file:
        server = subprocess.Popen([cli, "serve", "--port", str(port), "--workers", "2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", server, "run `stewardship serve` to see why")
        headers = {"Authorization": f"Bearer {token}"}
        body = {"patient": {"id": "bench", "age": 72, "sex": "female", "weight": {"value": 60, "unit": "kg"},
                            "serumCreatinine": {"value": 1.4, "unit": "mg/dL"}, "conditions": ["peptic_ulcer"]},
                "regimen": [{"drug": d, "dose": {"value": v, "unit": "mg"}, "frequency": f} for d, v, f in LINES[:10]],
                "asOf": "2026-11-27"}
        hook_url = f"{base}/cds-services/stewardship-order-sign"
        kinds: dict[str, Callable[[], Call]] = {
            "GET /healthz": lambda: ("GET", f"{base}/healthz", None, {}),  # as a probe without a token sees it
            "GET /api/v1/whoami": lambda: ("GET", f"{base}/api/v1/whoami", None, headers),
            "10-line POST /api/v1/checks": lambda: ("POST", f"{base}/api/v1/checks", body, headers),
            # each call signs a new order for the same patient, as in the clinic (the same draft signed hundreds of
            # times would measure the look-up of the cards already shown for it, which grows with each call)
            "order-sign": lambda: ("POST", hook_url, {**_order_sign_body(f"draft-{uuid.uuid4()}"),
                                                      "hookInstance": str(uuid.uuid4())},
                                   {"Authorization": f"Bearer {sign(hook_url)}"}),
            # the same with a medication list the service has not seen before (its orders' ids are new): every
            # resource is validated, none is known from an earlier call of the patient (adapters/fhir.py)
            "order-sign, first call": lambda: ("POST", hook_url, {
                **_order_sign_body(f"draft-{uuid.uuid4()}", f"rx-{uuid.uuid4().hex[:12]}-"),
                "hookInstance": str(uuid.uuid4())}, {"Authorization": f"Bearer {sign(hook_url)}"}),
        }
        for make_call in kinds.values():  # warm both workers on every route
            _load(make_call, 40, threads)
        runs = {clients: ({kind: [] for kind in kinds}, dict.fromkeys(kinds, 0.0)) for clients in (1, threads)}
        by_round: list[dict[str, float]] = []  # each round's p50 of each kind, one client
        for _ in range(rounds):
            by_round.append({})
            for clients, (latencies, seconds) in runs.items():
                for number, (kind, make_call) in enumerate(kinds.items()):
                    if clients == 1:  # the request id names the kind in the service's log
                        make_call = _tagged(make_call, f"bench-{number}-")
                    values, took = _load(make_call, total // rounds // (2 if clients > 1 else 1), clients)
                    latencies[kind] += values
                    seconds[kind] += took
                    if clients == 1:
                        by_round[-1][kind] = _p(values, 50)
        mixed = _one_by_one(kinds, total)
        checks, hooks = "10-line POST /api/v1/checks", "order-sign"
        latencies, _ = runs[1]
        for kind, values in latencies.items():
            print(f"http: {kind}: p50 {_p(values, 50) * 1000:.1f} ms, p95 {_p(values, 95) * 1000:.1f} ms "
                  f"({len(values)} requests one at a time in {rounds} interleaved rounds; gunicorn 2 workers, SQLite)")

        def ratios(kind: str, reference: str) -> str:
            fast, slow = latencies[reference], latencies[kind]
            return f"p50 {_p(slow, 50) / _p(fast, 50):.2f}x, p95 {_p(slow, 95) / _p(fast, 95):.2f}x"
        print(f"http: 10-line check / GET /healthz: {ratios(checks, 'GET /healthz')} (target: at most 3x at p50)")
        print(f"cds: order-sign, patient on 10 drugs, full prefetch, signed JWT / GET /healthz: "
              f"{ratios(hooks, 'GET /healthz')} (target: at most 4x at p50); the first call for a medication "
              f"list: {ratios('order-sign, first call', 'GET /healthz')}")
        print("http: each round's own p50 ratio (80 of a kind in a row), round by round: check " + ", ".join(
            f"{r[checks] / r['GET /healthz']:.2f}x" for r in by_round) + "; order-sign " + ", ".join(
            f"{r[hooks] / r['GET /healthz']:.2f}x" for r in by_round))
        health = _p(mixed["GET /healthz"], 50)
        print(f"http: interleaved one by one ({total} of each kind in turn, one client): GET /healthz p50 "
              f"{health * 1000:.1f} ms, 10-line check {_p(mixed[checks], 50) * 1000:.1f} ms "
              f"({_p(mixed[checks], 50) / health:.2f}x; target: at most 3x), order-sign "
              f"{_p(mixed[hooks], 50) * 1000:.1f} ms ({_p(mixed[hooks], 50) / health:.2f}x; target: at most 4x)")
        print(f"http: against the authenticated no-op GET /api/v1/whoami: check "
              f"{ratios(checks, 'GET /api/v1/whoami')}; order-sign {ratios(hooks, 'GET /api/v1/whoami')}")
        loaded, seconds = runs[threads]
        rates = {kind: len(values) / seconds[kind] for kind, values in loaded.items()}
        print(f"http: {threads} clients at once: " + ", ".join(
            f"{kind} {rates[kind]:,.0f} req/s (p50 {_p(values, 50) * 1000:.1f} ms)" for kind, values in loaded.items())
            + f"; /healthz answers {rates['GET /healthz'] / rates[checks]:.1f}x as many as checks and "
            f"{rates['GET /healthz'] / rates[hooks]:.1f}x as many as order-signs")
        own = _service_times(server_log, list(kinds))
        health, check, hook = (_p(own[kind], 50) for kind in ("GET /healthz", checks, hooks))
        print(f"http: the service's own time (its request log, from its first look at the request to the answer "
              f"made): GET /healthz p50 {health:.2f} ms, 10-line check {check:.2f} ms, order-sign {hook:.2f} ms; the "
              f"client waited beyond it: " + ", ".join(
                  f"{_p(latencies[kind], 50) * 1000 - _p(own[kind], 50):.2f} ms" for kind in
                  ("GET /healthz", checks, hooks)))
        _machine_share(workdir, {"nothing": 0.0, "as long as a check": check, "as long as an order-sign": hook},
                       rounds)
        return _p(latencies[checks], 50)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str, server: subprocess.Popen, hint: str) -> None:
    deadline = time.monotonic() + 60  # a busy machine starts the workers slowly
    while True:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting its workers
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start ({hint})") from None
            time.sleep(0.1)


def _tagged(make_call: Callable[[], Call], prefix: str) -> Callable[[], Call]:
    numbers = itertools.count()

    def call() -> Call:
        method, url, body, headers = make_call()
        return method, url, body, {**headers, "X-Request-Id": f"{prefix}{next(numbers)}"}
    return call


def _service_times(server_log: Path, kinds: list[str]) -> dict[str, list[float]]:
    """The `ms` of each tagged request in the service's log, by kind."""
    found: dict[str, list[float]] = {kind: [] for kind in kinds}
    for line in server_log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # gunicorn's own lines
            continue
        tag = str(entry.get("requestId") or "").split("-")
        if len(tag) == 3 and tag[0] == "bench":
            found[kinds[int(tag[1])]].append(entry["ms"])
    return found


def _machine_share(workdir: Path, busy: dict[str, float], rounds: int, each: int = 40) -> None:
    """What this machine adds to a request as the client sees it, measured on bench/control.py (gunicorn, 2 sync
    workers, requests that only compute for the given ms): the client's p50 beyond the time computed."""
    port = free_port()
    control = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", "2", "--bind",
                                f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "control:app"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
    try:
        base = f"http://127.0.0.1:{port}/"
        _wait_for(base, control, "bench/control.py")
        kinds = {label: (lambda ms=ms: ("GET", f"{base}?ms={ms:.3f}", None, {})) for label, ms in busy.items()}
        for make_call in kinds.values():
            _load(make_call, each, 1)
        latencies: dict[str, list[float]] = {label: [] for label in kinds}
        for _ in range(rounds):
            for label, make_call in kinds.items():
                latencies[label] += _load(make_call, each, 1)[0]
    finally:
        control.terminate()
        control.wait(timeout=10)
    print("http: this machine's share (bench/control.py: gunicorn, 2 sync workers, requests that only compute): the "
          "client waits beyond the time computed " + ", ".join(
              f"{_p(latencies[label], 50) * 1000 - ms:.2f} ms for one computing {label} ({ms:.2f} ms)"
              for label, ms in busy.items()))


# 10,000 patients would take about six minutes here for the two runs (50-60 patients/s on two shared cores): the
# bench sweeps 1,000, well past every process's start-up, and says so.
SWEEP_PATIENTS = 1_000


def bench_sweep(check_p50: float | None) -> None:
    from tests.population import clone_export

    workdir = Path(tempfile.mkdtemp(prefix="stewardship-bench-sweep-"))
    export = clone_export(workdir / "export", SWEEP_PATIENTS)
    per_patient = {}
    for workers in (1, 2):
        env = dict(os.environ, STEWARDSHIP_DATABASE_URL=f"sqlite:///{workdir / f'sweep-{workers}.sqlite3'}")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cli", "sweep", str(export), "--as-of", "2026-12-01",
                               "--workers", str(workers), "--out", str(workdir / f"worklist-{workers}")],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"the sweep with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
        per_patient[workers] = elapsed / SWEEP_PATIENTS
        print(f"sweep: {SWEEP_PATIENTS:,} patients (the 10 Synthea patients cloned; 10,000 would take minutes), "
              f"{workers} local worker{'s' if workers > 1 else ''}: {SWEEP_PATIENTS / elapsed:,.1f} patients/s "
              f"({elapsed:.1f} s with start-up; {done.stdout.strip().splitlines()[-1]})")
    print(f"sweep: one patient {per_patient[1] * 1000:.1f} ms with 1 worker, {per_patient[2] * 1000:.1f} ms with 2"
          + ("" if check_p50 is None else f"; one 10-line POST /api/v1/checks p50 {check_p50 * 1000:.1f} ms: "
             f"{per_patient[1] / check_p50:.2f}x and {per_patient[2] / check_p50:.2f}x"))


SECTIONS = ("startup", "resolver", "engine", "http", "sweep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run this section alone (repeatable); sweep without http compares with no check")
    only = set(parser.parse_args().only or SECTIONS)
    kb = bench_startup() if "startup" in only else knowledge.load() if only & {"resolver", "engine"} else None
    if "resolver" in only:
        bench_resolver(kb)
    if "engine" in only:
        bench_engine(kb)
    check_p50 = bench_http() if "http" in only else None
    if "sweep" in only:
        bench_sweep(check_p50)


if __name__ == "__main__":
    main()
