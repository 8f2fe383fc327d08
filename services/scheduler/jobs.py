"""Periodic jobs on a fixed grid: no drift, and missed ticks are skipped, never caught up.

A job runs at ``start + k * interval``. If a run is late (the machine was
suspended, a job was slow), the ticks that passed are dropped, so there is never
a burst of requests afterwards.

The ``bpm`` job is cut into slots (``Slots``): the interval is split into equal parts and
each run asks the watches of the part now due, so the requests are spread over the
interval and each watch is still asked once per interval. A part missed by a late run is
asked at the next one (at most one interval's worth at once).

Report jobs: ``report_jobs()`` is the slot the reporter uses. It returns extra
``Job`` objects that the scheduler runs beside its own, with a ``JobContext``
to publish on MQTT: every ``SCHEDULER_REPORT_INTERVAL`` seconds it asks the
reporter for last week's reports (docs/reports.md). The reporter renders each
week once, so asking hourly only makes sure a restart never skips a week.
"""

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.common import logs
from services.common.errors import MqttError
from services.common.mqtt import MqttClient

from .fleet import Fleet
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What a job may use: the settings, the MQTT client and the fleet's state."""

    settings: Settings
    client: MqttClient
    fleet: Fleet
    now: Callable[[], float]


@dataclass(frozen=True)
class Job:
    """``run`` is called on the event loop every ``interval`` seconds; keep it quick."""

    name: str
    interval: float
    run: Callable[[JobContext], None]


def previous_week(now: datetime | None = None) -> str:
    """The ISO week before the current one (UTC), e.g. ``2026-W47``."""
    year, week, _ = ((now or datetime.now(UTC)) - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def ask_weekly_reports(ctx: JobContext) -> None:
    """Ask the reporter for last week's report of every patient who shares with a doctor."""
    if not ctx.client.connected:
        # paho would queue it; the next tick asks again anyway
        logs.event(log, logging.INFO, "scheduler.tick_skipped", job="weekly_reports")
        return
    week = previous_week()
    topic = ctx.client.topics.report_weekly
    try:
        ctx.client.publish(topic, json.dumps({"week": week}), qos=1)
    except MqttError as exc:
        logs.event(log, logging.WARNING, "scheduler.not_sent", job="weekly_reports", error=exc)
        return
    logs.event(log, logging.DEBUG, "scheduler.weekly_reports", week=week)


def report_jobs(settings: Settings) -> list[Job]:
    """The reporter's jobs: last week's reports, asked for every ``report_interval``."""
    if settings.report_interval <= 0:
        return []
    return [Job("weekly_reports", settings.report_interval, ask_weekly_reports)]


class Slots:
    """Which of ``count`` parts of an interval are due, run after run."""

    def __init__(self, count: int, interval: float) -> None:
        self.count = count
        self.slice = interval / count
        self._start: float | None = None
        self._last = -1  # the last part asked, counted from the first run

    def due(self, now: float) -> list[int]:
        """The slots to ask at ``now``: the one whose turn it is, and any a late run missed."""
        if self._start is None:
            self._start = now
        # rounded: a run a little late or early still counts as its own part
        current = math.floor((now - self._start) / self.slice + 0.5)
        first = max(self._last + 1, current - self.count + 1)
        self._last = max(self._last, current)
        return [n % self.count for n in range(first, current + 1)]


def next_tick(start: float, interval: float, k: int, now: float) -> int:
    """The index of the next tick to run after tick ``k`` ran at ``now``, skipping missed ones."""
    return max(k + 1, math.floor((now - start) / interval) + 1)


async def run_every(job: Job, ctx: JobContext, stop: asyncio.Event) -> None:
    """Run ``job`` on its grid until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    k = 1
    while not stop.is_set():
        delay = start + k * job.interval - loop.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        try:
            job.run(ctx)
        except Exception:  # one failing run must not end the schedule
            log.exception("event=job.failed job=%s", job.name)
        skipped = next_tick(start, job.interval, k, loop.time()) - k - 1
        if skipped > 0:
            logs.event(log, logging.WARNING, "job.ticks_skipped", job=job.name, skipped=skipped)
        k += 1 + max(skipped, 0)
