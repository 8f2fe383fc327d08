"""The patient's questionnaire: drafts kept per question, answers submitted as history."""

import time

from services.common.database import Connection

from .errors import ValidationError

# (stable key, section, wording): the questionnaire's sections; keys are what reports group by.
QUESTIONS = (
    ("immunizations", "Immunizations", "Which vaccinations have you had, and when was the last?"),
    ("social", "Social history", "Who do you live with, and what is your work?"),
    ("sleep", "Sleep", "How many hours do you usually sleep, and do you wake rested?"),
    ("exercise", "Exercise", "What exercise do you do in a typical week?"),
    ("stress", "Stress", "How stressed have you felt in the last month, and why?"),
    ("alcohol_tobacco", "Alcohol and tobacco", "How much alcohol and tobacco do you use a week?"),
    ("screen_time", "Screen time", "How many hours a day do you spend on screens outside work?"),
)
# Questions no longer asked; their answers stay readable. The medication list replaced
# the free-text medications answer.
RETIRED = (
    ("medications", "Medications", "Which medicines and supplements do you take, and how often?"),
)
KEYS = {key for key, _, _ in QUESTIONS}
MAX_ANSWER = 2000


def _answers(form) -> dict[str, str]:
    out = {}
    for key, section, _ in QUESTIONS:
        text = (form.get(key) or "").strip()
        if len(text) > MAX_ANSWER:
            raise ValidationError(f"{section}: at most {MAX_ANSWER} characters.")
        out[key] = text
    return out


def save_draft(conn: Connection, patient_id: int, form) -> None:
    """Keep what is typed so far; submitting later moves it into the record."""
    now = int(time.time())
    for key, text in _answers(form).items():
        conn.execute(
            "INSERT INTO questionnaire_drafts (patient_id, question_key, answer, saved_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(patient_id, question_key)"
            " DO UPDATE SET answer = excluded.answer, saved_at = excluded.saved_at",
            (patient_id, key, text, now),
        )


def submit(conn: Connection, patient_id: int, form) -> int:
    """Record every answered question (history is kept) and clear the draft."""
    answers = {k: v for k, v in _answers(form).items() if v}
    if not answers:
        raise ValidationError("Answer at least one question before submitting.")
    now = int(time.time())
    wording = {key: text for key, _, text in QUESTIONS}
    with conn.transaction():
        for key, text in answers.items():
            conn.execute(
                "INSERT INTO questionnaire_answers"
                " (patient_id, question_key, question, answer, answered_at) VALUES (?, ?, ?, ?, ?)",
                (patient_id, key, wording[key], text, now),
            )
        conn.execute("DELETE FROM questionnaire_drafts WHERE patient_id = ?", (patient_id,))
    return len(answers)


def state(conn: Connection, patient_id: int, drafts: bool = False) -> dict:
    """Per question: the last submitted answer and when, and the draft if ``drafts``.

    Drafts are the patient's own until submitted: only the patient's views ask for them.
    """
    kept = {}
    if drafts:
        rows = conn.execute(
            "SELECT question_key, answer, saved_at FROM questionnaire_drafts WHERE patient_id = ?",
            (patient_id,),
        )
        kept = {r["question_key"]: r for r in rows}
    submitted = {}
    for r in conn.execute(
        "SELECT question_key, answer, answered_at FROM questionnaire_answers"
        " WHERE patient_id = ? ORDER BY answered_at, id",
        (patient_id,),
    ):
        submitted[r["question_key"]] = r
    items = []
    for key, section, text in QUESTIONS:
        draft, done = kept.get(key), submitted.get(key)
        items.append(
            {
                "key": key,
                "section": section,
                "question": text,
                "draft": draft["answer"] if draft else None,
                "answer": done["answer"] if done else None,
                "answered_at": done["answered_at"] if done else None,
            }
        )
    retired = [
        {
            "key": key,
            "section": section,
            "question": text,
            "answer": submitted[key]["answer"],
            "answered_at": submitted[key]["answered_at"],
        }
        for key, section, text in RETIRED
        if key in submitted
    ]
    saved = max((d["saved_at"] for d in kept.values()), default=None)
    last = max((s["answered_at"] for s in submitted.values()), default=None)
    return {"items": items, "retired": retired, "draft_saved_at": saved, "submitted_at": last}
