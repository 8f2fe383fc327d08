"""The scheduler: who is asked, when, and what happens around a broker outage."""

import threading

import pytest

from tests.support.net import wait_until

GATEWAY = "smartcab/services/gateway/status"


def status(device: str) -> str:
    return f"smartcab/devices/{device}/status"


def requests_in(log: str) -> list[str]:
    return [line for line in log.splitlines() if "scheduler.request" in line]


@pytest.fixture
def fleet_online(mqtt_log):
    """Retained statuses as the gateway publishes them."""
    for topic, state in (
        (GATEWAY, "online"),
        (status("wch-01"), "online"),
        (status("wch-02"), "offline"),
        (status("cab-01"), "online"),
        (status("img-01"), "online"),
    ):
        mqtt_log.publish(topic, state, retain=True)
    return mqtt_log


def test_asks_online_devices_only_and_stops_when_the_gateway_goes(make_scheduler, fleet_online):
    mqtt = fleet_online
    scheduler = make_scheduler(
        SCHEDULER_BPM_INTERVAL="0.5",
        SCHEDULER_INVENTORY_INTERVAL="0.5",
        SCHEDULER_SNAPSHOT_INTERVAL="0.5",
    )
    mqtt.wait("smartcab/devices/wch-01/cmd", count=3)
    mqtt.wait("smartcab/devices/cab-01/cmd", count=2)
    mqtt.wait("smartcab/devices/img-01/cmd", count=2)
    assert set(mqtt.payloads("smartcab/devices/wch-01/cmd")) == {b"bpm"}
    assert set(mqtt.payloads("smartcab/devices/cab-01/cmd")) == {b"inv"}
    assert set(mqtt.payloads("smartcab/devices/img-01/cmd")) == {b"img"}
    assert mqtt.on("smartcab/devices/wch-02/cmd") == []  # offline: never asked

    mqtt.publish(GATEWAY, "offline", retain=True)  # the gateway's last will
    skip = "scheduler.skip device=wch-01 reason=offline"
    first = wait_until(lambda: skip in scheduler.log_text(), what="an offline skip")
    assert first
    sent_before = len(requests_in(scheduler.log_text()))
    wait_until(lambda: scheduler.log_text().count(skip) >= 3, what="three skipped ticks")
    assert len(requests_in(scheduler.log_text())) == sent_before
    assert all("device=wch-02" not in line for line in requests_in(scheduler.log_text()))
    assert scheduler.stop() == 0  # SIGTERM: a clean exit
    assert "event=scheduler.stopping" in scheduler.log_text()


def test_skips_a_watch_that_reports_on_its_own(make_scheduler, fleet_online):
    mqtt = fleet_online
    # reports every 0.1 s against a 1 s interval: a wide margin on a busy machine
    scheduler = make_scheduler(SCHEDULER_BPM_INTERVAL="1")
    mqtt.wait("smartcab/devices/wch-01/cmd")
    stop = threading.Event()

    def report():
        while not stop.wait(0.1):
            mqtt.publish("smartcab/devices/wch-01/vitals/heart_rate", b'{"value": 70}')

    reporter = threading.Thread(target=report)
    reporter.start()
    try:
        skip = 'reason="reported within the interval"'
        wait_until(lambda: skip in scheduler.log_text(), what="a skipped watch")
        asked = len(requests_in(scheduler.log_text()))
        wait_until(lambda: scheduler.log_text().count(skip) >= 3, what="three skipped ticks")
        assert len(requests_in(scheduler.log_text())) == asked
    finally:
        stop.set()
        reporter.join()
    wait_until(lambda: len(requests_in(scheduler.log_text())) > asked, what="asking again")


def test_no_requests_queued_during_a_broker_outage(make_scheduler, fleet_online, broker):
    scheduler = make_scheduler(SCHEDULER_BPM_INTERVAL="0.3")
    fleet_online.wait("smartcab/devices/wch-01/cmd", count=2)
    broker.stop()
    wait_until(
        lambda: scheduler.log_text().count('reason="broker away"') >= 3,
        what="ticks skipped while the broker is away",
    )
    broker.start()
    wait_until(
        lambda: scheduler.log_text().count("event=mqtt.connected") >= 2, 15, what="reconnect"
    )
    log = scheduler.log_text()
    outage = log[log.index("event=mqtt.disconnected") : log.rindex("event=mqtt.connected")]
    assert "scheduler.request" not in outage, "a request was queued for after the outage"
    assert "job.ticks_skipped" not in outage  # the grid kept its pace
