"""A real InfluxDB 1.x (Debian's ``influxd``) on free ports in a temporary folder."""

import base64
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .net import free_port

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


class InfluxDB:
    """Start, stop and restart one ``influxd`` on the same ports; data survives restarts."""

    def __init__(self, workdir: Path, auth: tuple[str, str] | None = None) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.rpc_port = free_port()
        self.auth = auth
        self.log = workdir / "influxd.log"
        self.conf = workdir / "influxdb.conf"
        self.conf.write_text(
            "\n".join(
                [
                    "reporting-disabled = true",
                    f'bind-address = "127.0.0.1:{self.rpc_port}"',
                    "[meta]",
                    f'  dir = "{workdir}/meta"',
                    "[data]",
                    f'  dir = "{workdir}/data"',
                    f'  wal-dir = "{workdir}/wal"',
                    '  wal-fsync-delay = "0s"',
                    "  query-log-enabled = false",
                    "[http]",
                    f'  bind-address = "127.0.0.1:{self.port}"',
                    f"  auth-enabled = {'true' if auth else 'false'}",
                    "  log-enabled = false",
                    "[monitor]",
                    "  store-enabled = false",
                    "[subscriber]",
                    "  enabled = false",
                    "[continuous_queries]",
                    "  enabled = false",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self._admin_created = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "InfluxDB":
        if not Path(INFLUXD).exists():
            raise RuntimeError("influxd is not installed: run `make test`, which installs it")
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [INFLUXD, "run", "-config", str(self.conf)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_ping()
        if self.auth and not self._admin_created:
            # 1.x lets the very first admin be created without credentials.
            user, password = self.auth
            self.query(
                f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES",
                credentials=False,
            )
            self._admin_created = True
        return self

    def _wait_ping(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"influxd exited:\n{self.log.read_text(errors='replace')[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                    if response.status == 204:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"influxd did not answer /ping on {self.url} in {timeout} s")

    def stop(self) -> None:
        """SIGTERM and wait: an orderly outage."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def env(self, database: str = "vitals") -> dict[str, str]:
        env = {"INFLUX_URL": self.url, "INFLUX_DATABASE": database}
        if self.auth:
            env["INFLUX_USERNAME"], env["INFLUX_PASSWORD"] = self.auth
        return env

    def query(self, influxql: str, database: str | None = None, credentials: bool = True) -> dict:
        """Run InfluxQL as the admin and return the JSON answer (for test setup and checks)."""
        params = {"q": influxql, "epoch": "ms"}
        if database:
            params["db"] = database
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        if self.auth and credentials:
            basic = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error: {result['error']} in {influxql}")
        return body

    def rows(self, influxql: str, database: str = "vitals") -> list[dict]:
        """Every row of every series of the first result, as dicts with the series tags."""
        try:
            body = self.query(influxql, database)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise
        out = []
        for series in body["results"][0].get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                out.append({**tags, **dict(zip(series["columns"], values, strict=True))})
        return out

    def count(self, influxql: str, database: str = "vitals") -> int:
        """The single number a ``SELECT count(...)`` returns (0 when nothing matched)."""
        rows = self.rows(influxql, database)
        return sum(int(v) for row in rows for k, v in row.items() if k.startswith("count"))
