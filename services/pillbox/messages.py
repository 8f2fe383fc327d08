"""What the dose tracker tells the broker: medication alerts, as JSON, with their outbox keys.

Every field of a message comes from the decision it reports (the dose's due time,
the removal's gateway timestamp), never from the clock at sending, so a message
sent again after a crash is the same bytes and the notifier's content hash gives it
the same alert id.

Alert keys name one dose (``dose-<medication>-<due>``), so each missed dose is a
condition of its own for the notifier: the second missed dose of a medicine is news
too, and a missed dose found taken after all (``cleared``, same key) ends only its own.
"""

import json
from datetime import datetime

from services.common.alerts import Alert
from services.common.medication.store import Medication
from services.common.topics import Topics

KIND = "medication"
SERVICE = "pillbox"


def dose_key(med: Medication, due_at: int) -> str:
    return f"dose-{med.id}-{due_at}"


def alert(
    topics: Topics,
    med: Medication,
    username: str | None,
    cabinets: list[str],
    level: str,
    message: str,
    at: datetime,
    key: str,
) -> tuple[str, str]:
    """(topic, payload) of one alert: on the cabinet's topic, or the tracker's without one."""
    device = cabinets[0] if cabinets else SERVICE
    body = Alert(
        device=device,
        kind=KIND,
        key=key,
        level=level,
        message=message,
        ts_ms=int(at.timestamp() * 1000),
        patient=username,
    )
    topic = topics.device_alert(device) if cabinets else topics.service_alert(SERVICE)
    return topic, json.dumps(body.as_json())
