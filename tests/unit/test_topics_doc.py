"""docs/topics.md documents every topic the shared topic builders make."""

import inspect
import re
from pathlib import Path

import pytest

from services.common.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "topics.md"
# how the page writes each parameter of a topic builder
PLACEHOLDERS = {"device_id": "<id>", "request_id": "<id>"}
BUILDERS = [Topics]


def built_topics(cls: type) -> dict[str, str]:
    """Each public builder of ``cls`` and the topic it makes, without the root."""
    made = {}
    topics = cls(root="ROOT")
    for name, member in inspect.getmembers(cls):
        if name.startswith(("_", "parse_")) or name in ("root", "device"):
            continue
        if isinstance(member, property):
            topic = getattr(topics, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]
            topic = member(topics, *(PLACEHOLDERS.get(p, f"<{p}>") for p in params))
        else:
            continue
        made[f"{cls.__name__}.{name}"] = topic.removeprefix("ROOT/")
    return made


def documented() -> set[str]:
    return set(re.findall(r"`([^`\s]+)`", PAGE.read_text()))


@pytest.mark.parametrize("cls", BUILDERS, ids=lambda c: c.__name__)
def test_every_topic_builder_is_documented(cls):
    made = built_topics(cls)
    assert made  # the builders were found
    missing = {name: topic for name, topic in made.items() if topic not in documented()}
    assert missing == {}


def test_the_placeholders_are_the_pages():
    assert built_topics(Topics)["Topics.vitals"] == "devices/<id>/vitals/<metric>"
    assert built_topics(Topics)["Topics.all_cmds"] == "devices/+/cmd"
