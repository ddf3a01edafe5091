"""dlcourse.stopwatch: one clock for wall-clock and CPU seconds, of a block or of repeated calls."""

from __future__ import annotations

import time

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


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_the_clock_reads_a_known_wait_and_separates_wall_from_cpu():
    """What a broken timer would get wrong: a sleep is wall time without CPU time, a busy loop is both."""
    with stopwatch.timed() as sleeping:
        time.sleep(0.3)
    assert 0.3 <= sleeping.wall_s < 3.0, sleeping
    assert sleeping.cpu_s < 0.1, f"sleeping used {sleeping.cpu_s:.3f} s of CPU"
    with stopwatch.timed() as working:
        busy(0.3)
    assert 0.3 <= working.wall_s < 3.0
    assert working.cpu_s > 0.1, f"a busy loop used only {working.cpu_s:.3f} s of CPU (shared machine: ≥ 1/3 of it)"


def test_time_calls_reads_each_calls_own_duration():
    durations = iter([0.05, 0.15, 0.10])
    walls, cpus = stopwatch.time_calls(lambda: time.sleep(next(durations)), runs=3)
    assert (walls >= [0.05, 0.15, 0.10]).all() and (walls < [1.0, 1.1, 1.05]).all(), walls
    assert walls.argmax() == 1 and (cpus < 0.05).all(), (walls, cpus)
