"""dlcourse.drift: the population stability index and its noise."""

import numpy as np
import pytest

from dlcourse import drift


def test_psi_is_zero_for_the_same_sample_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 20_000)
    assert drift.psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    same = drift.psi(reference, rng.normal(0, 1, 20_000))
    small, large = drift.psi(reference, rng.normal(0.2, 1, 20_000)), drift.psi(reference, rng.normal(1, 1, 20_000))
    assert same < 0.01 < small < drift.ALERT_PSI < large


def test_psi_of_a_feature_with_few_values_counts_each_value():
    reference = np.r_[np.zeros(900), np.ones(100)]
    current = np.r_[np.zeros(500), np.ones(500)]
    expected = (0.5 - 0.9) * np.log(0.5 / 0.9) + (0.5 - 0.1) * np.log(0.5 / 0.1)
    assert drift.psi(reference, current) == pytest.approx(expected)
    assert drift.psi(reference, np.full(10, 2.0)) > drift.ALERT_PSI  # a value never seen before


def test_psi_noise_reads_the_spread_when_nothing_changed():
    values = np.random.default_rng(1).lognormal(0, 1, 10_000)
    small_groups, large_groups = drift.psi_noise(values, 100), drift.psi_noise(values, 5_000)
    assert np.median(small_groups) > 5 * np.median(large_groups)


@pytest.mark.parametrize("bins", [1, 2.5, True])
def test_bad_bins_are_named(bins):
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        drift.psi([1, 2, 3], [1, 2], bins=bins)


def test_empty_sides_are_named():
    with pytest.raises(ValueError, match="rows on both sides"):
        drift.psi([], [1.0])
    with pytest.raises(ValueError, match="size must be between 1 and half"):
        drift.psi_noise(np.arange(10.0), 6)
