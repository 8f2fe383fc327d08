"""The capacity bench's decisions: /proc parsing, when a step counts as held, the knee."""

import math

import pytest

from bench import capacity_steps as cs

# A real /proc/<pid>/stat line, with a command name holding a space and a parenthesis.
STAT = (
    "4242 (python -m x) y) S 1 4242 4242 0 -1 4194560 5125 0 0 0 "
    "1234 567 0 0 20 0 3 0 9906 123456789 9000 18446744073709551615 1 1 0 0 0 0 0 16781312 "
    "16386 0 0 0 17 1 0 0 0 0 0"
)
STATUS = "Name:\tpython\nState:\tS (sleeping)\nVmPeak:\t  300000 kB\nVmRSS:\t   36544 kB\n"


def step(**changes) -> cs.Step:
    base = dict(
        watches=1000,
        held=1000,
        due=2000.0,
        taken=2000,
        sent=5000,
        stored=5000,
        p99_ms=40.0,
        requests=300,
        errors=0,
        seconds=60.0,
    )
    return cs.Step(**(base | changes))


def test_cpu_ticks_are_utime_plus_stime_after_the_command_name():
    assert cs.cpu_ticks(STAT) == 1234 + 567


def test_machine_ticks_count_everything_but_idle_and_iowait():
    stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"
    assert cs.machine_ticks(stat) == (100 + 5 + 50 + 3 + 2, 1000)


def test_rss_is_read_in_kib():
    assert cs.rss_kib(STATUS) == 36544


def test_a_status_without_rss_is_an_error():
    with pytest.raises(ValueError, match="VmRSS"):
        cs.rss_kib("Name:\tzombie\nState:\tZ (zombie)\n")


def test_p99_is_the_nearest_rank():
    assert cs.p99([float(i) for i in range(1, 101)]) == 99.0
    assert cs.p99([5.0]) == 5.0
    assert cs.p99([]) == math.inf


def test_a_clean_step_is_held():
    assert cs.failure(step()) is None
    assert step().per_second == pytest.approx(2000 / 60)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"stored": 4999}, "1 readings lost"),
        ({"p99_ms": 500.0}, "p99 500 ms"),
        ({"taken": 1700}, "not asked at the cadence"),
        ({"held": 990}, "only 990 of 1000"),
        ({"errors": 2}, "2 of 300 latest-reading calls failed"),
    ],
)
def test_each_broken_target_fails_the_step(changes, reason):
    assert reason in cs.failure(step(**changes))


def test_the_knee_is_the_last_step_before_the_first_failure():
    steps = [
        step(watches=1000, held=1000),
        step(watches=2000, held=2000),
        step(watches=5000, held=5000, stored=1),
        step(watches=10000, held=10000),
    ]
    assert cs.knee(steps).watches == 2000
    assert cs.knee([step(stored=0)]) is None
    assert cs.knee([]) is None


def test_the_busiest_part_leaves_out_the_load_generator():
    s = step()
    s.parts = [
        cs.Part("watches-0", 90.0, 50.0),
        cs.Part("gw-0", 60.0, 80.0),
        cs.Part("web", 5.0, 70.0),
    ]
    assert cs.busiest(s).name == "gw-0"


def test_gateways_are_filled_in_turn():
    assert cs.fill(500, 19_800) == [500]
    assert cs.fill(40_000, 19_800) == [19_800, 19_800, 400]
    assert cs.fill(39_600, 19_800) == [19_800, 19_800]
    with pytest.raises(ValueError, match="at least one"):
        cs.fill(10, 0)


def test_steps_parse_and_bad_steps_are_refused():
    assert cs.parse_steps("1000, 2_000,5000") == [1000, 2000, 5000]
    for bad in ("", "1000,500", "10,x", "0,10", "10,10"):
        with pytest.raises(ValueError, match="steps must be"):
            cs.parse_steps(bad)
