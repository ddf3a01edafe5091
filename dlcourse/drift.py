"""Is the model still seeing the world it was trained on? Drift statistics, as taught in
13_capstone_fraud_detection.

A deployed model is compared every month with its training period, on three things:

* the **inputs** of all payments (:func:`psi` per feature): cheap, needs no labels, and blind to anything that
  touches only a few rows in ten thousand -- which is what new fraud does;
* the **scores** (:func:`psi` of the model's output): a change in how many payments look suspicious;
* the **confirmed frauds** (:func:`psi` of their features against the training frauds): labels arrive late
  (a card holder disputes a payment days or weeks after it), but a new fraud pattern shows at once among
  them, because it is a large share of a small group.

The statistic is the *population stability index*

    PSI = sum over bins of (current share - reference share) * ln(current share / reference share),

with the bins cut at the reference's deciles (or one bin per value for a feature with few values). By the
rule of thumb used in credit scoring, PSI < 0.1 is stable, 0.1-0.25 a moderate shift worth a look and above
:data:`ALERT_PSI` = 0.25 a major shift that should trigger an investigation. With few rows PSI is noisy
(:func:`psi_noise` measures its spread between two samples of the same period).

Used in notebooks: 13.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ALERT_PSI = 0.25  # a major shift (the credit-scoring rule of thumb: < 0.1 stable, 0.1-0.25 moderate)
FLOOR = 1e-4  # a share of zero would make the logarithm infinite: empty bins count as this share


def _edges(reference: np.ndarray, bins: int) -> np.ndarray | None:
    """Inner bin edges at the reference's quantiles, or None for a feature with at most `bins` values."""
    values = np.unique(reference)
    if len(values) <= bins:
        return None
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(values: np.ndarray, edges: np.ndarray | None, categories: np.ndarray | None) -> np.ndarray:
    if edges is None:
        counts = np.array([(values == c).sum() for c in categories], float)
    else:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1).astype(float)
    return np.maximum(counts / max(len(values), 1), FLOOR)


def psi(reference, current, bins: int = 10) -> float:
    """Population stability index of `current` against `reference` (1-D arrays of one feature or score)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(f"psi needs rows on both sides, got {len(reference)} reference and {len(current)} current")
    edges = _edges(reference, bins)
    categories = np.unique(np.concatenate([reference, current])) if edges is None else None
    ref, cur = _shares(reference, edges, categories), _shares(current, edges, categories)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_table(reference: pd.DataFrame, periods: dict[str, pd.DataFrame], columns: Sequence[str],
              bins: int = 10) -> pd.DataFrame:
    """PSI of each column (rows) in each period (columns) against the reference frame."""
    return pd.DataFrame({name: {c: psi(reference[c], frame[c], bins) for c in columns}
                         for name, frame in periods.items()})


def psi_noise(values, size: int, rounds: int = 50, bins: int = 10, seed: int = 0) -> np.ndarray:
    """PSI between two random halves-of-`size` samples of the same values, `rounds` times: what PSI reads
    when nothing has changed, for groups of `size` rows."""
    values = np.asarray(values, float)
    if size < 1 or 2 * size > len(values):
        raise ValueError(f"size must be between 1 and half the {len(values)} values, got {size}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        picked = rng.permutation(len(values))[: 2 * size]
        out.append(psi(values[picked[:size]], values[picked[size:]], bins))
    return np.array(out)
