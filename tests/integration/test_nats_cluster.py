"""Every service on a three-node NATS JetStream cluster, each node SIGKILLed in turn.

Firmware-faithful watches answer the real scheduler's ``bpm`` through the real gateway;
the recorder writes to a real InfluxDB and the dashboard's live hub pushes readings to a
patient's stream. The gateway starts on node 1, the recorder and the web on node 2, the
scheduler on node 3; each round kills the node one of them is on, waits until readings
flow again and starts the node again (JetStream needs two of three nodes). At the end
InfluxDB holds every reading the watches gave, none twice.
"""

import contextlib
import queue

import pytest

from services.web import create_app, devices, start_background, stop_background
from services.web import db as schema
from services.web.settings import Settings as WebSettings
from tests.support import services
from tests.support.nats import NatsCluster
from tests.support.net import free_port, wait_until
from tests.support.services import ServiceProcess
from tests.support.watch_loop import WatchLoop, assert_exactly_once, wait_stored

pytestmark = pytest.mark.slow

WATCHES = (b"wch-01", b"wch-02")


def broker_of(proc: ServiceProcess) -> str:
    """The node a service process is on now: its last ``mqtt.connected`` line says."""
    lines = [line for line in proc.log_text().splitlines() if "event=mqtt.connected" in line]
    assert lines, f"{proc.name} never connected:\n{proc.log_text()[-3000:]}"
    return lines[-1].split("broker=")[1].split()[0]


@pytest.fixture
def web_hub(tmp_path, nats_cluster, auth):
    """The dashboard's live hub on node 2, with wch-01 assigned to alice."""
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        **nats_cluster.env(1),
    }
    app = create_app({"TESTING": True}, settings=WebSettings.from_env(env))
    alice, _ = auth.make_patient(app, "alice")
    conn = schema.connect(app.config["DATABASE"])
    try:
        devices.assign(conn, "wch-01", alice.id)
    finally:
        conn.close()
    start_background(app)
    hub = app.extensions["smartcab.hub"]
    assert hub.client.wait_subscribed(20)
    yield hub
    stop_background(app)


@pytest.fixture
def cluster_services(tmp_path, nats_cluster, influxdb):
    """Gateway on node 1, recorder on node 2, scheduler on node 3."""
    started = []
    gateway = services.gateway(
        tmp_path, nats_cluster.env(0), GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2"
    )
    recorder = ServiceProcess(
        "recorder",
        tmp_path,
        {
            **nats_cluster.env(1),
            **influxdb.env(),
            "SMARTCAB_DATA_DIR": str(tmp_path / "data"),
            "RECORDER_RETRY_INTERVAL": "0.3",
        },
    )
    scheduler = ServiceProcess(
        "scheduler", tmp_path, {**nats_cluster.env(2), "SCHEDULER_BPM_INTERVAL": "1"}
    )
    try:
        for proc in (recorder, gateway, scheduler):
            started.append(proc.start())
            proc.wait_log("event=mqtt.connected", 30)
        yield gateway, recorder, scheduler
    finally:
        for proc in started:
            proc.kill()


def live_readings(listener, count: int, timeout: float) -> list[dict]:
    """``count`` reading events from a live stream's queue."""
    found = []
    while len(found) < count:
        try:
            event, data = listener.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"only {len(found)} live readings in {timeout} s") from None
        if event == "reading":
            found.append(data)
    return found


@contextlib.contextmanager
def explained(round_name: str, procs):
    """A failed wait says which round it was and what each service saw of the broker."""
    try:
        yield
    except AssertionError as exc:
        wanted = ("event=mqtt.", "WARNING", "ERROR")
        story = [f"{exc} ({round_name})"]
        for proc in procs:
            lines = [ln for ln in proc.log_text().splitlines() if any(w in ln for w in wanted)]
            story += [f"--- {proc.name}", *(ln[:200] for ln in lines[-12:])]
        raise AssertionError("\n".join(story)) from None


# Each round waits for JetStream to elect new leaders for the streams and consumers the
# dead node led, then for the node to come back and catch up: tens of seconds a round.
@pytest.mark.timeout(600)
def test_every_service_survives_each_node_killed_in_turn_and_no_reading_is_lost(
    nats_cluster: NatsCluster, cluster_services, web_hub, influxdb
):
    gateway, recorder, scheduler = cluster_services
    assert broker_of(gateway) == nats_cluster.nodes[0].address
    assert broker_of(recorder) == nats_cluster.nodes[1].address
    assert broker_of(scheduler) == nats_cluster.nodes[2].address
    assert web_hub.client.broker == nats_cluster.nodes[1].address
    listener = web_hub.listen("alice")
    watches = [WatchLoop(gateway.port, name) for name in WATCHES]
    try:
        for watch in watches:
            watch.__enter__()
            watch.wait_rounds(2, timeout=30)
        live_readings(listener, 1, 20)
        for proc in (gateway, recorder, scheduler):
            node = nats_cluster.node_at(broker_of(proc))
            connects = proc.log_text().count("event=mqtt.connected")
            node.kill()
            # the service moves to another node, and readings flow again end to end
            wait_until(
                lambda proc=proc, n=connects: proc.log_text().count("event=mqtt.connected") > n,
                60,
                what=f"the {proc.name} to reconnect",
            )
            assert broker_of(proc) != node.address
            with explained(f"{node.name} killed under the {proc.name}", cluster_services):
                for watch in watches:
                    watch.wait_rounds(3, timeout=60)
                    wait_stored(influxdb, watch, timeout=60)
                while not listener.events.empty():
                    listener.events.get_nowait()
                live_readings(listener, 1, 60)
            nats_cluster.restart(node, timeout=60)
        for watch in watches:
            got = wait_stored(influxdb, watch, timeout=30)
            assert_exactly_once(got, watch)
    finally:
        for watch in watches:
            watch.__exit__(None, None, None)
    assert "session_present=True" in recorder.log_text()  # its kept session followed it
    assert web_hub.client.connected
