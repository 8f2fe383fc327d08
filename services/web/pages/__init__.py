"""The dashboard's pages: one blueprint per page, owning its GET, its forms and its APIs.

Pages about one patient (``/p/<username>/...`` and ``/api/p/<username>/...``) are
``PatientPages``: the patient is resolved once per request into ``g.patient``, with the
role and share check and, for a doctor or carer, the audit row. A view's name is the action that
row records, and the access log describes it (``access.ACTIONS``).
"""

import logging
from collections.abc import Callable

from flask import Blueprint, abort, current_app, g, request

from services.common import logs
from services.common.errors import MqttError
from services.common.medication import store
from services.common.medication.settings import MedicationSettings

from .. import access, accounts, preferences
from ..db import get_db
from ..errors import WebError
from ..handlers import message_of, note, project_error, status_of, wants_json
from ..security import check_role

log = logging.getLogger(__name__)

VIEWERS = ("patient", "doctor", "carer")  # the patient, and doctors and carers they share with
PATIENT = ("patient",)  # the patient themselves
DOCTOR = ("doctor",)  # doctors they share with
# What a form post can be refused for: bad input, or the history or broker away.
FORM_ERRORS = (WebError, MqttError)


class PatientPages(Blueprint):
    """A page's blueprint whose every route names the patient as ``<username>``."""

    def __init__(self, name: str, import_name: str) -> None:
        super().__init__(name, import_name)
        self.roles: dict[str, tuple[str, ...]] = {}
        self.url_value_preprocessor(_take_username)
        self.before_request(self._resolve)

    def route(self, rule: str, *, roles: tuple[str, ...] = VIEWERS, **options):
        """``Blueprint.route`` that also says who may use the view (the patient's viewers)."""

        def wrap(view):
            self.roles[options.get("endpoint", view.__name__)] = roles
            return super(PatientPages, self).route(rule, **options)(view)

        return wrap

    def _resolve(self):
        action = request.endpoint.rsplit(".", 1)[-1]
        refused = check_role(*self.roles[action])
        if refused is not None:
            return refused
        g.patient = resolve_patient(g.username, action)
        return None

    def show_errors(self, render: Callable[[str], str], *types: type[Exception]) -> None:
        """Show these errors of a form post in the page's own form.

        Other requests, and scripts asking for JSON, get the app's error handling.
        """

        def handle(exc: Exception):
            if request.method == "POST" and g.get("patient") and g.user.id != g.patient.id:
                # A viewer's change was audited before it ran: say it was refused.
                access.refused(get_db(), g.user, g.patient, request.endpoint.rsplit(".", 1)[-1])
            if request.method != "POST" or wants_json():
                return project_error(exc)
            note(exc)
            return render(message_of(exc)), status_of(exc)

        for cls in types:
            self.register_error_handler(cls, handle)


def _take_username(endpoint: str | None, values: dict | None) -> None:
    g.username = (values or {}).pop("username", "")


def resolve_patient(username: str, action: str) -> accounts.User:
    """The patient whose data is asked for; 403 for anyone not allowed to see it.

    An unknown user name gets the same 403 as a forbidden one, so URLs cannot be
    used to find out which accounts exist.
    """
    user, conn = g.user, get_db()
    patient = accounts.find_patient(conn, username)
    if patient is not None:
        if user.role == "patient" and user.id == patient.id:
            return patient
        if user.role in access.VIEWER_ROLES and access.has_share(conn, patient.id, user.id):
            access.record(conn, user, patient, action, request.path, request.remote_addr)
            return patient
    logs.event(
        log,
        logging.WARNING,
        "web.access_refused",
        user=user.login,
        patient=username,
        path=request.path,
    )
    abort(403)


def rate_limit(action: str) -> None:
    """Count one costly action of the signed-in user; 429 past their limit (``ratelimit``)."""
    current_app.extensions["smartcab.limits"].take(get_db(), action, g.user.id)


def hub():
    """The live hub (broker, device states, reports), or None when WEB_LIVE is off."""
    return current_app.extensions.get("smartcab.hub")


def health():
    """The vitals history (``history.HealthData``)."""
    return current_app.extensions["smartcab.data"]


def reports_dir():
    return current_app.config["SETTINGS"].reports_dir


def default_zone() -> str:
    """The deployment's time zone (``REPORT_TIMEZONE``), read once per app."""
    ext = current_app.extensions
    if "smartcab.medication" not in ext:
        ext["smartcab.medication"] = MedicationSettings.from_env()
    return ext["smartcab.medication"].timezone


def patient_zone(patient_id: int) -> str:
    """The patient's own time zone, or the deployment's: their days and doses follow it."""
    return store.timezone_of(get_db(), patient_id, default_zone())


def temperature_unit() -> str:
    """The signed-in person's temperature unit (their account page): ``°C`` or ``°F``."""
    return preferences.temperature_symbol(g.get("prefs"))
