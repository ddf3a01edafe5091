"""Timing a piece of code: wall-clock and process-CPU seconds, the one clock every lesson module reads.

Wall-clock time is what the reader waits for; CPU time (all threads of this process) is what the machine
spends, and is steadier on a shared machine. Both come from one :class:`Clock`:

    with stopwatch.timed() as clock:                 # clock.wall_s, clock.cpu_s: running inside, final after
        model.fit(...)
    walls, cpus = stopwatch.time_calls(fn, runs=5, warmup=1)   # seconds of each of 5 calls of fn()

Used in notebooks: 05, 11.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np


class Clock:
    """Wall-clock and process-CPU seconds since it was made: running until :meth:`stop`, fixed after."""

    def __init__(self) -> None:
        self._start = (time.perf_counter(), time.process_time())
        self._end: tuple[float, float] | None = None

    def _now(self) -> tuple[float, float]:
        return self._end or (time.perf_counter(), time.process_time())

    @property
    def wall_s(self) -> float:
        return self._now()[0] - self._start[0]

    @property
    def cpu_s(self) -> float:
        return self._now()[1] - self._start[1]

    def stop(self) -> None:
        self._end = self._now()

    def __repr__(self) -> str:
        return f"Clock(wall_s={self.wall_s:.3f}, cpu_s={self.cpu_s:.3f})"


@contextmanager
def timed() -> Iterator[Clock]:
    """Measure a block: yields a :class:`Clock` that stops when the block ends (even by an exception)."""
    clock = Clock()
    try:
        yield clock
    finally:
        clock.stop()


def time_calls(call: Callable[[], object], runs: int, warmup: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and process-CPU seconds of each of `runs` calls of `call()`, after `warmup` untimed calls
    (the first call of a TensorFlow function traces and compiles it)."""
    if not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an int ≥ 1, got {runs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int ≥ 0, got {warmup!r}")
    for _ in range(warmup):
        call()
    walls, cpus = [], []
    for _ in range(runs):
        with timed() as clock:
            call()
        walls.append(clock.wall_s)
        cpus.append(clock.cpu_s)
    return np.array(walls), np.array(cpus)
