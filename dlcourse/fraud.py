"""Fraud-detection evaluation, as taught in 13_capstone_fraud_detection.

A fraud model is judged by what it catches at an alert rate a bank can afford, not by accuracy. The
functions here take true labels ``y`` (0/1), model scores (higher = more suspicious) and, where money is
involved, the transaction amounts:

* :func:`load_period` -- one period of notebook 02's feature set as model inputs plus the columns the
  evaluation needs (amount, fraud pattern, timestamp);
* :func:`recall_at_fpr` -- the share of frauds caught when at most a given share of legitimate payments is
  flagged;
* :func:`cost_curve` / :func:`cheapest_threshold` -- the money a threshold costs under a stated cost model;
* :func:`per_pattern` -- which fraud patterns a set of alerts catches and misses;
* :func:`bootstrap_pr_auc` -- the PR-AUC of several models on bootstrap resamples of the same rows: the noise
  of a PR-AUC, and of the difference between two models.

Used in notebooks: 13, 14.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlcourse import pipelines


@dataclass
class Period:
    """One period of the feature set, in time order: model inputs ``x`` (encoded, unscaled), labels ``y``
    and the rows themselves (``frame``: the model's columns plus customer_id, merchant_id, device_id and
    fraud_pattern, with "legitimate" for the rows that are not fraud), row-aligned."""

    x: np.ndarray
    y: np.ndarray
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.y)


def load_period(files: Sequence[Path], after=None, before=None) -> Period:
    """Rows with ``after <= timestamp < before`` (either may be None) in time order: inputs encoded by
    :func:`dlcourse.pipelines.encode`, so the network (03's stream) and a baseline see the same features."""
    import pyarrow.parquet as pq

    columns = [*pipelines.READ_COLUMNS, "customer_id", "merchant_id", "device_id", "fraud_pattern"]
    frames = []
    for path in files:
        frame = pq.read_table(path, columns=columns).to_pandas()
        keep = np.ones(len(frame), bool)
        if after is not None:
            keep &= (frame["timestamp"] >= after).to_numpy()
        if before is not None:
            keep &= (frame["timestamp"] < before).to_numpy()
        frames.append(frame[keep])
    frame = pd.concat(frames, ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)
    frame["fraud_pattern"] = frame["fraud_pattern"].fillna("").replace("", "legitimate")
    x, y = pipelines.encode(frame)
    return Period(x, y.astype("int64"), frame)


def _check(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, score = np.asarray(y), np.asarray(score, dtype="float64")
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError(f"y and score must be 1-D and of equal length, got shapes {y.shape} and {score.shape}")
    if not np.isin(y, (0, 1)).all() or y.min() == y.max():
        raise ValueError("y must hold 0/1 labels with both classes present")
    return y.astype(bool), score


def recall_at_fpr(y, score, max_fpr: float) -> tuple[float, float]:
    """(recall, threshold): the largest share of frauds flagged by ``score >= threshold`` while at most
    ``max_fpr`` of the legitimate rows are flagged (the bank's alert budget)."""
    if not 0 <= max_fpr < 1:
        raise ValueError(f"max_fpr must be ≥ 0 and < 1, got {max_fpr}")
    y, score = _check(y, score)
    legit = np.sort(score[~y])[::-1]
    allowed = int(np.floor(max_fpr * len(legit)))  # legitimate rows we may flag
    # flag everything strictly above the (allowed+1)-th highest legitimate score
    threshold = np.nextafter(legit[allowed], np.inf) if allowed < len(legit) else -np.inf
    return float((score[y] >= threshold).mean()), float(threshold)


def cost_curve(y, score, amount, review_cost: float, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Cost of each threshold: every alert costs ``review_cost`` (an analyst's look, a call to the card
    holder); every missed fraud costs its amount. Columns: threshold, alerts, caught, missed_eur,
    review_eur, total_eur."""
    if review_cost < 0:
        raise ValueError(f"review_cost must be ≥ 0, got {review_cost}")
    y, score = _check(y, score)
    amount = np.asarray(amount, dtype="float64")
    if thresholds is None:
        thresholds = np.unique(np.quantile(score, np.linspace(0, 1, 2001)))
    order = np.argsort(score)
    s, fraud, fraud_eur = score[order], y[order], np.where(y[order], amount[order], 0.0)
    # rows below the threshold are approved: cumulative sums over the ascending scores
    below = np.searchsorted(s, thresholds, side="left")
    missed_eur = np.concatenate([[0.0], np.cumsum(fraud_eur)])[below]
    caught = fraud.sum() - np.concatenate([[0], np.cumsum(fraud)])[below]
    alerts = len(s) - below
    table = pd.DataFrame({"threshold": thresholds, "alerts": alerts, "caught": caught, "missed_eur": missed_eur,
                          "review_eur": alerts * review_cost})
    table["total_eur"] = table["missed_eur"] + table["review_eur"]
    return table


def cheapest_threshold(y, score, amount, review_cost: float) -> float:
    """The threshold with the lowest total cost under :func:`cost_curve`'s model (choose it on validation
    data, then apply it unchanged to the test period)."""
    table = cost_curve(y, score, amount, review_cost)
    return float(table.loc[table["total_eur"].idxmin(), "threshold"])


def per_pattern(frame: pd.DataFrame, flagged) -> pd.DataFrame:
    """Rows, flagged and the flagged share for each fraud pattern (and the legitimate rows, whose flagged
    share is the false-positive rate)."""
    flagged = np.asarray(flagged, dtype=bool)
    if len(flagged) != len(frame):
        raise ValueError(f"flagged must have one entry per row of frame ({len(frame)}), got {len(flagged)}")
    table = (pd.DataFrame({"pattern": frame["fraud_pattern"].to_numpy(), "flagged": flagged})
             .groupby("pattern")["flagged"].agg(rows="size", flagged="sum"))
    table["flagged_share"] = table["flagged"] / table["rows"]
    return table.sort_values("flagged_share", ascending=False)


def pattern_gaps(frame: pd.DataFrame, flagged_a, flagged_b, rounds: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For each fraud pattern (not the legitimate rows), the difference between two models' flagged shares of
    its rows, a - b (``gap``), and two standard errors of it (``noise``) from a paired bootstrap of the pattern's
    rows: both models judged on the same resampled rows, so what they catch alike cancels out."""
    a, b = (np.asarray(f, dtype=bool) for f in (flagged_a, flagged_b))
    if not len(a) == len(b) == len(frame):
        raise ValueError(f"flagged_a and flagged_b must have one entry per row of frame ({len(frame)}), "
                         f"got {len(a)} and {len(b)}")
    pattern = frame["fraud_pattern"].to_numpy()
    draw = np.random.default_rng(seed)
    rows = {}
    for name in sorted(set(pattern) - {"legitimate"}):
        d = a[pattern == name].astype(float) - b[pattern == name]
        boot = d[draw.integers(0, len(d), (rounds, len(d)))].mean(axis=1)
        rows[name] = {"gap": d.mean(), "noise": 2 * boot.std(ddof=1)}
    return pd.DataFrame(rows).T


def _weighted_average_precision(y: np.ndarray, order: np.ndarray, last: np.ndarray, weight: np.ndarray) -> float:
    """scikit-learn's average precision with row weights, for rows already sorted by descending score
    (``order``) where ``last`` marks the last row of each run of equal scores (one threshold per run)."""
    w = weight[order]
    tp = np.cumsum(w * y[order])[last]
    fp = np.cumsum(w * ~y[order])[last]
    if tp[-1] == 0:
        return float("nan")
    precision = np.divide(tp, tp + fp, out=np.ones_like(tp), where=(tp + fp) > 0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def bootstrap_pr_auc(y, scores: Sequence, rounds: int = 200, seed: int = 0) -> np.ndarray:
    """PR-AUC (average precision) of each of `scores` on `rounds` bootstrap resamples of the rows, the same
    resamples for every score (so the spread of a difference between two models is its noise): an array of
    shape (rounds, len(scores)). The standard error of a PR-AUC is the standard deviation of its column.

    A resample draws as many rows as there are, with replacement; it is computed as row weights (how often
    each row was drawn), so each round costs one pass over rows sorted once per score.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be ≥ 1, got {rounds}")
    prepared = []
    for score in scores:
        yb, s = _check(y, score)
        order = np.argsort(-s, kind="stable")
        ranked = s[order]
        last = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
        prepared.append((yb, order, last))
    rng = np.random.default_rng(seed)
    n = len(prepared[0][0]) if prepared else 0
    out = np.empty((rounds, len(prepared)))
    for r in range(rounds):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype("float64")
        for k, (yb, order, last) in enumerate(prepared):
            out[r, k] = _weighted_average_precision(yb, order, last, weight)
    return out
