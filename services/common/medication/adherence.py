"""Adherence: each scheduled dose with what became of it, for the week view and reports."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from . import doses, schedule
from .store import Medication

OPEN, UPCOMING, MISSED = "open", "upcoming", "missed"


@dataclass(frozen=True)
class ScheduledDose:
    """One scheduled dose and its outcome: early, on_time, late, missed, open or upcoming."""

    medication: Medication
    slot: schedule.Slot
    outcome: str
    dose: doses.Dose | None

    @property
    def doubled(self) -> bool:
        return self.dose is not None and self.dose.doubled


def scheduled(conn, meds: list[Medication], tz: str, start: datetime, end: datetime, now=None):
    """Every dose due in ``[start, end)`` of these medications, in time order."""
    now = now or datetime.now(UTC)
    out = []
    for med in meds:
        created = datetime.fromtimestamp(med.created_at, UTC)
        slots = [  # a dose that closed before the medication was listed was never asked for
            s
            for s in schedule.slots_between(med.schedule(tz), start, end)
            if start <= s.due < end and s.closes > created
        ]
        seen = {
            d.due_at: d
            for d in doses.between(conn, [med.id], int(start.timestamp()), int(end.timestamp()))
        }
        for slot in slots:
            found = seen.get(slot.key)
            if found is not None:
                outcome = found.timing or ("missed" if found.status == "missed" else "on_time")
            elif slot.closes <= now:
                outcome = MISSED  # closed, the tracker has not written it yet
            else:
                outcome = OPEN if slot.opens <= now else UPCOMING
            out.append(ScheduledDose(med, slot, outcome, found))
    return sorted(out, key=lambda d: (d.slot.due, d.medication.name))


def week(conn, meds: list[Medication], tz: str, end: date, now=None) -> dict:
    """The seven days to ``end`` (local): per medication, per day, its doses' outcomes."""
    zone = schedule.zone(tz)
    first = end - timedelta(days=6)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    stop = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    days = [first + timedelta(days=i) for i in range(7)]
    rows = {med.id: {"medication": med, "days": {d: [] for d in days}} for med in meds}
    for item in scheduled(conn, meds, tz, start, stop.astimezone(UTC), now):
        local = item.slot.due.astimezone(zone)
        rows[item.medication.id]["days"][local.date()].append((local.strftime("%H:%M"), item))
    return {"days": days, "rows": list(rows.values())}


def summary(items: list[ScheduledDose]) -> dict:
    """Counts per outcome and doses taken on time out of those that are decided."""
    counts = {k: 0 for k in ("on_time", "early", "late", "missed", "doubled")}
    for item in items:
        if item.outcome in counts:
            counts[item.outcome] += 1
        if item.doubled:
            counts["doubled"] += 1
    decided = sum(counts[k] for k in ("on_time", "early", "late", "missed"))
    counts["scheduled"] = decided
    counts["on_time_pct"] = round(100 * counts["on_time"] / decided, 1) if decided else None
    return counts
