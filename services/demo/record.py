"""The demo's health record in the app database, written with the web's own functions.

Blood tests from two visits, the doctor's advice and a note, a submitted questionnaire,
a week of habits, and the two medications with a week of doses (the medication store's
functions, as the dose tracker and the dashboard write them). Each part first looks
for what it would add and leaves a record that has it alone.
"""

from datetime import UTC, datetime, timedelta

from services.common.database import Connection
from services.common.medication import doses, schedule, store
from services.web import accounts, habits, questionnaire, records

from . import DOCTOR, MEDICATIONS, PATIENT, plan

LISTED_DAYS_AGO = 7  # the medications were put on the list a week ago
VISITS = (
    # (days ago, note, {test key: value}): the second visit after three months of diet
    (
        96,
        "Fasting sample",
        {"total_chol": 5.9, "triglyceride": 1.9, "hdl": 1.1, "ldl": 3.9, "chol_hdl": 5.4,
         "glucose": 5.9, "hba1c": 5.8, "alt": 34, "ast": 27, "alp": 82, "bilirubin": 11,
         "protein": 71, "albumin": 43, "creatinine": 84, "potassium": 4.4, "egfr": 86},
    ),
    (
        12,
        "Fasting sample, after three months of the diet",
        {"total_chol": 5.1, "triglyceride": 1.5, "hdl": 1.3, "ldl": 3.2, "chol_hdl": 3.9,
         "glucose": 5.4, "hba1c": 5.6, "alt": 29, "ast": 24, "alp": 79, "bilirubin": 10,
         "protein": 72, "albumin": 44, "creatinine": 82, "potassium": 4.3, "egfr": 91},
    ),
)  # fmt: skip
ADVICE = (
    ("Cardiovascular", "Keep the evening walks going: 30 minutes on at least five days a week."),
    ("Glucose", "HbA1c is back at the top of the normal range; we check it again in 3 months."),
    ("Diet", "Cholesterol is down from 5.9 to 5.1. Keep to two portions of oily fish a week."),
    ("Exercise", "Add two short strength sessions a week; stairs count."),
    ("Mental", "Sleep has been regular. Tell me if the stress at work comes back."),
)
NOTE = (
    "Reviewed the watch's month: resting heart rate steady in the high 50s at night. The"
    " fever of {fever} settled the same evening without treatment. Aspirin and vitamin C"
    " taken regularly from the cabinet; one dose missed last week."
)
# the week's sleep (h), water (glasses) and screen time (h), oldest day first
WEEK = (
    (7.2, 7, 2.5),
    (6.6, 8, 3.5),
    (7.5, 9, 2),
    (7.8, 8, 2.5),
    (7.1, 6, 3),
    (7.4, 8, 2),
    (7.9, 9, 1.5),
)
ANSWERS = {
    "immunizations": "Influenza last October; COVID-19 booster in spring; tetanus in 2019.",
    "social": "Live with my partner; office work, mostly at a desk.",
    "sleep": "About seven hours; I usually wake rested.",
    "exercise": "A walk of half an hour most evenings, swimming on Sundays.",
    "stress": "Moderate: a busy month at work, better lately.",
    "alcohol_tobacco": "A glass of wine at the weekend; I have never smoked.",
    "screen_time": "Two to three hours in the evening.",
}


def seed(conn: Connection, now: datetime, timezone: str) -> list[str]:
    """Add what the demo patient's record lacks; returns the parts added."""
    patient = accounts.find_patient(conn, PATIENT[0])
    doctor = accounts.find(conn, DOCTOR[0])
    parts = (
        ("blood tests", lambda: _blood_tests(conn, patient.id, doctor.id, now)),
        ("advice and a note", lambda: _advice(conn, patient.id, doctor.id, now)),
        ("questionnaire", lambda: _questionnaire(conn, patient.id)),
        ("habits", lambda: _habits(conn, patient.id, now)),
        ("medications", lambda: _medications(conn, patient.id, doctor, now, timezone)),
    )
    return [name for name, part in parts if part()]


def _blood_tests(conn, patient_id: int, doctor_id: int, now: datetime) -> bool:
    if records.blood_panel(conn, patient_id):
        return False
    for days_ago, note, values in VISITS:
        form = {f"value_{key}": str(value) for key, value in values.items()}
        form["taken_on"] = (now - timedelta(days=days_ago)).date().isoformat()
        taken_at, results = records.parse_results(form)
        records.add_results(conn, patient_id, doctor_id, taken_at, results, note)
    return True


def _advice(conn, patient_id: int, doctor_id: int, now: datetime) -> bool:
    if any(a["advice"] for a in records.advice(conn, patient_id)) or records.notes(
        conn, patient_id
    ):
        return False
    for area, text in ADVICE:
        records.add_advice(conn, patient_id, doctor_id, area, text)
    fever = plan.fever_peak(now).strftime("%d %b").lstrip("0")
    records.add_note(conn, patient_id, doctor_id, NOTE.format(fever=fever))
    return True


def _questionnaire(conn, patient_id: int) -> bool:
    if questionnaire.state(conn, patient_id)["submitted_at"]:
        return False
    questionnaire.submit(conn, patient_id, ANSWERS)
    return True


def _habits(conn, patient_id: int, now: datetime) -> bool:
    """The seven days before today, so today is still the patient's to log."""
    today = now.astimezone(UTC).date()
    if habits.logged(conn, patient_id, today - timedelta(days=366), today):
        return False
    for ago, (sleep, water, screen) in zip(range(7, 0, -1), WEEK, strict=True):
        day = now - timedelta(days=ago)
        form = {
            "day": day.date().isoformat(),
            "sleep": str(sleep),
            "exercise": str(plan.walk_minutes(day, now)),
            "water": str(water),
            "screen": str(screen),
            "alcohol": "1" if day.weekday() >= 5 else "0",
            "tobacco": "0",
        }
        habits.log(conn, patient_id, form, today)
    return True


def _medications(conn, patient_id: int, doctor, now: datetime, timezone: str) -> bool:
    """The two medications, listed a week ago by the doctor, and the week's doses."""
    if store.listed(conn, patient_id, removed=True):
        return False
    listed = now - timedelta(days=LISTED_DAYS_AGO)
    meds = {}
    for m in MEDICATIONS:
        values = store.clean(
            {"name": m.name, "item": m.item, "times": m.times, "stock": str(m.stock)}
        )
        med = store.add(conn, patient_id, values, doctor.id, doctor.login)
        meds[m.name] = med
        # The store lists a medication from now; the demo's was listed a week ago, so its
        # week of doses counts (the week view and the reports skip doses before listing).
        at = int(listed.timestamp())
        conn.execute("UPDATE medications SET created_at = ? WHERE id = ?", (at, med.id))
        conn.execute("UPDATE medication_changes SET at = ? WHERE medication_id = ?", (at, med.id))
    week = plan.doses([(n, m.schedule(timezone)) for n, m in meds.items()], listed, now)
    for dose in week:
        med = meds[dose.medication]
        if dose.taken is None:
            doses.record_missed(conn, med.id, dose.slot.key)
            continue
        timing = schedule.timing(dose.slot, dose.taken)
        taken_at = int(dose.taken.timestamp())
        doses.record_taken(conn, med.id, dose.slot.key, timing, taken_at, "cabinet")
        doses.use_stock(conn, med.id, med.dose)
    return True


def taken_from_cabinet(conn, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    """(cabinet item, when) of each dose the cabinet saw: the boxes' trips out and back."""
    patient = accounts.find_patient(conn, PATIENT[0])
    meds = store.listed(conn, patient.id)
    items = {m.id: m.item for m in meds}
    found = doses.between(conn, list(items), int(since.timestamp()), int(until.timestamp()))
    return [
        (items[d.medication_id], datetime.fromtimestamp(d.taken_at, UTC))
        for d in found
        if d.status == "taken" and d.source == "cabinet" and d.taken_at
    ]
