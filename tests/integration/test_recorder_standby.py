"""Recorders on a NATS cluster, which has no shared subscriptions: one holds the session,
a standby takes over when it goes, and no reading is lost or stored twice."""

import signal
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import services
from tests.support.net import wait_until
from tests.support.services import ServiceProcess
from tests.support.watch_loop import WatchLoop, assert_exactly_once, wait_stored

pytestmark = pytest.mark.slow


def test_nats_has_no_shared_subscriptions_a_share_filter_is_a_plain_topic(nats_cluster):
    got = []
    clients = []
    try:
        for name, node in (("s1", 0), ("s2", 1), ("pub", 2)):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
            client.on_message = lambda c, u, m, name=name: got.append((name, m.topic))
            client.connect("127.0.0.1", nats_cluster.nodes[node].mqtt_port, 10)
            client.loop_start()
            clients.append(client)
        for client in clients[:2]:
            client.subscribe("$share/recorder/smartcab/t", 1)[1]
        time.sleep(2)  # no SUBACK tells more: NATS grants the filter either way
        for n in range(4):
            clients[2].publish("smartcab/t", str(n), qos=1).wait_for_publish(10)
        time.sleep(2)
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
    # nothing published on smartcab/t reached a "$share/" subscriber: RECORDER_SHARED
    # would record nothing there, hence RECORDER_STANDBY
    assert got == []


@pytest.fixture
def make_standby(tmp_path, nats_cluster, influxdb):
    """Start standby-mode recorders, each in its own folder, on a node of its own."""
    started = []

    def make(name: str, first: int) -> ServiceProcess:
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        env = {
            **nats_cluster.env(first),
            **influxdb.env(),
            "SMARTCAB_DATA_DIR": str(workdir / "data"),
            "RECORDER_RETRY_INTERVAL": "0.3",
            "RECORDER_STANDBY": "1",
            "RECORDER_LEASE": "6",
        }
        proc = ServiceProcess("recorder", workdir, env).start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.proc:
            proc.proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
        proc.kill()


def active(proc: ServiceProcess) -> int:
    return proc.log_text().count("event=recorder.active")


@pytest.mark.timeout(400)
def test_a_standby_takes_over_when_the_holder_dies_stops_or_freezes(
    tmp_path, nats_cluster, influxdb, make_standby
):
    gateway = services.gateway(
        tmp_path, nats_cluster.env(0), GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2"
    ).start()
    scheduler = ServiceProcess(
        "scheduler", tmp_path, {**nats_cluster.env(0), "SCHEDULER_BPM_INTERVAL": "1"}
    ).start()
    try:
        a = make_standby("a", 1)
        wait_until(lambda: active(a), 30, what="the first recorder to hold the session")
        b = make_standby("b", 2)
        b.wait_log("event=recorder.standby", 30)
        with WatchLoop(gateway.port) as watch:
            watch.wait_rounds(3, timeout=30)
            wait_stored(influxdb, watch, timeout=30)
            assert active(b) == 0  # it waits while a holds the session

            # SIGKILL: its node sends its last will, and the standby takes over at once
            a.kill()
            wait_until(lambda: active(b), 20, what="the standby to take over")
            b.wait_log("session_present=True", 20)
            watch.wait_rounds(3, timeout=30)
            wait_stored(influxdb, watch, timeout=30)

            # back again, a waits: b holds the session
            a.start()
            a.wait_log("event=recorder.standby", 30)
            watch.wait_rounds(3, timeout=30)
            assert active(a) == 1 and "recorder.demoted" not in b.log_text()

            # frozen (no last will for a while yet): its claim lapses, a takes over, and
            # b, thawed, steps back without saying offline: it finds its lease lapsed or
            # hears a's claim, whichever its threads see first
            b.proc.send_signal(signal.SIGSTOP)
            wait_until(lambda: active(a) == 2, 30, what="a to take over from the frozen b")
            b.proc.send_signal(signal.SIGCONT)
            b.wait_log("event=recorder.stopping", 20)
            left = b.log_text()
            assert "event=recorder.lease_lapsed" in left or "event=recorder.demoted" in left
            watch.wait_rounds(5, timeout=30)
            assert active(b) == 1 and "recorder.demoted" not in a.log_text()

            # a clean stop says offline: b takes over without waiting for the lease
            assert a.stop() == 0
            wait_until(lambda: active(b) == 2, 15, what="b to take over after a's clean stop")
            watch.wait_rounds(3, timeout=30)
            got = wait_stored(influxdb, watch, timeout=30)
            assert_exactly_once(got, watch)
    finally:
        scheduler.kill()
        gateway.kill()
