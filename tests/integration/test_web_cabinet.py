"""Cabinet and camera over real Mosquitto and gateway with firmware-faithful devices."""

import base64
import json
import threading

import pyotp
import pytest

from services.web import access, create_app, devices, start_background, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support.frames import jpeg
from tests.support.mqtt import TopicLog
from tests.support.net import free_port, wait_until
from tests.support.seed_clients import SeedDevice


@pytest.fixture
def cab_app(tmp_path, broker, auth):
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "WEB_GALLERY_KEEP": "3",
        "WEB_COMMAND_TIMEOUT": "2",
        **broker.env(),
    }
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    alice, _ = auth.make_patient(app, "alice")
    conn = schema.connect(app.config["DATABASE"])
    try:
        for device in ("cab", "img", "cab-2"):
            devices.assign(conn, device, alice.id)
    finally:
        conn.close()
    start_background(app)
    assert app.extensions["smartcab.hub"].client.wait_subscribed(10)
    yield app
    stop_background(app)


def _patient(auth, app):
    client = app.test_client()
    auth.sign_in_patient(client, "alice")
    return client, auth.csrf(client, "/p/alice/cabinet")


def _cmd(client, token, device, cmd):
    return client.post(
        f"/api/p/alice/devices/{device}/cmd", json={"cmd": cmd}, headers={"X-CSRF-Token": token}
    )


def _state(client, device: str) -> str:
    cabinets = client.get("/api/p/alice/cabinet").json["cabinets"]
    return next(c for c in cabinets if c["device"] == device)["state"]


def test_lights_reach_a_seed_cabinet_and_its_counts_show(cab_app, gateway, auth):
    client, token = _patient(auth, cab_app)
    cabinet = SeedDevice(gateway.port, b"cab")
    try:
        cabinet.send_sized(json.dumps({"Nutella": 2, "Pepsi": 1, "Pringles": 0}).encode())
        view = wait_until(
            lambda: (v := client.get("/api/p/alice/cabinet").json)["cabinets"][0]["items"] and v,
            what="inventory on the page",
        )
        cab = next(c for c in view["cabinets"] if c["device"] == "cab")
        assert [(i["name"], i["count"]) for i in cab["items"]] == [
            ("Nutella", 2),
            ("Pepsi", 1),
            ("Pringles", 0),
        ]
        # The counts can show a moment before the state does (the web handles each topic
        # as it comes); the state must follow.
        wait_until(lambda: _state(client, "cab") == "online", what="the cabinet online")
        assert "changes" not in view and view["history_error"], "no InfluxDB: said so"
        for cmd in (b"lof", b"lon"):
            got: list[bytes] = []
            reader = threading.Thread(target=lambda got=got: got.append(cabinet.recv_command()))
            reader.start()
            answer = _cmd(client, token, "cab", cmd.decode())
            reader.join(10)
            assert got == [cmd]
            assert answer.status_code == 200
            assert answer.json == {
                "answered": True,
                "device": "cab",
                "cmd": cmd.decode(),
                "ok": True,
                "error": None,
            }
        page = client.get("/p/alice/cabinet").text
        assert 'data-item="Nutella"' in page and 'data-cmd="lof"' in page
    finally:
        cabinet.close()
    # A cabinet that is not connected: the gateway answers that it could not deliver.
    refused = _cmd(client, token, "cab-2", "lon")
    assert refused.status_code == 502 and refused.json["error"] == "device not connected"


def test_a_command_nobody_answers_says_so(cab_app, auth):
    client, token = _patient(auth, cab_app)
    answer = _cmd(client, token, "cab", "lon")  # no gateway runs: nobody answers
    assert answer.status_code == 504
    assert answer.json["answered"] is False and answer.json["error"] == "no answer"


def test_commands_are_checked(cab_app, auth):
    client, token = _patient(auth, cab_app)
    assert _cmd(client, token, "cab", "img").status_code == 400
    assert _cmd(client, token, "cab", "reboot").status_code == 400
    assert _cmd(client, token, "wch", "bpm").status_code == 403, "not alice's device"
    no_csrf = client.post("/api/p/alice/devices/cab/cmd", json={"cmd": "lon"})
    assert no_csrf.status_code == 403
    alice = schema.connect(cab_app.config["DATABASE"])
    try:
        doctor, secret = auth.make_doctor(cab_app)
        patient_id = alice.execute("SELECT id FROM users WHERE username = 'alice'").fetchone()[0]
        access.share(alice, patient_id, doctor.id)
    finally:
        alice.close()
    doc = cab_app.test_client()
    auth.sign_in_doctor(doc, pyotp.TOTP(secret).now())
    assert doc.get("/p/alice/cabinet").status_code == 200
    doc_cmd = doc.post(
        "/api/p/alice/devices/cab/cmd",
        json={"cmd": "lon"},
        headers={"X-CSRF-Token": auth.csrf(doc)},
    )
    assert doc_cmd.status_code == 403, "doctors look, patients switch"


def test_photo_from_a_seed_camera_is_kept_with_a_retention_limit(cab_app, gateway, mqtt_log, auth):
    client, token = _patient(auth, cab_app)
    camera = SeedDevice(gateway.port, b"img")
    try:
        frame = jpeg("first")
        got = []

        def serve():
            got.append(camera.recv_command())
            camera.send_sized(base64.b64encode(frame))

        device = threading.Thread(target=serve)
        device.start()
        assert _cmd(client, token, "img", "img").status_code == 200
        device.join(10)
        assert got == [b"img"]
        cam = wait_until(
            lambda: client.get("/api/p/alice/cabinet").json["cameras"][0]["frames"],
            what="snapshot saved",
        )
        shot = _get(client, f"/p/alice/camera/img/{cam[0]['name']}")
        assert shot.status_code == 200 and shot.mimetype == "image/jpeg"
        assert shot.data == frame and shot.headers["Cache-Control"] == "no-store"
    finally:
        camera.close()
    # More frames than the limit (3): only the newest stay on disk.
    for i in range(4):
        mqtt_log.publish("smartcab/devices/img/image", jpeg(f"frame {i}"), retain=True)
    folder = cab_app.config["SETTINGS"].gallery_dir / "alice" / "img"

    def newest_kept():
        # three on disk holds from the third frame on: wait for the last one to be newest
        frames = client.get("/api/p/alice/cabinet").json["cameras"][0]["frames"]
        if not frames or not frames[0]["name"] or len(list(folder.iterdir())) != 3:
            return None
        newest = _get(client, f"/p/alice/camera/img/{frames[0]['name']}").data
        return frames if newest == jpeg("frame 3") else None

    frames = wait_until(newest_kept, what="the last frame newest, retention applied")
    assert len({f["name"] for f in frames}) == 3
    assert len(list(folder.iterdir())) == 3
    assert client.get("/p/alice/camera/img/..%2Fweb.sqlite3").status_code == 404
    assert client.get("/p/alice/camera/cab/x.jpg").status_code == 404


def test_with_the_broker_away_commands_and_typed_readings_are_refused_not_kept(
    cab_app, broker, auth
):
    client, token = _patient(auth, cab_app)
    hub = cab_app.extensions["smartcab.hub"]
    # A persistent subscriber, so that it also gets what is published while it reconnects.
    observer = TopicLog(
        broker.host,
        broker.port,
        topics=("smartcab/devices/+/cmd", "smartcab/probe"),
        client_id="observer",
        clean=False,
    )
    with observer:
        wait_until(lambda: hub.client.backlog == 0, what="the assignments to be acknowledged")
        broker.stop()
        wait_until(lambda: not hub.client.connected, what="the web to notice")
        refused = _cmd(client, token, "cab", "lon")
        assert refused.status_code == 503 and "try again shortly" in refused.json["detail"]
        typed = client.post(
            "/p/alice/readings",
            data={"csrf_token": token, "spo2": "97"},
            headers={"Accept": "application/json"},
        )
        assert typed.status_code == 503 and "could not be sent" in typed.json["error"]
        assert hub.client.backlog == 0, "nothing waits in memory to go out later"
        # Back again, the old click does not switch the lights after all: anything the
        # web had queued would reach the observer before this probe.
        broker.start()
        wait_until(lambda: hub.client.connected, what="the web to reconnect")
        hub.client.publish("smartcab/probe", "after the outage")
        observer.wait("smartcab/probe")
        assert observer.on("smartcab/devices/+/cmd") == []


def test_a_camera_given_to_another_patient_shows_them_none_of_the_old_frames(
    cab_app, mqtt_log, broker, auth
):
    hub = cab_app.extensions["smartcab.hub"]
    client, _ = _patient(auth, cab_app)
    mqtt_log.publish("smartcab/devices/img/image", jpeg("alice's kitchen"), retain=True)
    alices = wait_until(
        lambda: client.get("/api/p/alice/cabinet").json["cameras"][0]["frames"],
        what="alice's frame kept",
    )
    bob, _ = auth.make_patient(cab_app, "bob")
    conn = schema.connect(cab_app.config["DATABASE"])
    try:
        devices.assign(conn, "img", bob.id)  # what the admin page and the CLI do
    finally:
        conn.close()
    hub.assign("img", "bob")
    wait_until(lambda: hub.patient_of("img") == "bob", what="the hub to follow")
    viewer = cab_app.test_client()
    auth.sign_in_patient(viewer, "bob")
    assert viewer.get("/api/p/bob/cabinet").json["cameras"] == [
        {"device": "img", "state": "unknown", "frames": []}
    ]
    assert viewer.get(f"/p/bob/camera/img/{alices[0]['name']}").status_code == 404
    # A web that starts afresh gets alice's frame again as the camera's retained image:
    # it has no capture time, so it is not kept for bob either.
    stop_background(cab_app)
    again = create_app(
        {"TESTING": True},
        settings=Settings.from_env(
            {
                "SMARTCAB_DATA_DIR": str(cab_app.config["SETTINGS"].data_dir),
                "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
                **broker.env(),
            }
        ),
    )
    start_background(again)
    try:
        assert again.extensions["smartcab.hub"].client.wait_subscribed(10)
        wait_until(
            lambda: again.extensions["smartcab.hub"].patient_of("img") == "bob",
            what="the retained assignment",
        )
        mqtt_log.publish("smartcab/devices/img/image", jpeg("bob's hallway"), retain=True)
        fresh = again.test_client()
        auth.sign_in_patient(fresh, "bob")
        frames = wait_until(
            lambda: fresh.get("/api/p/bob/cabinet").json["cameras"][0]["frames"],
            what="bob's own frame",
        )
        assert len(frames) == 1
        assert _get(fresh, f"/p/bob/camera/img/{frames[0]['name']}").data == jpeg("bob's hallway")
    finally:
        stop_background(again)


def _get(client, path):
    """A file response read and closed (send_file streams from an open file)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response
