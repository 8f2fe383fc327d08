"""What the deployment's admins hear: a service offline and back, and security alerts
(with the patient's circle when the alert is about a patient's device)."""

import time

from services.common import carecircle
from tests.support.notify import make_alert, publish_alert


def test_a_killed_service_reaches_the_admins_once_and_its_return_once(
    broker, db, hook, make_notifier, make_scheduler
):
    carecircle.add_contact(db, None, "On call", hook.url("/admins"), notify_clear=True)
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    make_notifier(NOTIFIER_SERVICE_GRACE="1")
    scheduler = make_scheduler()
    scheduler.wait_log("event=mqtt.connected", 15)
    time.sleep(1.5)  # online for longer than the grace: nothing to say
    assert hook.posts("/admins") == []
    scheduler.proc.kill()  # SIGKILL: the broker publishes its last will, "offline"
    gone = hook.wait("/admins")[0]
    assert "URGENT" in gone["title"] and "scheduler is offline" in gone["title"]
    time.sleep(2)  # still offline: no second message
    assert len(hook.posts("/admins")) == 1
    make_scheduler()
    back = hook.wait("/admins", count=2)[1]
    assert "Resolved" in back["title"] and "scheduler is back online" in back["title"]
    time.sleep(1.5)
    assert len(hook.posts("/admins")) == 2
    assert hook.posts("/carol") == []  # a patient's circle hears nothing of services


def test_a_restart_within_the_grace_tells_nobody(broker, db, hook, make_notifier, make_scheduler):
    carecircle.add_contact(db, None, "On call", hook.url("/admins"), notify_clear=True)
    make_notifier(NOTIFIER_SERVICE_GRACE="5")
    scheduler = make_scheduler()
    scheduler.wait_log("event=mqtt.connected", 15)
    scheduler.stop()  # a clean stop says "offline" too
    make_scheduler().wait_log("event=mqtt.connected", 15)
    time.sleep(6)
    assert hook.posts("/admins") == []


def security(patient: str | None, key: str, device: str) -> dict:
    return make_alert(
        key, kind="security", patient=patient, device=device, value=None, message=f"{key} seen"
    )


def test_security_alerts_reach_the_patients_circle_and_the_admins(
    broker, db, hook, mqtt, make_notifier
):
    carecircle.add_contact(db, None, "On call", hook.url("/admins"))
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    carecircle.add_contact(db, "bob", "Bob's son", hook.url("/bob"))
    make_notifier()
    # a device id claimed by a second connection, for a watch assigned to ann
    publish_alert(mqtt, security("ann", "connection_replaced", "wch-01"))
    carol = hook.wait("/carol")[0]
    admins = hook.wait("/admins")
    assert "security" in carol["title"] and "another connection" in carol["title"]
    assert "ann" in carol["title"] and "ann" in admins[0]["title"]
    # the same for an unassigned device: the admins only
    publish_alert(mqtt, security(None, "connection_replaced", "wch-77"))
    hook.wait("/admins", count=2)
    # a second hijack of the same watch is news again: security alerts are events
    time.sleep(0.01)  # its own millisecond, so its own alert
    publish_alert(mqtt, security("ann", "connection_replaced", "wch-01"))
    hook.wait("/carol", count=2)
    hook.wait("/admins", count=3)
    # repeated failed sign-ins, as the dashboard raises them (from the "web" service)
    publish_alert(mqtt, security(None, "signin_failures:ann", "web"))
    signin = hook.wait("/admins", count=4)[3]
    assert "failed sign-ins" in signin["title"] and "ann" not in signin["title"]
    time.sleep(1)
    assert len(hook.posts("/carol")) == 2 and len(hook.posts("/admins")) == 4
    assert hook.posts("/bob") == []  # another patient's circle hears nothing
