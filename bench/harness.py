"""What the load and fault scenarios share: a fresh PostgreSQL schema, service instances started with the
project's own command on 127.0.0.1, accounts and tokens, an EHR that signs JWTs, percentiles, and a traffic mix."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import jwt
import psycopg
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "stewardship")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def fresh_schema():
    """A PostgreSQL schema of its own, dropped afterwards; yields (SQLAlchemy URL, psycopg conninfo)."""
    schema = f"load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (f"{PG}?options={quote(f'-csearch_path={schema}')}",
               f"host=127.0.0.1 user=postgres dbname=test options=-csearch_path={schema}")
    finally:
        for _ in range(30):
            try:
                with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True,
                                     connect_timeout=2) as connection:
                    connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
                break
            except psycopg.OperationalError:
                time.sleep(1)  # PostgreSQL may still be restarting after the fault scenario


class Ehr:
    """A trusted EHR: its issuer file for the service, and signed tokens for each call."""

    def __init__(self, folder: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.issuers = folder / "issuers.json"
        self.issuers.write_text(json.dumps([{"iss": "https://ehr.load", "jwks": {"keys": [{**public, "kid": "k"}]}}]))

    def token(self, audience: str) -> str:
        now = int(time.time())
        return jwt.encode({"iss": "https://ehr.load", "aud": audience, "iat": now, "exp": now + 120,
                           "jti": str(uuid.uuid4())}, self.key, algorithm="RS384", headers={"kid": "k", "typ": "JWT"})


def accounts(url: str) -> dict[str, str]:
    env = dict(os.environ, STEWARDSHIP_DATABASE_URL=url)
    tokens = {}
    for name, role in (("load.prescriber", "prescriber"), ("load.pharmacist", "pharmacist")):
        subprocess.run([CLI, "users", "add", name, "--role", role], input="load-password\n", text=True, env=env,
                       check=True, capture_output=True)
        tokens[role] = subprocess.run([CLI, "tokens", "create", name], env=env, check=True, capture_output=True,
                                      text=True).stdout.strip()
    return tokens


@contextmanager
def instances(url: str, ehr: Ehr, count: int, workers: int, proxy: bool = False):
    """`count` service instances (gunicorn, `workers` sync workers each) on their own ports, one database; with
    `proxy`, served as `make serve` does: nginx on the port, gunicorn behind it."""
    folder = Path(tempfile.mkdtemp(prefix="stewardship-load-"))
    folder.chmod(0o755)  # run as root, nginx's workers (nobody) must reach its socket and temporary files in here
    started = []
    try:
        for index in range(count):
            port = free_port()
            metrics = folder / f"prometheus-{index}"
            metrics.mkdir()
            env = dict(os.environ, STEWARDSHIP_DATABASE_URL=url, STEWARDSHIP_CDS_ISSUERS=str(ehr.issuers),
                       STEWARDSHIP_PUBLIC_URL=f"http://127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=str(metrics),
                       STEWARDSHIP_CHECKS_PER_MINUTE="0")  # the load is a few users far above a prescriber's pace
            log = open(folder / f"instance-{index}.log", "w")  # noqa: SIM115 - closed with the process
            command = [CLI, "serve", "--port", str(port), "--workers", str(workers)]
            if proxy:
                command += ["--proxy", "--var", str(folder / f"proxy-{index}")]
            # a session of its own: should it not stop in time, its whole group (nginx, workers) is killed with it
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
            started.append((process, f"http://127.0.0.1:{port}", log))
        for _, base, _ in started:
            for _ in range(200):
                try:
                    if requests.get(f"{base}/healthz", timeout=5).status_code in (200, 503):
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"instance {base} did not start; see {folder}")
        yield [base for _, base, _ in started]
    finally:
        for process, _, log in started:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# ------------------------------------------------------------------------------------------------ traffic
REGIMENS = [
    [("ibuprofen", 400, "TID"), ("acetaminophen", 500, "q6h")],
    [("oxycodone", 5, "q6h"), ("gabapentin", 300, "TID"), ("senna", 8.6, "qHS")],
    [("duloxetine", 60, "daily"), ("tramadol", 50, "q6h")],
    [("Norco 10/325", 1, "q4-6h"), ("cyclobenzaprine", 10, "TID")],
    [("naproxen", 250, "BID"), ("omeprazole", 20, "daily")],
]


def check_body(rng: random.Random) -> dict:
    regimen = rng.choice(REGIMENS)
    return {"patient": {"id": f"load-{rng.randrange(200)}", "age": rng.randrange(30, 90),
                        "sex": rng.choice(["female", "male"]), "weight": {"value": rng.randrange(50, 100), "unit": "kg"},
                        "serumCreatinine": {"value": round(rng.uniform(0.7, 2.5), 2), "unit": "mg/dL"},
                        "conditions": rng.sample(["ckd", "peptic_ulcer", "falls", "sleep_apnea"], rng.randrange(3)),
                        "medications": [{"drug": "warfarin", "dose": {"value": 5, "unit": "mg"}, "frequency": "daily"}]
                        if rng.random() < 0.3 else []},
            "regimen": [{"drug": d, "dose": {"value": v, "unit": "tablet" if "/" in d else "mg"}, "frequency": f}
                        for d, v, f in regimen]}


def hook_body(hook: str, rng: random.Random) -> dict:
    draft = {"resourceType": "MedicationRequest", "id": f"draft-{rng.randrange(10**6)}", "status": "draft",
             "intent": "order", "subject": {"reference": "Patient/load"},
             "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rng.choice(
                 ["197806", "857001", "1049621", "310431"])}]},
             "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1}}],
                                    "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}]}
    context = {"userId": "Practitioner/load", "patientId": f"load-{rng.randrange(200)}",
               "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{draft['id']}"]
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": {
        "patient": {"resourceType": "Patient", "id": "load", "gender": "female", "birthDate": "1950-01-01"},
        "conditions": None, "medications": None, "creatinine": None, "egfr": None, "weight": None}}


def main_guard(function) -> None:  # noqa: ANN001
    try:
        sys.exit(function())
    except KeyboardInterrupt:
        sys.exit(130)
