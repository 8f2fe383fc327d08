"""Medications in the exports: FHIR resources valid for fhir.resources, one CSV row per dose."""

import csv
import io
from datetime import UTC, datetime, timedelta

from fhir.resources.R4B.bundle import Bundle

from services.common.medication import adherence, doses
from services.reporter import medication_export
from tests.support.medication import one_medication


def test_taken_doses_are_administrations_and_every_dose_is_a_csv_row(tmp_path):
    conn, _patient, med = one_medication(tmp_path)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = start + timedelta(days=3)
    day1 = int(datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp())
    day2 = day1 + 86400
    doses.record_taken(conn, med.id, day1, "on_time", day1 + 120, "cabinet")
    doses.record_taken(conn, med.id, day2, "late", day2 + 4000, "dashboard")
    doses.record_missed(conn, med.id, day2 + 86400)
    items = adherence.scheduled(conn, [med], "UTC", start, end, now=end)
    assert [i.outcome for i in items] == ["on_time", "late", "missed"]
    assert adherence.summary(items)["on_time_pct"] == 33.3

    patient_url = "urn:uuid:00000000-0000-0000-0000-000000000001"
    entries = medication_export.fhir_entries([med], items, patient_url, "ann")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": patient_url, "resource": {"resourceType": "Patient"}}, *entries],
    }
    model = Bundle.model_validate(bundle)
    kinds = [e.resource.get_resource_type() for e in model.entry]
    assert kinds == ["Patient", "MedicationStatement", *["MedicationAdministration"] * 2]
    assert "not that the dose was swallowed" in entries[1]["resource"]["note"][0]["text"]

    rows = list(
        csv.DictReader(io.StringIO(medication_export.doses_csv(items, "ann", "UTC").decode()))
    )
    assert [r["outcome"] for r in rows] == ["on_time", "late", "missed"]
    assert rows[0]["seen_by"] == "cabinet" and rows[1]["seen_by"] == "dashboard"
    assert rows[2]["taken_at_utc"] == "" and rows[0]["due_local"] == "2026-01-05T08:00:00+00:00"
    conn.close()
