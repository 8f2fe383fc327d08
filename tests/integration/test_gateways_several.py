"""Two gateways (real processes) on one Mosquitto: commands, a gateway killed, a device moving."""

import json
import time

import pytest

from services.common.devices import Availability, parse_holder
from services.common.settings import MqttSettings
from services.web.live import Hub
from tests.support import services
from tests.support.boards import BoardThread, make_watch
from tests.support.haproxy import Balancer
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.seed_clients import SeedWatch, closed_by_peer

ROOT = "smartcab"
ONLINE, OFFLINE = b"online", b"offline"


@pytest.fixture
def make_named(tmp_path, broker):
    """Start a gateway with ``GATEWAY_ID=<id>`` in its own folder; all are killed after."""
    started: list[services.ServiceProcess] = []

    def make(gateway_id: str, **settings: str) -> services.ServiceProcess:
        workdir = tmp_path / gateway_id
        workdir.mkdir(exist_ok=True)
        gw = services.gateway(workdir, broker.env(), GATEWAY_ID=gateway_id, **settings)
        started.append(gw.start())
        return gw

    yield make
    for gw in started:
        gw.kill()


def wait_state(log: TopicLog, topic: str, payload: bytes, since: float = 0.0):
    return log.wait(topic, where=lambda m: m.payload == payload and m.timestamp >= since)


def holder_of(log: TopicLog, device: str) -> str | None:
    msgs = log.on(f"{ROOT}/devices/{device}/gateway")
    holder = parse_holder(bytes(msgs[-1].payload)) if msgs else None
    return holder.gateway if holder else None


def results(log: TopicLog, device: str) -> list[dict]:
    return [json.loads(p) for p in log.payloads(f"{ROOT}/devices/{device}/cmd/result")]


def registered(log: TopicLog, watch_id: str, gateway_id: str, since: float = 0.0) -> None:
    """Wait until the device is recorded as the gateway's and says online."""
    wait_until(lambda: holder_of(log, watch_id) == gateway_id, what=f"{watch_id} on {gateway_id}")
    wait_state(log, f"{ROOT}/devices/{watch_id}/status", ONLINE, since)


def barrier(log: TopicLog, *held: str) -> None:
    """One answer from each holding gateway: every earlier result of theirs has arrived.

    A watch refuses ``lon`` without being written to, so only its holder answers it; a
    gateway's messages reach a subscriber in the order it published them.
    """

    def refusals(device: str) -> int:
        return sum(1 for r in results(log, device) if r["cmd"] == "lon")

    before = {d: refusals(d) for d in held}
    for device in held:
        log.publish(f"{ROOT}/devices/{device}/cmd", b"lon")
    for device in held:
        wait_until(lambda d=device: refusals(d) > before[d], what=f"{device}'s barrier")


def retained_view(broker) -> Availability:
    """The availability rule, fed what a consumer starting now gets from the broker."""
    rule = Availability()
    topics = [f"{ROOT}/devices/+/status", f"{ROOT}/devices/+/gateway", f"{ROOT}/services/+/status"]
    with TopicLog(broker.host, broker.port, topics) as fresh:
        time.sleep(0.5)  # retained messages follow the SUBACK at once
        for m in fresh.on("#"):
            _, kind, name, leaf = m.topic.split("/")
            text = bytes(m.payload).decode()
            if kind == "services":
                rule.set_service(name, text)
            elif leaf == "status":
                rule.set_device(name, text)
            else:
                rule.set_holder(name, bytes(m.payload))
    return rule


def test_commands_reach_the_holding_gateways_device_once_with_one_result(make_named, mqtt_log):
    gw_a, gw_b = make_named("gw-a"), make_named("gw-b")
    for gw in ("gw-a", "gw-b"):
        wait_state(mqtt_log, f"{ROOT}/services/gateway-{gw}/status", ONLINE)
    watch_a = SeedWatch(gw_a.port, b"wch-a")
    watch_b = SeedWatch(gw_b.port, b"wch-b")
    registered(mqtt_log, "wch-a", "gw-a")
    registered(mqtt_log, "wch-b", "gw-b")

    for watch, device in ((watch_a, "wch-a"), (watch_b, "wch-b")):
        mqtt_log.publish(f"{ROOT}/devices/{device}/cmd", b"bpm")
        assert watch.serve_once(71.0, 36.5) == b"bpm"  # exactly one bpm, from its gateway
    mqtt_log.publish(f"{ROOT}/devices/wch-none/cmd", b"bpm")
    mqtt_log.publish(f"{ROOT}/devices/wch-none/cmd", b"hello")
    barrier(mqtt_log, "wch-a", "wch-b")
    for device in ("wch-a", "wch-b"):
        assert results(mqtt_log, device)[0] == {"cmd": "bpm", "ok": True, "error": None}
        assert len([r for r in results(mqtt_log, device) if r["cmd"] == "bpm"]) == 1
    # nobody holds it: one "device not connected", from the gateway whose id sorts first
    assert results(mqtt_log, "wch-none") == [
        {"cmd": "bpm", "ok": False, "error": "device not connected"},
        {"cmd": "hello", "ok": False, "error": "unknown command"},
    ]
    assert len(mqtt_log.on(f"{ROOT}/devices/wch-a/vitals/heart_rate")) == 1
    # and the devices got nothing but their own command (lon is refused, never written)
    for watch in (watch_a, watch_b):
        watch.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            watch.sock.recv(64)
        watch.close()


def test_a_gateways_own_command_topic_is_answered_by_that_gateway_alone(make_named, mqtt_log):
    gw_a, _gw_b = make_named("gw-a"), make_named("gw-b")
    for gw in ("gw-a", "gw-b"):
        wait_state(mqtt_log, f"{ROOT}/services/gateway-{gw}/status", ONLINE)
    watch = SeedWatch(gw_a.port, b"wch-a")
    try:
        registered(mqtt_log, "wch-a", "gw-a")
        mqtt_log.publish(f"{ROOT}/gateways/gw-a/cmd/wch-a", b"bpm")
        assert watch.serve_once(72.0, 36.6) == b"bpm"
        # the holder's answer first, so the two results come in the order they were asked
        wait_until(lambda: results(mqtt_log, "wch-a"), what="the holder's result")
        # sent to a gateway that does not hold it: that gateway says so, the holder stays out
        mqtt_log.publish(f"{ROOT}/gateways/gw-b/cmd/wch-a", b"bpm")
        wait_until(lambda: len(results(mqtt_log, "wch-a")) >= 2, what="two results")
        barrier(mqtt_log, "wch-a")
        assert [r for r in results(mqtt_log, "wch-a") if r["cmd"] == "bpm"] == [
            {"cmd": "bpm", "ok": True, "error": None},
            {"cmd": "bpm", "ok": False, "error": "device not connected"},
        ]
        assert len(mqtt_log.on(f"{ROOT}/devices/wch-a/vitals/heart_rate")) == 1
        watch.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            watch.sock.recv(64)  # the second bpm never reached the watch
    finally:
        watch.close()


def test_a_killed_gateways_devices_go_offline_for_every_consumer(
    make_named, mqtt_log, broker, tmp_path
):
    gw_a, gw_b = make_named("gw-a"), make_named("gw-b")
    hub = Hub(MqttSettings.from_env(broker.env()), max_listeners=4)
    hub.start()
    scheduler = services.ServiceProcess(
        "scheduler", tmp_path, {**broker.env(), "SCHEDULER_BPM_INTERVAL": "1"}
    ).start()
    watches = []
    try:
        watches += [SeedWatch(gw_a.port, b"wch-a"), SeedWatch(gw_b.port, b"wch-b")]
        registered(mqtt_log, "wch-a", "gw-a")
        registered(mqtt_log, "wch-b", "gw-b")
        wait_until(
            lambda: hub.device_states(["wch-a", "wch-b"]) == {"wch-a": "online", "wch-b": "online"},
            what="the web sees both online",
        )
        # the scheduler sends each request to the holding gateway's own command topic
        holders = {"wch-a": "gw-a", "wch-b": "gw-b"}
        asked = lambda device, since: [  # noqa: E731
            m
            for m in mqtt_log.on(f"{ROOT}/gateways/{holders[device]}/cmd/{device}")
            if m.timestamp > since
        ]
        wait_until(lambda: asked("wch-a", 0) and asked("wch-b", 0), what="the scheduler asks both")
        assert mqtt_log.on(f"{ROOT}/devices/wch-a/cmd") == []  # no gateway reads what is not its

        gw_a.kill()  # SIGKILL: no clean stop, the broker publishes its last will
        [will] = wait_state(mqtt_log, f"{ROOT}/services/gateway-gw-a/status", OFFLINE)
        assert will.retain is False and mqtt_log.on(f"{ROOT}/services/gateway/status") == []
        wait_until(
            lambda: (
                hub.device_states(["wch-a", "wch-b"]) == {"wch-a": "offline", "wch-b": "online"}
            ),
            what="the web sees gw-a's device offline, gw-b's online",
        )
        rule = retained_view(broker)
        assert rule.devices["wch-a"] == "online", "its retained status is stale, not rewritten"
        assert not rule.online("wch-a") and rule.online("wch-b")
        settled = will.timestamp + 1.5  # a tick under way when the will came may still ask
        wait_until(lambda: len(asked("wch-b", settled)) >= 2, timeout=15, what="more requests")
        assert asked("wch-a", settled) == [], "the scheduler asks no device of a dead gateway"

        restarted = time.monotonic()
        gw_a.start()  # it clears its own stale online, and nobody else's
        wait_state(mqtt_log, f"{ROOT}/devices/wch-a/status", OFFLINE, restarted)
        wait_state(mqtt_log, f"{ROOT}/services/gateway-gw-a/status", ONLINE, restarted)
        time.sleep(0.5)
        late = [m.payload for m in mqtt_log.on(f"{ROOT}/devices/wch-b/status")]
        assert late[-1] == ONLINE and OFFLINE not in late
        assert retained_view(broker).online("wch-b")
    finally:
        for watch in watches:
            watch.close()
        scheduler.stop()
        hub.stop()


def test_a_device_moves_to_the_gateway_it_reconnects_through(make_named, mqtt_log, broker):
    prefix = "homeassistant"
    gw_a = make_named("gw-a", HA_DISCOVERY="1")
    gw_b = make_named("gw-b", HA_DISCOVERY="1")
    config = f"{prefix}/button/{ROOT}_wch-m/measure/config"

    def availability() -> list[str]:
        body = json.loads(mqtt_log.on(config)[-1].payload)
        return [a["topic"] for a in body["availability"]]

    first = SeedWatch(gw_a.port, b"wch-m")
    registered(mqtt_log, "wch-m", "gw-a")
    wait_until(lambda: mqtt_log.on(config), what="the discovery config")
    assert availability()[1] == f"{ROOT}/services/gateway-gw-a/status"

    # a load balancer sends the board's new connection to gw-b while gw-a's is half-open
    moved_at = time.monotonic()
    second = SeedWatch(gw_b.port, b"wch-m")
    registered(mqtt_log, "wch-m", "gw-b", since=moved_at)
    assert closed_by_peer(first.sock), "gw-a closes the connection it held"
    gw_a.wait_log("device.moved")
    wait_until(
        lambda: availability()[1] == f"{ROOT}/services/gateway-gw-b/status",
        what="discovery follows the device",
    )
    assert [m.payload for m in mqtt_log.on(f"{ROOT}/devices/wch-m/status")][-1] == ONLINE
    assert [
        m for m in mqtt_log.on(f"{ROOT}/devices/wch-m/status") if m.timestamp >= moved_at
    ] == mqtt_log.on(f"{ROOT}/devices/wch-m/status")[-1:], "no offline from the old gateway"

    mqtt_log.publish(f"{ROOT}/devices/wch-m/cmd", b"bpm")
    assert second.serve_once(64.0, 36.4) == b"bpm"
    barrier(mqtt_log, "wch-m")
    assert [r["cmd"] for r in results(mqtt_log, "wch-m")] == ["bpm", "lon"]
    assert retained_view(broker).online("wch-m")

    # and back: gw-b lets go the same way
    back_at = time.monotonic()
    third = SeedWatch(gw_a.port, b"wch-m")
    registered(mqtt_log, "wch-m", "gw-a", since=back_at)
    assert closed_by_peer(second.sock)
    mqtt_log.publish(f"{ROOT}/devices/wch-m/cmd", b"bpm")
    assert third.serve_once(65.0, 36.4) == b"bpm"
    third.close()
    wait_state(mqtt_log, f"{ROOT}/devices/wch-m/status", OFFLINE, back_at)
    assert not retained_view(broker).online("wch-m")


def test_boards_behind_haproxy_move_to_the_gateway_left_when_theirs_dies(
    make_named, mqtt_log, broker, tmp_path
):
    # behind the balancer every device comes from its address: the per-address limit is its
    behind = {"GATEWAY_MAX_PER_ADDRESS": "10000"}
    gw_a, gw_b = make_named("gw-a", **behind), make_named("gw-b", **behind)
    balancer = Balancer(tmp_path, gw_a.port, gw_b.port).start()
    ids = [f"wch-{n}" for n in range(6)]
    boards = [BoardThread(make_watch(seed=n)[0], balancer.port, d) for n, d in enumerate(ids)]
    try:
        for board in boards:
            board.__enter__()
        wait_until(
            lambda: all(holder_of(mqtt_log, d) for d in ids), timeout=20, what="every board held"
        )
        first = {d: holder_of(mqtt_log, d) for d in ids}
        assert set(first.values()) == {"gw-a", "gw-b"}, f"leastconn spreads them: {first}"
        on_a = [d for d in ids if first[d] == "gw-a"]

        gw_a.kill()
        wait_until(
            lambda: all(holder_of(mqtt_log, d) == "gw-b" for d in ids),
            timeout=30,
            what="gw-a's boards reconnected through the balancer to gw-b",
        )
        wait_until(lambda: all(retained_view(broker).online(d) for d in ids), what="all online")
        for device in on_a:
            mqtt_log.publish(f"{ROOT}/devices/{device}/cmd", b"bpm")
        for device in on_a:
            mqtt_log.wait(f"{ROOT}/devices/{device}/vitals/heart_rate", timeout=20)
        barrier(mqtt_log, *on_a)
        for device in on_a:
            assert [r["cmd"] for r in results(mqtt_log, device)] == ["bpm", "lon"]

        restarted = time.monotonic()
        gw_a.start()  # the boards are gw-b's now: gw-a clears nothing of theirs
        wait_state(mqtt_log, f"{ROOT}/services/gateway-gw-a/status", ONLINE, restarted)
        barrier(mqtt_log, *ids)
        assert [m for m in mqtt_log.on(f"{ROOT}/devices/+/status") if m.timestamp > restarted] == []
    finally:
        for board in boards:
            board.stop()
        balancer.stop()
