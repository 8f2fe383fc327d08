"""Doses seen in the cabinet's counts, cues on the cabinet, and missed or doubled doses.

Everything it decides is in the app database (``doses``, ``cabinet_counts``), so a
restarted tracker picks up where it was: a removal it saw is not counted again and
a window that closed while it was away is still decided. The alert a decision calls
for is written to the outbox in the same transaction, so it cannot be lost between
the two (``outbox``).
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common import logs, reminders
from services.common.database import Connection, Database
from services.common.medication import MedicationError, doses, schedule, store
from services.common.medication.store import Medication
from services.common.timeutil import parse_rfc3339
from services.common.topics import ONLINE, Topics

from . import cues as cue
from . import messages
from .messages import KIND, SERVICE
from .outbox import Outbox, Publish
from .settings import Settings

log = logging.getLogger("services.pillbox")
__all__ = ["KIND", "SERVICE", "Tracker", "connect", "parse_inventory"]


def connect(target: Database | Path | str) -> Connection:
    """The app database, where the web keeps the medications (it makes the tables)."""
    return Database.of(target).connect()


def parse_inventory(payload: bytes) -> tuple[dict[str, int], int]:
    """``{"items": {name: count}, "ts": ...}`` -> (items, ts in ms); ValueError if not."""
    body = json.loads(payload)
    items = body["items"]
    if not isinstance(items, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in items.items()
    ):
        raise ValueError("items is not {name: count}")
    return items, int(parse_rfc3339(body["ts"]).timestamp() * 1000)


def _local(moment: datetime, tz_name: str) -> str:
    return moment.astimezone(schedule.zone(tz_name)).strftime("%H:%M")


class Tracker:
    """The tracker's decisions, from inventory messages and the clock's ticks."""

    def __init__(self, settings: Settings, conn: Connection, publish: Publish) -> None:
        self.settings = settings
        self.conn = conn
        self.publish = publish
        self.topics = Topics(settings.mqtt.topic_root)
        self.lit: dict[str, cue.Cue] | None = None  # cabinet -> what it shows, read on first use
        self.versions: dict[str, str] = {}  # cabinet -> the firmware version it announced
        self.reconnected: set[str] = set()  # cabinets whose cue is sent again on the next look
        self.outbox = Outbox(conn, publish)
        self.decided = 0
        self.settled = False

    # --- the cabinets' state ---------------------------------------------------------

    def on_firmware(self, device: str, payload: bytes, now: datetime) -> None:
        """A board's version (``~v=``): our firmware, which takes the slot command; empty: not."""
        self.versions[device] = payload.decode("utf-8", "replace").strip()

    def on_status(self, device: str, payload: bytes, now: datetime) -> None:
        """A cabinet that (re)connected may have lost its lights: its cue goes again."""
        if payload == ONLINE.encode():
            self.reconnected.add(device)

    # --- inventory -------------------------------------------------------------------

    def on_inventory(self, device: str, payload: bytes, now: datetime) -> None:
        """A cabinet's counts: each drop of a medication's item in its window is a dose."""
        try:
            items, ts_ms = parse_inventory(payload)
        except (ValueError, KeyError, TypeError) as exc:
            logs.event(log, logging.WARNING, "pillbox.bad_inventory", device=device, error=exc)
            return
        # the counts and the doses they show in one transaction: a tracker that dies
        # in between has neither, and the broker, not yet acknowledged, sends it again
        with self.conn.transaction():
            self._counts(device, items, ts_ms)
        if self.settled:
            self.cues(now)
        self.flush()

    def _counts(self, device: str, items: dict[str, int], ts_ms: int) -> None:
        before = doses.last_counts(self.conn, device)
        newer = {k: v for k, v in items.items() if k not in before or before[k][1] < ts_ms}
        places = {name: i for i, name in enumerate(items)}  # the slot command counts these
        doses.save_counts(self.conn, device, newer, ts_ms, places)
        owner = doses.patient_of(self.conn, device)
        if owner is None:
            return
        dropped = {k for k, v in newer.items() if k in before and v < before[k][0]}
        moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
        for med in store.listed(self.conn, owner[0]) if dropped else []:
            if med.item in dropped:
                self._removal(med, owner[1], device, moment)

    def _removal(self, med: Medication, username: str, device: str, moment: datetime) -> None:
        tz = self._tz(med.patient_id)
        slot = schedule.slot_at(med.schedule(tz), moment)
        if slot is None:
            logs.event(log, logging.INFO, "pillbox.not_a_dose", medication=med.id, device=device)
            return
        with self.conn.transaction():  # the dose, the stock and its alerts: one step
            outcome = doses.record_taken(
                self.conn,
                med.id,
                slot.key,
                schedule.timing(slot, moment),
                int(moment.timestamp()),
                "cabinet",
            )
            if outcome != doses.ALREADY:
                self._taken(med, username, slot, outcome, moment)
        logs.event(
            log, logging.INFO, "pillbox.dose", medication=med.id, due=slot.key, outcome=outcome
        )

    def _taken(self, med: Medication, username: str, slot, outcome: str, moment: datetime):
        """A dose newly seen taken: its stock, and the alerts a doubled or late one raises."""
        self.decided += 1
        doses.use_stock(self.conn, med.id, med.dose)
        when = _local(slot.due, self._tz(med.patient_id))
        if outcome == doses.DOUBLED:
            removals = doses.get(self.conn, med.id, slot.key).removals
            self._alert(
                med,
                username,
                "warning",
                f"Doubled dose: {med.name} (due {when}) was"
                " taken out of the cabinet more than once in its window",
                moment,
                key=f"doubled-{med.id}-{slot.key}",
                once=f"doubled-{med.id}-{slot.key}-{removals}",
            )
        elif outcome == doses.RECOVERED:
            self._alert(
                med,
                username,
                "cleared",
                f"{med.name} (due {when}) was taken after all: the cabinet's message arrived late",
                moment,
                key=messages.dose_key(med, slot.key),
                once=f"recovered-{med.id}-{slot.key}",
            )
        self._check_refill(med.id, med.patient_id, username, moment)

    # --- the clock ---------------------------------------------------------------------

    def tick(self, now: datetime, settled: bool = True) -> None:
        """Once ``settled``, call closed windows missed and light or clear the cues.

        Settled: connected long enough for what the broker kept for us (inventory
        changes, the boards' retained versions) to have arrived first.
        """
        if settled:
            self.settled = True
            self.close_windows(now)
            self.cues(now)
        self.flush()

    def flush(self) -> None:
        """Send what the outbox owes: new alerts, and any a crash kept from the broker."""
        sent = self.outbox.flush()
        if sent:
            logs.event(log, logging.INFO, "pillbox.published", messages=sent)

    def close_windows(self, now: datetime) -> None:
        since = now - timedelta(hours=self.settings.lookback_hours)
        names = doses.usernames(self.conn, {m.patient_id for m in store.everyone(self.conn)})
        for med in store.everyone(self.conn):
            tz = self._tz(med.patient_id)
            created = datetime.fromtimestamp(med.created_at, UTC)
            start = max(since, created)
            slots = schedule.slots_between(med.schedule(tz), start, now)
            known = {
                d.due_at
                for d in doses.between(
                    self.conn,
                    [med.id],
                    int(start.timestamp()) - 2 * med.window_s - 1,
                    int(now.timestamp()) + 1,
                )
            }
            for slot in slots:
                if slot.closes > now or slot.closes <= created or slot.key in known:
                    continue
                self._missed(med, names.get(med.patient_id), slot, tz)

    def _missed(self, med: Medication, username: str | None, slot, tz: str) -> None:
        """Nothing seen by the end of the window: the dose is missed, and its alert owed."""
        with self.conn.transaction():
            if not doses.record_missed(self.conn, med.id, slot.key):
                return
            self._alert(
                med,
                username,
                "warning",
                f"Missed dose: {med.name} due {_local(slot.due, tz)} ({tz}); nothing"
                f" was taken from the cabinet or marked taken by {_local(slot.closes, tz)}",
                slot.closes,
                key=messages.dose_key(med, slot.key),
                once=f"missed-{med.id}-{slot.key}",
            )
        self.decided += 1
        logs.event(log, logging.INFO, "pillbox.missed", medication=med.id, due=slot.key)

    def cues(self, now: datetime) -> None:
        """Light each cabinet for the doses due from it: a slot on our firmware, else ``lon``."""
        if self.lit is None:  # what we told the cabinets before a restart
            self.lit = {d: cue.Cue.decode(*v) for d, v in doses.cues(self.conn).items()}
        wanted: dict[str, cue.Cue] = {cabinet: cue.NONE for cabinet in self.lit}
        for med in store.everyone(self.conn):
            cabinets = self._cabinets_holding(med)
            due = self._waiting(med, now)
            if due is not None:
                self._remind(med, due, cabinets)
            for cabinet in cabinets:
                shown = self._cue_for(cabinet, med.item) if due else cue.NONE
                wanted[cabinet] = wanted.get(cabinet, cue.NONE) | shown
        for cabinet, want in wanted.items():
            resend = cabinet in self.reconnected
            self.reconnected.discard(cabinet)
            sent = cue.commands(self.lit.get(cabinet), want, resend)
            for command in sent:
                self.publish(self.topics.cmd(cabinet), command)
            if sent:
                logs.event(log, logging.INFO, "pillbox.cue", device=cabinet, sent=",".join(sent))
                self.lit[cabinet] = want
                doses.save_cue(self.conn, cabinet, want.whole, want.encode())

    def _cue_for(self, cabinet: str, item: str) -> cue.Cue:
        """The item's slot on a board that announced our firmware, else the shelf light."""
        place = doses.positions(self.conn, cabinet).get(item)
        return cue.for_item(place, bool(self.versions.get(cabinet)))

    def _waiting(self, med: Medication, now: datetime) -> schedule.Slot | None:
        """The dose of ``med`` in its cue time and not taken yet, if there is one."""
        sched = med.schedule(self._tz(med.patient_id))
        for slot in schedule.slots_between(sched, now, now + timedelta(microseconds=1)):
            if schedule.cue_on(slot, now) and doses.get(self.conn, med.id, slot.key) is None:
                return slot
        return None

    def _remind(self, med: Medication, slot: schedule.Slot, cabinets: list[str]) -> None:
        """Owe the patient's reminder of this dose, once; the notifier tells who chose it."""
        username = doses.usernames(self.conn, {med.patient_id}).get(med.patient_id)
        if username is None:
            return
        body = reminders.payload(
            username,
            cabinets[0] if cabinets else SERVICE,
            med.id,
            med.name,
            int(slot.due.timestamp() * 1000),
            int(slot.closes.timestamp() * 1000),
        )
        if self.outbox.add(f"reminder-{med.id}-{slot.key}", self.topics.reminder(username), body):
            logs.event(log, logging.INFO, "pillbox.reminder", medication=med.id, due=slot.key)

    def _cabinets_holding(self, med: Medication) -> list[str]:
        """The patient's cabinets that last reported the item (all of them if none did)."""
        cabinets = doses.cabinets_of(self.conn, med.patient_id)
        holding = [c for c in cabinets if med.item in doses.last_counts(self.conn, c)]
        return holding or cabinets

    # --- alerts ----------------------------------------------------------------------

    def _check_refill(self, med_id: int, patient_id: int, username: str, now: datetime) -> None:
        days = self.settings.medication.refill_days
        try:
            med = store.get(self.conn, patient_id, med_id)
        except MedicationError:
            return
        if days <= 0 or med.stock is None or med.refill_alerted:
            return
        left = schedule.days_left(med.stock, med.dose, med.schedule(self._tz(patient_id)))
        if left is not None and left <= days:
            doses.mark_refill_alerted(self.conn, med.id)
            text = f"Refill soon: {med.name} has {med.stock:g} left, about {left:.0f} days"
            # one condition per time it runs low: the next refill re-arms it
            key = f"refill-{med.id}-{int(now.timestamp())}"
            self._alert(med, username, "warning", text, now, key=key, once=key)

    def _alert(self, med, username, level, message, at: datetime, key: str, once: str) -> None:
        """Owe an alert (``once``: its outbox key); called inside the decision's transaction."""
        cabinets = self._cabinets_holding(med)
        topic, payload = messages.alert(
            self.topics, med, username, cabinets, level, message, at, key
        )
        if self.outbox.add(once, topic, payload):
            logs.event(log, logging.INFO, "pillbox.alert", key=key, alert_level=level, topic=topic)

    def _tz(self, patient_id: int) -> str:
        return store.timezone_of(self.conn, patient_id, self.settings.medication.timezone)
