"""Medications in the exports: FHIR MedicationStatement and MedicationAdministration, and CSV.

Both are built from ``adherence.scheduled`` (every scheduled dose and what became of
it). A dose "taken" means its item left the cabinet, or the patient marked it taken:
the resources say so in a note, because neither proves the dose was swallowed.
"""

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from services.common.medication.adherence import ScheduledDose
from services.common.medication.schedule import zone
from services.common.medication.store import Medication

from .exports import NAMESPACE

EVIDENCE = (
    "Seen as the item leaving the patient's cabinet, or marked taken by the patient: evidence"
    " it was taken out, not that the dose was swallowed."
)
CSV_HEADER = (
    "patient",
    "medication",
    "cabinet_item",
    "dose",
    "due_local",
    "due_utc",
    "outcome",
    "taken_at_utc",
    "seen_by",
    "removals",
)


def _url(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, key)}"


def _iso(ts: int | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _concept(med: Medication) -> dict:
    return {"text": med.name}


def statement(med: Medication, patient_url: str, username: str) -> tuple[str, dict]:
    """The medication as a ``MedicationStatement``: what, how much and when."""
    days = f" on {med.days}" if med.days else " every day"
    resource = {
        "resourceType": "MedicationStatement",
        "status": "stopped" if med.removed_at else "active",
        "medicationCodeableConcept": _concept(med),
        "subject": {"reference": patient_url},
        "dateAsserted": _iso(med.created_at),
        "dosage": [
            {
                "text": f"{med.dose:g} at {med.times}{days} (within {med.window_min:g} min)",
                "doseAndRate": [{"doseQuantity": {"value": med.dose, "unit": "unit"}}],
            }
        ],
    }
    return _url(f"medication:{username}/{med.id}"), resource


def administration(item: ScheduledDose, statement_url: str, patient_url: str) -> dict:
    """One taken dose as a ``MedicationAdministration``."""
    med, dose = item.medication, item.dose
    return {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medicationCodeableConcept": _concept(med),
        "subject": {"reference": patient_url},
        "supportingInformation": [{"reference": statement_url}],
        "effectiveDateTime": _iso(dose.taken_at),
        "note": [{"text": f"{item.outcome.replace('_', ' ')}; {EVIDENCE}"}],
        "dosage": {"dose": {"value": med.dose * max(dose.removals, 1), "unit": "unit"}},
    }


def fhir_entries(
    meds: Iterable[Medication], items: Iterable[ScheduledDose], patient_url: str, username: str
) -> list[dict]:
    """Bundle entries: each medication, then each dose taken (missed ones are not events)."""
    entries, urls = [], {}
    for med in meds:
        url, resource = statement(med, patient_url, username)
        urls[med.id] = url
        entries.append({"fullUrl": url, "resource": resource})
    for item in items:
        if item.dose is None or item.dose.status != "taken" or item.medication.id not in urls:
            continue
        key = f"dose:{username}/{item.medication.id}/{item.slot.key}"
        resource = administration(item, urls[item.medication.id], patient_url)
        entries.append({"fullUrl": _url(key), "resource": resource})
    return entries


def doses_csv(items: Iterable[ScheduledDose], username: str, tz: str) -> bytes:
    """One row per scheduled dose, with its outcome (missed ones included)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    local = zone(tz)
    for item in items:
        med, dose = item.medication, item.dose
        writer.writerow(
            (
                username,
                med.name,
                med.item,
                f"{med.dose:g}",
                item.slot.due.astimezone(local).isoformat(timespec="seconds"),
                item.slot.due.isoformat(timespec="seconds"),
                item.outcome,
                _iso(dose.taken_at) if dose else "",
                (dose.source or "") if dose else "",
                dose.removals if dose else 0,
            )
        )
    return out.getvalue().encode()
