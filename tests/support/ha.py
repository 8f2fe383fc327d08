"""What Home Assistant's MQTT integration makes of discovery configs, without running HA.

Modelled on Home Assistant core (2025.4), and checked against it by
scripts/check-home-assistant.sh:

* a ``value_template`` is Jinja2 in a sandbox, given ``value`` (the payload as text) and
  ``value_json`` (the payload parsed, when it is JSON); the result is stripped. A missing
  key or attribute is an ``Undefined`` that HA logs as "Template variable warning" when it
  is rendered, and renders as ``""``;
* a sensor that expects a number (``state_class``, ``unit_of_measurement`` or a numeric
  ``device_class``) ignores an empty result (it keeps its state) and takes ``None`` as
  unknown;
* with a list of ``availability`` entries, each entry's ``payload_available`` (default
  ``online``) counts, and ``availability_mode: all`` needs every entry available;
* an entity with a device is named "<device name> <entity name>", and its entity id is HA's
  slug of that name.
"""

import contextlib
import json
from dataclasses import dataclass, field

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from slugify import slugify

UNKNOWN = "unknown"
UNAVAILABLE = "unavailable"
PAYLOAD_NONE = "None"


def _recording_undefined(warnings: list[str]) -> type[jinja2.Undefined]:
    class Recording(jinja2.Undefined):
        """HA's LoggingUndefined: rendering an undefined value logs a warning."""

        def __str__(self) -> str:
            warnings.append(f"Template variable warning: {self._undefined_message}")
            return super().__str__()

    return Recording


def render(template: str, payload: bytes | str, warnings: list[str] | None = None) -> str:
    """The text HA's MQTT value template makes of ``payload``; warnings go to ``warnings``."""
    warnings = [] if warnings is None else warnings
    value = payload.decode() if isinstance(payload, bytes) else payload
    env = ImmutableSandboxedEnvironment(undefined=_recording_undefined(warnings))
    variables: dict[str, object] = {"value": value}
    with contextlib.suppress(ValueError):  # HA: no value_json for a payload that is not JSON
        variables["value_json"] = json.loads(value)
    return env.from_string(template).render(**variables).strip()


def expects_number(config: dict) -> bool:
    return any(k in config for k in ("state_class", "unit_of_measurement"))


@dataclass
class Entity:
    """One discovered entity and the state HA would show for it."""

    component: str
    config: dict
    state: str = UNKNOWN
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """HA's friendly name: the device's name, then the entity's."""
        device = self.config.get("device", {}).get("name")
        own = self.config.get("name")
        return " ".join(part for part in (device, own) if part)

    @property
    def entity_id(self) -> str:
        return f"{self.component}.{slugify(self.name, separator='_')}"

    def receive(self, payload: bytes) -> None:
        """A message on the state topic, handled as HA's MQTT sensor does."""
        template = self.config.get("value_template")
        text = render(template, payload, self.warnings) if template else payload.decode()
        if expects_number(self.config):
            if text == "":
                return  # HA ignores an empty state for a numeric sensor
            if text == PAYLOAD_NONE:
                self.state = UNKNOWN
                return
            float(text)  # HA refuses a non-numeric state for a numeric sensor
        self.state = text

    def available(self, retained: dict[str, bytes]) -> bool:
        """Whether HA shows the entity available, given the last payload of each topic."""
        entries = self.config.get("availability", [])
        states = [
            retained.get(e["topic"]) == e.get("payload_available", "online").encode()
            for e in entries
        ]
        if not states:
            return True
        mode = self.config.get("availability_mode", "latest")
        if mode not in ("all", "any"):
            raise ValueError(f"availability_mode {mode!r} is not modelled here")
        return all(states) if mode == "all" else any(states)


def entities(configs: dict[str, dict]) -> dict[str, Entity]:
    """Config topic -> Entity, for ``<prefix>/<component>/<node>/<object>/config`` topics."""
    return {topic: Entity(topic.split("/")[-4], body) for topic, body in configs.items()}
