"""Gathering one report's data: the vitals history from InfluxDB, the record from the web's DB."""

import logging
from datetime import UTC, datetime

from services.common import logs
from services.common.alerts import PARTIAL_NEWS2_LABEL
from services.common.influx import InfluxClient, InfluxError

from . import influxdata
from .errors import HistoryUnavailable
from .model import Patient, Period, Report, ScoreSummary
from .settings import Settings
from .webdb import WebDirectory

log = logging.getLogger(__name__)


def gather(
    settings: Settings,
    client: InfluxClient,
    patient: Patient,
    period: Period,
    requested_by: str,
    directory: WebDirectory | None,
    now: datetime | None = None,
) -> Report:
    """Every section of the report; record sections stay None without the web's database."""
    tz = settings.timezone
    try:
        vitals, chart_points = influxdata.vitals(client, patient.username, period)
        alert_list, alert_total, _ = influxdata.alerts(client, patient.username, period)
        raw_score = influxdata.score(
            client, patient.username, period, settings.news2_alert_score, tz
        )
        snack_days = influxdata.snacks(client, patient.username, period, tz)
    except InfluxError as exc:
        logs.event(log, logging.WARNING, "reporter.history_failed", error=exc)
        raise HistoryUnavailable(f"the vitals history could not be read: {exc}") from exc
    score = None
    if raw_score is not None:
        score = ScoreSummary(
            label=PARTIAL_NEWS2_LABEL, alert_level=settings.news2_alert_score, **raw_score
        )
    record = {}
    if directory is not None:
        record = {
            "blood_tests": directory.blood_tests(patient.username, period),
            "advice": directory.advice(patient.username, period),
            "notes": directory.notes(patient.username, period),
            "questionnaire": directory.questionnaire(patient.username, period),
            "habits": directory.habits(patient.username, period, settings.tz),
            "medications": directory.medications(patient.username, period, tz),
        }
    return Report(
        patient=patient,
        period=period,
        generated=now or datetime.now(UTC),
        requested_by=requested_by,
        timezone=tz,
        vitals=tuple(vitals),
        charts=chart_points,
        alerts=tuple(alert_list),
        alert_total=alert_total,
        score=score,
        snacks=tuple(snack_days),
        **record,
    )
