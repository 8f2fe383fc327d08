"""Every MQTT topic the services use, in one place, under a configurable root.

docs/protocol.md lists them. Topics are built here and nowhere else, and so is the
vitals message body that the gateway and the web's typed-in readings both publish.
"""

from dataclasses import dataclass

from .metrics import BY_KEY
from .timeutil import rfc3339_ms

DEVICE_STATUS = "status"
DEVICE_GATEWAY = "gateway"
ONLINE = "online"
OFFLINE = "offline"
# The one gateway of a home needs no id and keeps ``services/gateway/status``; each of
# several gateways is ``gateway-<GATEWAY_ID>``, a service like the others.
GATEWAY_SERVICE = "gateway"


@dataclass(frozen=True)
class Topics:
    """Builds the project's MQTT topics."""

    root: str = "smartcab"

    def device(self, device_id: str, *parts: str) -> str:
        return "/".join((self.root, "devices", device_id, *parts))

    def device_status(self, device_id: str) -> str:
        return self.device(device_id, DEVICE_STATUS)

    def device_gateway(self, device_id: str) -> str:
        """Retained: which gateway holds the device (published only by gateways with an id)."""
        return self.device(device_id, DEVICE_GATEWAY)

    def vitals(self, device_id: str, metric: str) -> str:
        return self.device(device_id, "vitals", metric)

    def latest(self, device_id: str, metric: str) -> str:
        """Retained: a copy of the device's last reading of ``metric`` (Home Assistant's state).

        ``vitals`` stays unretained: its subscribers take each message as a new reading.
        """
        return self.device(device_id, "latest", metric)

    def inventory(self, device_id: str) -> str:
        return self.device(device_id, "inventory")

    def image(self, device_id: str) -> str:
        return self.device(device_id, "image")

    def firmware(self, device_id: str) -> str:
        """Retained: the firmware version the device reported when it last registered."""
        return self.device(device_id, "firmware")

    def cmd(self, device_id: str) -> str:
        return self.device(device_id, "cmd")

    def cmd_result(self, device_id: str) -> str:
        return self.device(device_id, "cmd", "result")

    def gateway_cmd(self, gateway_id: str, device_id: str) -> str:
        """A command for a device, to the one gateway with an id that holds it (the scheduler's)."""
        return f"{self.root}/gateways/{gateway_id}/cmd/{device_id}"

    def gateway_cmds(self, gateway_id: str) -> str:
        """The filter of every command sent to one gateway with an id."""
        return self.gateway_cmd(gateway_id, "+")

    def patient(self, device_id: str) -> str:
        """Retained: the user name the device's readings belong to (the web publishes it)."""
        return self.device(device_id, "patient")

    def service_status(self, name: str) -> str:
        return f"{self.root}/services/{name}/status"

    def gateway_status(self, gateway_id: str | None) -> str:
        """A gateway's retained status: ``services/gateway/status`` for the one without an id."""
        return self.service_status(gateway_service(gateway_id))

    @property
    def all_service_status(self) -> str:
        return self.service_status("+")

    def service_leader(self, name: str) -> str:
        """Which instance of a service with one active at a time holds its work now."""
        return f"{self.root}/services/{name}/leader"

    def open_alerts(self, name: str) -> str:
        """Retained: the alert conditions a service (the recorder) has open, for its successor."""
        return f"{self.root}/services/{name}/open_alerts"

    def device_alert(self, device_id: str) -> str:
        return f"{self.root}/alerts/devices/{device_id}"

    def service_alert(self, name: str) -> str:
        return f"{self.root}/alerts/services/{name}"

    @property
    def report_requests(self) -> str:
        return f"{self.root}/reports/requests"

    @property
    def report_weekly(self) -> str:
        return f"{self.root}/reports/jobs/weekly"

    def report_progress(self, request_id: str) -> str:
        return f"{self.root}/reports/progress/{request_id}"

    def report_result(self, request_id: str) -> str:
        return f"{self.root}/reports/results/{request_id}"

    def report_doctor(self, dr_id: str, request_id: str) -> str:
        """A weekly report's retained announcement to one doctor; the id is ``weekly_name``."""
        return f"{self.root}/reports/doctors/{dr_id}/{request_id}"

    @property
    def report_audit(self) -> str:
        return f"{self.root}/reports/audit"

    @property
    def all_cmds(self) -> str:
        return self.device("+", "cmd")

    @property
    def all_device_status(self) -> str:
        return self.device("+", DEVICE_STATUS)

    @property
    def all_device_gateways(self) -> str:
        return self.device("+", DEVICE_GATEWAY)

    # notifications (the notifier's events about its messages) -----------------------

    @property
    def all_alerts(self) -> str:
        """The filter of every alert, devices' and services'."""
        return f"{self.root}/alerts/#"

    def notification_events(self, patient: str | None) -> str:
        """``<root>/notifications/patients/<patient>/events``; no patient: the admins' own."""
        if patient is None:
            return f"{self.root}/notifications/services/events"
        return f"{self.root}/notifications/patients/{patient}/events"

    def reminder(self, patient: str) -> str:
        """``<root>/reminders/<patient>``: a dose of the patient's is due (the dose tracker's)."""
        return f"{self.root}/reminders/{patient}"

    # Readings a patient types into the dashboard have a topic space of their own, so the
    # web's broker account needs no right to speak for any device.
    def manual_vitals(self, username: str, metric: str) -> str:
        return "/".join((self.root, "manual", username, "vitals", metric))

    def parse_manual(self, topic: str) -> tuple[str, str] | None:
        """Split ``<root>/manual/<username>/vitals/<metric>`` into ``(username, metric)``."""
        parts = topic.split("/")
        if parts[:2] != [self.root, "manual"] or len(parts) != 5 or parts[3] != "vitals":
            return None
        if not parts[2] or not parts[4]:
            return None
        return parts[2], parts[4]


def gateway_service(gateway_id: str | None) -> str:
    """The service name a gateway's status goes under: ``gateway`` or ``gateway-<id>``."""
    return f"{GATEWAY_SERVICE}-{gateway_id}" if gateway_id else GATEWAY_SERVICE


def gateway_of_service(name: str) -> str | None:
    """The gateway id a service name stands for (``""``: the one without an id), or None."""
    if name == GATEWAY_SERVICE:
        return ""
    prefix = f"{GATEWAY_SERVICE}-"
    if name.startswith(prefix) and len(name) > len(prefix):
        return name[len(prefix) :]
    return None


def vitals_body(device_id: str, metric: str, value: float, ts_ms: int) -> dict:
    """The body of a ``vitals`` message (JSON), as the recorder reads it."""
    return {
        "device": device_id,
        "metric": metric,
        "value": value,
        "unit": BY_KEY[metric].unit,
        "ts": rfc3339_ms(ts_ms),
    }
