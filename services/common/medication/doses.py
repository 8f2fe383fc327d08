"""Doses seen and missed, and the cabinets' last counts: the SQL the tracker and pages share.

A dose is one row per medication and due time (``UNIQUE``), so a restarted tracker
that sees the same removal again, or a second marking on the dashboard, never
counts a dose twice.
"""

import time
from dataclasses import dataclass

from services.common.database import Connection
from services.common.devices import kind_of

TAKEN, DOUBLED, ALREADY, RECOVERED = "taken", "doubled", "already", "recovered"


@dataclass(frozen=True)
class Dose:
    medication_id: int
    due_at: int
    status: str  # taken or missed
    timing: str | None  # early, on_time or late (taken doses)
    taken_at: int | None
    source: str | None  # cabinet or dashboard
    removals: int

    @property
    def doubled(self) -> bool:
        return self.removals > 1


def _dose(row) -> Dose:
    return Dose(
        row["medication_id"],
        row["due_at"],
        row["status"],
        row["timing"],
        row["taken_at"],
        row["source"],
        row["removals"],
    )


def get(conn: Connection, med_id: int, due_at: int) -> Dose | None:
    row = conn.execute(
        "SELECT * FROM doses WHERE medication_id = ? AND due_at = ?", (med_id, due_at)
    ).fetchone()
    return _dose(row) if row else None


def between(conn, med_ids: list[int], start: int, end: int) -> list[Dose]:
    """The doses of these medications due in ``[start, end)`` (Unix seconds)."""
    if not med_ids:
        return []
    marks = ", ".join("?" * len(med_ids))
    rows = conn.execute(
        f"SELECT * FROM doses WHERE medication_id IN ({marks}) AND due_at >= ? AND due_at < ?"
        " ORDER BY due_at",
        (*med_ids, start, end),
    )
    return [_dose(r) for r in rows]


def record_taken(conn, med_id: int, due_at: int, timing: str, taken_at: int, source: str) -> str:
    """Record a dose taken; returns taken, doubled, already (nothing new) or recovered.

    A second removal from the cabinet in one window is a doubled dose; a dashboard
    marking of a dose already seen adds nothing. A removal whose message reached us
    after the window closed turns the missed dose into a taken one (``recovered``).
    """
    now = int(time.time())
    with conn.transaction():
        found = get(conn, med_id, due_at)
        if found is None:
            conn.execute(
                "INSERT INTO doses (medication_id, due_at, status, timing, taken_at, source,"
                " removals, recorded_at) VALUES (?, ?, 'taken', ?, ?, ?, ?, ?)",
                (med_id, due_at, timing, taken_at, source, 1 if source == "cabinet" else 0, now),
            )
            outcome = TAKEN
        elif found.status == "missed":
            conn.execute(
                "UPDATE doses SET status = 'taken', timing = ?, taken_at = ?, source = ?,"
                " removals = ?, recorded_at = ? WHERE medication_id = ? AND due_at = ?",
                (timing, taken_at, source, int(source == "cabinet"), now, med_id, due_at),
            )
            outcome = RECOVERED
        elif source == "cabinet" and found.removals == 0:
            # marked on the dashboard first: the removal is its evidence, not a second dose
            conn.execute(
                "UPDATE doses SET removals = 1 WHERE medication_id = ? AND due_at = ?",
                (med_id, due_at),
            )
            outcome = ALREADY
        elif source == "cabinet":
            conn.execute(
                "UPDATE doses SET removals = removals + 1, recorded_at = ?"
                " WHERE medication_id = ? AND due_at = ?",
                (now, med_id, due_at),
            )
            outcome = DOUBLED
        else:
            outcome = ALREADY
    return outcome


def record_missed(conn, med_id: int, due_at: int) -> bool:
    """Record a dose missed; False when it was already decided (taken or missed)."""
    cur = conn.execute(
        "INSERT INTO doses (medication_id, due_at, status, recorded_at)"
        " VALUES (?, ?, 'missed', ?) ON CONFLICT DO NOTHING",
        (med_id, due_at, int(time.time())),
    )
    return cur.rowcount == 1


def use_stock(conn, med_id: int, amount: float) -> float | None:
    """Take ``amount`` off the medication's stock (if it has one); returns what is left."""
    conn.execute(
        "UPDATE medications SET stock = CASE WHEN stock > ? THEN stock - ? ELSE 0 END"
        " WHERE id = ? AND stock IS NOT NULL",
        (amount, amount, med_id),
    )
    row = conn.execute("SELECT stock FROM medications WHERE id = ?", (med_id,)).fetchone()
    return row["stock"] if row else None


def mark_refill_alerted(conn, med_id: int) -> None:
    conn.execute("UPDATE medications SET refill_alerted = 1 WHERE id = ?", (med_id,))


# --- the cabinets ------------------------------------------------------------------------


def last_counts(conn, device_id: str) -> dict[str, tuple[int, int]]:
    """item -> (count, ts_ms) as last seen from this cabinet."""
    rows = conn.execute(
        "SELECT item, count, ts_ms FROM cabinet_counts WHERE device_id = ?", (device_id,)
    )
    return {r["item"]: (r["count"], r["ts_ms"]) for r in rows}


def positions(conn, device_id: str) -> dict[str, int]:
    """item -> its place (from 0) in the cabinet's last inventory: its slot."""
    rows = conn.execute(
        "SELECT item, position FROM cabinet_counts WHERE device_id = ? AND position IS NOT NULL",
        (device_id,),
    )
    return {r["item"]: r["position"] for r in rows}


def save_counts(
    conn, device_id: str, items: dict[str, int], ts_ms: int, places: dict[str, int]
) -> None:
    """Each item's count and its place in the inventory it came in."""
    for item, count in items.items():
        conn.execute(
            "INSERT INTO cabinet_counts (device_id, item, count, ts_ms, position)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id, item) DO UPDATE SET"
            " count = excluded.count, ts_ms = excluded.ts_ms, position = excluded.position",
            (device_id, item, count, ts_ms, places.get(item)),
        )


def cues(conn) -> dict[str, tuple[bool, str]]:
    """cabinet -> (shelf light on, slots lit) as the tracker last set them, across restarts."""
    rows = conn.execute("SELECT device_id, lit, slots FROM cabinet_cues")
    return {r["device_id"]: (bool(r["lit"]), r["slots"]) for r in rows}


def save_cue(conn, device_id: str, lit: bool, slots: str = "") -> None:
    conn.execute(
        "INSERT INTO cabinet_cues (device_id, lit, slots) VALUES (?, ?, ?)"
        " ON CONFLICT(device_id) DO UPDATE SET lit = excluded.lit, slots = excluded.slots",
        (device_id, int(lit), slots),
    )


def patient_of(conn, device_id: str) -> tuple[int, str] | None:
    """(patient id, user name) of the patient a device is assigned to."""
    row = conn.execute(
        "SELECT u.id, u.username FROM devices d JOIN users u ON u.id = d.patient_id"
        " WHERE d.device_id = ?",
        (device_id,),
    ).fetchone()
    return (row["id"], row["username"]) if row else None


def cabinets_of(conn, patient_id: int) -> list[str]:
    """The patient's cabinets, by device id."""
    rows = conn.execute("SELECT device_id FROM devices WHERE patient_id = ?", (patient_id,))
    return sorted(r["device_id"] for r in rows if kind_of(r["device_id"]) == "cabinet")


def usernames(conn, patient_ids: set[int]) -> dict[int, str]:
    if not patient_ids:
        return {}
    marks = ", ".join("?" * len(patient_ids))
    rows = conn.execute(f"SELECT id, username FROM users WHERE id IN ({marks})", (*patient_ids,))
    return {r["id"]: r["username"] for r in rows}
