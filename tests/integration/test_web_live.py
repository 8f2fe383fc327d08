"""Live updates against a real Mosquitto: assignments, per-patient streams, sign-out,
revoked shares, hand-entered readings and the availability rule."""

import json
import threading
import time

import pyotp
import pytest

from services.web import access, create_app, devices, start_background, stop_background
from services.web import db as schema
from services.web.live import PER_SESSION
from services.web.settings import Settings
from tests.support.net import free_port, wait_until


@pytest.fixture
def live_app(tmp_path, broker):
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        **broker.env(),
    }
    app = create_app({"TESTING": True, "SSE_HEARTBEAT": 0.2}, settings=Settings.from_env(env))
    yield app
    stop_background(app)


def _assign(app, device, patient):
    conn = schema.connect(app.config["DATABASE"])
    try:
        devices.assign(conn, device, patient.id)
    finally:
        conn.close()


def _start(app):
    start_background(app)
    hub = app.extensions["smartcab.hub"]
    assert hub.client.wait_subscribed(10)
    return hub


def _reading(mqtt, device, metric, value):
    body = {
        "device": device,
        "metric": metric,
        "value": value,
        "unit": "bpm",
        "ts": "2026-01-01T00:00:00.000Z",
    }
    mqtt.publish(f"smartcab/devices/{device}/vitals/{metric}", json.dumps(body))


def _events(chunks, want: int, timeout: float = 10.0) -> list[tuple[str, dict]]:
    """Read SSE chunks until ``want`` events arrived (keep-alives skipped)."""
    found = []
    deadline = time.monotonic() + timeout
    for chunk in chunks:
        text = chunk.decode()
        if text.startswith("event:"):
            name, data = text.split("\n")[:2]
            found.append((name.split(": ", 1)[1], json.loads(data.split(": ", 1)[1])))
            if len(found) >= want:
                return found
        assert time.monotonic() < deadline, f"only {found} within {timeout} s"
    return found


def _ended(chunks, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    for _ in chunks:
        assert time.monotonic() < deadline, "the stream did not end"
    return True


def test_assignments_are_republished_when_the_web_connects(live_app, mqtt_log, auth):
    alice, _ = auth.make_patient(live_app, "alice")
    _assign(live_app, "wch", alice)
    _start(live_app)
    message = mqtt_log.wait("smartcab/devices/wch/patient")[0]
    assert message.payload == b"alice"


def test_a_stream_carries_only_its_own_patients_readings(live_app, client_for, mqtt_log, auth):
    alice, _ = auth.make_patient(live_app, "alice")
    bob, _ = auth.make_patient(live_app, "bob")
    _assign(live_app, "wch", alice)
    _assign(live_app, "wch2", bob)
    hub = _start(live_app)
    wait_until(lambda: hub.patient_of("wch2") == "bob", what="assignments seen")
    client = client_for(live_app)
    auth.sign_in_patient(client, "alice")
    response = client.get("/api/p/alice/events", buffered=False)
    try:
        assert response.mimetype == "text/event-stream"
        chunks = iter(response.response)
        assert next(chunks).startswith(b"retry:")
        _reading(mqtt_log, "wch2", "heart_rate", 61.0)
        _reading(mqtt_log, "wch", "heart_rate", 8.0)
        [(name, data)] = _events(chunks, 1)
        assert name == "reading"
        assert (data["device"], data["value"], data["flagged"]) == ("wch", 8.0, True)
        assert "below the plausible" in data["reason"]
    finally:
        response.close()


def test_signing_out_ends_the_stream(live_app, client_for, auth):
    auth.make_patient(live_app, "alice")
    _start(live_app)
    client = client_for(live_app)
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice")
    response = client.get("/api/p/alice/events", buffered=False)
    try:
        chunks = iter(response.response)
        next(chunks)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 302
        assert _ended(chunks)
    finally:
        response.close()


def _set_share(app, patient, doctor, shared: bool) -> None:
    conn = schema.connect(app.config["DATABASE"])
    try:
        (access.share if shared else access.unshare)(conn, patient.id, doctor.id)
    finally:
        conn.close()


def _doctors_stream(auth, app, client_for):
    """alice shares with a doctor, whose client opens alice's live stream."""
    alice, _ = auth.make_patient(app, "alice")
    _assign(app, "wch", alice)
    doctor, secret = auth.make_doctor(app)
    _set_share(app, alice, doctor, True)
    _start(app)
    client = client_for(app)
    auth.sign_in_doctor(client, pyotp.TOTP(secret).now())
    return alice, doctor, client, client.get("/api/p/alice/events", buffered=False)


def test_a_revoked_share_ends_the_doctors_stream(live_app, client_for, auth):
    alice, doctor, client, response = _doctors_stream(auth, live_app, client_for)
    try:
        chunks = iter(response.response)
        next(chunks)
        _set_share(live_app, alice, doctor, False)
        assert _ended(chunks)
    finally:
        response.close()
    assert client.get("/api/p/alice/events").status_code == 403


def test_a_revoked_share_ends_a_busy_stream_too(live_app, client_for, mqtt_log, auth):
    alice, doctor, _, response = _doctors_stream(auth, live_app, client_for)
    busy = threading.Event()

    def readings() -> None:  # one every quarter heartbeat: the stream is never idle
        while not busy.wait(0.05):
            _reading(mqtt_log, "wch", "heart_rate", 72)

    sender = threading.Thread(target=readings)
    sender.start()
    try:
        chunks = iter(response.response)
        assert _events(chunks, 3)[0][0] == "reading"
        _set_share(live_app, alice, doctor, False)
        assert _ended(chunks)
    finally:
        busy.set()
        sender.join()
        response.close()


def test_hand_entered_readings_go_to_the_broker_under_their_own_topics(
    live_app, client_for, mqtt_log, auth
):
    auth.make_patient(live_app, "alice")
    _start(live_app)
    client = client_for(live_app)
    auth.sign_in_patient(client, "alice")
    token = auth.csrf(client, "/p/alice/monitoring")
    bad = client.post(
        "/p/alice/readings",
        data={"csrf_token": token, "bp_systolic": "70", "bp_diastolic": "120"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 400 and "larger" in bad.json["error"]
    ok = client.post(
        "/p/alice/readings",
        data={"csrf_token": token, "bp_systolic": "131", "bp_diastolic": "84", "spo2": "97"},
        headers={"Accept": "application/json"},
    )
    assert ok.status_code == 202
    mqtt_log.wait("smartcab/manual/alice/vitals/spo2")
    topics = [m.topic for m in mqtt_log.on("smartcab/manual/alice/#")]
    assert "smartcab/manual/alice/vitals/bp_systolic" in topics
    body = json.loads(mqtt_log.payloads("smartcab/manual/alice/vitals/bp_systolic")[0])
    assert body["device"] == "manual-alice" and body["value"] == 131.0
    assert body["unit"] == "mmHg" and body["ts"].endswith("Z")
    spo2 = json.loads(mqtt_log.payloads("smartcab/manual/alice/vitals/spo2")[0])
    assert spo2["unit"] == "%"
    # nothing under a device's topics: the web does not speak for devices
    assert mqtt_log.on("smartcab/devices/manual-alice/#") == []


def test_device_status_follows_the_availability_rule(live_app, client_for, mqtt_log, auth):
    alice, _ = auth.make_patient(live_app, "alice")
    _assign(live_app, "wch", alice)
    hub = _start(live_app)
    client = client_for(live_app)
    auth.sign_in_patient(client, "alice")
    mqtt_log.publish("smartcab/devices/wch/status", "online", retain=True)
    mqtt_log.publish("smartcab/services/gateway/status", "online", retain=True)
    wait_until(lambda: hub.device_states(["wch"])["wch"] == "online", what="online")
    assert 'class="dot online"' in client.get("/p/alice").get_data(as_text=True)
    # The device's own retained status still says online, but its gateway is gone.
    mqtt_log.publish("smartcab/services/gateway/status", "offline", retain=True)
    wait_until(lambda: hub.device_states(["wch"])["wch"] == "offline", what="offline")
    assert 'class="dot offline"' in client.get("/p/alice").get_data(as_text=True)


@pytest.fixture
def client_for():
    return lambda app: app.test_client()


def test_streams_are_limited_per_session_and_released_when_closed(live_app, client_for, auth):
    auth.make_patient(live_app, "alice")
    hub = _start(live_app)
    client = client_for(live_app)
    auth.sign_in_patient(client, "alice")
    opened = [client.get("/api/p/alice/events", buffered=False) for _ in range(PER_SESSION)]
    # One more page of the same session replaces its oldest stream instead of being refused
    # (the server cannot tell a page that was left from one still open until it writes).
    newest = client.get("/api/p/alice/events", buffered=False)
    assert newest.status_code == 200
    assert hub.listener_count() == PER_SESSION
    oldest = b"".join(opened[0].response)
    assert oldest == b"retry: 2000\n\n", "the evicted stream ended"
    for response in [*opened, newest]:
        response.close()  # never iterated, like a browser that left at once
    again = client.get("/api/p/alice/events", buffered=False)
    assert again.status_code == 200
    again.close()
    assert hub.listener_count() == 0
