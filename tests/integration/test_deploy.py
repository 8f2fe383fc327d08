"""docker-compose.yml and its files, checked without a Docker engine."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from services.common.database import Database, DatabaseError
from services.gateway.registry import DeviceRefused, Registry
from services.web import db as web_db
from tests.support import services
from tests.support.net import free_port
from tests.support.postgres import PostgresServer
from tests.support.secure_broker import ProductionMosquitto, make_accounts, make_certs
from tests.support.seed_clients import SeedWatch, closed_by_peer, raw_client
from tests.support.services import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
# The compose specification's JSON schema, vendored: see tests/data/README.md.
SCHEMA = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
APP_SERVICES = ("gateway", "recorder", "scheduler", "web", "reporter", "notifier", "pillbox")
# what docker compose interpolates: $VAR, ${VAR}, ${VAR:-default}, ${VAR:?error}, ${VAR:+value}
VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return dict(pairs)


def test_the_compose_file_follows_the_compose_specification(compose):
    validator = jsonschema.Draft7Validator(SCHEMA)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # the schema is strict enough to catch a misspelt key
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["restrat"] = "always"
    assert not validator.is_valid(broken)


def test_services_are_built_from_one_dockerfile_and_kept_healthy(compose):
    services = compose["services"]
    for name in (*APP_SERVICES, "gateway-demo", "simulator"):
        assert services[name]["build"] == "."
        assert services[name]["image"] == "health-plus:latest"
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        if name != "simulator":  # the simulator is a client; nothing connects to it
            assert service["healthcheck"]["test"], name
    assert services["simulator"]["profiles"] == ["demo"]
    assert services["gateway-demo"]["profiles"] == ["demo"]
    assert services["gateway"]["profiles"] == ["production"]
    assert services["postgres"]["profiles"] == ["postgres"]
    profiled = ("simulator", "gateway", "gateway-demo", "postgres")
    others = [n for n, s in services.items() if n not in profiled]
    assert all("profiles" not in services[n] for n in others)
    declared = set(compose["volumes"])
    used = {
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith(".")
    }
    assert used == declared
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER smartcab$", dockerfile, re.MULTILINE)
    assert "fonts-dejavu-core" in dockerfile


def _mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """Each named volume a service mounts: (where, read only)."""
    out = {}
    for volume in service.get("volumes", []):
        name, target, *mode = volume.split(":")
        if not name.startswith("."):
            out[name] = (target, mode == ["ro"])
    return out


def test_reports_have_a_volume_the_reporter_writes_and_the_rest_it_reads_read_only(compose):
    services = compose["services"]
    reporter, web = _mounts(services["reporter"]), _mounts(services["web"])
    assert reporter == {"app-data": ("/data", True), "reports": ("/reports", False)}
    assert web == {"app-data": ("/data", False), "reports": ("/reports", True)}
    assert [n for n, s in services.items() if "reports" in _mounts(s)] == ["web", "reporter"]
    # both services find the reports where the volume is mounted, the web's database in /data
    from services.reporter.settings import Settings as ReporterSettings
    from services.web.settings import Settings as WebSettings

    for name, cls in (("reporter", ReporterSettings), ("web", WebSettings)):
        env = {**services[name]["environment"], "SMARTCAB_DATA_DIR": "/data"}
        env = {k: v for k, v in env.items() if k.startswith("SMARTCAB_")}
        assert cls.from_env(env).reports_dir == Path("/reports"), name
    assert ReporterSettings.from_env({"SMARTCAB_DATA_DIR": "/data"}).web_database == Path(
        "/data/web.sqlite3"
    )
    # a new named volume copies its mount point's owner: the image's user must own /reports
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(
        r"mkdir -p /data /reports && chown smartcab:smartcab /data /reports", dockerfile
    )


def _started_gateway(service: dict, copy: Path, tmp_path: Path, broker) -> ServiceProcess:
    """The real gateway with the environment compose gives ``service`` (on test ports)."""
    # the broker and the listening address are the test's; everything else is compose's
    skip = ("MQTT_", "GATEWAY_HOST", "GATEWAY_PORT")
    env = {k: v for k, v in service["environment"].items() if not k.startswith(skip)}
    for volume in service.get("volumes", []):  # the registry, where its mount puts it
        source, target, *_ = volume.split(":")
        if env["GATEWAY_DEVICES"].startswith(target + "/"):
            env["GATEWAY_DEVICES"] = str(copy / source) + env["GATEWAY_DEVICES"][len(target) :]
    workdir = tmp_path / service["profiles"][0]
    workdir.mkdir()
    return services.gateway(workdir, broker.env(), **env).start()


def test_the_demo_profile_runs_a_trusted_lan_gateway_and_production_the_registrys(tmp_path, broker):
    copy = set_up(tmp_path)
    env = dotenv(copy / ".env")
    production = services_run(env)  # docker compose up -d
    demo = services_run(env, ["demo"])  # docker compose --profile demo up -d
    # one gateway each: two on one broker would answer for each other's devices
    assert [n for n in production if n.startswith("gateway")] == ["gateway"]
    assert [n for n in demo if n.startswith("gateway")] == ["gateway-demo"]
    assert "simulator" not in production and "simulator" in demo
    chosen = {k: v for k, v in production["gateway"]["environment"].items() if "GATEWAY_" in k}
    assert chosen["GATEWAY_DEVICES"] == "/etc/smartcab/devices.toml"
    assert chosen["GATEWAY_TRUSTED_LAN"] == "0"
    assert production["gateway"]["ports"][0] == "5050:5050"
    # the demo's gateway chooses trusted-LAN mode itself, whatever .env says, and only the
    # simulator reaches it: it publishes no port
    for env_said in (env, {**env, "GATEWAY_TRUSTED_LAN": "0"}):
        gateway = services_run(env_said, ["demo"])["gateway-demo"]
        assert gateway["environment"]["GATEWAY_TRUSTED_LAN"] == "1"
        assert gateway["environment"]["GATEWAY_DEVICES"] == ""
        assert "ports" not in gateway
    simulator = demo["simulator"]
    assert "gateway-demo:5050" in simulator["command"]
    assert simulator["depends_on"] == {"gateway-demo": {"condition": "service_healthy"}}
    # both started for real with what compose gives them: the demo's accepts a simulated
    # watch, production's refuses it (the setup's registry is empty)
    demo_gateway = _started_gateway(demo["gateway-demo"], copy, tmp_path, broker)
    production_gateway = _started_gateway(production["gateway"], copy, tmp_path, broker)
    try:
        demo_gateway.wait_log("registry=trusted-lan")
        watch = SeedWatch(demo_gateway.port, b"wch-01")
        demo_gateway.wait_log("event=device.online device=wch-01")
        watch.close()
        production_gateway.wait_log("registry=enforced")
        sock = raw_client(production_gateway.port)
        sock.send(b"new~wch-01")
        assert closed_by_peer(sock)
        production_gateway.wait_log("refused: unknown device id")
    finally:
        demo_gateway.stop()
        production_gateway.stop()


def test_only_the_proxy_the_gateway_and_the_tls_broker_face_the_network(compose):
    services = compose["services"]
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert published == {
        "mosquitto": ["${MQTT_TLS_PORT:-8883}:8883"],
        "influxdb": ["127.0.0.1:${INFLUX_PORT:-8086}:8086"],
        "gateway": ["${GATEWAY_PORT:-5050}:5050", "${GATEWAY_TLS_PORT:-5051}:5051"],
        "caddy": [
            "${HTTP_PORT:-80}:80",
            "${HTTPS_PORT:-443}:443",
            "${GRAFANA_PORT:-3443}:3443",
        ],
    }
    web = services["web"]["environment"]
    assert web["WEB_TRUST_PROXY"] == "1"  # only Caddy reaches it
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert re.search(r"^:80 \{\n\tredir https://", caddyfile, re.MULTILINE)
    assert "tls /certs/server.crt /certs/server.key" in caddyfile
    assert "reverse_proxy web:5000" in caddyfile


def set_up(tmp_path: Path) -> Path:
    """A copy of the checkout where scripts/deploy-setup.sh ran, as a new user would run it."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copy(ROOT / ".env.example", copy / ".env.example")
    subprocess.run(
        ["bash", "scripts/deploy-setup.sh", "cabinet.example"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    return copy


def dotenv(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error},
# ${NAME:+value}, ${NAME+value}, $NAME and $$
INTERPOLATED = re.compile(
    r"\$\$|\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Z_][A-Z0-9_]*)"
)


def interpolate(value, env: dict[str, str]):
    """A value of the compose file as docker compose interpolates it."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, how, other = match.group(1) or match.group(4), match.group(2), match.group(3)
        found = env.get(name)
        unset = found is None or (found == "" and how and how.startswith(":"))
        if how in (":-", "-"):
            return other if unset else found
        if how in (":+", "+"):
            return "" if unset else other
        if how in (":?", "?") and unset:
            raise ValueError(f"{name}: {other}")
        return found or ""

    return INTERPOLATED.sub(one, value)


def services_run(env: dict[str, str], profiles: list[str] | None = None) -> dict[str, dict]:
    """What `docker compose [--profile P] up` starts: each service, interpolated.

    As compose does: ``--profile`` replaces ``COMPOSE_PROFILES`` (from the shell or .env);
    a service without profiles always runs.
    """
    active = set(profiles or env.get("COMPOSE_PROFILES", "").split(","))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {
        name: interpolate(service, env)
        for name, service in compose["services"].items()
        if not service.get("profiles") or active & set(service["profiles"])
    }


def test_every_file_the_deployment_uses_is_in_the_repository_or_made_by_the_setup_script(
    compose, tmp_path
):
    copy = set_up(tmp_path)
    made = copy / "deploy" / "secrets"

    def exists(path: str) -> bool:
        relative = Path(path).as_posix().removeprefix("./")
        if relative.startswith("deploy/secrets/"):
            return (copy / relative).exists()
        return (ROOT / relative).exists()

    referenced = []
    for service in compose["services"].values():
        referenced += [v.split(":", 1)[0] for v in service.get("volumes", []) if v.startswith(".")]
        referenced += service.get("env_file", [])
        if "build" in service:
            referenced.append(f"{service['build']}/Dockerfile")
    missing = [path for path in referenced if not exists(path)]
    assert missing == []
    # what the broker's config and Caddy read from those folders
    conf = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    for name in re.findall(r"/mosquitto/secrets/(\S+)", conf):
        assert (made / "broker" / name).is_file(), name
    for name in re.findall(r"/certs/(\S+)", (ROOT / "deploy/caddy/Caddyfile").read_text()):
        assert (made / "certs" / name).is_file(), name
    # the Dockerfile copies only what .dockerignore lets through
    for source in re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
            assert f"!{path.rstrip('/')}" in (ROOT / ".dockerignore").read_text().replace(
                "/\n", "\n"
            )
    # the setup script filled .env with fresh secrets, and a second run keeps them
    env = (copy / ".env").read_text()
    assert "change-me" not in env
    # ... and a device registry the gateway enforces: empty, no device may connect yet
    assert "\nGATEWAY_DEVICES=/etc/smartcab/devices.toml\n" in env
    assert "\nGATEWAY_TRUSTED_LAN=0\n" in env
    registry = Registry.load(str(copy / "deploy" / "gateway" / "devices.toml"))
    assert registry.enforcing and registry.without_token == []
    with pytest.raises(DeviceRefused, match="unknown device id"):
        registry.check("wch-01", None)
    subprocess.run(["bash", "scripts/deploy-setup.sh"], cwd=copy, check=True, capture_output=True)
    assert (copy / ".env").read_text() == env
    assert sorted(p.name for p in (made / "mqtt").glob("*.env")) == sorted(
        f"{a}.env" for a in (*APP_SERVICES, "homeassistant")
    )


class ReadLog(dict):
    """An environment that remembers every name the code asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def names_read_by(service: str) -> set[str]:
    """Every environment variable the service's settings ask for."""
    module = __import__(f"services.{service}.settings", fromlist=["Settings"])
    env = ReadLog()
    module.Settings.from_env(env)
    return env.read | {"LOG_LEVEL"}  # LOG_LEVEL: services/common/logs.py, every service


@pytest.mark.parametrize("name", [*APP_SERVICES, "gateway-demo"])
def test_every_setting_given_to_a_service_is_one_it_reads(compose, name):
    definition = compose["services"][name]
    service = name.removesuffix("-demo")
    given = set(definition["environment"])
    for env_file in definition.get("env_file", []):
        assert env_file == f"deploy/secrets/mqtt/{service}.env"  # its own broker account
        given |= {"MQTT_USERNAME", "MQTT_PASSWORD"}
    unread = sorted(given - names_read_by(service))
    assert unread == []


def test_env_example_lists_every_setting_and_nothing_else(compose):
    example = env_example()
    interpolated = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    # every variable the compose file takes from .env is in .env.example ...
    assert sorted(interpolated - set(example)) == []
    # ... and every line of .env.example reaches something (compose itself reads its own)
    assert sorted(set(example) - interpolated) == ["COMPOSE_PROFILES"]
    # every setting the services read is either listed or set by the compose file itself
    read = set().union(*(names_read_by(s) for s in APP_SERVICES))
    fixed = set().union(*(compose["services"][s]["environment"] for s in APP_SERVICES))
    fixed |= {
        "MQTT_USERNAME",
        "MQTT_PASSWORD",
        "MQTT_TLS_CA",
        "INFLUX_USERNAME",
        "INFLUX_PASSWORD",
        "RECORDER_CLIENT_ID",
        "NOTIFIER_CLIENT_ID",
    }
    assert sorted(read - set(example) - fixed) == []


def test_influxdb_is_set_up_with_the_vitals_bucket_its_retention_and_the_services_token(compose):
    influx = compose["services"]["influxdb"]
    assert influx["image"].startswith("influxdb:2.7")
    env = influx["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    # the bucket is named like the database: its virtual DBRP mapping serves the v1 API
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == compose["x-influx-env"]["INFLUX_DATABASE"]
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"] == "${INFLUX_RETENTION:-104w}"
    token = compose["x-influx-env"]["INFLUX_TOKEN"]
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"].split(":")[0] == token.split(":")[0]
    for service in ("recorder", "web", "reporter"):
        assert compose["services"][service]["environment"]["INFLUX_TOKEN"] == token


def test_the_mosquitto_healthcheck_sees_a_broker_that_refuses_anonymous_clients(compose, tmp_path):
    secrets_dir = make_certs(tmp_path / "secrets")
    make_accounts(secrets_dir)
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = ProductionMosquitto(workdir, secrets_dir, ROOT / "mosquitto" / "acl")
    command = compose["services"]["mosquitto"]["healthcheck"]["test"][1]
    command = command.replace("-p 1883", f"-p {broker.port}").replace("$$", "$")
    broker.start()
    try:
        assert subprocess.run(["sh", "-c", command], check=False).returncode == 0
    finally:
        broker.kill()
    assert subprocess.run(["sh", "-c", command], check=False).returncode != 0


def test_the_service_healthchecks_report_a_running_service_and_a_missing_one(make_gateway, broker):
    gw = make_gateway()
    env = {**os.environ, **broker.env()}
    check = [sys.executable, str(ROOT / "deploy" / "healthcheck.py")]

    def run(*args: str) -> int:
        return subprocess.run([*check, *args], env=env, capture_output=True).returncode

    assert run("tcp", str(gw.port)) == 0
    assert run("mqtt", "gateway") == 0
    assert run("mqtt", "recorder") == 1  # never connected: no "online" held for it
    assert run("tcp", str(free_port())) == 1
    assert run("http", f"http://127.0.0.1:{free_port()}/login") == 1


def test_grafana_reads_influxql_as_a_read_only_user_of_the_vitals_bucket(compose):
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/influxdb.yml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "influxdb"
    assert "version" not in datasource["jsonData"]  # InfluxQL, not Flux
    assert datasource["url"] == compose["x-influx-env"]["INFLUX_URL"]
    assert datasource["jsonData"]["dbName"] == "$INFLUX_DATABASE"
    # its own v1 user, not the services' all-access token
    assert datasource["user"] == "grafana"
    assert datasource["secureJsonData"] == {"password": "$GRAFANA_INFLUX_PASSWORD"}
    assert "httpHeaderName1" not in datasource["jsonData"]
    grafana_env = compose["services"]["grafana"]["environment"]
    assert "INFLUX_TOKEN" not in grafana_env
    assert {"GRAFANA_INFLUX_PASSWORD", "INFLUX_DATABASE"} <= set(grafana_env)
    # the influxdb image makes that user after its first setup, with read on the bucket only
    influx = compose["services"]["influxdb"]
    assert "./deploy/influxdb:/docker-entrypoint-initdb.d:ro" in influx["volumes"]
    assert (
        influx["environment"]["GRAFANA_INFLUX_PASSWORD"] == grafana_env["GRAFANA_INFLUX_PASSWORD"]
    )
    script = ROOT / "deploy" / "influxdb" / "grafana-reader.sh"
    assert os.access(script, os.X_OK)  # the image runs only executable scripts
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text
    # under pipefail, `influx ... | grep -q` fails when grep stops reading early, and a
    # failing init script makes the image wipe the first setup
    commands = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in commands if re.search(r"influx .*\|\s*grep -q", line)]
    create = re.search(r"influx v1 auth create (.+?)\n\S", text, re.S).group(1)
    assert "--username grafana" in create
    assert '--read-bucket "$bucket_id"' in create
    assert "--write-bucket" not in create
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/health-plus.yml").read_text()
    )["providers"][0]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_grafana_is_a_current_pinned_release_on_an_origin_of_its_own(compose):
    grafana = compose["services"]["grafana"]
    image, tag = grafana["image"].split(":")
    assert image == "grafana/grafana"  # the OSS image; grafana/grafana-oss is no longer updated
    # an exact release, not a moving tag, and no older than the 13 line (11.2 had known CVEs)
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), tag
    assert tuple(map(int, tag.split("."))) >= (13, 3, 0)
    env = grafana["environment"]
    assert (
        env["GF_SERVER_ROOT_URL"] == "https://${GRAFANA_DOMAIN:-localhost}:${GRAFANA_PORT:-3443}/"
    )
    assert "GF_SERVER_SERVE_FROM_SUB_PATH" not in env
    assert env["GF_SECURITY_COOKIE_SECURE"] == "true"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "ports" not in grafana  # only through Caddy's TLS site on GRAFANA_PORT
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "/grafana" not in caddyfile
    grafana_site = caddyfile.split(":3443 {", 1)[1]
    assert "reverse_proxy grafana:3000" in grafana_site and "web:5000" not in grafana_site


def secrets_the_setup_makes() -> list[str]:
    script = (ROOT / "scripts" / "deploy-setup.sh").read_text()
    return re.search(r'^SECRETS="(.+)"$', script, re.M).group(1).split()


def test_compose_refuses_to_start_with_the_examples_secrets(compose):
    """Compose's ${NAME:?} refuses an empty value: the example's secrets are empty."""
    text = (ROOT / "docker-compose.yml").read_text()
    example = env_example()
    names = secrets_the_setup_makes()
    assert {"INFLUX_TOKEN", "INFLUX_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= set(names)
    for name in names:
        uses = re.findall(r"\$\{" + name + r"(\W{1,2})", text)
        assert uses and set(uses) == {":?"}, (name, uses)  # never a default to fall back on
        assert example[name] == "", name


def test_the_setup_fills_empty_secrets_and_refuses_placeholders(tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copy(ROOT / ".env.example", copy / ".env.example")

    def setup() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "scripts/deploy-setup.sh"], cwd=copy, capture_output=True, text=True
        )

    assert setup().returncode == 0
    env = dict(
        line.split("=", 1)
        for line in (copy / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in secrets_the_setup_makes():
        assert len(env[name]) >= 32, name
    text = (copy / ".env").read_text()
    for placeholder in ("change-me", "CHANGEME", "short"):
        (copy / ".env").write_text(
            text.replace(f"INFLUX_TOKEN={env['INFLUX_TOKEN']}", f"INFLUX_TOKEN={placeholder}")
        )
        refused = setup()
        assert refused.returncode == 1, placeholder
        assert "INFLUX_TOKEN" in refused.stderr
    # an emptied one is made afresh, the others are kept
    (copy / ".env").write_text(
        text.replace(
            f"GRAFANA_INFLUX_PASSWORD={env['GRAFANA_INFLUX_PASSWORD']}", "GRAFANA_INFLUX_PASSWORD="
        )
    )
    assert setup().returncode == 0
    again = (copy / ".env").read_text()
    assert f"INFLUX_TOKEN={env['INFLUX_TOKEN']}\n" in again
    assert re.search(r"^GRAFANA_INFLUX_PASSWORD=\S{32,}$", again, re.M)
    assert env["GRAFANA_INFLUX_PASSWORD"] not in again


def dashboard() -> dict:
    return json.loads((ROOT / "deploy/grafana/dashboards/health-plus.json").read_text())


def grafana_to_influxql(query: str) -> str:
    """Expand what Grafana fills in: the time range, the interval, "All" variables."""
    return (
        query.replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "1m")
        .replace("$patient", ".*")
        .replace("$device", ".*")
    )


def test_the_dashboards_queries_find_what_the_services_store(influxdb):
    """Each panel and variable query runs on real InfluxDB and finds points shaped as
    docs/schema.md says the recorder writes them."""
    influxdb.query("CREATE DATABASE vitals")
    now_ms = int(time.time() * 1000)
    earlier_ms = now_ms - 10 * 60_000
    lines = [
        f"inventory,device=cab,item=Pepsi,patient=ann count=2i {earlier_ms}",
        f"inventory,device=cab,item=Pepsi,patient=ann count=1i {now_ms}",
        f"vitals,device=wch-01,metric=heart_rate,patient=ann flagged=false,value=72 {now_ms}",
        f"vitals,device=wch-01,metric=temperature,patient=ann flagged=false,value=36.6 {now_ms}",
        f"vitals,device=wch-01,metric=spo2,patient=ann flagged=false,value=97 {now_ms}",
        f"vitals,device=wch-01,metric=bp_systolic,patient=ann flagged=false,value=120 {now_ms}",
        f'news2_partial,device=wch-01,patient=ann score=1i,risk="low",label="partial" {now_ms}',
        "alerts,device=wch-01,key=heart_rate,kind=threshold,level=warning,patient=ann "
        f'message="heart rate 140 bpm above 130",value=140 {now_ms}',
        f'availability,device=wch-01,kind=watch,patient=ann online=true,state="online" {now_ms}',
    ]
    request = urllib.request.Request(
        f"{influxdb.url}/write?db=vitals&precision=ms",
        data="\n".join(lines).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204

    board = dashboard()
    assert board["title"] == "Health Plus"
    empty = []
    for variable in board["templating"]["list"]:
        if not influxdb.rows(grafana_to_influxql(variable["query"])):
            empty.append(variable["name"])
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert target["rawQuery"] is True
            rows = influxdb.rows(grafana_to_influxql(target["query"]))
            if not [r for r in rows if any(v is not None for k, v in r.items() if k != "time")]:
                empty.append(panel["title"])
    assert empty == []
    titles = {p["title"] for p in board["panels"]}
    assert {"Heart rate", "Cabinet inventory", "Alerts", "Device availability"} <= titles


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)


def test_the_project_ca_signs_only_server_certificates_for_the_deployments_names(tmp_path):
    certs = make_certs(tmp_path / "certs", "cabinet.example", "192.168.1.5")
    ca = openssl("x509", "-in", "ca.crt", "-noout", "-text", "-enddate", cwd=certs).stdout
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", ca)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", ca)
    assert "Name Constraints: critical" in ca
    assert "DNS:cabinet.example" in ca and "IP:192.168.1.5/255.255.255.255" in ca
    ends = time.mktime(time.strptime(ca.split("notAfter=")[1].strip(), "%b %d %H:%M:%S %Y GMT"))
    assert ends - time.time() < 5.1 * 365 * 86400  # not ten years
    server = openssl("x509", "-in", "server.crt", "-noout", "-text", cwd=certs).stdout
    assert re.search(r"Key Usage: critical\s+Digital Signature, Key Encipherment", server)
    assert re.search(r"Extended Key Usage:\s+TLS Web Server Authentication", server)
    assert (
        openssl("verify", "-x509_strict", "-CAfile", "ca.crt", "server.crt", cwd=certs).returncode
        == 0
    )
    # a certificate the CA's key signs for a name outside the deployment is refused
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "x.key",
        "-out",
        "x.csr",
        "-subj",
        "/CN=bank.example",
        cwd=certs,
    )
    (certs / "x.ext").write_text("subjectAltName=DNS:bank.example\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "x.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-days",
        "1",
        "-extfile",
        "x.ext",
        "-out",
        "x.crt",
        cwd=certs,
    )
    refused = openssl("verify", "-CAfile", "ca.crt", "x.crt", cwd=certs)
    assert (
        refused.returncode != 0 and "permitted subtree violation" in refused.stdout + refused.stderr
    )
    # kept on a rerun for the same names; replaced, and said so, when a name is new
    before = (certs / "ca.crt").read_bytes()
    make_certs(certs, "cabinet.example")
    assert (certs / "ca.crt").read_bytes() == before
    again = subprocess.run(
        ["bash", str(ROOT / "scripts" / "make-certs.sh"), str(certs), "new.example"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "making a new CA" in again.stderr
    assert (certs / "ca.crt").read_bytes() != before


def test_the_postgres_profile_gives_the_app_and_the_reporter_their_own_roles(tmp_path):
    copy = set_up(tmp_path)
    env_file = copy / ".env"
    text = env_file.read_text().replace(
        "COMPOSE_PROFILES=production", "COMPOSE_PROFILES=production,postgres"
    )
    env_file.write_text(text)
    subprocess.run(
        ["bash", "scripts/deploy-setup.sh", "cabinet.example"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    env = dotenv(env_file)
    run = services_run(env)
    assert "postgres" in run and run["postgres"]["environment"]["POSTGRES_PASSWORD"]
    app_url = run["web"]["environment"]["DATABASE_URL"]
    assert app_url.startswith("postgresql://smartcab:") and app_url.endswith(
        "@postgres:5432/smartcab"
    )
    for name in ("notifier", "pillbox"):
        assert run[name]["environment"]["DATABASE_URL"] == app_url
    reader_url = run["reporter"]["environment"]["DATABASE_URL"]
    assert reader_url.startswith("postgresql://smartcab_reporter:")
    # what the postgres service's init.sh makes, on a real server, with these passwords
    server = PostgresServer().start()
    try:
        server.roles(env["POSTGRES_APP_PASSWORD"], env["POSTGRES_REPORTER_PASSWORD"])
        here = f"@127.0.0.1:{server.port}/smartcab"
        assert web_db.migrate(app_url.replace("@postgres:5432/smartcab", here)) > 0
        with Database.of(reader_url.replace("@postgres:5432/smartcab", here)).connect() as reader:
            assert reader.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
            with pytest.raises(DatabaseError, match="read-only"):
                reader.execute("DELETE FROM users")
    finally:
        server.stop()
    assert "postgres" not in services_run({**env, "COMPOSE_PROFILES": "production"})
