"""A synthetic population for sweeps: the Synthea sample (tests/fixtures/synthea-10-patients, Apache-2.0) cloned with
new ids, so that N patients are N/10 copies of ten real ones. Used by the sweep tests and by `make bench`."""
from __future__ import annotations

import copy
import json
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "synthea-10-patients"


def _owner(resource: dict) -> str:
    if resource["resourceType"] == "Patient":
        return resource["id"]
    return resource["subject"]["reference"].removeprefix("Patient/")


def _renamed(resource: dict, suffix: str) -> dict:
    """A copy of the resource with its id, and its reference to its patient, given the clone's suffix."""
    clone = copy.deepcopy(resource)
    clone["id"] = f"{clone['id']}{suffix}"
    if "subject" in clone:
        clone["subject"]["reference"] += suffix
    return clone


def clone_export(folder: Path, patients: int, source: Path = SAMPLES) -> Path:
    """An export of `patients` patients in `folder`: the sample's files, patient k of copy c as `<id>-c<c>`."""
    folder.mkdir(parents=True, exist_ok=True)
    order = {json.loads(line)["id"]: index for index, line in
             enumerate((source / "Patient.ndjson").read_text(encoding="utf-8").splitlines()) if line.strip()}
    for path in sorted(source.glob("*.ndjson")):
        resources = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        with (folder / path.name).open("w", encoding="utf-8") as out:
            for number in range(-(-patients // len(order))):
                for resource in resources:
                    if number * len(order) + order[_owner(resource)] < patients:
                        out.write(json.dumps(_renamed(resource, f"-c{number}"), separators=(",", ":")) + "\n")
    return folder
