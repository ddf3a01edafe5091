"""dlcourse.fraud: the evaluation of notebook 13, checked against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from dlcourse import fraud, pipelines, prepare


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.02).astype(int)
    score = np.round(rng.normal(y * 2.0, 1.0), 2)  # rounded: ties happen, as with real models
    amount = rng.uniform(1, 500, len(y))
    return y, score, amount


def test_recall_at_fpr_keeps_the_alert_budget_and_matches_the_roc_curve(scored):
    y, score, _ = scored
    for budget in (0.0, 0.001, 0.01, 0.1, 0.5):
        recall, threshold = fraud.recall_at_fpr(y, score, budget)
        flagged = score >= threshold
        assert flagged[y == 0].mean() <= budget, f"budget {budget} exceeded"
        fpr, tpr, _ = roc_curve(y, score)
        assert recall == pytest.approx(tpr[fpr <= budget].max()), f"not the best recall within budget {budget}"


def test_cost_curve_equals_brute_force(scored):
    y, score, amount = scored
    table = fraud.cost_curve(y, score, amount, review_cost=3.0)
    for _, row in table.sample(50, random_state=1).iterrows():
        flagged = score >= row.threshold
        assert row.alerts == flagged.sum()
        assert row.caught == (flagged & (y == 1)).sum()
        assert row.missed_eur == pytest.approx(amount[(~flagged) & (y == 1)].sum())
        assert row.total_eur == pytest.approx(row.missed_eur + 3.0 * flagged.sum())
    best = fraud.cheapest_threshold(y, score, amount, 3.0)
    assert table.loc[table.threshold == best, "total_eur"].iloc[0] == table.total_eur.min()


def test_dearer_reviews_never_lower_the_threshold(scored):
    y, score, amount = scored
    thresholds = [fraud.cheapest_threshold(y, score, amount, c) for c in (0.1, 1, 10, 100, 1000)]
    assert thresholds == sorted(thresholds)


def test_per_pattern_counts_every_row():
    frame = pd.DataFrame({"fraud_pattern": ["legitimate"] * 4 + ["card_testing"] * 2 + ["account_takeover"]})
    table = fraud.per_pattern(frame, [0, 0, 0, 1, 1, 1, 0])
    assert table["rows"].sum() == 7
    assert table.loc["card_testing", "flagged_share"] == 1.0
    assert table.loc["legitimate", "flagged_share"] == 0.25
    assert table.loc["account_takeover", "flagged"] == 0


def test_pattern_gaps_measure_a_difference_and_its_noise():
    frame = pd.DataFrame({"fraud_pattern": ["legitimate"] * 10 + ["card_testing"] * 100 + ["account_takeover"] * 100})
    a = np.r_[np.zeros(10), np.ones(100), np.ones(100)]
    b = np.r_[np.zeros(10), np.ones(100), np.ones(50), np.zeros(50)]
    gaps = fraud.pattern_gaps(frame, a, b, seed=1)
    assert list(gaps.index) == ["account_takeover", "card_testing"]  # the legitimate rows are not a pattern
    assert gaps.loc["card_testing", "gap"] == 0 and gaps.loc["card_testing", "noise"] == 0  # the same catch
    # a gap of 0.5 on 100 rows: two standard errors of a share of one half, 2 * sqrt(0.25 / 100) = 0.1
    assert gaps.loc["account_takeover", "gap"] == 0.5 and 0.08 < gaps.loc["account_takeover", "noise"] < 0.12
    with pytest.raises(ValueError, match="one entry per row of frame"):
        fraud.pattern_gaps(frame, a[:5], b)


@pytest.mark.parametrize("call, message", [
    (lambda: fraud.recall_at_fpr([0, 1], [0.1, 0.2], 1.5), "max_fpr must be ≥ 0 and < 1, got 1.5"),
    (lambda: fraud.recall_at_fpr([0, 0], [0.1, 0.2], 0.1), "both classes"),
    (lambda: fraud.cost_curve([0, 1], [0.1], [1, 2], 1.0), "equal length"),
    (lambda: fraud.cost_curve([0, 1], [0.1, 0.2], [1, 2], -1.0), "review_cost must be ≥ 0, got -1.0"),
    (lambda: fraud.per_pattern(pd.DataFrame({"fraud_pattern": ["a"]}), [1, 0]), "one entry per row"),
])
def test_bad_inputs_get_one_clear_sentence(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_load_period_is_time_ordered_encoded_and_complete(tmp_path):
    files = pipelines.feature_files(prepare.feature_set(20_000, 3, 1, data_dir=tmp_path))
    everything = pd.concat([pd.read_parquet(f, columns=["timestamp", "is_fraud"]) for f in files])
    cut = everything["timestamp"].quantile(0.7)
    past, future = fraud.load_period(files, before=cut), fraud.load_period(files, after=cut)
    assert len(past) + len(future) == len(everything), "every row lands in exactly one split"
    assert past.frame["timestamp"].max() < cut <= future.frame["timestamp"].min()
    assert past.frame["timestamp"].is_monotonic_increasing
    assert past.y.sum() + future.y.sum() == everything["is_fraud"].sum()
    assert past.x.shape == (len(past), len(pipelines.FEATURE_NAMES))
    assert set(past.frame.loc[past.y == 0, "fraud_pattern"]) == {"legitimate"}
    assert "legitimate" not in set(past.frame.loc[past.y == 1, "fraud_pattern"])


def test_bootstrap_pr_auc_is_scikit_learns_average_precision_on_each_resample(scored):
    from sklearn.metrics import average_precision_score

    y, score, _ = scored
    other = np.round(score + np.random.default_rng(1).normal(0, 1, len(y)), 1)
    runs = fraud.bootstrap_pr_auc(y, [score, other], rounds=5, seed=3)
    assert runs.shape == (5, 2)
    rng = np.random.default_rng(3)  # the same resamples, drawn again: scikit-learn with row weights agrees
    for r in range(5):
        weight = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
        for k, s in enumerate([score, other]):
            assert runs[r, k] == pytest.approx(average_precision_score(y, s, sample_weight=weight), abs=1e-12)
    whole = fraud._weighted_average_precision(np.asarray(y, bool), np.argsort(-score, kind="stable"),
                                              np.flatnonzero(np.r_[np.diff(np.sort(score)[::-1]) != 0, True]),
                                              np.ones(len(y)))
    assert whole == pytest.approx(average_precision_score(y, score), abs=1e-12)
    with pytest.raises(ValueError, match="rounds must be ≥ 1, got 0"):
        fraud.bootstrap_pr_auc(y, [score], rounds=0)
