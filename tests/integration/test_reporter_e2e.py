"""End to end: devices -> gateway -> Mosquitto -> recorder -> InfluxDB -> reporter -> PDF."""

import json
import re

from tests.support import pdf as pdftools
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.reports import PATIENT_NAME, make_people
from tests.support.seed_clients import SeedDevice, SeedWatch

HEART = [62.0, 75.0, 88.0, 140.0]  # 140 raises a threshold alert
TEMPS = [36.4, 36.9, 39.4]  # 39.4 raises one too


def test_a_report_of_readings_that_went_through_the_whole_pipeline(
    tmp_path, gateway, make_recorder, make_reporter, broker, influxdb
):
    data = tmp_path / "data"
    make_people(data, with_record=False)
    recorder = make_recorder()
    recorder.wait_log("mqtt.connected")
    reporter = make_reporter()
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        # the web publishes assignments like this (docs/schema.md)
        mqtt.publish("smartcab/devices/wch-a/patient", "alice", retain=True)
        mqtt.publish("smartcab/devices/cab-a/patient", "alice", retain=True)
        recorder.wait_log("cab-a")
        watch = SeedWatch(gateway.port, b"wch-a")
        cabinet = SeedDevice(gateway.port, b"cab-a")
        try:
            cabinet.send_sized(b'{"Nutella": 3, "Pepsi": 2, "Pringles": 5}')
            for bpm in HEART:
                watch.sock.send(f"{bpm:.2f},bpm".encode())
            watch.sock.send(b"0.00,bpm")  # a loose sensor: stored flagged, left out
            for celsius in TEMPS:
                watch.sock.send(f"{celsius:.2f},temp".encode())
            for reading in (b"97.00,spo2", b"118.00,sys", b"76.00,dia"):
                watch.sock.send(reading)
            wait_until(
                lambda: influxdb.count("SELECT count(value) FROM vitals") == 11,
                timeout=20,
                what="11 readings in InfluxDB",
            )
            cabinet.send_sized(b'{"Nutella": 1, "Pepsi": 2, "Pringles": 4}')
            wait_until(
                lambda: influxdb.count("SELECT count(count) FROM inventory") == 6,
                timeout=20,
                what="two inventory reports in InfluxDB",
            )
        finally:
            watch.close()
            cabinet.close()
        request = {
            "id": "e2e-1",
            "requester": {"role": "patient", "id": "alice"},
            "patient": "alice",
            "period": {"days": 1},
        }
        mqtt.publish("smartcab/reports/requests", json.dumps(request))
        result = json.loads(mqtt.wait("smartcab/reports/results/e2e-1", timeout=60)[0].payload)
    assert result["ok"] is True, result
    report = data / result["file"]
    text = pdftools.text(report)
    pdftools.to_png(report, "report-e2e")
    assert f"{PATIENT_NAME} (alice)" in text and "wch-a" in text
    mean = sum(HEART) / len(HEART)
    # 3 of 4 plausible heart rates in 60-100; the 0 bpm reading left out
    assert re.search(rf"Heart rate\s+bpm\s+4\s+62\s+{mean:.1f}\s+140\s+60–100\s+75 %\s+1\b", text)
    assert re.search(r"Body temperature\s+°C\s+3\s+36.4\s+37.6\s+39.4\s+36.1–37.2\s+67 %\s+0", text)
    assert re.search(r"Blood oxygen \(SpO2\)\s+%\s+1\s+97\s+97.0\s+97\b", text)
    assert re.search(r"systolic\s+mmHg\s+1\s+118\s+118.0\s+118\b", text)
    assert "Heart rate 140 bpm is above 130 bpm" in text
    assert "Temperature 39.4 °C is above 39 °C" in text
    # Nutella 3 -> 1 and Pringles 5 -> 4; Pepsi was never taken, so it has no column
    assert re.search(r"Day\s+Nutella\s+Pringles\s+All", text)
    assert re.search(r"Total\s+2\s+1\s+3", text)
    assert "Blood test results: no data recorded." in text
    assert reporter.stop() == 0
