"""Each medication's adherence over a report's period, from the web's database (read only)."""

from datetime import UTC, datetime

from services.common.medication import adherence, store

from .model import MedicationAdherence, Period


def medication_doses(conn, patient_id: int, period: Period, default_tz: str):
    """(medications listed during the period, their scheduled doses, the patient's zone)."""
    tz = store.timezone_of(conn, patient_id, default_tz)
    start, end = period.start.astimezone(UTC), min(period.end, datetime.now(UTC))
    meds = [
        m
        for m in store.listed(conn, patient_id, removed=True)
        if m.removed_at is None or m.removed_at > start.timestamp()
    ]
    return meds, adherence.scheduled(conn, meds, tz, start, end), tz


def medication_adherence(conn, patient_id: int, period: Period, default_tz: str):
    """Per medication listed during the period: doses by outcome, the missed ones' times."""
    tz = store.timezone_of(conn, patient_id, default_tz)
    start, end = period.start.astimezone(UTC), min(period.end, datetime.now(UTC))
    meds = [
        m
        for m in store.listed(conn, patient_id, removed=True)
        if m.removed_at is None or m.removed_at > start.timestamp()
    ]
    out = []
    for med in meds:
        items = [i for i in adherence.scheduled(conn, [med], tz, start, end) if i.outcome != "open"]
        items = [i for i in items if i.outcome != "upcoming"]
        counts = adherence.summary(items)
        missed = tuple(i.slot.key * 1000 for i in items if i.outcome == "missed")
        out.append(
            MedicationAdherence(
                name=med.name,
                scheduled=counts["scheduled"],
                on_time=counts["on_time"],
                early=counts["early"],
                late=counts["late"],
                missed=counts["missed"],
                doubled=counts["doubled"],
                missed_ms=missed,
            )
        )
    return tuple(out)
