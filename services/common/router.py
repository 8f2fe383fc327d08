"""Topic filters to handlers: each service's one table of what it does with which message.

A route is an MQTT topic filter (``+`` one level, ``#`` the rest) and a handler.
The levels the wildcards stand for are handed to the handler first, then whatever
the caller passes along (the message, a time): ``smartcab/devices/+/vitals/+``
calls ``handler(device, metric, *args)``. The first route that matches wins.

Matching follows MQTT, with two choices made for the project's topics:

* a wildcard never stands for an empty level, so no handler gets an empty device id;
* a ``$share/<group>/`` prefix is a subscription detail: the filter after it is matched.

Routes may be added from any thread; a topic is matched against the table as it was.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

SHARE_PREFIX = "$share/"

Handler = Callable[..., Any]


class BadFilter(ValueError):
    """A topic filter MQTT would refuse (a misplaced wildcard, an empty filter)."""


@dataclass(frozen=True)
class Route:
    """One subscription and what to do with the messages it brings."""

    subscription: str  # as given to the broker, ``$share/...`` included
    levels: tuple[str, ...]  # the filter that topics are matched against, split
    handler: Handler
    qos: int


def filter_levels(topic_filter: str) -> tuple[str, ...]:
    """The filter's levels, without a ``$share/<group>/`` prefix; BadFilter if invalid."""
    inner = topic_filter
    if inner.startswith(SHARE_PREFIX):
        parts = inner.split("/", 2)
        if len(parts) < 3 or not parts[1] or not parts[2]:
            raise BadFilter(f"shared subscription {topic_filter!r} names no group or filter")
        inner = parts[2]
    if not inner:
        raise BadFilter("empty topic filter")
    levels = tuple(inner.split("/"))
    for i, level in enumerate(levels):
        if level == "#" and i != len(levels) - 1:
            raise BadFilter(f"'#' must be the last level of {topic_filter!r}")
        if level not in ("+", "#") and ("+" in level or "#" in level):
            raise BadFilter(f"a wildcard must be a whole level in {topic_filter!r}")
    return levels


def match(levels: tuple[str, ...], topic: str) -> tuple[str, ...] | None:
    """The levels the wildcards of ``levels`` stand for in ``topic``, or None if no match.

    ``#`` stands for the rest of the topic, joined by ``/``; like MQTT, ``a/#``
    also matches ``a`` itself (standing for nothing, the one empty capture).
    """
    parts = topic.split("/")
    # MQTT: topics of the broker's own ($SYS/...) never match a leading wildcard.
    if topic.startswith("$") and levels[0] in ("+", "#"):
        return None
    captured: list[str] = []
    for i, level in enumerate(levels):
        if level == "#":
            rest = parts[i:]
            if any(not part for part in rest):
                return None
            captured.append("/".join(rest))
            return tuple(captured)
        if i >= len(parts):
            return None
        if level == "+":
            if not parts[i]:
                return None
            captured.append(parts[i])
        elif level != parts[i]:
            return None
    return tuple(captured) if len(parts) == len(levels) else None


class Router:
    """An ordered table of routes, matched topic by topic."""

    def __init__(self) -> None:
        # Replaced, never changed in place: a reader on another thread sees a whole table.
        self._routes: tuple[Route, ...] = ()

    def add(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Route topics matching ``topic_filter`` to ``handler``; subscribe with ``qos``."""
        if qos not in (0, 1, 2):
            raise BadFilter(f"QoS {qos!r} is not 0, 1 or 2")
        route = Route(topic_filter, filter_levels(topic_filter), handler, qos)
        self._routes = (*self._routes, route)

    def subscriptions(self) -> list[tuple[str, int]]:
        """What to subscribe to: each route's filter and QoS, in order."""
        return [(route.subscription, route.qos) for route in self._routes]

    def route(self, topic: str) -> Handler | None:
        """The handler for ``topic`` with its wildcard levels bound, or None."""
        for route in self._routes:
            captured = match(route.levels, topic)
            if captured is not None:
                return partial(route.handler, *captured)
        return None

    def dispatch(self, topic: str, *args: Any) -> bool:
        """Call the handler for ``topic`` with ``args``; False if no route matched."""
        handler = self.route(topic)
        if handler is None:
            return False
        handler(*args)
        return True
