"""docs/configuration.md is generated from the settings and names every variable the code reads."""

import dataclasses
import re
from pathlib import Path

import pytest

from services import settings_doc
from services.common.alerts import AlertSettings
from services.common.settings import env_fields, read_field

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
NAME = r"\"([A-Z][A-Z0-9_]*)\""
# how the code reads a variable: the settings helpers, os.environ, os.getenv, env.get(...)
READS = [
    rf"\bsetting\(\s*{NAME}",
    rf"\benv_(?:str|int|float|bool|paths)\(\s*\w+,\s*{NAME}",
    rf"\b(?:environ|env)\.(?:get|setdefault|pop)\(\s*{NAME}",
    rf"\bos\.getenv\(\s*{NAME}",
    rf"\b(?:environ|env)\[\s*{NAME}\s*\](?!\s*=[^=])",
]
SCANNED = ["services", "firmware/sim", "bench"]
# Variables a service reads that the compose deployment sets to its own value.
DEPLOYMENT_VALUES = {"WEB_BASE_URL", "INFLUX_TOKEN"}


class ReadLog(dict):
    """An empty environment that remembers every name the code asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def documented() -> set[str]:
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", PAGE.read_text(), re.MULTILINE))


def names_in_code() -> dict[str, str]:
    """Every variable name the code reads literally, with the first file that reads it."""
    found: dict[str, str] = {}
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            for pattern in READS:
                for name in re.findall(pattern, text):
                    found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def settings_classes(cls: type) -> list[type]:
    """``cls`` and every settings dataclass nested in it."""
    nested = [f.metadata["section"] for f in dataclasses.fields(cls) if "section" in f.metadata]
    return [cls, *(c for n in nested for c in settings_classes(n))]


def test_the_configuration_page_is_what_the_generator_writes_now():
    # A changed default, limit or meaning must reach the docs: python -m services.settings_doc
    assert PAGE.read_text() == settings_doc.render()


def test_the_generator_check_mode_agrees():
    assert settings_doc.main(["--check"]) == 0


def test_the_scan_finds_reads_of_every_kind():
    found = names_in_code()
    assert found["GATEWAY_PORT"] == "services/gateway/settings.py"  # setting("...")
    assert found["LOG_LEVEL"] == "services/common/logs.py"  # os.environ.get
    assert "SMARTCAB_DEMO" in found  # env.get in make run
    assert "PYTHONUNBUFFERED" not in found  # only ever written


def test_every_variable_the_code_reads_is_documented():
    missing = {name: where for name, where in names_in_code().items() if name not in documented()}
    assert missing == {}


@pytest.mark.parametrize("service", [entry[1] for entry in settings_doc.SERVICES])
def test_every_variable_a_service_asks_for_is_documented(service):
    # catches names built at run time too, such as ALERT_<METRIC>_LOW
    cls = next(entry[2] for entry in settings_doc.SERVICES if entry[1] == service)
    env = ReadLog()
    cls.from_env(env)
    assert sorted(env.read - documented()) == []


def test_every_documented_variable_is_read_or_used_by_the_deployment():
    read = set(names_in_code())
    for _, _, cls in settings_doc.SERVICES:
        env = ReadLog()
        cls.from_env(env)
        read |= env.read
    assert sorted(documented() - read - set(settings_doc.DEPLOYMENT)) == []


def test_env_example_lists_only_documented_variables():
    assert sorted(set(env_example()) - documented()) == []


def test_env_example_values_are_the_documented_defaults():
    example = {k: v for k, v in env_example().items() if v and k not in DEPLOYMENT_VALUES}
    differ = []
    for _, _, service in settings_doc.SERVICES:
        for cls in settings_classes(service):
            for field in env_fields(cls):
                if read_field(cls, field.name, example) != read_field(cls, field.name, {}):
                    differ.append(field.metadata["env"])
    assert sorted(differ) == []
    assert AlertSettings.from_env(example).thresholds == AlertSettings().thresholds


def test_compose_deployment_defaults_agree_with_env_example():
    example = env_example()
    defaults = settings_doc.compose_defaults()
    assert {n: defaults[n] for n in settings_doc.DEPLOYMENT if n in defaults} == {
        n: example[n] for n in settings_doc.DEPLOYMENT if n in defaults
    }
