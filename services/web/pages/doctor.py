"""The doctor's home: each patient sharing with them, with what changed since the last visit."""

from datetime import UTC, datetime

from flask import Blueprint, g, render_template, request

from services.common.alerts import alert_text

from .. import access, attention, circle, data, preferences, records, reports, sessions
from ..db import get_db
from ..errors import DataUnavailable
from ..security import login_required
from . import health, reports_dir, temperature_unit

bp = Blueprint("doctor", __name__)


def _summary(patient, since: int | None) -> dict:
    """Latest vitals, alerts and what changed since this doctor's last visit."""
    out = {"patient": patient, "last_visit": since, "cards": [], "alerts": [], "error": None}
    try:
        unit = temperature_unit()
        pending = attention.pending(health(), get_db(), patient, unit)
        latest = health().latest(patient.username)
        out["cards"] = [c for c in data.cards(latest, pending, unit) if c.ts]
        alerts = health().alerts(patient.username, 20)
        out["alerts"] = [a | {"text": alert_text(a)} for a in open_alerts(alerts)]
        out["new_alerts"] = sum(1 for a in alerts if since and a["ts_ms"] > since * 1000)
    except DataUnavailable as exc:
        out["error"] = str(exc)  # the record's changes and reports still show
    found = reports.listing(reports_dir(), patient.username)
    out["reports"] = [r for r in found if str(r.get("id", "")).startswith("weekly-")][:2]
    out["notified"] = circle.alerts(get_db(), patient.username, 5)
    changes = records.changes_since(get_db(), patient.id, since or 0) if since else {}
    out["changes"] = {k: v for k, v in changes.items() if v}
    return out


@bp.route("/doctor")
@login_required("doctor")
def home():
    conn, doctor = get_db(), g.user
    signed_in = sessions.started_at(conn, g.session.token)
    summaries = []
    for patient in access.shared_patients(conn, doctor.id):
        since = access.last_visit(conn, doctor.id, patient.id, before=signed_in)
        summaries.append(_summary(patient, since))
        # Their readings are on the page, so the patient's access log shows it.
        access.record(conn, doctor, patient, "doctor_home", request.path, request.remote_addr)
    now = int(datetime.now(UTC).timestamp())
    been_before = preferences.been_before(conn, doctor.id)
    return render_template("doctor.html", summaries=summaries, now=now, been_before=been_before)


def open_alerts(alerts: list[dict]) -> list[dict]:
    """Newest-first alerts whose condition has not been cleared since it was raised."""
    seen, still = set(), []
    for a in alerts:
        key = (a.get("kind"), a.get("key"), a.get("device"))
        if key in seen:
            continue
        seen.add(key)
        if a.get("level") != "cleared":
            still.append(a)
    return still
