"""Messages the recorder is fed, shared by its unit and integration tests."""

import json

VITALS = "smartcab/devices/{}/vitals/{}"
# Each of these once raised OverflowError, which killed the recorder before it could
# acknowledge the message, so the broker redelivered it to every restart.
HUGE_VALUE = (
    b'{"device":"wch-01","metric":"heart_rate","value":1'
    + b"0" * 400
    + b',"unit":"bpm","ts":"2026-01-01T00:00:00.000Z"}'
)
BEFORE_YEAR_ONE_UTC = b'{"value": 72, "ts": "0001-01-01T00:00:00+14:00"}'


def vitals(device: str, metric: str, value, ms: int) -> bytes:
    body = {
        "device": device,
        "metric": metric,
        "value": value,
        "unit": "bpm",
        "ts": f"2026-11-23T10:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z",
    }
    return json.dumps(body).encode()
