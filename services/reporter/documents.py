"""Producing one document (PDF report, CSV or FHIR export) for a patient and period."""

import json
import logging
from datetime import UTC, datetime

from services.common import history, logs
from services.common.influx import InfluxClient, InfluxError

from . import collect, exports, influxdata, medication_export, render
from .errors import BadRequest, HistoryUnavailable
from .model import Patient, Period
from .settings import Settings
from .webdb import WebDirectory

log = logging.getLogger(__name__)


def produce(
    settings: Settings,
    client: InfluxClient,
    directory: WebDirectory | None,
    patient: Patient,
    period: Period,
    fmt: str,
    requested_by: str,
    flagged: str = "mark",
    now: datetime | None = None,
) -> bytes:
    """The document's bytes; raises HistoryUnavailable when InfluxDB fails."""
    now = now or datetime.now(UTC)
    if fmt == "pdf":
        report = collect.gather(settings, client, patient, period, requested_by, directory, now)
        return render.render(settings, report)
    if fmt == "doses":
        return _doses(settings, directory, patient, period)
    try:
        readings = influxdata.readings(client, patient.username, period.start, period.end)
    except history.TooManyReadings as exc:
        raise BadRequest(f"the period holds {exc}; ask for a shorter one") from exc
    except InfluxError as exc:
        logs.event(log, logging.WARNING, "reporter.history_failed", error=exc)
        raise HistoryUnavailable(f"the vitals history could not be read: {exc}") from exc
    if fmt == "csv":
        return exports.to_csv(readings, patient.username)
    bundle = exports.fhir_bundle(readings, patient, now, flagged)
    record = (
        directory.medication_doses(patient.username, period, settings.timezone)
        if directory
        else None
    )
    if record is not None:
        meds, doses, _tz = record
        patient_url = bundle["entry"][0]["fullUrl"]
        bundle["entry"] += medication_export.fhir_entries(
            meds, doses, patient_url, patient.username
        )
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8")


def _doses(settings: Settings, directory: WebDirectory | None, patient: Patient, period) -> bytes:
    """One row per scheduled dose of the period, from the web's database (no InfluxDB)."""
    if directory is None:
        raise BadRequest("the doses export needs the web's database (SMARTCAB_DATA_DIR)")
    record = directory.medication_doses(patient.username, period, settings.timezone)
    if record is None:  # a patient without the medication tables yet: no doses
        return medication_export.doses_csv([], patient.username, settings.timezone)
    _meds, doses, tz = record
    return medication_export.doses_csv(doses, patient.username, tz)
