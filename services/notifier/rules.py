"""The notifier's rules as pure functions: who is due when, what is held back, what is said.

Nothing here reads a clock or a database, so each rule is tested on its own.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.alerts import alert_text
from services.common.metrics import BY_KEY

SERVICE_PROBLEMS = {"spool_full": "the recorder's storage spool is full"}
# security keys name the problem first, then what it is about: ``signin_failures:<account>``
SECURITY_PROBLEMS = {
    "signin_failures": "repeated failed sign-ins",
    "connection_replaced": "another connection took over the device's id",
}
LEVEL_WORDS = {
    "critical": "URGENT",
    "warning": "Alert",
    "cleared": "Resolved",
    "test": "Test",
    "reminder": "Reminder",
}
# Quiet hours hold back what can wait; critical alerts (and a test the user asked for) cannot.
# A dose reminder is held too, and dropped if the hours end after its dose's window.
HELD_IN_QUIET_HOURS = frozenset({"warning", "cleared", "reminder"})
# Levels that never wait for a digest window: urgent, or due at a time.
NEVER_WAIT = frozenset({"critical", "reminder"})
REMINDER = "reminder"


def alert_id(alert: Mapping) -> str:
    """A stable id from the alert's content: a redelivered alert gets the same id."""
    fields = [alert.get(k) for k in ("device", "kind", "key", "level", "ts_ms", "value")]
    digest = hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()
    return digest[:32]


def parse_clock(text: str) -> time:
    """``"22:30"`` -> 22:30; raises ValueError for anything else."""
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(
    start: str | None, end: str | None, timezone: str, now: datetime
) -> datetime | None:
    """When quiet hours that include ``now`` end (UTC), or None outside them.

    Start and end are wall-clock times in the contact's zone; a start after the end
    (22:00-07:00) spans midnight. Equal start and end means no quiet hours.
    """
    if not start or not end:
        return None
    begin, finish = parse_clock(start), parse_clock(end)
    if begin == finish:
        return None
    local = now.astimezone(zone(timezone))
    clock = local.time().replace(tzinfo=None)
    if begin < finish:
        inside = begin <= clock < finish
        end_day = local.date()
    else:
        inside = clock >= begin or clock < finish
        end_day = local.date() + timedelta(days=1) if clock >= begin else local.date()
    if not inside:
        return None
    ends = datetime.combine(end_day, finish, tzinfo=zone(timezone))
    return ends.astimezone(UTC)


def held_until(level: str, quiet_end: datetime | None) -> datetime | None:
    """Quiet hours hold a warning (or a clear) until they end; never a critical alert."""
    if quiet_end is None or level not in HELD_IN_QUIET_HOURS:
        return None
    return quiet_end


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failures: base, 2 base, 4 base ... cap."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def digest_hold(last_sent: float | None, now: float, window: float, urgent: bool) -> float | None:
    """Until when to gather a contact's alerts into one digest, or None to send now.

    The first alert goes at once; what follows within ``window`` of the last message
    waits for the window's end and goes as one. Critical alerts never wait.
    """
    if urgent or window <= 0 or last_sent is None or now >= last_sent + window:
        return None
    return last_sent + window


def due_rounds(
    started: float, now: float, tiers: int, escalate_after: float, repeat_every: float
) -> list[tuple[int, int]]:
    """For an unacknowledged alert, (tier index, round) due by ``now`` for each reached tier.

    Tier i is reached ``i * escalate_after`` after the alert; each reached tier hears
    again every ``repeat_every`` (round 1, 2 ...) until someone acknowledges.
    """
    due = []
    for tier in range(tiers):
        reached_at = started + tier * escalate_after
        if tier and escalate_after <= 0:
            break  # escalation off: the first tier only
        if now < reached_at:
            break
        round_ = int((now - reached_at) // repeat_every) if repeat_every > 0 else 0
        due.append((tier, round_))
    return due


def describe(item: Mapping, named: bool = False) -> str:
    """The kind of alert in words, without any value; a reminder names its medicine if ``named``."""
    kind, key, level = item["kind"], item["key"], item["level"]
    if kind == "test":
        return "a test message: this channel works"
    if kind == REMINDER:
        return f"{item.get('message')} is due" if named else "a dose of medicine is due"
    if kind == "threshold":
        # the dashboard's label for the metric; values appear only in detailed messages
        name = BY_KEY[key].in_words if key in BY_KEY else key.replace("_", " ")
        if level == "cleared":
            return f"{name} back within its limits"
        direction = "low" if " below " in (item.get("message") or "") else "high"
        return f"{direction} {name}"
    if kind == "news2_partial":
        if level == "cleared":
            return "early-warning score back down"
        return "raised early-warning score"
    if kind == "silent":
        if level == "cleared":
            return "the watch is sending readings again"
        return "no readings from the watch"
    if kind == "service":
        if key == "offline":
            service = item["device"]
            return f"service {service} {'is back online' if level == 'cleared' else 'is offline'}"
        problem = SERVICE_PROBLEMS.get(key, key.replace("_", " "))
        return f"service recovered: {problem}" if level == "cleared" else f"service: {problem}"
    if kind == "security":
        # the key's tail (an account name) is a detail, not for the default text
        problem = key.split(":", 1)[0]
        return f"security: {SECURITY_PROBLEMS.get(problem, problem.replace('_', ' '))}"
    return kind.replace("_", " ")


def _when(ts_ms: int, timezone: str) -> str:
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(zone(timezone))
    return moment.strftime("%d %b %H:%M %Z")


def compose(
    patient: str,
    items: Sequence[Mapping],
    *,
    detailed: bool,
    base_url: str,
    timezone: str = "UTC",
    named: bool = False,
) -> tuple[str, str]:
    """Title and body of one message (a digest when several alerts go together).

    The default text names the patient and the kind of alert and links to the
    dashboard; the alert's own values and message only when ``detailed``. A dose
    reminder says a dose is due, and names the medicine only when ``named`` (the
    contact's choice; ``detailed`` adds nothing to it). Every item must be about the
    same patient: a message never mixes two patients' data.
    """
    if not items:
        raise ValueError("nothing to compose")
    if len({item.get("patient") for item in items}) != 1:
        raise ValueError("a message must be about one patient")
    lines = []
    for item in items:
        line = f"{LEVEL_WORDS.get(item['level'], item['level'])}: {describe(item, named)}"
        if item.get("round"):
            line = f"Reminder, not acknowledged yet - {line}"
        line += f" ({_when(item['ts_ms'], timezone)})"
        if detailed and item["kind"] not in ("test", REMINDER):
            line += f" - {alert_text(item)} [device {item['device']}]".rstrip()
        lines.append(line)
        if item["kind"] not in ("test", REMINDER):  # nothing to acknowledge
            lines.append(f"  {base_url}/alerts/{item['alert_id']}")
    if len(items) == 1:
        head = items[0]
        title = f"Health Plus - {LEVEL_WORDS.get(head['level'], head['level'])}: {patient}"
        title += f", {describe(head, named)}"
    else:
        title = f"Health Plus - {len(items)} alerts for {patient}"
    intro = f"For {patient}:" if len(items) == 1 else f"{len(items)} alerts for {patient}:"
    footer = "Open the link to see the dashboard and acknowledge."
    if all(item["kind"] == "test" for item in items):
        footer = f"Dashboard: {base_url}/"
    elif all(item["kind"] == REMINDER for item in items):
        footer = f"Mark it taken on the dashboard: {base_url}/"
    return title, "\n".join([intro, *lines, "", footer])
