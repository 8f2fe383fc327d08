"""Security alerts from the dashboard (repeated failed sign-ins), kept until published.

Each alert is written to the database first and published on the alert topics
when the broker connection is up (at once, or when the web next connects), so an
alert raised while the broker is away is not lost. Alerts have kind ``security``:
one for the admins, and one for the patient when the account is a patient's.
"""

import json
import logging
import time

from services.common import logs
from services.common.alerts import Alert
from services.common.database import Connection

log = logging.getLogger(__name__)

DEVICE = "web"  # alerts name a device; the dashboard's own are the web's


def failed_sign_ins(conn: Connection, account: str, failures: int, patient: str | None):
    """Record the alerts for ``failures`` failed sign-ins of ``account``."""
    now_ms = int(time.time() * 1000)
    message = f"{failures} failed sign-ins for the account {account!r} in 15 minutes"
    # One alert: the notifier tells the admins of every security alert, and the patient's
    # circle too when the alert names a patient.
    if patient:
        mine = f"{failures} failed sign-ins to your account in 15 minutes; if it was not you,"
        mine += " change your password and turn on two-step sign-in"
        alerts = [
            Alert(DEVICE, "security", "signin_failures", "warning", mine, now_ms, patient=patient)
        ]
    else:
        alerts = [
            Alert(DEVICE, "security", f"signin_failures:{account}", "warning", message, now_ms)
        ]
    conn.executemany(
        "INSERT INTO security_alerts (at, topic_kind, body) VALUES (?, 'service', ?)",
        [(now_ms // 1000, json.dumps(a.as_json())) for a in alerts],
    )
    logs.event(log, logging.WARNING, "web.security_alert", account=account, failures=failures)


def publish_pending(conn: Connection, hub) -> int:
    """Publish the recorded alerts not yet published; nothing while the broker is away."""
    if hub is None or not hub.client.connected:
        return 0
    topic = hub.topics.service_alert(DEVICE)
    # One transaction: another web instance connecting at the same time waits, then finds
    # them published.
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, body FROM security_alerts WHERE published_at IS NULL ORDER BY id"
        ).fetchall()
        for row in rows:
            hub.client.publish(topic, row["body"])
            conn.execute(
                "UPDATE security_alerts SET published_at = ? WHERE id = ?",
                (int(time.time()), row["id"]),
            )
    return len(rows)
