"""Telling a difference from noise: repeated runs (seeds, timed runs) and their spread, as used in
03_input_pipelines (throughput) and 06_cnn_in_keras (accuracy over seeds).

A difference between two settings counts only when it is larger than the run-to-run spread of either:
every run of one beats every run of the other.

Used in notebooks: 03, 06.
"""

from __future__ import annotations

from collections.abc import Sequence


def higher_beyond_noise(runs: Sequence[float], than: Sequence[float]) -> bool:
    """True when even the lowest of `runs` is above the highest of `than`: higher by more than the spread of
    either. ``higher_beyond_noise(a, b) or higher_beyond_noise(b, a)``: the two differ beyond the noise."""
    if len(runs) == 0 or len(than) == 0:
        raise ValueError(f"runs and than must hold at least one run each, got {len(runs)} and {len(than)}")
    return min(runs) > max(than)
