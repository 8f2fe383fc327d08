"""The simulator's pure parts: device ids, source addresses, options, tokens, shelf, camera."""

import io
import json
import random

import pytest
from PIL import Image, ImageStat

from firmware.sim import __main__ as sim_main
from firmware.sim import fleet, frames, hardware


def test_device_ids():
    assert fleet.device_ids("wch", 1) == ["wch"]
    assert fleet.device_ids("wch", 3) == ["wch-01", "wch-02", "wch-03"]
    assert fleet.device_ids("img", 2, first=99) == ["img-099", "img-100"]
    assert len(set(fleet.device_ids("wch", 5000))) == 5000
    assert fleet.device_ids("wch", 5000)[-1] == "wch-5000"


def test_source_addresses_spread_only_when_needed():
    small = fleet.Fleet(fleet.Options(watches=10, cameras=0, cabinets=0))
    assert small._sources == [None]
    big = fleet.Fleet(fleet.Options(watches=100, cameras=0, cabinets=0))
    assert big._sources == ["127.0.1.0", "127.0.1.1", "127.0.1.2", "127.0.1.3"]
    remote = fleet.Fleet(fleet.Options(watches=100, cameras=0, cabinets=0, spread_sources=False))
    assert remote._sources == [None]


def test_command_line_options(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"wch-01": "abc", "cab": "xyz"}))
    args = sim_main.parse_args(
        ["--gateway", "gw.local:6000", "--watches", "2", "--token-file", str(tokens), "--seed", "9"]
    )
    opts = sim_main.options(args)
    assert (opts.host, opts.port, opts.watches, opts.seed) == ("gw.local", 6000, 2, 9)
    assert opts.tokens == {"wch-01": "abc", "cab": "xyz"}
    assert opts.spread_sources is None
    with pytest.raises(SystemExit):
        sim_main.options(sim_main.parse_args(["--gateway", "no-port"]))


def test_tokens_are_given_to_their_devices():
    sim = fleet.Fleet(fleet.Options(watches=2, cameras=0, cabinets=0, tokens={"wch-02": "s3"}))
    assert [(d.device_id, d.token) for d in sim.devices] == [("wch-01", None), ("wch-02", "s3")]


# --- the cabinet's shelf and the camera that looks at it -------------------------------


class Clock:
    """A monotonic clock and a wall clock that tests move by hand."""

    def __init__(self, wall: float = 0.0) -> None:
        self.t = 0.0
        self.wall0 = wall

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall0 + self.t


def test_packs_are_used_up_one_by_one_and_restocked_only_when_empty():
    clock = Clock()
    items = ["Oat bars", "Oat bars", "Oat bars"]
    shelf = hardware.Shelf(3, random.Random(1), clock, every_s=0, items=items, wall=clock.wall)
    seen = []
    for _ in range(5):
        shelf.use("Oat bars")
        seen.append(sum(shelf.present))
    assert seen == [2, 1, 0, 3, 2]  # never back up by one: taken packs stay gone


def test_a_box_comes_back_a_minute_or_two_after_it_was_taken():
    clock = Clock()
    shelf = hardware.Shelf(1, random.Random(2), clock, every_s=0, items=["Aspirin"])
    shelf.use("Aspirin")
    assert shelf.present == [False]
    shelf.use("Aspirin")  # reaching for a box that is out changes nothing
    assert shelf.present == [False]
    clock.t = hardware.Shelf.BACK_S[0] - 1
    shelf.read()
    assert shelf.present == [False]
    clock.t = hardware.Shelf.BACK_S[1] + 1
    shelf.read()
    assert shelf.present == [True]


def test_random_use_is_as_rare_as_asked_and_skips_boxes_on_a_routine():
    clock = Clock()
    items = ["Aspirin", "Oat bars", "Oat bars", "Oat bars"]
    routine = {"Aspirin": [12 * 3600.0]}
    shelf = hardware.Shelf(
        4, random.Random(3), clock, every_s=4 * 3600, items=items, routine=routine, wall=lambda: 0.0
    )
    falls, before = 0, list(shelf.present)
    for step in range(1, 10 * 24 * 60):  # ten days, a minute at a time
        clock.t = step * 60.0
        shelf.read()
        now = list(shelf.present)
        falls += sum(1 for a, b in zip(before, now, strict=True) if a and not b)
        before = now
    assert shelf.present[0]  # the routine's box is never taken at random
    assert 30 <= falls <= 80  # a few packs a day, not one a minute


def test_a_routine_takes_its_box_at_its_time_of_day():
    clock = Clock(wall=86400 * 100 + 7 * 3600)  # 07:00 UTC
    items = ["Aspirin", "Vitamin C"]
    routine = {"Aspirin": [8 * 3600.0], "Vitamin C": [20 * 3600.0]}
    shelf = hardware.Shelf(
        2, random.Random(4), clock, every_s=0, items=items, routine=routine, wall=clock.wall
    )
    clock.t = 3599
    shelf.read()
    assert shelf.present == [True, True]
    clock.t = 3601  # 08:00:01
    shelf.read()
    assert shelf.present == [False, True]
    clock.t = 3601 + hardware.Shelf.BACK_S[1]
    shelf.read()
    assert shelf.present == [True, True]
    clock.t = 13 * 3600 + 1  # 20:00:01
    shelf.read()
    assert shelf.present == [True, False]


def test_the_camera_photographs_its_cabinet_as_it_is():
    opts = fleet.Options(watches=0, cameras=1, cabinets=1, items=[("Aspirin", 1), ("Oats", 2)])
    sim = fleet.Fleet(opts)
    camera, cabinet = sim.devices
    assert (camera.device_id, cabinet.device_id) == ("img", "cab")
    assert cabinet.hw.items == ["Aspirin", "Oats", "Oats"]
    full = Image.open(io.BytesIO(camera.app.cam.capture()))
    cabinet.hw.set(1, False)
    one_taken = Image.open(io.BytesIO(camera.app.cam.capture()))
    assert full.size == one_taken.size == (640, 480)
    # the oats stand on the second shelf (y 300): the first box's place is empty now, the
    # second box is where it was
    gap = (20, 300 - 60, 20 + 88, 300)
    kept = (20 + frames.SLOT_W, 300 - 60, 20 + frames.SLOT_W + 88, 300)

    def mean(img, area):
        return sum(ImageStat.Stat(img.crop(area).convert("L")).mean)

    assert abs(mean(full, gap) - mean(one_taken, gap)) > 20
    assert abs(mean(full, kept) - mean(one_taken, kept)) < 8


def test_items_and_routine_options():
    args = sim_main.parse_args(
        ["--items", "Aspirin:1,Oat bars:3", "--taken-at", "Aspirin=08:00,20:30"]
    )
    opts = sim_main.options(args)
    assert opts.items == [("Aspirin", 1), ("Oat bars", 3)]
    assert opts.routine == {"Aspirin": [8 * 3600, 20 * 3600 + 30 * 60]}
    for bad in (["--items", "Aspirin"], ["--items", "Oats:0"], ["--taken-at", "Aspirin=25:00"]):
        with pytest.raises(SystemExit, match=r"--items|--taken-at"):
            sim_main.options(sim_main.parse_args(bad))
