"""Open alert conditions outlive the recorder: a restart, a lost folder, a standby's takeover."""

import json

from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.recorder_input import VITALS, vitals
from tests.support.services import ServiceProcess

ALERTS = "smartcab/alerts/devices/{}"
OPEN_ALERTS = "smartcab/services/recorder/open_alerts"


def levels(log: TopicLog, device: str) -> list[str]:
    return [json.loads(m.payload)["level"] for m in log.on(ALERTS.format(device))]


def fever(log: TopicLog, device: str, value: float, ms: int) -> None:
    log.publish(VITALS.format(device, "temperature"), vitals(device, "temperature", value, ms))


def raise_fevers(log: TopicLog, devices: list[str]) -> None:
    """Each device's fever raised, and the open conditions published retained."""
    for device in devices:
        fever(log, device, 39.6, 1000)
    for device in devices:
        log.wait(ALERTS.format(device))
    log.wait(OPEN_ALERTS, where=lambda m: len(json.loads(m.payload)["open"]) == len(devices))


def test_a_restarted_recorder_clears_once_and_raises_no_second_alert(make_recorder, broker):
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#", OPEN_ALERTS)) as log:
        first = make_recorder()
        first.wait_log("event=recorder.assignments_known", timeout=15)
        raise_fevers(log, ["wch-01", "wch-02"])
        first.kill()  # SIGKILL: nothing said or saved on the way out
        make_recorder()
        fever(log, "wch-01", 37.0, 2000)  # normal: the open fever ends
        fever(log, "wch-02", 39.8, 2000)  # still febrile: the same episode
        fever(log, "wch-02", 36.9, 3000)
        log.wait(ALERTS.format("wch-01"), count=2)
        log.wait(ALERTS.format("wch-02"), count=2)
    assert levels(log, "wch-01") == ["warning", "cleared"]
    # one episode, one raise: the clear came after the second febrile reading, in order
    assert levels(log, "wch-02") == ["warning", "cleared"]


def test_a_recorder_without_the_state_file_takes_the_retained_open_conditions(
    make_recorder, broker, tmp_path
):
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#", OPEN_ALERTS)) as log:
        first = make_recorder()
        first.wait_log("event=recorder.assignments_known", timeout=15)
        raise_fevers(log, ["wch-01"])
        first.kill()
        # another machine: the same session, a folder of its own with no state file
        second = make_recorder(SMARTCAB_DATA_DIR=str(tmp_path / "elsewhere"))
        fever(log, "wch-01", 37.0, 2000)
        log.wait(ALERTS.format("wch-01"), count=2)
    assert levels(log, "wch-01") == ["warning", "cleared"]
    assert "event=recorder.open_alerts_taken open=1" in second.log_text()
    saved = json.loads((tmp_path / "elsewhere" / "recorder" / "state.json").read_text())
    assert saved["alerts"]["open"] == []


def standby(tmp_path, broker, influxdb, name: str) -> ServiceProcess:
    workdir = tmp_path / name
    workdir.mkdir()
    env = {
        **broker.env(),
        **influxdb.env(),
        "SMARTCAB_DATA_DIR": str(workdir / "data"),
        "RECORDER_STANDBY": "1",
        "RECORDER_LEASE": "4",
    }
    return ServiceProcess("recorder", workdir, env).start()


def test_a_standby_that_takes_over_clears_the_holders_open_alert(tmp_path, broker, influxdb):
    started = []
    try:
        with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#", OPEN_ALERTS)) as log:
            started.append(standby(tmp_path, broker, influxdb, "a"))
            started[0].wait_log("event=recorder.active", timeout=15)
            started.append(standby(tmp_path, broker, influxdb, "b"))
            started[1].wait_log("event=recorder.standby", timeout=15)
            raise_fevers(log, ["wch-01", "wch-02"])
            started[0].kill()  # its will says offline: the standby takes over
            started[1].wait_log("event=recorder.active", timeout=20)
            fever(log, "wch-01", 37.0, 2000)
            fever(log, "wch-02", 39.9, 2000)
            fever(log, "wch-02", 37.1, 3000)
            log.wait(ALERTS.format("wch-01"), count=2)
            log.wait(ALERTS.format("wch-02"), count=2)
        wait_until(lambda: "open_alerts_taken" in started[1].log_text(), what="the seed logged")
    finally:
        for proc in started:
            proc.kill()
    assert levels(log, "wch-01") == ["warning", "cleared"]
    assert levels(log, "wch-02") == ["warning", "cleared"]
