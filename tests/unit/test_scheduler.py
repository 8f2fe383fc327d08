"""The scheduler's pure parts: ticks, the availability rule, the seed's skip rule, settings."""

import asyncio
import json
import threading

from services.common.topics import Topics
from services.scheduler.__main__ import Inbox, jobs
from services.scheduler.fleet import Fleet, watch_slot
from services.scheduler.jobs import Slots, next_tick
from services.scheduler.settings import Settings

GATEWAY = "smartcab/services/gateway/status"


def status(device: str) -> str:
    return f"smartcab/devices/{device}/status"


def fleet(**statuses: str) -> Fleet:
    f = Fleet(Topics())
    f.on_message(GATEWAY, b"online", 0)
    for device, state in statuses.items():
        f.on_message(status(device.replace("_", "-")), state.encode(), 0)
    return f


def test_missed_ticks_are_skipped_not_caught_up():
    assert next_tick(start=0, interval=30, k=1, now=30.01) == 2  # on time
    assert next_tick(start=0, interval=30, k=1, now=185) == 7  # 5 ticks missed: no burst
    assert next_tick(start=0, interval=30, k=3, now=89.9) == 4


def test_online_needs_the_device_and_the_gateway():
    f = fleet(wch_01="online", wch_02="offline", cab_01="online", img_01="online")
    assert f.online("wch-01") and not f.online("wch-02") and not f.online("wch-09")
    assert f.online_of_kind("watch") == ["wch-01"]
    assert f.online_of_kind("cabinet") == ["cab-01"]
    f.on_message(GATEWAY, b"offline", 1)  # the gateway died; its devices' statuses are stale
    assert not f.online("wch-01") and f.online_of_kind("camera") == []


def test_seed_rule_skips_a_watch_that_reported_on_its_own():
    f = fleet(wch_01="online")
    assert f.bpm_skip_reason("wch-01", 30, interval=30, answer_window=15) is None
    f.requested("wch-01", 30)
    f.on_message("smartcab/devices/wch-01/vitals/heart_rate", b"{}", 30.4)  # our answer
    assert f.bpm_skip_reason("wch-01", 60, 30, 15) is None
    f.on_message("smartcab/devices/wch-01/vitals/heart_rate", b"{}", 75)  # on its own
    assert f.bpm_skip_reason("wch-01", 90, 30, 15) == "reported within the interval"
    assert f.bpm_skip_reason("wch-01", 105, 30, 15) is None  # 30 s since it reported
    f.on_message(status("wch-01"), b"offline", 106)
    assert f.bpm_skip_reason("wch-01", 120, 30, 15) == "offline"


def test_settings_and_jobs_follow_the_environment():
    default = Settings.from_env({})
    assert (default.bpm_interval, default.inventory_interval, default.snapshot_interval) == (
        30.0,
        300.0,
        0.0,
    )
    # the device jobs come first; report jobs (the reporter's slot) follow them
    assert [j.name for j in jobs(default)][:2] == ["bpm", "inventory"]
    assert "snapshot" not in [j.name for j in jobs(default)]
    every = Settings.from_env(
        {
            "SCHEDULER_BPM_INTERVAL": "5",
            "SCHEDULER_SNAPSHOT_INTERVAL": "60",
            "SCHEDULER_REPORT_INTERVAL": "0",
        }
    )
    # spread (the default): the bpm job runs once per tenth of a second, a 50th of 5 s
    assert [(j.name, j.interval) for j in jobs(every)] == [
        ("bpm", 0.1),
        ("inventory", 300.0),
        ("snapshot", 60.0),
    ]
    burst = Settings.from_env({"SCHEDULER_BPM_INTERVAL": "5", "SCHEDULER_BPM_SPREAD": "0"})
    assert (burst.bpm_slots, jobs(burst)[0].interval) == (1, 5.0)
    assert Settings.from_env({}).bpm_slots == 300  # 30 s in parts of 0.1 s
    assert Settings.from_env({"SCHEDULER_BPM_INTERVAL": "3600"}).bpm_slots == 300  # at most
    assert Settings.from_env({"SCHEDULER_BPM_INTERVAL": "0.1"}).bpm_slots == 1
    no_inventory = {"SCHEDULER_INVENTORY_INTERVAL": "0", "SCHEDULER_REPORT_INTERVAL": "0"}
    assert [j.name for j in jobs(Settings.from_env(no_inventory))] == ["bpm"]


def test_with_several_gateways_a_dead_ones_watches_are_not_asked():
    f = Fleet(Topics())
    for gw, device in (("gw-a", "wch-01"), ("gw-b", "wch-02")):
        f.on_message(f"smartcab/services/gateway-{gw}/status", b"online", 0)
        holder = json.dumps({"gateway": gw, "connection": "c", "ts": "2026-01-01T00:00:00.000Z"})
        f.on_message(f"smartcab/devices/{device}/gateway", holder.encode(), 0)
        f.on_message(status(device), b"online", 0)
    assert f.online_of_kind("watch") == ["wch-01", "wch-02"]
    f.on_message("smartcab/services/gateway-gw-a/status", b"offline", 1)
    assert f.online_of_kind("watch") == ["wch-02"]
    assert f.bpm_skip_reason("wch-01", 2, 30, 20) == "offline"


def test_slots_come_round_once_per_interval_and_a_late_run_catches_up():
    slots = Slots(4, 2.0)  # parts of 0.5 s
    assert slots.slice == 0.5
    assert [slots.due(t) for t in (10.0, 10.5, 11.02, 11.49, 12.0)] == [[0], [1], [2], [3], [0]]
    assert slots.due(12.03) == []  # the same part again: nothing new is due
    assert slots.due(13.5) == [1, 2, 3]  # two parts were missed: asked now, not skipped
    assert sorted(slots.due(20.0)) == [0, 1, 2, 3]  # far behind: each watch once, no more


def test_each_watch_has_one_fixed_slot_and_the_slots_split_the_fleet():
    f = Fleet(Topics(), slots=10)
    f.on_message(GATEWAY, b"online", 0)
    ids = [f"wch-{i}" for i in range(1000)]
    for device in [*ids, "cab-01"]:
        f.on_message(status(device), b"online", 0)
    f.on_message(status("wch-7"), b"offline", 1)  # already known: stays in its slot
    parts = [f.watches_in(s) for s in range(10)]
    assert sorted(d for part in parts for d in part) == sorted(ids)  # every watch, once
    assert all(60 < len(part) < 140 for part in parts), [len(p) for p in parts]
    assert "wch-7" in f.watches_in(watch_slot("wch-7", 10))
    assert watch_slot("wch-7", 10) == watch_slot("wch-7", 10) and watch_slot("wch-7", 1) == 0


def test_a_command_goes_to_the_holders_own_topic_when_it_has_an_id():
    f = fleet(wch_01="online")
    assert f.gateway_of("wch-01") == ""  # no record: the gateway without an id
    holder = json.dumps({"gateway": "gw-a", "connection": "c", "ts": "2026-01-01T00:00:00.000Z"})
    f.on_message("smartcab/devices/wch-01/gateway", holder.encode(), 0)
    assert f.gateway_of("wch-01") == "gw-a"
    assert Topics().gateway_cmd("gw-a", "wch-01") == "smartcab/gateways/gw-a/cmd/wch-01"
    assert Topics().gateway_cmds("gw-a") == "smartcab/gateways/gw-a/cmd/+"


def test_the_inbox_hands_messages_to_the_loop_in_order_with_few_wakeups():
    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        handled: list[int] = []
        done = asyncio.Event()
        wakeups = 0
        real = loop.call_soon_threadsafe

        def counting(*args):
            nonlocal wakeups
            wakeups += 1
            return real(*args)

        loop.call_soon_threadsafe = counting  # counts the inbox's own wake-ups only

        def handle(n: int) -> None:
            handled.append(n)
            if n == 999:
                loop.call_soon(done.set)

        inbox = Inbox(loop, handle)
        sender = threading.Thread(target=lambda: [inbox.put(n) for n in range(1000)])
        sender.start()
        await asyncio.wait_for(done.wait(), 10)
        sender.join()
        return handled, wakeups

    handled, wakeups = asyncio.run(main())
    assert handled == list(range(1000))
    assert 1 <= wakeups < 1000
