"""A FHIR Bulk Data export read by patient, in bounded memory (issue 16).

An export is NDJSON files, one resource a line, with any file names (`*.ndjson`; the resource type is read from
each line, never from the name). Grouping a patient's resources across files without holding the export in memory
takes two passes:

1. `partition` streams every line once and appends it, with its file and line number, to one of N partition files
   on disk, chosen by a stable hash of its patient's id (Patient.id; `subject` or `patient` of the others), so that
   all of a patient's resources land in one partition. Medication resources, which belong to no patient and are
   referenced by id (`medicationReference: Medication/<id>`), go to one lookup file instead (SQLite, read by id).
2. `patients` reads one partition and groups it by patient: only one partition is ever held in memory.

A line that is not JSON, not a resource, or not about a patient is reported with its file and line number and
skipped; resource types the check does not use (Encounter, Claim ...) are counted and skipped.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .fhir import MEDICATION_MODELS

PATIENT_RESOURCES = ("Patient", "Condition", "Observation", *MEDICATION_MODELS)
MAX_PATIENT_ID = 200  # as stored (checks.patient_ref); a FHIR id has at most 64 characters
PARTITION_BYTES = 16 * 1024 * 1024  # NDJSON per partition, about ten times that once parsed: a worker's share


@dataclass(frozen=True)
class Unreadable:
    """A line or resource that could not be read, and where it is."""
    where: str  # "MedicationRequest.ndjson:17"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Located:
    """A resource with where it was read."""
    where: str
    resource: dict


@dataclass
class PatientResources:
    patient_id: str
    by_type: dict[str, list[Located]] = field(default_factory=dict)

    def of(self, *resource_types: str) -> list[Located]:
        return [found for kind in resource_types for found in self.by_type.get(kind, [])]


@dataclass
class Partitioned:
    paths: list[Path]
    medications: Path  # the Medication lookup (SQLite: ref -> resource)
    lines: int = 0
    unreadable: int = 0
    not_used: Counter = field(default_factory=Counter)  # resource types the check does not read


def export_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_file() and path.name.endswith(".ndjson"))


def sweep_key(folder: Path, files: list[Path], as_of: str) -> tuple[str, dict]:
    """The export's identity (file names, sizes and modification times) with the as-of date, as a SHA-256, and
    what it was made of. Reading every byte for a content digest would cost a third pass over the export."""
    described = [{"name": path.name, "bytes": path.stat().st_size, "modified": path.stat().st_mtime_ns}
                 for path in files]
    digest = hashlib.sha256(json.dumps({"files": described, "asOf": as_of}, sort_keys=True).encode()).hexdigest()
    return digest, {"folder": str(folder.resolve()), "files": described}


def patient_of(resource: dict) -> str | None:
    """The id of the patient a resource is about: a Patient's own id, else the patient its `subject` or `patient`
    references (`Patient/<id>`, an absolute URL ending so, or `urn:uuid:<id>` as in transaction bundles)."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") if isinstance(resource.get("id"), str) and resource["id"] else None
    for element in ("subject", "patient"):
        target = resource.get(element)
        reference = target.get("reference") if isinstance(target, dict) else None
        if not isinstance(reference, str):
            continue
        if reference.startswith("urn:uuid:"):
            return reference[len("urn:uuid:"):] or None
        if "Patient/" in reference:
            return reference.rsplit("Patient/", 1)[1].split("/", 1)[0] or None
    return None


def partition_of(patient_id: str, count: int) -> int:
    return zlib.crc32(patient_id.encode()) % count  # stable across processes and machines, unlike hash()


def partition(files: list[Path], folder: Path, count: int, report: Callable[[Unreadable], None]) -> Partitioned:
    """Pass 1: every line of `files` into `count` partition files in `folder` (and the Medication lookup)."""
    paths = [folder / f"partition-{index:04d}.ndjson" for index in range(count)]
    handles = [path.open("w", encoding="utf-8") for path in paths]
    lookup = folder / "medications.sqlite3"
    database = sqlite3.connect(lookup)
    database.execute("CREATE TABLE medications (ref TEXT PRIMARY KEY, resource TEXT NOT NULL)")
    done = Partitioned(paths, lookup)

    def unreadable(where: str, reason: str) -> None:
        done.unreadable += 1
        report(Unreadable(where, reason))

    try:
        for path in files:
            with path.open("r", encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, start=1):
                    text = line.strip()
                    if not text:
                        continue
                    done.lines += 1
                    where = f"{path.name}:{number}"
                    try:
                        resource = json.loads(text)
                    except ValueError as error:
                        unreadable(where, f"not JSON ({error.msg} at column {error.colno})")
                        continue
                    kind = resource.get("resourceType") if isinstance(resource, dict) else None
                    if not isinstance(kind, str):
                        unreadable(where, "not a FHIR resource (no resourceType)")
                    elif kind == "Medication":
                        if not isinstance(resource.get("id"), str):
                            unreadable(where, "Medication without an id: no record can reference it")
                            continue
                        database.execute("INSERT OR REPLACE INTO medications VALUES (?, ?)",
                                         (f"Medication/{resource['id']}", text))
                    elif kind not in PATIENT_RESOURCES:
                        done.not_used[kind] += 1
                    elif (patient := patient_of(resource)) is None:
                        unreadable(where, f"{kind} names no patient (no id, or no subject/patient reference to a "
                                          "Patient)")
                    elif len(patient) > MAX_PATIENT_ID:
                        unreadable(where, f"{kind}: patient id longer than {MAX_PATIENT_ID} characters")
                    else:
                        handles[partition_of(patient, count)].write(
                            f"{json.dumps([where, patient])}\t{text}\n")
        database.commit()
    finally:
        database.close()
        for handle in handles:
            handle.close()
    return done


def group(path: Path) -> list[PatientResources]:
    """Pass 2: one partition's patients, each with its resources by type in export order; by patient id."""
    grouped: dict[str, PatientResources] = {}
    with path.open("r", encoding="utf-8") as lines:
        for line in lines:
            head, text = line.rstrip("\n").split("\t", 1)
            where, patient = json.loads(head)
            resource = json.loads(text)
            found = grouped.setdefault(patient, PatientResources(patient))
            found.by_type.setdefault(resource["resourceType"], []).append(Located(where, resource))
    return [grouped[patient] for patient in sorted(grouped)]


class MedicationLookup:
    """The export's Medication resources by reference (`Medication/<id>`), read from pass 1's lookup file."""

    def __init__(self, path: Path) -> None:
        self.database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def __enter__(self) -> MedicationLookup:
        return self

    def __exit__(self, *_: object) -> None:
        self.database.close()

    def get(self, refs: list[str]) -> dict[str, dict]:
        if not refs:
            return {}
        rows = self.database.execute(
            f"SELECT ref, resource FROM medications WHERE ref IN ({','.join('?' * len(refs))})", refs).fetchall()
        return {ref: json.loads(text) for ref, text in rows}
