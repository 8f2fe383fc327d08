"""The gateway when the broker goes away, and when the gateway itself is stopped or killed."""

import json
import time

import pytest

from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.seed_clients import SeedDevice, SeedWatch


def heart_rates(log, device="wch"):
    return [
        json.loads(p)["value"] for p in log.payloads(f"smartcab/devices/{device}/vitals/heart_rate")
    ]


def send_readings(watch, values):
    for v in values:
        watch.sock.send(b"%d.00,bpm" % v)
        # Paced like a watch, one reading per send: the seed's readings have no delimiter.
        time.sleep(0.01)


@pytest.mark.slow
def test_a_10_second_broker_restart_loses_no_reading(broker, gateway):
    # A persistent subscriber, like the recorder: the broker keeps its messages.
    with TopicLog(broker.host, broker.port, ["smartcab/#"], "persistent-sub", clean=False) as sub:
        watch = SeedWatch(gateway.port)
        sub.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"online")
        send_readings(watch, range(60, 70))
        wait_until(lambda: len(heart_rates(sub)) == 10, what="readings before the outage")

        broker.stop()
        gateway.wait_log("event=mqtt.disconnected")
        send_readings(watch, range(70, 90))  # the gateway queues these
        time.sleep(10)  # the outage under test: ten seconds without a broker
        broker.start()

        wait_until(lambda: len(heart_rates(sub)) >= 30, timeout=30, what="queued readings")
        assert heart_rates(sub) == list(map(float, range(60, 90)))  # all, once, in order
        watch.close()


def test_queue_overflow_is_counted_and_logged(broker, make_gateway):
    gw = make_gateway(GATEWAY_MQTT_QUEUE="5")
    topics = ["smartcab/devices/wch/vitals/#", "smartcab/devices/wch/status"]
    with TopicLog(broker.host, broker.port, topics, "sub-q", False) as sub:
        watch = SeedWatch(gw.port)
        try:
            gw.wait_log("event=device.online")
            # Registering publishes the status (a prototype watch, with no version on
            # record, has none to clear); once the broker has passed it on, it holds no
            # place in the queue.
            sub.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"online")
            _overflow_and_recover(broker, gw, watch, sub)
        finally:
            watch.close()


def _overflow_and_recover(broker, gw, watch, sub) -> None:
    broker.stop()
    gw.wait_log("event=mqtt.disconnected")
    send_readings(watch, range(100, 120))
    line = gw.wait_log("event=mqtt.queue_overflow")
    assert "topic=smartcab/devices/wch/vitals/heart_rate" in line
    broker.start()
    wait_until(
        lambda: gw.log_text().count("event=mqtt.connected") == 2, timeout=20, what="reconnect"
    )
    watch.sock.send(b"121.00,bpm")  # the device is still served after the outage
    wait_until(lambda: 121.0 in heart_rates(sub), timeout=20, what="a reading after")
    # the queue kept the first five, in order; the other fifteen were counted
    assert heart_rates(sub) == [100.0, 101.0, 102.0, 103.0, 104.0, 121.0]
    assert "dropped_total=15" in gw.wait_log("event=mqtt.queue_recovered")


def test_sigterm_closes_devices_and_says_offline(gateway, mqtt_log):
    watch = SeedWatch(gateway.port)
    cabinet = SeedDevice(gateway.port, b"cab")
    mqtt_log.wait("smartcab/devices/cab/status", where=lambda m: m.payload == b"online")
    assert gateway.stop() == 0
    watch.sock.settimeout(5)
    assert watch.sock.recv(16) == b""  # closed cleanly, with a FIN
    for device in ("wch", "cab"):
        mqtt_log.wait(f"smartcab/devices/{device}/status", where=lambda m: m.payload == b"offline")
    mqtt_log.wait("smartcab/services/gateway/status", where=lambda m: m.payload == b"offline")
    watch.close()
    cabinet.close()


@pytest.mark.slow
def test_killed_gateway_is_marked_offline_by_its_will_and_stale_devices_cleared(
    broker, make_gateway, mqtt_log
):
    gw = make_gateway(MQTT_KEEPALIVE="5")
    watch = SeedWatch(gw.port)
    mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"online")
    gw.kill()
    started = time.monotonic()
    mqtt_log.wait(
        "smartcab/services/gateway/status", where=lambda m: m.payload == b"offline", timeout=15
    )
    assert time.monotonic() - started < 1.5 * 5 + 2  # within the keepalive grace

    # A new gateway finds the dead one's retained "online" and clears it.
    make_gateway()
    mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"offline")
    with TopicLog(broker.host, broker.port, ["smartcab/devices/wch/status"]) as late:
        assert late.wait("smartcab/devices/wch/status")[0].payload == b"offline"
    watch.close()


def test_a_burst_larger_than_the_queue_is_held_back_not_dropped(broker, make_gateway):
    gw = make_gateway(GATEWAY_MQTT_QUEUE="100")
    with TopicLog(broker.host, broker.port, ["smartcab/devices/wch/vitals/#"]) as sub:
        watch = SeedWatch(gw.port)
        burst = b"".join(b"%d.00,bpm" % (40 + i % 150) for i in range(2000))
        watch.sock.sendall(burst)  # twenty times the queue, in one go
        wait_until(lambda: len(heart_rates(sub)) >= 2000, timeout=30, what="the whole burst")
        assert heart_rates(sub) == [float(40 + i % 150) for i in range(2000)]
        assert "queue_overflow" not in gw.log_text()
        watch.close()
