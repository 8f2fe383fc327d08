"""Vitals as CSV and as a FHIR R4 Bundle of vital-signs Observations (LOINC codes, UCUM units).

Flagged (implausible) readings are kept and marked: in CSV with the reason, in
FHIR as an Observation with a ``dataAbsentReason`` of ``error`` instead of a
value, or left out altogether with ``flagged="exclude"``.
"""

import csv
import io
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from services.common.metrics import BP_PANEL, BY_KEY, LOINC, UCUM, Metric
from services.common.timeutil import rfc3339_ms

from .errors import BadRequest
from .model import Patient

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PATIENT_SYSTEM = "urn:smartcab:patient"
DEVICE_SYSTEM = "urn:smartcab:device"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
NAMESPACE = uuid.UUID("2f9c6f0e-6a55-4b8e-9d6b-6f1f3f0c5a11")
# Systolic and diastolic of one measurement reach the gateway a few ms apart.
BP_PAIR_MS = 5000

FLAGGED_MODES = ("mark", "exclude")
CSV_HEADER = [
    "time",
    "patient",
    "device",
    "metric",
    "value",
    "unit",
    "loinc",
    "flagged",
    "reason",
    "label",
    "normal_range",
]


def to_csv(readings: Iterable[Mapping], patient: str) -> bytes:
    """One row per reading, oldest first, with its unit, LOINC code and quality flag."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in readings:
        known = BY_KEY.get(r["metric"])
        writer.writerow(
            [
                rfc3339_ms(int(r["time"])),
                r.get("patient") or patient,
                r["device"],
                r["metric"],
                f"{r['value']:g}",
                known.unit if known else "",
                known.loinc[0][0] if known else "",
                "yes" if r.get("flagged") else "no",
                r.get("reason") or "",
                known.label if known else "",
                known.range_text if known else "",
            ]
        )
    return out.getvalue().encode("utf-8")


def _coding(metric: Metric) -> dict:
    return {
        "coding": [{"system": LOINC, "code": c, "display": d} for c, d in metric.loinc],
        "text": metric.label,
    }


def _quantity(metric: Metric, value: float) -> dict:
    return {
        "value": round(float(value), 3),
        "unit": metric.unit,
        "system": UCUM,
        "code": metric.ucum,
    }


def _reference_range(metric: Metric) -> list[dict]:
    """The usual adult range the dashboard and the PDF report show."""
    return [
        {
            "low": _quantity(metric, metric.low),
            "high": _quantity(metric, metric.high),
            "text": f"usual adult range {metric.range_text} {metric.unit}",
        }
    ]


def _absent(reading: Mapping) -> dict:
    return {
        "coding": [{"system": ABSENT, "code": "error", "display": "Error"}],
        "text": f"implausible reading left out: {reading.get('reason') or 'flagged'}",
    }


def _value(target: dict, reading: Mapping | None) -> None:
    """Set the value (or why there is none) of an Observation or a component."""
    if reading is None:
        target["dataAbsentReason"] = {
            "coding": [{"system": ABSENT, "code": "unknown", "display": "Unknown"}],
            "text": "not measured together with the other pressure",
        }
    elif reading.get("flagged"):
        target["dataAbsentReason"] = _absent(reading)
    else:
        metric = BY_KEY[reading["metric"]]
        target["valueQuantity"] = _quantity(metric, reading["value"])
        target["referenceRange"] = _reference_range(metric)


def _observation(
    patient_ref: str, profile: str, code: dict, reading: Mapping, key: str
) -> tuple[str, dict]:
    full_url = f"urn:uuid:{uuid.uuid5(NAMESPACE, key)}"
    device = reading["device"]
    observation = {
        "resourceType": "Observation",
        "meta": {"profile": [PROFILE + profile, PROFILE + "vitalsigns"]},
        "identifier": [{"system": "urn:smartcab:reading", "value": key}],
        "status": "final",
        "category": [
            {
                "coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs",
            }
        ],
        "code": code,
        "subject": {"reference": patient_ref},
        "effectiveDateTime": rfc3339_ms(int(reading["time"])),
        "device": {"identifier": {"system": DEVICE_SYSTEM, "value": device}, "display": device},
    }
    return full_url, observation


def _pair_pressures(readings: list[Mapping]) -> list[tuple[Mapping | None, Mapping | None]]:
    """Systolic and diastolic readings of one device within BP_PAIR_MS, as pairs."""
    pairs: list[tuple[Mapping | None, Mapping | None]] = []
    pending: dict[str, Mapping] = {}  # device -> the reading waiting for its partner
    for r in readings:
        other = pending.pop(r["device"], None)
        if (
            other is not None
            and other["metric"] != r["metric"]
            and (int(r["time"]) - int(other["time"]) <= BP_PAIR_MS)
        ):
            both = {other["metric"]: other, r["metric"]: r}
            pairs.append((both["bp_systolic"], both["bp_diastolic"]))
            continue
        if other is not None:
            pairs.append(_alone(other))
        pending[r["device"]] = r
    pairs += [_alone(r) for r in pending.values()]
    return sorted(pairs, key=lambda p: int((p[0] or p[1])["time"]))


def _alone(r: Mapping) -> tuple[Mapping | None, Mapping | None]:
    return (r, None) if r["metric"] == "bp_systolic" else (None, r)


def fhir_bundle(
    readings: Iterable[Mapping], patient: Patient, generated: datetime, flagged: str = "mark"
) -> dict:
    """A FHIR R4 ``collection`` Bundle: the Patient and one Observation per measurement."""
    if flagged not in FLAGGED_MODES:
        raise BadRequest(f"flagged must be one of {', '.join(FLAGGED_MODES)}")
    patient_url = f"urn:uuid:{uuid.uuid5(NAMESPACE, 'patient:' + patient.username)}"
    entries = [
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": PATIENT_SYSTEM, "value": patient.username}],
                "name": [{"text": patient.display_name}],
            },
        }
    ]
    pressures = []
    for r in readings:
        if r["metric"] not in BY_KEY or (flagged == "exclude" and r.get("flagged")):
            continue
        if r["metric"].startswith("bp_"):
            pressures.append(r)
            continue
        key = f"{patient.username}/{r['device']}/{r['metric']}/{int(r['time'])}"
        metric = BY_KEY[r["metric"]]
        url, obs = _observation(patient_url, metric.fhir_profile, _coding(metric), r, key)
        _value(obs, r)
        entries.append({"fullUrl": url, "resource": obs})
    for systolic, diastolic in _pair_pressures(pressures):
        first = systolic or diastolic
        key = f"{patient.username}/{first['device']}/bp/{int(first['time'])}"
        code = {
            "coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}],
            "text": "Blood pressure",
        }
        url, obs = _observation(patient_url, "bp", code, first, key)
        obs["component"] = []
        for metric, reading in (("bp_systolic", systolic), ("bp_diastolic", diastolic)):
            component = {"code": _coding(BY_KEY[metric])}
            _value(component, reading)
            obs["component"].append(component)
        entries.append({"fullUrl": url, "resource": obs})
    return {
        "resourceType": "Bundle",
        "identifier": {
            "system": "urn:smartcab:export",
            "value": str(uuid.uuid5(NAMESPACE, f"{patient_url}/{generated.isoformat()}")),
        },
        "type": "collection",
        "timestamp": generated.isoformat(timespec="seconds"),
        "entry": entries,
    }
