"""The patient's home page: their devices and a glance at the newest readings."""

from flask import g, render_template

from .. import attention, circle, data, devices, preferences
from ..db import get_db
from ..errors import DataUnavailable
from . import PatientPages, health, hub, temperature_unit

bp = PatientPages("welcome", __name__)


@bp.route("/p/<username>")
def welcome():
    patient = g.patient
    owned = devices.for_patient(get_db(), patient.id)
    live = hub()
    states = live.device_states(owned) if live else dict.fromkeys(owned, "unknown")
    try:
        unit = temperature_unit()
        sources = devices.several_watches(get_db(), patient.id)
        pending = attention.pending(health(), get_db(), patient, unit)
        glance = data.cards(health().latest(patient.username), pending, unit, sources)
    except DataUnavailable:
        glance = []  # the page still shows the devices
    notified = circle.alerts(get_db(), patient.username, 5)
    return render_template(
        "welcome.html",
        patient=patient,
        devices=states,
        glance=glance,
        notified=notified,
        been_before=preferences.been_before(get_db(), g.user.id),
    )
