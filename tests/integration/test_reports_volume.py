"""The reporter as deployed: the web's data mounted read only, reports in a folder of their own."""

import http.cookiejar
import json
import re
import shutil
import urllib.parse
import urllib.request

import pytest

from tests.support import browser
from tests.support.mqtt import TopicLog
from tests.support.services import ServiceProcess

PASSWORD = "correct horse battery 7"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
# Run the service in a mount namespace of its own where the data folder is read only, as
# compose's `app-data:/data:ro` makes it; the rest of the machine sees no change.
READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _request(mqtt: TopicLog, report_id: str) -> dict:
    body = {
        "id": report_id,
        "requester": {"role": "patient", "id": "alice"},
        "patient": "alice",
        "format": "csv",
        "period": {"days": 1},
    }
    mqtt.publish("smartcab/reports/requests", json.dumps(body))
    return json.loads(mqtt.wait(f"smartcab/reports/results/{report_id}", timeout=60)[0].payload)


def _signed_in(base: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{base}/login?tab=users") as page:
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode()).group(1)
    form = {"csrf_token": token, "email": "a@example.org", "username": "alice"}
    form |= {"password": PASSWORD, "totp": ""}
    with opener.open(f"{base}/login?tab=users", urllib.parse.urlencode(form).encode()) as done:
        assert "/login" not in done.geturl()
    return opener


@pytest.fixture
def deployed(tmp_path, broker, influxdb):
    """A real web and a real reporter sharing the data folder as compose shares the volumes."""
    data, reports = tmp_path / "data", tmp_path / "reports"
    env = {**broker.env(), **influxdb.env(), "SMARTCAB_DATA_DIR": str(data)}
    env["SMARTCAB_REPORTS_DIR"] = str(reports)
    influxdb.query("CREATE DATABASE vitals")
    browser.cli(env, "users", "add-patient", "--email", "a@example.org", "--username", "alice",
                password=PASSWORD)  # fmt: skip
    web = browser.web(tmp_path, {**env, "WEB_LIVE": "0"}).start()
    wrapper = (UNSHARE, "--mount", "sh", "-c", READ_ONLY, str(data))
    reporter = ServiceProcess("reporter", tmp_path, env, wrapper=wrapper).start()
    try:
        reporter.wait_log("mqtt.connected", timeout=30)
        yield web, reporter, data, reports
    finally:
        reporter.stop()
        if web.proc:
            web.stop()


def test_the_reporter_writes_only_reports_and_the_web_serves_them(deployed, broker):
    web, reporter, data, reports = deployed
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        result = _request(mqtt, "ro-1")
    assert result["ok"] is True, (result, reporter.log_text()[-3000:])
    assert result["file"] == "reports/alice/ro-1.csv"
    assert (reports / "alice" / "ro-1.csv").is_file()
    assert not (data / "reports").exists()
    opener = _signed_in(f"http://127.0.0.1:{web.port}")
    with opener.open(f"http://127.0.0.1:{web.port}/p/alice/reports/ro-1") as download:
        assert download.read() == (reports / "alice" / "ro-1.csv").read_bytes()


def test_with_the_web_stopped_the_reporter_says_why_it_cannot_read_the_accounts(deployed, broker):
    web, _, data, _ = deployed
    web.stop()
    # the web's last connection gone, SQLite removed the files a read-only reader needs
    assert sorted(p.name for p in data.glob("web.sqlite3*")) == ["web.sqlite3"]
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        result = _request(mqtt, "ro-2")
    assert result["ok"] is False and result["error"] == "directory_unavailable"
    assert "read only here: is the web service running?" in result["reason"]
