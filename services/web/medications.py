"""The web's side of the medication list: the common SQL, with its errors made the web's."""

from collections.abc import Mapping

from services.common.medication import MedicationError, doses, schedule, store

from .errors import ValidationError


def add(conn, patient_id: int, form: Mapping, actor_id: int | None, actor: str):
    try:
        return store.add(conn, patient_id, store.clean(form), actor_id, actor)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc


def update(conn, patient_id: int, med_id: int, form: Mapping, actor_id: int | None, actor: str):
    try:
        return store.update(conn, patient_id, med_id, store.clean(form), actor_id, actor)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc


def remove(conn, patient_id: int, med_id: int, actor_id: int | None, actor: str):
    try:
        return store.remove(conn, patient_id, med_id, actor_id, actor)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc


def set_timezone(conn, patient_id: int, name: str, actor_id: int | None, actor: str) -> str:
    try:
        return store.set_timezone(conn, patient_id, name, actor_id, actor)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc


def due_now(conn, patient_id: int, tz: str, now) -> list[dict]:
    """The doses open now (early to late) and not yet taken: what the button marks."""
    out = []
    for med in store.listed(conn, patient_id):
        for slot in schedule.slots_between(med.schedule(tz), now, now):
            if slot.opens <= now < slot.closes and doses.get(conn, med.id, slot.key) is None:
                local = slot.due.astimezone(schedule.zone(tz))
                out.append({"med": med, "due": slot.key, "at": local.strftime("%H:%M")})
    return out


def mark_taken(conn, patient_id: int, med_id: int, due: int, tz: str, now) -> str:
    """The patient's own word that a dose open now was taken; stock goes down once."""
    try:
        med = store.get(conn, patient_id, med_id)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc
    slot = schedule.slot_at(med.schedule(tz), now)
    if slot is None or slot.key != due:
        raise ValidationError("that dose is not open now")
    outcome = doses.record_taken(
        conn, med.id, slot.key, schedule.timing(slot, now), int(now.timestamp()), "dashboard"
    )
    if outcome != doses.ALREADY:
        doses.use_stock(conn, med.id, med.dose)
    return outcome
