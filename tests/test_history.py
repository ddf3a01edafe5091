"""Notebook 13's sequence inputs: each payment's window holds the card holder's previous payments, and the
server-side scorer, fed one payment at a time, gives the scores the notebook computes on whole periods."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from dlcourse import bigdata, fraud, history, pipelines, prepare


@pytest.fixture(scope="module")
def period(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    bigdata.generate_transactions(landing, 6_000, seed=3, dirt=bigdata.Dirt.none(), progress=False)
    features = prepare.prepare_pandas(landing)[0]
    out = tmp_path_factory.mktemp("features") / "part-0.parquet"
    features.to_parquet(out)
    return fraud.load_period([out])


def test_windows_hold_the_holders_previous_payments_oldest_first(period):
    frame = period.frame
    h = history.Histories.build(frame, np.arange(len(frame)))
    assert h.window.shape == (len(frame), history.STEPS) and (h.window[:, -1] == np.arange(len(frame)) + 1).all()
    for i in np.random.default_rng(0).choice(len(frame), 200, replace=False):
        rows = h.window[i][h.window[i] > 0] - 1
        holder = frame["customer_id"].iloc[i]
        earlier = np.flatnonzero((frame["customer_id"] == holder).to_numpy() & (np.arange(len(frame)) <= i))
        assert list(rows) == list(earlier[-history.STEPS:])  # frame is in time order: the last ones up to i
    assert (h.window[:, 0] == 0).any() and h.steps[0].sum() == 0  # short histories are padded with row 0


def test_step_scaling_uses_only_the_fit_rows(period):
    frame = period.frame
    first = history.Histories.build(frame, np.arange(1000))
    changed = frame.copy()
    changed.loc[2000:, "amount_eur"] *= 100  # later rows differ: the scaling of the fit rows must not move
    second = history.Histories.build(changed, np.arange(1000))
    np.testing.assert_allclose(first.mean, second.mean)
    np.testing.assert_allclose(first.steps[1:1001], second.steps[1:1001])


def test_the_streaming_scorer_matches_the_batch_windows(period, tmp_path):
    frame, x = period.frame, history.with_event_bins(period.x, period.frame)
    split = len(frame) // 2
    h = history.Histories.build(frame, np.arange(split))
    scaler = pipelines.Scaler(x[:split].mean(axis=0), np.where(x[:split].std(axis=0) > 0, x[:split].std(axis=0), 1))
    aggregates = scaler(x)
    model = history.sequence_model(aggregates.shape[1], units=4, seed=0)
    later = np.arange(split, len(frame))
    offline = model.predict(h.inputs(later, aggregates[later]), verbose=0)[:, 0]
    model.save(tmp_path / "model.keras")
    scorer = pickle.loads(pickle.dumps(history.HistoryScorer(h, frame.iloc[:split], scaler)))
    assert scorer.model is None  # the model travels beside the pickle, not in it
    scorer.bind(tmp_path)
    sent = frame.iloc[split:][list(scorer.fields)].reset_index(drop=True)
    streamed = np.concatenate([scorer.score(sent.iloc[i:i + 37]) for i in range(0, len(sent), 37)])
    np.testing.assert_allclose(streamed, offline, atol=1e-5)


def test_event_bins_are_one_hot_per_event():
    frame = pd.DataFrame({name: [0.5, 30.0, np.nan] for name in history.EVENT_HOURS})
    frame["hours_since_failed_login"] = [8760.0, 96.0, 2.0]
    bins = history.with_event_bins(np.zeros((3, 2)), frame)[:, 2:].reshape(3, len(history.EVENT_HOURS), -1)
    assert (bins.sum(axis=2) == 1).all()
    width = len(history.EVENT_EDGES) + 1
    assert [list(np.flatnonzero(row.ravel()) % width) for row in bins] == [[0, 0, 6], [3, 3, 4], [6, 6, 1]]


def test_blend_averages_validation_ranks():
    blend = history.Blend(np.array([0.1, 0.2, 0.3, 0.4]), np.array([10.0, 20.0, 30.0, 40.0]))
    np.testing.assert_allclose(blend(np.array([0.25, 0.5]), np.array([35.0, 5.0])), [(0.5 + 0.75) / 2, (1 + 0) / 2])
    with pytest.raises(ValueError, match="fitted on 2 models' scores, got 1"):
        blend(np.array([0.1]))


def test_tree_scorer_scores_like_the_classifier(period):
    from sklearn.ensemble import HistGradientBoostingClassifier

    trees = HistGradientBoostingClassifier(max_iter=5).fit(period.x, period.y)
    sent = period.frame[list(history.TreeScorer.fields)]
    np.testing.assert_allclose(history.TreeScorer(trees).score(sent), trees.predict_proba(period.x)[:, 1])
    assert isinstance(sent, pd.DataFrame)
