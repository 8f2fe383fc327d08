"""``make run``'s demo seeding on real parts: a month on the first page load, nothing twice.

The accounts come from the web's CLI, the history goes through Mosquitto and the
recorder into InfluxDB, the photo from a simulated camera through the gateway to the
web's gallery, and the PDF from the reporter, asked for on the dashboard.
"""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from services.demo import CABINET_ITEMS, seed
from services.demo.accounts import demo_accounts
from services.web import create_app, start_background, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support import pdf as pdftools
from tests.support.net import wait_until
from tests.support.services import ROOT

DAY_MS = 86_400_000


def _counts(influxdb, data) -> dict:
    """How much of everything the demo writes there is."""
    out = {
        m: influxdb.count(f'SELECT count("{field}") FROM "{m}"')
        for m, field in (("vitals", "value"), ("inventory", "count"), ("alerts", "message"))
    }
    conn = schema.connect(data / "web.sqlite3")
    try:
        for table in (
            "blood_tests",
            "doctor_advice",
            "doctor_notes",
            "questionnaire_answers",
            "habits",
            "medications",
            "medication_changes",
            "doses",
        ):
            out[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
    out["photos"] = len(list((data / "camera" / "demo" / "img").glob("*.jpg")))
    return out


def _camera(gateway, tmp_path) -> subprocess.Popen:
    """The simulated camera looking into the demo's cabinet (no watch: the history is ours)."""
    items = ",".join(f"{name}:{n}" for name, n in CABINET_ITEMS)
    with (tmp_path / "sim.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "firmware.sim", f"--gateway=127.0.0.1:{gateway.port}"),
                *("--watches=0", "--cameras=1", "--cabinets=1", f"--items={items}"),
                *("--shelf-every=0", "--stats-every=0"),  # the counts stay as they are
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _pdf(auth, client, tmp_path) -> str:
    """Download as PDF, the last 30 days, as the patient presses it; the PDF's text."""
    token = auth.csrf(client, "/p/demo/report")
    asked = client.post(
        "/api/p/demo/reports", json={"format": "pdf", "days": 30}, headers={"X-CSRF-Token": token}
    )
    assert asked.status_code == 202, asked.get_data(as_text=True)
    path = f"/api/p/demo/reports/{asked.json['id']}"
    done = wait_until(
        lambda: (s := client.get(path).json).get("stage") == "done" and s,
        timeout=90,
        what="the PDF report",
    )
    assert done["ok"], done
    response = client.get(done["url"])
    report = tmp_path / "demo.pdf"
    report.write_bytes(response.get_data())
    response.close()
    pdftools.to_png(report, "demo-report")
    return pdftools.text(report)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_demo_shows_a_month_on_first_load_and_seeding_again_adds_nothing(
    tmp_path, broker, influxdb, gateway, make_recorder, make_reporter, auth
):
    data = tmp_path / "data"
    env = {**os.environ, **broker.env(), **influxdb.env(), "SMARTCAB_DATA_DIR": str(data)}
    logins = demo_accounts(env, data, "http://localhost")
    password = re.search(r"user name demo, password (\S+)", logins)[1]
    assert seed.seed_record(env) == [
        "blood tests",
        "advice and a note",
        "questionnaire",
        "habits",
        "medications",
    ]
    make_recorder().wait_log("mqtt.connected")
    assert seed.seed_history(env, timeout=180) == ["watch", "cuff", "cabinet"]

    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    start_background(app)
    camera = _camera(gateway, tmp_path)
    try:
        assert app.extensions["smartcab.hub"].client.wait_subscribed(10)
        assert seed.seed_snapshot(env, timeout=60) is True
        make_reporter().wait_log("mqtt.connected")
        client = app.test_client()
        auth.sign_in_patient(client, "demo", password, email="demo@example.com")

        # the first page load: the chart's month is full, from 30 days ago to now
        series = client.get("/api/p/demo/series?range=month&metrics=heart_rate,bp_systolic").json
        points = series["metrics"]["heart_rate"]
        assert (
            points[0]["t"] - series["start"] < DAY_MS and series["end"] - points[-1]["t"] < DAY_MS
        )
        days = {datetime.fromtimestamp(p["t"] / 1000, UTC).date() for p in points}
        assert len(days) >= 30
        assert len(series["metrics"]["bp_systolic"]) >= 15  # typed in most mornings
        alerts = client.get("/api/p/demo/alerts").json
        assert [(a["key"], a["level"]) for a in alerts] == [
            ("temperature", "cleared"),
            ("temperature", "warning"),
        ]  # the fever's one alert, resolved
        home = client.get("/p/demo").get_data(as_text=True)
        assert home.count('class="chip c-') == 4
        report = client.get("/p/demo/report").get_data(as_text=True)
        assert "Total Cholesterol" in report and "Dr Demo" in report
        assert "ask about these at your next visit" in report  # areas left empty
        week = client.get("/p/demo/medications").get_data(as_text=True)
        assert week.count("taken on time") >= 10 and "missed" in week
        cabinet = client.get("/p/demo/cabinet").get_data(as_text=True)
        assert "/p/demo/camera/img/" in cabinet

        text = _pdf(auth, client, tmp_path)
        assert "no data recorded" not in text.lower(), text
        for expected in ("Aspirin 75 mg", "Vitamin C 500 mg", "39.05 °C is above 39 °C"):
            assert expected in text

        before = _counts(influxdb, data)
        assert before["vitals"] > 3 * 30 * 130 and before["photos"] == 1
        assert 19 <= before["doses"] <= 21 and before["blood_tests"] == 32
        # a second make run: every part finds what it would add
        assert seed.seed_record(env) == []
        assert seed.seed_history(env) == []
        assert seed.seed_snapshot(env) is False
        assert _counts(influxdb, data) == before
    finally:
        camera.terminate()
        camera.wait(15)
        stop_background(app)
