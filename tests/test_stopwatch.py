"""dlcourse.stopwatch: one clock for wall-clock and CPU seconds, of a block or of repeated calls."""

from __future__ import annotations

import pytest

from dlcourse import stopwatch


def test_timed_runs_inside_the_block_and_stops_after_it():
    with stopwatch.timed() as clock:
        sum(range(100_000))
        assert clock.wall_s > 0
    wall, cpu = clock.wall_s, clock.cpu_s
    sum(range(100_000))
    assert (clock.wall_s, clock.cpu_s) == (wall, cpu), "a stopped clock keeps its reading"
    assert cpu >= 0


def test_timed_stops_on_an_exception():
    with pytest.raises(KeyError), stopwatch.timed() as clock:
        raise KeyError("x")
    assert clock.wall_s == clock.wall_s


def test_time_calls_times_each_call_after_the_warmup():
    calls = []
    walls, cpus = stopwatch.time_calls(lambda: calls.append(1), runs=3, warmup=2)
    assert len(calls) == 5
    assert walls.shape == cpus.shape == (3,)
    assert (walls >= 0).all() and (cpus >= 0).all()


@pytest.mark.parametrize("runs, warmup, message", [(0, 0, "runs must be an int ≥ 1, got 0"),
                                                   (2, -1, "warmup must be an int ≥ 0, got -1")])
def test_time_calls_refuses_bad_counts(runs, warmup, message):
    with pytest.raises(ValueError, match=message):
        stopwatch.time_calls(lambda: None, runs, warmup)
