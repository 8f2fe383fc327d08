"""Alerts reach people once: a watch's reading through the real gateway, recorder and notifier
to a real SMTP server and a real webhook; crashes, redeliveries and failing channels."""

import json
import time

from services.common import carecircle
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.notify import BASE_URL, make_alert, publish_alert, statuses
from tests.support.seed_clients import SeedWatch
from tests.support.smtp import SmtpSink


def test_a_35_bpm_reading_reaches_the_circle_once_and_its_clear_once(
    broker, influxdb, db, hook, make_gateway, make_recorder, make_notifier
):
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#",)) as mqtt:
        mqtt.publish("smartcab/devices/wch-01/patient", "ann", retain=True)
        mqtt.publish("smartcab/devices/wch-09/patient", "bob", retain=True)
        carecircle.add_contact(db, "ann", "Carol (daughter)", "carol@example.com")
        carecircle.add_contact(
            db, "ann", "Family phone", hook.url("/ann"), detailed=True, notify_clear=True
        )
        carecircle.add_contact(db, "bob", "Bob's son", hook.url("/bob"))
        with SmtpSink() as smtp:
            gateway = make_gateway(GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2")
            # subscribed: the retained assignment has reached it
            make_recorder().wait_log("event=device.patient device=wch-01", 15)
            make_notifier(**smtp.env())
            watch = SeedWatch(gateway.port, b"wch-01")

            def measure(bpm: float) -> None:
                """The scheduler's ``bpm`` command, answered as the seed watch does."""
                mqtt.publish("smartcab/devices/wch-01/cmd", "bpm")
                assert watch.serve_once(bpm, 36.6) == b"bpm"

            try:
                measure(35.0)
                mail = smtp.wait(15)
                post = hook.wait("/ann")[0]
                # a second low reading of the same episode, then a normal one that ends it
                measure(36.0)
                measure(72.0)
                mqtt.wait("smartcab/alerts/devices/wch-01", count=2, timeout=15)
                cleared = hook.wait("/ann", count=2)[1]
                heart_rates = "SELECT count(value) FROM vitals WHERE metric = 'heart_rate'"
                wait_until(lambda: influxdb.count(heart_rates) == 3, 10, what="3 readings")
                time.sleep(1.5)  # anything more would have come by now
            finally:
                watch.close()
            mails = smtp.messages
    assert len(mails) == 1 and mail["To"] == "carol@example.com"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    # the default text: who and what, a link, and no value
    assert "ann" in mail["Subject"] and "low heart rate" in mail["Subject"]
    assert f"{BASE_URL}/alerts/" in text and "35" not in text.split("(")[0] + mail["Subject"]
    assert "wch-01" not in text
    # the detailed contact sees the value; the clear comes once; nothing else arrives
    assert "Heart rate 35 bpm is below 40 bpm" in post["message"] and "wch-01" in post["message"]
    assert "Resolved" in cleared["title"]
    assert len(hook.posts("/ann")) == 2
    assert hook.posts("/bob") == []  # another patient's circle hears nothing of ann


def test_a_killed_notifier_delivers_each_alert_exactly_once_after_restart(
    broker, db, hook, mqtt, make_notifier
):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    hook.failing.add("/carol")  # the channel is down when the first alert arrives
    notifier = make_notifier()
    first = publish_alert(mqtt, make_alert("heart_rate"))
    wait_until(lambda: statuses(db, first) == ["retrying"], 10, what="a failed first try")
    notifier.proc.kill()  # SIGKILL between the alert and its delivery
    notifier.proc.wait(10)
    # while the notifier is down, another alert waits for it in the broker
    second = publish_alert(mqtt, make_alert("spo2", message="spo2 88 is below 92", value=88.0))
    hook.failing.clear()
    make_notifier()
    wait_until(
        lambda: statuses(db, first) == ["sent"] and statuses(db, second) == ["sent"],
        15,
        what="both alerts sent",
    )
    time.sleep(1.5)  # anything more would have come by now
    # each alert went out in exactly one message (both may share one, as a digest)
    texts = [p["message"] for p in hook.posts("/carol")]
    assert [sum(f"/alerts/{a}" in t for t in texts) for a in (first, second)] == [1, 1]
    assert any("low heart rate" in t for t in texts)
    assert any("blood oxygen" in t for t in texts)


def test_a_redelivered_alert_is_not_sent_again(broker, db, hook, mqtt, make_notifier):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    make_notifier()
    alert = make_alert("temperature", message="temperature 39.6 is above 39", value=39.6)
    alert_id = publish_alert(mqtt, alert)
    hook.wait("/carol")
    publish_alert(mqtt, alert)  # the same alert again, as a broker redelivers it
    time.sleep(1.5)
    assert len(hook.posts("/carol")) == 1
    assert statuses(db, alert_id) == ["sent"]


def test_a_failing_channel_is_retried_and_its_failure_is_visible(
    broker, db, hook, mqtt, make_notifier
):
    carecircle.add_contact(db, "ann", "Broken phone", hook.url("/broken"))
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    hook.failing.add("/broken")
    make_notifier(NOTIFIER_MAX_ATTEMPTS="3")
    alert_id = publish_alert(mqtt, make_alert())
    hook.wait("/carol")
    wait_until(lambda: "given_up" in statuses(db, alert_id), 15, what="the channel given up")
    assert len(hook.refused("/broken")) == 3  # tried, retried with backoff, then given up
    by_contact = {d["contact"]: d for d in carecircle.deliveries(db, alert_id)}
    broken = by_contact["Broken phone"]
    assert broken["status"] == "given_up" and broken["attempts"] == 3
    assert "500" in broken["last_error"] or "JSON" in broken["last_error"]
    assert by_contact["Carol"]["status"] == "sent"
    # what the patient's page lists, and what the notifier announced on MQTT
    listed = carecircle.recent_deliveries(db, "ann")
    assert {(d["contact"], d["status"]) for d in listed} == {
        ("Broken phone", "given_up"),
        ("Carol", "sent"),
    }
    events = [
        json.loads(m.payload)
        for m in mqtt.wait("smartcab/notifications/patients/ann/events", count=4)
    ]
    names = [e["event"] for e in events if e["alert_id"] == alert_id]
    assert names.count("failed") == 2 and names.count("given_up") == 1 and "sent" in names


def test_email_needs_smtp_and_says_so(broker, db, mqtt, make_notifier):
    carecircle.add_contact(db, "ann", "Carol", "carol@example.com")
    make_notifier(NOTIFIER_MAX_ATTEMPTS="1")
    alert_id = publish_alert(mqtt, make_alert())
    wait_until(lambda: statuses(db, alert_id) == ["given_up"], 10, what="no mail server")
    assert "SMTP_HOST" in carecircle.deliveries(db, alert_id)[0]["last_error"]


def test_sigterm_stops_the_notifier_cleanly(broker, make_notifier):
    notifier = make_notifier()
    assert notifier.stop() == 0
    assert "event=notifier.stopping" in notifier.log_text()


def test_a_stored_alert_is_delivered_while_the_broker_is_down(
    broker, db, hook, mqtt, make_notifier
):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    hook.failing.add("/carol")
    notifier = make_notifier()
    alert_id = publish_alert(mqtt, make_alert())
    wait_until(lambda: statuses(db, alert_id) == ["retrying"], 10, what="a failed first try")
    broker.stop()
    try:
        hook.failing.clear()
        hook.wait("/carol")  # the outbox does not need the broker
        wait_until(lambda: statuses(db, alert_id) == ["sent"], 10, what="marked sent")
    finally:
        broker.start()
    notifier.wait_log("session_present=True", 20)  # back, with its session
    time.sleep(1)
    assert len(hook.posts("/carol")) == 1
