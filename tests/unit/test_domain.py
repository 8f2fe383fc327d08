"""The domain tables in services/common: metrics, device kinds, availability, topics."""

import json

import pytest

from services.common import devices, metrics, protocol
from services.common.devices import Availability, availability_topics, kind_of
from services.common.topics import Topics, gateway_of_service, vitals_body


def test_every_wire_unit_has_one_metric_record_and_back():
    assert {m.wire_unit for m in metrics.METRICS} == set(protocol.UNITS)
    for m in metrics.METRICS:
        assert protocol.UNITS[m.wire_unit] == (m.key, m.unit)
        assert protocol.METRIC_UNITS[m.key] == m.unit


@pytest.mark.parametrize("m", metrics.METRICS, ids=lambda m: m.key)
def test_each_usual_range_lies_inside_the_plausible_bounds(m):
    low, high = m.plausible
    assert low < m.low < m.high <= high
    assert m.in_range(m.low) and m.in_range(m.high) and not m.in_range(m.high + 1)
    assert m.loinc and m.ucum and m.fhir_profile and m.label


def test_the_agreed_figures():
    t = metrics.metric("temperature")
    assert (t.low, t.high, t.unit, t.decimals) == (36.1, 37.2, "°C", 1)
    assert t.range_text == "36.1–37.2"
    assert t.about == "Normal body temperature is about 36.1 to 37.2 °C."
    assert (
        metrics.metric("spo2").about == "Healthy blood oxygen saturation is usually 95 % or more."
    )
    assert metrics.GROUP_BY_KEY["bp"].about == "Between 90/60 and 120/80 mmHg is considered ideal."
    assert metrics.metric("heart_rate").format(71.6) == "72"
    assert t.format(None) == "–"


def test_groups_cover_every_metric_once():
    grouped = [m.key for g in metrics.GROUPS for m in g.metrics]
    assert sorted(grouped) == sorted(metrics.keys())


@pytest.mark.parametrize(
    "low, high, text, value, flag",
    [
        (3.9, 5.6, "3.9–5.6", 5.6, None),
        (3.9, 5.6, "3.9–5.6", 3.8, "low"),
        (None, 5.2, "≤ 5.2", 5.2, None),  # the end value is inside, as the wording says
        (None, 5.2, "≤ 5.2", 5.3, "high"),
        (1.0, None, "≥ 1", 1.0, None),
        (None, None, "–", 7.0, None),
    ],
)
def test_range_wording_matches_the_flag_rule(low, high, text, value, flag):
    assert metrics.range_text(low, high) == text
    assert metrics.range_flag(value, low, high) == flag


def test_kinds_from_ids_are_case_sensitive_and_prefix_based():
    assert kind_of("wch01") == "watch" and kind_of("img-2") == "camera"
    assert kind_of("cab") == "cabinet"
    assert kind_of("WCH01") is None and kind_of("probe") is None and kind_of("") is None
    assert devices.normalise_id("  wch01 \n") == "wch01"
    assert devices.commands_of("cabinet") == ("lon", "lof", "inv")
    assert devices.commands_of(None) == () and devices.commands_of("toaster") == ()
    assert devices.may_report("watch", "vitals") and devices.may_report("camera", "image")
    assert devices.may_report("cabinet", "inventory") and not devices.may_report("watch", "image")


def test_every_command_a_kind_accepts_is_a_wire_command():
    wire = {c.decode() for c in protocol.COMMANDS}
    # and the update offer, which every board of this project's firmware takes
    assert {c for k in devices.KINDS for c in k.commands} | {devices.UPDATE_COMMAND} == wire


def test_a_device_is_online_only_while_it_and_the_gateway_say_so():
    seen = Availability()
    assert seen.set_device("wch01", "online") and seen.set_device("cab01", "offline")
    assert not seen.online("wch01"), "gateway not yet online"
    assert seen.set_gateway("online")
    assert seen.online("wch01") and not seen.online("cab01") and not seen.online("img01")
    assert seen.online_of_kind("watch") == ["wch01"] and seen.online_of_kind("cabinet") == []
    assert not seen.set_gateway("rebooting") and seen.gateway == "online"
    seen.set_gateway("offline")
    assert seen.state("wch01") == "offline"
    topics = Topics("root")
    assert availability_topics(topics, "wch01") == [
        "root/devices/wch01/status",
        "root/services/gateway/status",
    ]


def test_topics_cover_what_the_services_publish():
    t = Topics("r")
    assert t.patient("wch01") == "r/devices/wch01/patient"
    assert t.device_alert("wch01") == "r/alerts/devices/wch01"
    assert t.service_alert("gateway") == "r/alerts/services/gateway"
    assert t.all_alerts == "r/alerts/#"
    assert t.report_requests == "r/reports/requests"
    assert t.report_weekly == "r/reports/jobs/weekly"
    assert t.report_progress("a") == "r/reports/progress/a"
    assert t.report_result("a") == "r/reports/results/a"
    assert t.report_doctor("D1", "a") == "r/reports/doctors/D1/a"
    assert t.report_audit == "r/reports/audit"
    assert t.service_status("web") == "r/services/web/status"
    assert t.notification_events("alice") == "r/notifications/patients/alice/events"
    assert t.notification_events(None) == "r/notifications/services/events"


def test_the_vitals_body_carries_the_metric_unit_and_an_rfc3339_time():
    body = vitals_body("wch01", "temperature", 36.6, 1_700_000_000_123)
    assert body == {
        "device": "wch01",
        "metric": "temperature",
        "value": 36.6,
        "unit": "°C",
        "ts": "2023-11-14T22:13:20.123Z",
    }
    assert json.loads(json.dumps(body)) == body
    with pytest.raises(KeyError):
        vitals_body("wch01", "glucose", 5.0, 0)


def test_each_device_follows_the_gateway_that_holds_it():
    seen = Availability()
    for device in ("wch-a", "wch-b", "wch-old"):
        assert seen.set_device(device, "online")
    assert seen.set_holder("wch-a", devices.holder_body("gw-a", "c1", 0))
    assert seen.set_holder("wch-b", devices.holder_body("gw-b", "c2", 0).encode())
    assert seen.set_service("gateway-gw-a", "online") and seen.set_service("gateway-gw-b", "online")
    assert not seen.set_service("recorder", "online"), "not a gateway"
    assert seen.online("wch-a") and seen.online("wch-b")
    assert not seen.online("wch-old"), "no record: the gateway without an id, not online"
    assert seen.set_service("gateway-gw-a", "offline")  # gw-a died: its last will
    assert not seen.online("wch-a") and seen.online("wch-b")
    assert seen.devices_of("gw-b") == ["wch-b"] and seen.devices_of("") == ["wch-old"]
    # the device reconnected through gw-b: it is online again, by gw-b's status
    assert seen.set_holder("wch-a", devices.holder_body("gw-b", "c3", 0))
    assert seen.online("wch-a") and seen.holder("wch-a") == "gw-b"
    # a record cleared (the gateway without an id took it) falls back to that gateway
    assert seen.set_holder("wch-a", b"") and seen.holder("wch-a") == ""
    assert seen.set_gateway("online") and seen.online("wch-a") and seen.online("wch-old")


def test_a_bad_holder_record_changes_nothing():
    seen = Availability()
    assert seen.set_holder("wch", devices.holder_body("gw-a", "c1", 0))
    for bad in (b"gw-b", b"{}", b'{"gateway": "a/b"}', b'{"gateway": 3}', b"[1]", b"\xff{"):
        assert not seen.set_holder("wch", bad)
    assert seen.holder("wch") == "gw-a"
    assert devices.parse_holder(devices.holder_body("gw-a", "c1", 0)) == devices.Holder(
        "gw-a", "c1"
    )


def test_gateway_topics_keep_the_single_gateways_names():
    topics = Topics("root")
    assert topics.gateway_status(None) == "root/services/gateway/status"
    assert topics.gateway_status("gw-a") == "root/services/gateway-gw-a/status"
    assert topics.device_gateway("wch") == "root/devices/wch/gateway"
    assert availability_topics(topics, "wch", "gw-a") == [
        "root/devices/wch/status",
        "root/services/gateway-gw-a/status",
    ]
    assert gateway_of_service("gateway") == "" and gateway_of_service("gateway-gw-a") == "gw-a"
    assert gateway_of_service("gateway-") is None and gateway_of_service("web") is None
