"""The gateways' shared rules on their own: who answers a command, who clears what, moves."""

from services.common.devices import holder_body, parse_holder
from services.gateway.cluster import Cluster


class Published:
    """What a gateway's cluster asked its bridge to publish, in order."""

    discovery = None

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def holder(self, device_id: str, body: str) -> None:
        self.sent.append(("holder", device_id, parse_holder(body)))

    def status(self, device_id: str, online: bool) -> None:
        self.sent.append(("status", device_id, online))


class Link:
    """A registered device connection as the fleet holds it."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.closed = False
        self.reason = ""

    def close(self, reason: str) -> None:
        self.closed, self.reason = True, reason


def gateway(gateway_id, *online):
    bridge, devices = Published(), {}
    cluster = Cluster(gateway_id, bridge, devices)
    for other in online:
        cluster.on_service(f"gateway-{other}", b"online")
    return cluster, bridge, devices


def register(cluster, devices, device_id):
    link = Link(device_id)
    devices[device_id] = link
    cluster.registered(link)
    return link


def echo(cluster, device_id, retained=False):
    """The broker hands the gateway its own last record back."""
    _, _, holder = cluster.bridge.sent[-1]
    body = holder_body(holder.gateway, holder.connection, 0)
    cluster.on_holder(device_id, body.encode(), retained)


def test_one_gateway_answers_each_command():
    a, _, a_devices = gateway("gw-a", "gw-a", "gw-b")
    b, _, _ = gateway("gw-b", "gw-a", "gw-b")
    # nobody holds it: the online gateway whose id sorts first says "not connected"
    assert a.answers("wch") and not b.answers("wch")
    register(a, a_devices, "wch")
    record = holder_body("gw-a", a.held["wch"].connection, 0).encode()
    for cluster in (a, b):
        cluster.on_holder("wch", record, False)
    assert a.answers("wch") and not b.answers("wch")
    record = holder_body("gw-b", "c2", 0).encode()
    for cluster in (a, b):
        cluster.on_holder("wch", record, False)
    assert b.answers("wch") and not a.answers("wch")
    for cluster in (a, b):
        cluster.on_service("gateway-gw-b", b"offline")  # gw-b died holding it
    assert a.answers("wch") and not b.answers("wch")


def test_a_gateway_without_an_id_answers_everything_and_records_nothing():
    alone, bridge, devices = gateway(None)
    assert alone.answers("wch") and not alone.named
    register(alone, devices, "wch")
    assert bridge.sent == []
    # a record left by a gateway with an id would hide the device from the rule: cleared
    alone.on_holder("cab", holder_body("gw-a", "c1", 0).encode(), True)
    register(alone, devices, "cab")
    assert bridge.sent == [("holder", "cab", None)]


def test_a_device_that_registers_elsewhere_moves_and_the_old_gateway_stays_quiet():
    a, a_bridge, a_devices = gateway("gw-a", "gw-a", "gw-b")
    link = register(a, a_devices, "wch")
    echo(a, "wch")
    a.on_holder("wch", holder_body("gw-b", "c9", 0).encode(), False)
    assert link.closed and link.reason == "moved to gateway gw-b"
    assert a.unregistered(link) is False, "gw-b holds it: no offline from here"
    assert ("status", "wch", False) not in a_bridge.sent


def test_an_older_foreign_record_does_not_close_a_newer_connection():
    a, _, a_devices = gateway("gw-a", "gw-a", "gw-b")
    link = register(a, a_devices, "wch")
    # gw-b's record was published before ours: the broker hands it over before our echo
    a.on_holder("wch", holder_body("gw-b", "c9", 0).encode(), False)
    assert not link.closed
    echo(a, "wch")
    assert a.answers("wch") and a.unregistered(link) is True


def test_an_offline_from_the_gateway_it_left_is_corrected():
    b, b_bridge, b_devices = gateway("gw-b", "gw-a", "gw-b")
    register(b, b_devices, "wch")
    b.on_status("wch", b"offline", False)  # gw-a noticed its old socket close only now
    assert b_bridge.sent[-1] == ("status", "wch", True)


def test_a_starting_gateway_clears_only_its_own_stale_online():
    a, bridge, _ = gateway("gw-a", "gw-a", "gw-b")
    # retained, in either order: the holder record and the status
    a.on_holder("wch-mine", holder_body("gw-a", "old", 0).encode(), True)
    a.on_status("wch-mine", b"online", True)
    a.on_status("wch-theirs", b"online", True)
    a.on_holder("wch-theirs", holder_body("gw-b", "c", 0).encode(), True)
    a.on_status("wch-late", b"online", True)
    a.on_holder("wch-late", holder_body("gw-a", "old", 0).encode(), True)
    a.on_status("wch-unknown", b"online", True)  # no record: not known to be ours
    assert bridge.sent == [("status", "wch-mine", False), ("status", "wch-late", False)]
    alone, alone_bridge, _ = gateway(None)
    alone.on_status("wch-theirs", b"online", True)  # alone, every stale online is its own
    assert alone_bridge.sent == [("status", "wch-theirs", False)]
