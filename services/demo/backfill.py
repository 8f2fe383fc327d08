"""The demo's month of readings and cabinet counts, sent the way the devices' are.

Every reading goes to the broker on the topic and in the JSON the gateway publishes
(``vitals_body``, stamped with the time it was taken, as the gateway stamps a reading
with the time it arrived); the typed-in blood pressures as the dashboard publishes
them; the cabinet's counts as the gateway relays an inventory. The recorder stores
them like any other: it tags them with the patient from the retained assignment,
flags what is implausible, raises and clears alerts and keeps the partial
early-warning score. Writing points into InfluxDB directly would skip all of that,
and the demo would show a history the product itself could never have recorded.
"""

import json
import time
from datetime import datetime, timedelta

from services.common import history
from services.common.devices import manual_device
from services.common.influx import InfluxClient, Query, quote_ident
from services.common.timeutil import rfc3339_ms
from services.common.topics import ONLINE, Topics, vitals_body

from . import CABINET, CABINET_ITEMS, PATIENT, WATCH, plan
from .accounts import DemoError
from .broker import Broker

USER = PATIENT[0]
PROBE_EVERY = 3.0  # seconds between tries of the first message while the recorder subscribes


def seed(broker: Broker, influx: InfluxClient, topics: Topics, now: datetime, taken, timeout):
    """Send what the demo's history lacks and wait until the recorder stored it.

    ``taken`` is each dose the cabinet saw, (item, when), for the boxes' trips. Returns
    the parts sent.
    """
    status = topics.service_status("recorder")
    broker.watch(status)
    if not broker.wait_for(status, ONLINE.encode(), timeout):
        raise DemoError("the recorder did not come online")
    parts = (
        ("watch", "vitals", WATCH, lambda: _watch(topics, now)),
        ("cuff", "vitals", manual_device(USER), lambda: _cuff(topics, now)),
        ("cabinet", "inventory", CABINET, lambda: _cabinet(topics, now, taken)),
    )
    done = []
    for name, measurement, device, messages in parts:
        if _has_history(influx, measurement, device, now - timedelta(days=1)):
            continue
        _send(broker, influx, measurement, device, messages(), timeout)
        done.append(name)
    return done


def _watch(topics: Topics, now: datetime) -> list[tuple[str, str, int]]:
    out = []
    for r in plan.watch_readings(now):
        body = vitals_body(WATCH, r.metric, r.value, r.ts_ms)
        out.append((topics.vitals(WATCH, r.metric), json.dumps(body), r.ts_ms))
    return out


def _cuff(topics: Topics, now: datetime) -> list[tuple[str, str, int]]:
    device, out = manual_device(USER), []
    for r in plan.cuff_readings(now):
        body = vitals_body(device, r.metric, r.value, r.ts_ms)
        out.append((topics.manual_vitals(USER, r.metric), json.dumps(body), r.ts_ms))
    return out


def _cabinet(topics: Topics, now: datetime, taken) -> list[tuple[str, str, int]]:
    # not retained, unlike the gateway's: the cabinet's own report stays the current one
    out = []
    for counts in plan.cabinet_counts(now, CABINET_ITEMS, taken):
        body = {"items": counts.items, "ts": rfc3339_ms(counts.ts_ms)}
        out.append((topics.inventory(CABINET), json.dumps(body), counts.ts_ms))
    return out


def _has_history(influx: InfluxClient, measurement: str, device: str, before: datetime) -> bool:
    subject = history.Subject(device=device, patient=USER)
    where = " AND ".join([*subject.conditions(), "time < $before"])
    text = f"SELECT * FROM {quote_ident(measurement)} WHERE {where} LIMIT 1"
    return bool(influx.query(Query(text, subject.params() | {"before": history.rfc3339(before)})))


def _stored(influx: InfluxClient, measurement: str, device: str, ts_ms: int) -> bool:
    """Whether the recorder stored the point of ``device`` at ``ts_ms``, with its patient."""
    text = (
        f'SELECT * FROM {quote_ident(measurement)} WHERE "device" = $device'
        f' AND "patient" = $patient AND time = {int(ts_ms)}ms'
    )
    return bool(influx.query(Query(text, {"device": device, "patient": USER})))


def _wait_stored(influx, measurement, device, ts_ms, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _stored(influx, measurement, device, ts_ms):
            return True
        time.sleep(0.3)
    return False


def _send(broker: Broker, influx, measurement, device, messages, timeout: float) -> None:
    """The first message until it is stored (the recorder is subscribed), then the rest."""
    if not messages:
        return
    topic, payload, first_ms = messages[0]
    deadline = time.monotonic() + timeout
    while True:
        broker.flush([broker.publish(topic, payload)], timeout)
        if _wait_stored(influx, measurement, device, first_ms, PROBE_EVERY):
            break
        if time.monotonic() > deadline:
            raise DemoError(f"the recorder did not store the demo's {measurement} from {device}")
    infos = [broker.publish(topic, payload) for topic, payload, _ in messages[1:]]
    broker.flush(infos, timeout)
    last_ms = messages[-1][2]
    if not _wait_stored(influx, measurement, device, last_ms, timeout):
        raise DemoError(f"the recorder did not store the demo's {measurement} in time")
