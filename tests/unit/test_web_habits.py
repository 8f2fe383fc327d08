"""The habit tracker over HTTP: logging, corrections, goals, streaks and the week."""

from datetime import UTC, datetime, timedelta

import pyotp

from services.web import db as schema


def _day(offset: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=offset)).isoformat()


def test_habits_logged_corrected_and_counted_in_streaks(app, client, auth):
    auth.make_patient(app, "alice")
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/habits")
    for offset, sleep in ((2, "7.5"), (1, "8"), (0, "5")):
        r = client.post(
            "/p/alice/habits",
            data={"csrf_token": token, "day": _day(offset), "sleep": sleep, "screen": "2"},
        )
        assert r.status_code == 302
    week = client.get("/api/p/alice/habits").json
    assert week["streaks"]["sleep"] == 0, "today's 5 h breaks the sleep streak"
    assert week["streaks"]["screen"] == 3
    # Correcting today replaces the value instead of adding a second one.
    fix = client.post(
        "/p/alice/habits",
        data={"csrf_token": token, "day": _day(0), "sleep": "7"},
        headers={"Accept": "application/json"},
    )
    assert fix.json == {"ok": True, "day": _day(0), "saved": 1}
    week = client.get("/api/p/alice/habits").json
    assert week["streaks"]["sleep"] == 3
    today = week["days"][0]
    assert today["day"] == _day(0) and today["habits"]["sleep"] == {"value": 7.0, "met": True}
    assert today["habits"]["water"] == {"value": None, "met": None}
    # No InfluxDB in this fixture: snacks and vitals are unknown, and the page says so.
    assert today["snacks"] is None and week["history_error"]
    page = client.get("/p/alice/habits").text
    assert "Snacks and vitals are unavailable right now" in page
    conn = schema.connect(app.config["DATABASE"])
    try:
        count = conn.execute("SELECT COUNT(*) FROM habits WHERE habit = 'Sleep'").fetchone()[0]
    finally:
        conn.close()
    assert count == 3


def test_goals_change_the_streaks(app, client, auth):
    auth.make_patient(app, "alice")
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/habits")
    client.post("/p/alice/habits", data={"csrf_token": token, "day": _day(0), "water": "6"})
    assert client.get("/api/p/alice/habits").json["streaks"]["water"] == 0
    assert (
        client.post("/p/alice/habits/goals", data={"csrf_token": token, "water": "6"}).status_code
        == 302
    )
    week = client.get("/api/p/alice/habits").json
    assert week["goals"]["water"] == 6 and week["streaks"]["water"] == 1
    bad = client.post(
        "/p/alice/habits/goals", data={"csrf_token": token, "sleep": "9", "water": "-1"}
    )
    assert bad.status_code == 400 and "Water: enter 0 to 40 glasses." in bad.text
    assert client.get("/api/p/alice/habits").json["goals"]["sleep"] == 7, "nothing was saved"
    assert client.get("/api/p/alice/habits?end=0001-01-01").status_code == 400
    assert client.get("/api/p/alice/habits?end=0001-01-08").status_code == 200


def test_bad_habit_entries_are_refused_in_place(app, client, auth):
    auth.make_patient(app, "alice")
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/habits")
    cases = [
        ({"day": _day(0)}, "Enter at least one habit."),
        ({"day": _day(0), "sleep": "30"}, "Sleep: enter 0 to 24 h."),
        ({"day": _day(0), "exercise": "lots"}, "Exercise: &#39;lots&#39; is not a number."),
        ({"day": _day(-2), "sleep": "7"}, "not in the future"),
        ({"day": "yesterday", "sleep": "7"}, "Choose the day"),
    ]
    for form, message in cases:
        r = client.post("/p/alice/habits", data={"csrf_token": token, **form})
        assert r.status_code == 400 and message in r.text, form
    assert client.get("/api/p/alice/habits?end=soon").status_code == 400


def test_a_shared_doctor_reads_habits_but_cannot_log_them(app, auth):
    _, _, secret = auth.make_shared(app)
    client = app.test_client()
    auth.sign_in_doctor(client, pyotp.TOTP(secret).now())
    page = client.get("/p/alice/habits")
    assert page.status_code == 200 and "Log a day" not in page.text
    r = client.post("/p/alice/habits", data={"csrf_token": auth.csrf(client), "sleep": "7"})
    assert r.status_code == 403


def test_goals_read_as_words_and_a_saved_day_in_the_one_date_format(app, client, auth):
    auth.make_patient(app, "alice")
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/habits")
    page = client.get("/p/alice/habits").text
    assert "goal at most 1 drink<" in page and "goal at least 8 glasses<" in page
    assert "1 drinks" not in page and "≤" not in page
    client.post("/p/alice/habits", data={"csrf_token": token, "day": _day(0), "water": "6"})
    today = datetime.now(UTC).date()
    assert f"Saved your habits for {today.day} {today:%b %Y}." in client.get("/p/alice/habits").text


def test_days_before_the_cabinet_first_counted_have_no_snack_count(app, auth):
    from services.web import habits

    alice, _ = auth.make_patient(app, "alice")
    conn = schema.connect(app.config["DATABASE"])
    try:
        end = datetime.now(UTC).date()
        rows = habits.week(conn, alice.id, end, {_day(0): 2}, {}, snacks_since=_day(1))
        by_day = {r["day"]: r["snacks"] for r in rows}
        assert by_day[_day(0)] == 2 and by_day[_day(1)] == 0 and by_day[_day(2)] is None
        assert all(r["snacks"] is None for r in habits.week(conn, alice.id, end, {}, {}, None))
    finally:
        conn.close()


def test_today_is_the_patients_own_day(app, client, auth):
    from zoneinfo import ZoneInfo

    auth.make_patient(app, "alice")
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/medications")
    # Whatever the hour, one of these two zones is on another date than UTC.
    zone = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 10 else "Pacific/Pago_Pago"
    client.post("/p/alice/medications/timezone", data={"csrf_token": token, "timezone": zone})
    local = datetime.now(ZoneInfo(zone)).date().isoformat()
    assert local != _day(0)
    r = client.post(
        "/p/alice/habits",
        data={"csrf_token": token, "day": local, "water": "8"},
        headers={"Accept": "application/json"},
    )
    assert r.json == {"ok": True, "day": local, "saved": 1}
    week = client.get("/api/p/alice/habits").json
    assert week["end"] == local and week["days"][0]["habits"]["water"]["value"] == 8
    assert week["streaks"]["water"] == 1
    page = client.get("/p/alice/habits").text
    assert f"Days begin at midnight in {zone}, your time zone" in page
