"""Figure 10: how many watches one box serves, everything on it, at the real cadence.

Mosquitto, InfluxDB, the recorder, the scheduler, the web and the gateway run as real
processes; protocol-level watches in separate processes (``bench.capacity_watches``)
answer the scheduler's ``bpm`` requests. The number of watches rises step by step;
each step is held for a while, then every reading sent is looked for in InfluxDB, while
a signed-in patient asks the dashboard for her latest readings. The first step that
loses a reading, falls behind the cadence or answers slower than 500 ms at p99 ends the
run; the knee is the step before.
"""

import datetime
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.influxdb import InfluxDB
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port, wait_port
from tests.support.services import ROOT, ServiceProcess

from . import capacity_steps as cs
from .dashboard import _add_patient, _sign_in
from .harness import Figure, machine

THINGSBOARD_TWO_CORES = 5_000  # devices, ThingsBoard's published sizing for two cores
SPARE_FILES = 200  # descriptors a gateway needs besides its watches


@dataclass(frozen=True)
class Plan:
    """What a run does: the steps, the scheduler's interval, the hold, a wall-clock end."""

    steps: list[int]
    interval: float = 30.0
    periods: float = 2.0  # the hold, in scheduler intervals
    deadline: datetime.datetime | None = None  # no step starts that could not end by then
    per_gateway: int = 0  # watches per gateway process; 0: as many as its open files allow
    keep: Path | None = None  # where to copy every part's log when the run ends
    recorders: int = 1  # more than one: RECORDER_SHARED, each with its own session

    @property
    def hold(self) -> float:
        return self.interval * self.periods


def per_gateway_limit() -> int:
    """Watches one gateway process can hold under this machine's open-file hard limit."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1] - SPARE_FILES


class Proc:
    """A process whose CPU and memory the bench reads from /proc."""

    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid = name, pid

    def ticks(self) -> int:
        return cs.cpu_ticks(Path(f"/proc/{self.pid}/stat").read_text())

    def rss_mib(self) -> float:
        return cs.rss_kib(Path(f"/proc/{self.pid}/status").read_text()) / 1024


class WatchProcess:
    """One ``bench.capacity_watches`` process, driven line by line."""

    def __init__(self, port: int, first: int, gateway: str, log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.capacity_watches", "--port", str(port)),
                *("--first", str(first), "--gateway", gateway),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a watch process ended (exit {self.proc.poll()}), see its log")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def ask_all(watchers: list[WatchProcess], line: str) -> list[dict]:
    """Send ``line`` to every watch process at once, then collect the answers."""
    for w in watchers:
        w.send(line)
    return [w.answer() for w in watchers]


def total(answers: list[dict], key: str) -> int:
    return sum(a[key] for a in answers)


class Probe:
    """A signed-in patient asking for her latest readings a few times a second, timed."""

    def __init__(self, opener, url: str, every: float = 0.2) -> None:
        self.opener, self.url, self.every = opener, url, every
        self.samples: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with self.opener.open(self.url, timeout=30) as response:
                    response.read()
                    if response.status != 200:
                        self.errors += 1
            except OSError:
                self.errors += 1
            took = time.perf_counter() - started
            self.samples.append(took * 1000)
            self._stop.wait(max(0.0, self.every - took))

    def __enter__(self) -> "Probe":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(40)


class Box:
    """Every part on this machine, on free ports in a temp folder."""

    def __init__(self, plan: Plan, per_gateway: int, gateways: int) -> None:
        self.plan, self.per_gateway, self.gateways = plan, per_gateway, gateways
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-capacity-")
        self.dir = Path(self.tmp.name)
        self.services: list[ServiceProcess] = []
        self.watchers: list[WatchProcess] = []
        self.procs: list[Proc] = [Proc("bench", os.getpid())]  # the driver and the API probe
        self.broker: Mosquitto | None = None
        self.influx: InfluxDB | None = None

    def _env(self) -> dict[str, str]:
        return {
            **self.broker.env(),
            **self.influx.env(),
            "SMARTCAB_DATA_DIR": str(self.dir / "data"),
            "LOG_LEVEL": "INFO",  # the product's default
        }

    def _service(
        self, name: str, env: dict[str, str], port: int | None = None, label: str = ""
    ) -> None:
        label = label or env.get("GATEWAY_ID", name)
        proc = ServiceProcess(name, self.dir, {**self._env(), **env}, port=port)
        proc.log = self.dir / f"{label}.log"
        self.services.append(proc.start())
        self.procs.append(Proc(label, proc.proc.pid))

    def _recorders(self) -> None:
        """One recorder, or several splitting the readings on a shared subscription."""
        if self.plan.recorders <= 1:
            self._service("recorder", {})
            return
        for i in range(self.plan.recorders):
            env = {
                "RECORDER_SHARED": "1",
                "RECORDER_CLIENT_ID": f"smartcab-recorder-{i}",
                "SMARTCAB_DATA_DIR": str(self.dir / f"data-recorder-{i}"),  # spool, state
            }
            self._service("recorder", env, label=f"recorder-{i}")

    def _gateway(self, index: int) -> int:
        port = free_port()
        env = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_TRUSTED_LAN": "1",  # simulated watches on loopback
            "GATEWAY_MAX_PER_ADDRESS": "1000000",
            "GATEWAY_MAX_CONNECTIONS": "1000000",
        }
        if self.gateways > 1:
            env["GATEWAY_ID"] = f"gw-{index}"
        self._service("gateway", env, port)
        return port

    def start(self) -> "Box":
        (self.dir / "mq").mkdir()
        (self.dir / "influx").mkdir()
        # The shipped broker's limits and logging (mosquitto/mosquitto.conf): the tests'
        # broker logs every packet, which at thousands a second is its main cost.
        self.broker = Mosquitto(
            self.dir / "mq",
            extra_conf="max_inflight_messages 1000\n",
            log_types="error warning notice information",
        )
        self.broker.start()
        self.procs.append(Proc("mosquitto", self.broker.proc.pid))
        self.influx = InfluxDB(self.dir / "influx").start()
        self.procs.append(Proc("influxd", self.influx.proc.pid))
        self.influx.query("CREATE DATABASE vitals")
        self._recorders()
        interval = f"{self.plan.interval:g}"
        self._service("scheduler", {"SCHEDULER_BPM_INTERVAL": interval})
        self.ensure(1)
        return self

    def ensure(self, count: int) -> None:
        """Run ``count`` gateways, each with its own watch process."""
        while len(self.watchers) < count:
            g = len(self.watchers)
            port = self._gateway(g)
            first = g * self.per_gateway  # source addresses of their own
            self.watchers.append(WatchProcess(port, first, f"g{g}", self.dir / f"watches{g}.log"))
            self.procs.append(Proc(f"watches-{g}", self.watchers[-1].proc.pid))

    def web(self):
        """The web on a free port, alice (a patient) signed in; her latest-reading URL."""
        port = free_port()
        env = {**self._env(), "WEB_PORT": str(port), "WEB_HOST": "127.0.0.1"}
        opener = _add_patient(env)
        subprocess.run(
            [
                *(sys.executable, "-m", "services.web", "devices", "assign", "wch-g0-0"),
                *("--patient", "alice"),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        self._service("web", env, port)
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        _sign_in(opener, base)
        return opener, f"{base}/api/p/alice/latest"

    def stop(self) -> None:
        for w in self.watchers:
            w.close()
        for s in reversed(self.services):
            s.kill()
        if self.influx:
            self.influx.kill()
        if self.broker:
            self.broker.kill()
        if self.plan.keep:
            self.plan.keep.mkdir(parents=True, exist_ok=True)
            for log in self.dir.glob("*.log"):
                shutil.copy(log, self.plan.keep / log.name)
        self.tmp.cleanup()

    def stored(self) -> int:
        return self.influx.count('SELECT count("value") FROM "vitals"')

    def drain(self, sent: int, timeout: float) -> int:
        """Readings in InfluxDB once every one sent has had ``timeout`` s to land."""
        deadline = time.monotonic() + timeout
        stored = self.stored()
        while stored < sent and time.monotonic() < deadline:
            time.sleep(1)
            stored = self.stored()
        return stored


class Run:
    """The steps of one run against one box."""

    def __init__(self, box: Box, opener, url: str) -> None:
        self.box, self.opener, self.url = box, opener, url
        self.plan = box.plan
        self.hz = os.sysconf("SC_CLK_TCK")

    def _grow(self, watches: int) -> None:
        shares = cs.fill(watches, self.box.per_gateway)
        self.box.ensure(len(shares))
        for w, n in zip(self.box.watchers, shares, strict=True):
            w.send(f"grow {n}")
        for w in self.box.watchers:
            w.answer()
        time.sleep(2)  # the gateways' status messages reach the scheduler

    def _parts(self, before: dict, seconds: float) -> list[cs.Part]:
        busy, ticks = cs.machine_ticks(Path("/proc/stat").read_text())
        machine_busy = (busy - before["machine"][0]) / (ticks - before["machine"][1])
        # 100 = one core, as for the parts; other jobs on the machine count here too
        out = [cs.Part("machine", round(machine_busy * 100 * os.cpu_count(), 1), 0.0)]
        for proc in self.box.procs:
            try:
                cpu = (proc.ticks() - before[proc.name]) / self.hz / seconds * 100
                rss = proc.rss_mib()
            except (OSError, ValueError):  # it died: the step fails on what it lost
                cpu, rss = -1.0, -1.0
            out.append(cs.Part(proc.name, round(cpu, 1), round(rss, 1)))
        return out

    def step(self, watches: int) -> cs.Step:
        """Grow to ``watches``, hold, pause the answers and look for every reading."""
        grow_started = time.monotonic()
        self._grow(watches)
        connect_seconds = time.monotonic() - grow_started
        before = ask_all(self.box.watchers, "stats")
        ticks = {proc.name: proc.ticks() for proc in self.box.procs}
        ticks["machine"] = cs.machine_ticks(Path("/proc/stat").read_text())
        started = time.monotonic()
        with Probe(self.opener, self.url) as probe:
            time.sleep(self.plan.hold)
        after = ask_all(self.box.watchers, "pause")
        seconds = time.monotonic() - started
        parts = self._parts(ticks, seconds)
        sent = total(after, "sent")
        # A bpm asked during the pause is answered at the resume, inside the
        # scheduler's answer window as long as the drain is quick.
        stored = self.box.drain(sent, max(30.0, self.plan.interval))
        ask_all(self.box.watchers, "resume")
        held = total(before, "held")
        return cs.Step(
            watches=watches,
            held=held,
            due=round(held * seconds / self.plan.interval, 1),
            taken=sent - total(before, "sent"),
            sent=sent,
            stored=stored,
            p99_ms=round(cs.p99(probe.samples), 1),
            requests=len(probe.samples),
            errors=probe.errors,
            seconds=round(seconds, 1),
            connect_seconds=round(connect_seconds, 1),
            asked=total(after, "asked") - total(before, "asked"),
            parts=parts,
        )

    def steps(self) -> tuple[list[cs.Step], str]:
        """Every step until one fails or the deadline nears; why the run ended."""
        done: list[cs.Step] = []
        took = self.plan.hold + 90.0  # a first guess at one step's wall time
        for watches in self.plan.steps:
            if self.plan.deadline:
                left = (self.plan.deadline - datetime.datetime.now(datetime.UTC)).total_seconds()
                if left < took * 1.3:
                    return done, f"time limit: {watches} watches not tried"
            started = time.monotonic()
            try:
                step = self.step(watches)
            except (RuntimeError, OSError) as exc:
                return done, f"{watches} watches not held: {exc}"
            took = time.monotonic() - started
            done.append(step)
            print(json.dumps(step_json(step)), file=sys.stderr, flush=True)
            reason = cs.failure(step)
            if reason:
                return done, f"{watches} watches not held: {reason}"
        return done, "every step held"


def step_json(step: cs.Step) -> dict:
    """One step as a JSON object, for the progress lines."""
    return {
        "watches": step.watches,
        "held": step.held,
        "connect_s": step.connect_seconds,
        "readings_per_s": round(step.per_second, 1),
        "cadence": round(step.cadence, 3),
        "asked": step.asked,
        "taken": step.taken,
        "due": step.due,
        "sent": step.sent,
        "stored": step.stored,
        "p99_ms": step.p99_ms,
        "requests": step.requests,
        "errors": step.errors,
        "parts": {p.name: [p.cpu_percent, p.rss_mib] for p in step.parts},
        "failure": cs.failure(step),
    }


def figures(plan: Plan, steps: list[cs.Step], ended: str) -> list[Figure]:
    """The knee, its readings per second and latency, and each part's CPU and memory there."""
    knee = cs.knee(steps)
    held = knee.watches if knee else 0
    gateways = sum(1 for p in knee.parts if p.name.startswith(("gw-", "gateway"))) if knee else 0
    out = [
        Figure(
            f"watches one box serves, zero loss, latest-reading p99 < 500 ms (knee, {gateways}"
            f" gateway process(es); a `bpm` every {plan.interval:g} s, held {plan.hold:g} s"
            f" per step; ended: {ended})",
            held,
            "watches",
            THINGSBOARD_TWO_CORES,
            round(held / THINGSBOARD_TWO_CORES, 2),
            ">= 100,000 (reference: ThingsBoard's sizing for two cores)",
            held >= 100_000,
        )
    ]
    if knee is None:
        return out
    busiest = cs.busiest(knee)
    out.append(
        Figure(
            f"readings per second stored at the knee (cadence {knee.cadence:.2f},"
            f" {knee.sent:,} sent in all, {knee.stored:,} stored; busiest part: {busiest.name})",
            round(knee.per_second, 1),
            "readings/s",
            None,
            None,
            "(no target)",
            None,
        )
    )
    out.append(
        Figure(
            f"latest-reading API p99 at the knee ({knee.requests} calls while loaded)",
            knee.p99_ms,
            "ms",
            None,
            None,
            "< 500 ms",
            knee.p99_ms < cs.LATENCY_TARGET_MS,
        )
    )
    for part in knee.parts:
        memory = (
            "all CPUs, other jobs too" if part.name == "machine" else f"RSS {part.rss_mib:g} MiB"
        )
        out.append(
            Figure(
                f"{part.name} at the knee: CPU (100 = one core), {memory}",
                part.cpu_percent,
                "% CPU",
                None,
                None,
                "(no target)",
                None,
            )
        )
    return out


def capacity(plan: Plan) -> list[Figure]:
    """Figure 10: raise the watches step by step until one is not held."""
    per = plan.per_gateway or per_gateway_limit()
    gateways = max(1, math.ceil(max(plan.steps) / per))
    box = Box(plan, per, gateways)
    try:
        box.start()
        opener, url = box.web()
        print(
            f"capacity: up to {gateways} gateway(s) of {per} watches, {machine()}",
            file=sys.stderr,
            flush=True,
        )
        steps, ended = Run(box, opener, url).steps()
    finally:
        box.stop()
    return figures(plan, steps, ended)
