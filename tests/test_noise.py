"""dlcourse.noise: a difference counts only beyond the runs' spread."""

from __future__ import annotations

import pytest

from dlcourse import noise


def test_higher_beyond_noise_needs_the_ranges_apart():
    assert noise.higher_beyond_noise([10, 12], than=[1, 3])
    assert not noise.higher_beyond_noise([2.5, 12], than=[1, 3])
    assert not noise.higher_beyond_noise([1, 3], than=[10, 12])
    assert not noise.higher_beyond_noise([3, 4], than=[1, 3]), "touching ranges are within the noise"


def test_higher_beyond_noise_needs_runs():
    with pytest.raises(ValueError, match="runs and than must hold at least one run each, got 0 and 2"):
        noise.higher_beyond_noise([], than=[1, 2])
