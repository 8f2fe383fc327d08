"""Which patient each device belongs to (the web's record; MQTT tells the recorder)."""

import re
import time

from services.common.database import Connection
from services.common.devices import KINDS, kind_of, normalise_id

from .errors import ValidationError

DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_id(device_id: str) -> str:
    device_id = normalise_id(device_id)
    if not DEVICE_RE.match(device_id):
        raise ValidationError("A device id is 1 to 64 letters, digits, '.', '_' or '-'.")
    return device_id


def assign(conn: Connection, device_id: str, patient_id: int | None) -> None:
    conn.execute(
        "INSERT INTO devices (device_id, patient_id, assigned_at) VALUES (?, ?, ?)"
        " ON CONFLICT(device_id) DO UPDATE SET patient_id = excluded.patient_id,"
        " assigned_at = excluded.assigned_at",
        (check_id(device_id), patient_id, int(time.time())),
    )


def forget(conn: Connection, device_id: str) -> bool:
    """Take a device off the list altogether; False when it was not on it."""
    cur = conn.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
    return cur.rowcount == 1


def is_listed(conn: Connection, device_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)).fetchone()
    return row is not None


def for_patient(conn: Connection, patient_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT device_id FROM devices WHERE patient_id = ? ORDER BY device_id", (patient_id,)
    )
    return [r["device_id"] for r in rows]


def several_watches(conn: Connection, patient_id: int) -> bool:
    """Whether the patient wears more than one watch (the pages then name each source)."""
    return sum(1 for d in for_patient(conn, patient_id) if kind_of(d) == "watch") > 1


def assignments(conn: Connection) -> list[tuple[str, str | None]]:
    """Every device with its patient's user name (None when unassigned)."""
    rows = conn.execute(
        "SELECT d.device_id, u.username FROM devices d LEFT JOIN users u ON u.id = d.patient_id"
        " ORDER BY d.device_id"
    )
    return [(r["device_id"], r["username"]) for r in rows]


# The kinds, their commands and the id rule live in services/common/devices.py.
COMMANDS = {k.name: k.commands for k in KINDS}


def kind(device_id: str) -> str:
    return kind_of(device_id) or "unknown"
