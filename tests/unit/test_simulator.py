"""The simulator's pure parts: device ids, source addresses, options and tokens."""

import json

import pytest

from firmware.sim import __main__ as sim_main
from firmware.sim import fleet


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
