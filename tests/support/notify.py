"""Alerts as the recorder publishes them, and the outbox's view of them, for notifier tests."""

import json

from services.common import carecircle
from services.common.alerts import Alert
from services.common.timeutil import now_ms
from services.notifier import rules
from tests.support.mqtt import TopicLog

BASE_URL = "https://hp.example"


def make_alert(
    key: str = "heart_rate",
    level: str = "warning",
    *,
    kind: str = "threshold",
    patient: str | None = "ann",
    device: str = "wch-01",
    value: float | None = 35.0,
    message: str | None = None,
) -> dict:
    """An alert exactly as the recorder publishes it."""
    text = message or f"{key} {value:g} is below 40"
    return Alert(device, kind, key, level, text, now_ms(), value, patient).as_json()


def publish_alert(client: TopicLog, alert: dict) -> str:
    """Publish as the recorder does; returns the alert id the notifier gives it."""
    where = "services" if alert["kind"] == "service" else "devices"
    client.publish(f"smartcab/alerts/{where}/{alert['device']}", json.dumps(alert))
    return rules.alert_id(alert)


def statuses(db, alert_id: str) -> list[str]:
    return [d["status"] for d in carecircle.deliveries(db, alert_id)]
