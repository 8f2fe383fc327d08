"""The dose tracker against real parts: gateway, broker, a cabinet board, the app database."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from firmware.smartcab import cabinet
from services.common import carecircle as cc
from services.common.medication import doses, store
from services.web import accounts, devices
from services.web import db as schema
from tests.support.boards import BoardThread, make_cabinet
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.seed_clients import SeedCabinet
from tests.support.services import ServiceProcess

CAB = "cab01"
CMD = f"smartcab/devices/{CAB}/cmd"
ALERT = f"smartcab/alerts/devices/{CAB}"


@pytest.fixture
def app_db(app_database):
    """The app database with a patient who owns the cabinet."""
    schema.migrate(app_database)
    conn = schema.connect(app_database)
    patient, _ = accounts.create_patient(conn, "ann@example.org", "ann", "correct horse battery 7")
    devices.assign(conn, CAB, patient.id)
    yield conn, patient
    conn.close()


@pytest.fixture
def pillbox(tmp_path, broker, database_url):
    env = {
        **broker.env(),
        "SMARTCAB_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "REPORT_TIMEZONE": "Europe/Paris",  # schedules are local: not UTC on purpose
        "PILLBOX_TICK": "0.2",
        "PILLBOX_SETTLE": "0.5",
    }
    started = []

    def make() -> ServiceProcess:
        proc = ServiceProcess("pillbox", tmp_path, env).start()
        proc.wait_log("pillbox.started")
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.kill()


def _add(conn, patient, name: str, item: str, due: datetime, window_min: float, stock: str = ""):
    local = due.astimezone(store.zone("Europe/Paris")).strftime("%H:%M:%S")
    form = {"name": name, "item": item, "times": local, "window": str(window_min), "stock": stock}
    return store.add(conn, patient.id, store.clean(form), None, "test")


def _alerts(recorder) -> list[dict]:
    return [json.loads(p) for p in recorder.payloads(ALERT)]


def test_a_dose_taken_in_its_window_lights_then_clears_the_cue(gateway, mqtt_log, app_db, pillbox):
    conn, patient = app_db
    app, shelf, _strip = make_cabinet([["Metformin", [1]], ["Vitamin D", [2]]])
    shelf.present = [True, True]
    with BoardThread(app, gateway.port, CAB):
        mqtt_log.wait(f"smartcab/devices/{CAB}/inventory")
        due = datetime.now(UTC) + timedelta(seconds=10)
        med = _add(conn, patient, "Metformin 500 mg", "Metformin", due, 0.1, stock="10")
        vitamin = _add(
            conn, patient, "Vitamin D 1000 IU", "Vitamin D", due + timedelta(hours=6), 0.1
        )
        tracker = pillbox()
        time.sleep(1.5)
        shelf.set(1, False)  # the vitamin, far from its time: not a dose
        tracker.wait_log("pillbox.not_a_dose")
        # the cue: lon once the on-time window opens (6 s before the dose)
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"lon", timeout=15)
        wait_until(lambda: app.lights_on, what="the cabinet lit")
        shelf.set(0, False)  # taken out, on time
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"lof", timeout=10)
        wait_until(lambda: not app.lights_on, what="the cue cleared")
        dose = doses.get(conn, med.id, int(due.timestamp()))
        assert dose.status == "taken" and dose.timing == "on_time" and dose.source == "cabinet"
        assert store.get(conn, patient.id, med.id).stock == 9
        shelf.set(0, True)  # put back: not a dose
        time.sleep(1)
        shelf.set(0, False)  # out again in the same window: a doubled dose
        [alert] = mqtt_log.wait(ALERT, timeout=10)
    body = json.loads(alert.payload)
    assert body["kind"] == "medication" and body["level"] == "warning"
    assert body["patient"] == "ann" and "Doubled dose: Metformin 500 mg" in body["message"]
    assert doses.get(conn, med.id, int(due.timestamp())).removals == 2
    assert store.get(conn, patient.id, med.id).stock == 8
    assert doses.between(conn, [vitamin.id], 0, 2**31) == []


def test_nothing_taken_raises_the_medication_alert_when_the_window_closes(
    gateway, mqtt_log, app_db, pillbox
):
    conn, patient = app_db
    app, shelf, _ = make_cabinet([["Aspirin", [1]]])
    shelf.present = [True]
    with BoardThread(app, gateway.port, CAB):
        mqtt_log.wait(f"smartcab/devices/{CAB}/inventory")
        due = datetime.now(UTC) + timedelta(seconds=4)
        med = _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.05)  # closes 6 s after
        tracker = pillbox()
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"lon", timeout=10)
        # restarted in the middle of the window: nothing is lost or doubled
        tracker.stop()
        pillbox()
        [alert] = mqtt_log.wait(ALERT, timeout=20)
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"lof", timeout=10)
    body = json.loads(alert.payload)
    assert body["kind"] == "medication" and body["key"] == f"dose-{med.id}-{int(due.timestamp())}"
    assert "Missed dose: Aspirin 75 mg" in body["message"] and body["patient"] == "ann"
    assert doses.get(conn, med.id, int(due.timestamp())).status == "missed"
    time.sleep(1.5)
    assert len(_alerts(mqtt_log)) == 1  # once, not on every tick


def test_our_board_lights_the_items_slot_the_prototypes_board_gets_lon(
    gateway, mqtt_log, app_db, pillbox
):
    conn, patient = app_db
    devices.assign(conn, "cab02", patient.id)
    app, shelf, strip = make_cabinet([["Zinc", [1]], ["Metformin", [2, 3]]])
    shelf.present = [True, True, True]
    seed = SeedCabinet(gateway.port, {"Oats": 2, "Aspirin": 1}, name=b"cab02")
    seed_cmd = "smartcab/devices/cab02/cmd"
    # with ota_url the board announces its version (~v=): our firmware, slot command and all
    with BoardThread(app, gateway.port, CAB, ota_url="http://127.0.0.1:9"):
        mqtt_log.wait(f"smartcab/devices/{CAB}/firmware", where=lambda m: m.payload != b"")
        mqtt_log.wait(f"smartcab/devices/{CAB}/inventory")
        mqtt_log.wait("smartcab/devices/cab02/inventory")
        due = datetime.now(UTC) + timedelta(seconds=6)
        metformin = _add(conn, patient, "Metformin 500 mg", "Metformin", due, 0.1)
        aspirin = _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.1)
        pillbox()
        # Metformin is the cabinet's second item: slot 01, both its positions lit
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"ls01", timeout=15)
        wait_until(lambda: strip.shown[1:] == [cabinet.DUE_COLOUR] * 2, what="the slot lit")
        assert strip.shown[0] != cabinet.DUE_COLOUR
        mqtt_log.wait(seed_cmd, where=lambda m: m.payload == b"lon", timeout=10)
        wait_until(lambda: seed.lights_on is True, what="the prototype's cabinet lit")
        shelf.set(1, False)  # one Metformin taken out
        mqtt_log.wait(CMD, where=lambda m: m.payload == b"lof", timeout=10)
        wait_until(lambda: not app.lit_slots, what="the slot dark again")
        seed.set("Aspirin", 0)
        mqtt_log.wait(seed_cmd, where=lambda m: m.payload == b"lof", timeout=10)
        wait_until(lambda: seed.lights_on is False, what="the prototype's light off")
    seed.close()
    assert mqtt_log.payloads(CMD) == [b"ls01", b"lof"]  # never lon: the slot says it all
    # the prototype's board saw only the commands it knows, one per recv()
    assert seed.received == [b"lon", b"lof"] and seed.ignored == []
    for med in (metformin, aspirin):
        dose = doses.get(conn, med.id, int(due.timestamp()))
        assert dose.status == "taken" and dose.source == "cabinet", med.name


def test_a_missed_dose_alert_survives_a_tracker_killed_before_the_broker_had_it(
    broker, app_db, pillbox
):
    conn, patient = app_db
    # a kept session: what is published while this subscriber reconnects waits for it
    watch = TopicLog(broker.host, broker.port, [ALERT], client_id="alert-watch", clean=False)
    with watch:
        due = datetime.now(UTC) + timedelta(seconds=4)
        med = _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.05)  # closes 6 s after
        tracker = pillbox()
        tracker.wait_log("pillbox.cue")  # settled and following the clock
        broker.stop()  # the tracker loses the broker before the window closes
        tracker.wait_log("pillbox.missed", timeout=20)
        # decided and its alert handed to the MQTT client, which has no broker to give it
        # to: killed now, the old way lost the alert with the client's queue
        tracker.kill()
        assert doses.get(conn, med.id, int(due.timestamp())).status == "missed"
        owed = conn.execute("SELECT key FROM pillbox_outbox WHERE published_at IS NULL").fetchall()
        # (the dose's reminder, sent at the cue, may be owed too: its PUBACK raced the stop)
        assert f"missed-{med.id}-{int(due.timestamp())}" in [r["key"] for r in owed]
        broker.start()
        pillbox()
        [alert] = watch.wait(ALERT, timeout=20)
        wait_until(
            lambda: (
                not conn.execute(
                    "SELECT 1 FROM pillbox_outbox WHERE published_at IS NULL"
                ).fetchall()
            ),
            what="the outbox row marked published",
        )
    body = json.loads(alert.payload)
    assert body["key"] == f"dose-{med.id}-{int(due.timestamp())}" and body["patient"] == "ann"
    assert "Missed dose: Aspirin 75 mg" in body["message"]


def test_the_reminder_reaches_the_contacts_who_chose_it_saying_no_more_than_they_chose(
    app_db, pillbox, make_notifier, hook
):
    conn, patient = app_db
    now = datetime.now(UTC)
    cc.add_contact(conn, "ann", "Ann's phone", hook.url("/ann"), levels=(), reminders="named")
    cc.add_contact(conn, "ann", "Carol", hook.url("/carol"), reminders="dose", detailed=True)
    cc.add_contact(conn, "ann", "Dr Tan", hook.url("/dr"), tier=2)
    # in quiet hours until long after the window: the reminder would come too late
    quiet = [(now + timedelta(hours=h)).strftime("%H:%M") for h in (-1, 1)]
    cc.add_contact(
        conn,
        "ann",
        "Night owl",
        hook.url("/owl"),
        reminders="named",
        quiet_start=quiet[0],
        quiet_end=quiet[1],
    )
    make_notifier()
    due = now + timedelta(seconds=8)
    _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.1)
    pillbox().wait_log("pillbox.reminder", timeout=15)
    [mine] = hook.wait("/ann")
    [carol] = hook.wait("/carol")
    assert "Reminder: Aspirin 75 mg is due" in mine["message"]
    assert mine["title"] == "Health Plus - Reminder: ann, Aspirin 75 mg is due"
    # Carol chose only that a dose is due: no medicine, and detailed adds no device either
    assert "a dose of medicine is due" in carol["message"]
    assert "Aspirin" not in carol["title"] + carol["message"] and CAB not in carol["message"]
    wait_until(
        lambda: (
            [d["status"] for d in cc.recent_deliveries(conn, "ann") if d["contact"] == "Night owl"]
            == ["expired"]
        ),
        what="the night owl's reminder dropped",
    )
    time.sleep(1)
    assert hook.posts("/dr") == [] and hook.posts("/owl") == []  # no reminders chosen / too late
    assert len(hook.posts("/ann")) == 1
    assert cc.notifications_for(conn, "ann") == []  # a reminder is no alert


def _dose_at(conn, med, due):
    return doses.get(conn, med.id, int(due.timestamp()))


def _sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def test_a_restart_after_the_dose_was_taken_neither_loses_nor_doubles_it(
    gateway, mqtt_log, app_db, pillbox
):
    conn, patient = app_db
    seed = SeedCabinet(gateway.port, {"Aspirin": 2}, name=CAB.encode())
    mqtt_log.wait(f"smartcab/devices/{CAB}/inventory")
    due = datetime.now(UTC) + timedelta(seconds=5)
    med = _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.1, stock="20")  # closes +12 s
    tracker = pillbox()
    mqtt_log.wait(CMD, where=lambda m: m.payload == b"lon", timeout=15)
    seed.set("Aspirin", 1)
    wait_until(lambda: _dose_at(conn, med, due) is not None, what="the dose recorded")
    mqtt_log.wait(CMD, where=lambda m: m.payload == b"lof", timeout=10)
    tracker.stop()  # restarted in the window: the retained inventory comes again
    pillbox()
    _sleep_until(due + timedelta(seconds=14))  # the window has closed
    seed.close()
    dose = _dose_at(conn, med, due)
    assert (dose.status, dose.removals, dose.source) == ("taken", 1, "cabinet")
    assert store.get(conn, patient.id, med.id).stock == 19  # once
    assert _alerts(mqtt_log) == []  # neither missed nor doubled
    assert mqtt_log.payloads(CMD) == [b"lon", b"lof"] and seed.received == [b"lon", b"lof"]


def test_a_change_queued_while_the_tracker_was_down_counts_at_the_gateways_time(
    gateway, mqtt_log, app_db, pillbox
):
    conn, patient = app_db
    seed = SeedCabinet(gateway.port, {"Aspirin": 2}, name=CAB.encode())
    mqtt_log.wait(f"smartcab/devices/{CAB}/inventory")
    due = datetime.now(UTC) + timedelta(seconds=6)
    med = _add(conn, patient, "Aspirin 75 mg", "Aspirin", due, 0.05)  # on time +-3 s, closes +6 s
    tracker = pillbox()
    tracker.wait_log("pillbox.cue", timeout=15)  # subscribed with its kept session, settled
    tracker.stop()
    inventory = f"smartcab/devices/{CAB}/inventory"
    _sleep_until(due)
    seed.set("Aspirin", 1)  # taken out on time, while nobody follows the cabinet ...
    [taken] = mqtt_log.wait(inventory, count=2)[1:]
    seed.set("Aspirin", 2)  # ... and put back: the retained inventory shows no drop at all
    mqtt_log.wait(inventory, count=3)
    _sleep_until(due + timedelta(seconds=8))  # the window has closed
    pillbox()  # the broker hands over the two changes it kept
    wait_until(lambda: _dose_at(conn, med, due) is not None, timeout=15, what="the dose")
    dose = _dose_at(conn, med, due)
    stamped = json.loads(taken.payload)["ts"]
    assert (dose.status, dose.timing) == ("taken", "on_time")  # by the gateway's time
    assert dose.taken_at == int(datetime.fromisoformat(stamped).timestamp())
    time.sleep(1)
    seed.close()
    assert _alerts(mqtt_log) == []  # not called missed before the kept changes arrived
