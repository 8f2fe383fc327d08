"""Figure 6: the dashboard's month chart API against the same InfluxQL sent directly."""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common import history
from tests.support.influxdb import InfluxDB
from tests.support.net import free_port, wait_port
from tests.support.services import ROOT, ServiceProcess

from .harness import Figure, median_seconds, post_lines

PASSWORD = "correct horse battery staple 42"
METRICS = ("heart_rate", "temperature")


def _month_of_readings(influx: InfluxDB, end: datetime) -> int:
    """30 days of 30 s readings from two watches, one of them alice's."""
    start_ms = int((end - timedelta(days=30)).timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    lines, written = [], 0
    for device, patient in (("wch-01", "alice"), ("wch-02", "bob")):
        for i, t in enumerate(range(start_ms, end_ms, 30_000)):
            for metric, value in (("heart_rate", 60 + i % 40), ("temperature", 36.5)):
                lines.append(
                    f"vitals,device={device},metric={metric},patient={patient} "
                    f"flagged=false,value={value} {t}"
                )
            if len(lines) >= 10_000:
                post_lines(influx.url, lines)
                written += len(lines)
                lines = []
    post_lines(influx.url, lines)
    return written + len(lines)


def _add_patient(env: dict[str, str]):
    """Add alice with the web's CLI; an opener that will carry her session."""
    subprocess.run(
        [
            *(sys.executable, "-m", "services.web", "users", "add-patient"),
            *("--email", "alice@example.org", "--username", "alice", "--password-stdin"),
        ],
        input=PASSWORD,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    return opener


def _sign_in(opener, base: str) -> None:
    with opener.open(f"{base}/login?tab=users") as page:
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode())
    form = {
        "csrf_token": token.group(1),
        "email": "alice@example.org",
        "username": "alice",
        "password": PASSWORD,
        "totp": "",
    }
    with opener.open(f"{base}/login?tab=users", urllib.parse.urlencode(form).encode()):
        pass


def _direct(influx: InfluxDB) -> None:
    """The InfluxQL the month chart runs, sent straight to InfluxDB."""
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    bucket = history.bucket_seconds(start, end)
    subject = history.Subject(patient="alice")
    for metric in METRICS:
        q = history.series_query(subject, metric, start, end, bucket)
        fields = {"db": "vitals", "q": q.text, "params": json.dumps(q.params)}
        url = f"{influx.url}/query?" + urllib.parse.urlencode(fields)
        with urllib.request.urlopen(url) as response:
            response.read()


def month_chart(quick: bool) -> Figure:
    runs = 5 if quick else 20
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "influx").mkdir()
        influx = InfluxDB(workdir / "influx").start()
        try:
            influx.query("CREATE DATABASE vitals")
            points = _month_of_readings(influx, datetime.now(UTC))
            port = free_port()
            env = {
                **influx.env(),
                "SMARTCAB_DATA_DIR": str(workdir / "data"),
                "WEB_PORT": str(port),
                "WEB_HOST": "127.0.0.1",
                "WEB_LIVE": "0",
                "LOG_LEVEL": "WARNING",
            }
            opener = _add_patient(env)
            web = ServiceProcess("web", workdir, env, port=port).start()
            wait_port(port)
            base = f"http://127.0.0.1:{port}"
            _sign_in(opener, base)
            api = f"{base}/api/p/alice/series?range=month&metrics={','.join(METRICS)}"

            def through_the_api() -> None:
                with opener.open(api) as response:
                    assert len(response.read()) > 1000

            through_the_api()  # warm-up: connections, caches
            _direct(influx)
            api_s = median_seconds(through_the_api, runs)
            direct_s = median_seconds(lambda: _direct(influx), runs)
            web.stop()
        finally:
            influx.kill()
    ratio = api_s / direct_s
    return Figure(
        f"month chart API, 2 metrics over {points:,} points (vs the same InfluxQL direct)",
        round(api_s * 1000, 1),
        "ms",
        round(direct_s * 1000, 1),
        round(ratio, 2),
        "<= 1.5",
        ratio <= 1.5,
    )
