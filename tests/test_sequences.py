"""dlcourse.sequences: windows, baselines, bits per character, sampling, the offline text task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dlcourse import sequences as sq


def hourly(n=200, start="2020-01-01"):
    index = pd.date_range(start, periods=n, freq="h")
    return pd.Series(np.sin(np.arange(n) * 2 * np.pi / 24) * 5 + 10, index=index)


# -- forecasting ---------------------------------------------------------------------------------

def test_hourly_weather_averages_jena_per_hour_and_rejects_other_tables():
    ten_min = pd.date_range("2020-01-01", periods=12, freq="10min")
    jena = pd.DataFrame({"T (degC)": np.arange(12.0), "p (mbar)": 1000.0}, index=ten_min)
    weather = sq.hourly_weather(jena)
    assert weather.target == "T (degC)" and weather.frame["T (degC)"].tolist() == [2.5, 8.5]
    with pytest.raises(ValueError, match="expected the nyc_weather or jena_climate table, got columns x"):
        sq.hourly_weather(pd.DataFrame({"x": [1.0]}, index=ten_min[:1]))


def test_time_split_is_ordered_and_complete():
    s = hourly(100)
    parts = sq.time_split(s, 0.2, 0.1)
    assert [len(p) for p in parts.values()] == [70, 20, 10]
    assert parts["train"].index[-1] < parts["val"].index[0] < parts["val"].index[-1] < parts["test"].index[0]
    assert pd.concat(parts.values()).equals(s)
    with pytest.raises(ValueError, match="must be < 1"):
        sq.time_split(s, 0.6, 0.5)


def test_sliding_windows_match_keras():
    import keras

    values = np.arange(30, dtype="float32")
    window, horizon = 5, 3
    x, y = sq.sliding_windows(values, window, horizon)
    assert x.shape == (30 - window - horizon + 1, window)
    assert x[0].tolist() == [0, 1, 2, 3, 4] and y[0] == 4 + horizon
    ds = keras.utils.timeseries_dataset_from_array(values[:-horizon], values[window - 1 + horizon:],
                                                   sequence_length=window, batch_size=100)
    kx, ky = next(iter(ds))
    assert np.array_equal(kx.numpy(), x) and np.array_equal(ky.numpy(), y)
    with pytest.raises(ValueError, match="no window"):
        sq.sliding_windows(values[:7], window, horizon)


def test_baselines_on_a_daily_cycle():
    y = hourly(24 * 10).to_numpy()
    x, t = sq.sliding_windows(y, 48, 6)
    assert np.allclose(sq.seasonal_naive_forecast(x, 6), t)          # a pure daily cycle repeats exactly
    assert np.array_equal(sq.persistence_forecast(x), x[:, -1])
    assert sq.rmse(t, sq.persistence_forecast(x)) > 1
    assert sq.rmse(t, sq.linear_forecast(x, sq.fit_linear_forecast(x, t))) < 1e-6
    assert np.allclose(sq.seasonal_naive_forecast(x[..., None], 30), x[:, 48 - 1 + 30 - 48])  # lag 48 for h = 30
    with pytest.raises(ValueError, match="does not reach back"):
        sq.seasonal_naive_forecast(x[:, -10:], 6)


def test_rmse():
    assert sq.rmse([1, 2, 3], [1, 2, 3]) == 0
    assert np.isclose(sq.rmse([0, 0], [3, 4]), np.sqrt(12.5))
    with pytest.raises(ValueError):
        sq.rmse([1, 2], [1])


# -- characters ----------------------------------------------------------------------------------

def test_char_vocabulary_round_trip():
    vocab = sq.CharVocabulary.from_text("hello world")
    assert vocab.chars == tuple(sorted(set("hello world"))) and vocab.size == 8
    assert vocab.decode(vocab.encode("hello")) == "hello"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("xyz")


def test_next_char_pairs_shift_by_one():
    ids = np.arange(23)
    x, y = sq.next_char_pairs(ids, 5)
    assert x.shape == y.shape == (4, 5)
    assert np.array_equal(y, x + 1)


def test_ngram_bits_per_char():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 8, 20_000)
    assert abs(sq.ngram_bits_per_char(uniform, uniform[:5000], 8, order=1) - 3) < 0.01
    cycle = np.tile(np.arange(4), 1000)  # the next symbol is certain given the previous one
    assert sq.ngram_bits_per_char(cycle, cycle[:400], 4, order=2, alpha=1e-6) < 1e-3
    assert abs(sq.ngram_bits_per_char(cycle, cycle[:400], 4, order=1) - 2) < 0.01
    with pytest.raises(ValueError, match="order"):
        sq.ngram_bits_per_char(cycle, cycle, 4, order=3)


def test_temperature_sharpens_and_flattens():
    logits = np.array([2.0, 1.0, 0.0])
    cold, warm = sq.apply_temperature(logits, 0.1), sq.apply_temperature(logits, 10.0)
    assert cold[0] > 0.99 and np.allclose(warm, 1 / 3, atol=0.05)
    assert np.allclose(sq.apply_temperature(logits, 1.0).sum(), 1)
    draws = [sq.sample_with_temperature(logits, 0.05, np.random.default_rng(i)) for i in range(20)]
    assert set(draws) == {0}
    with pytest.raises(ValueError, match="temperature"):
        sq.apply_temperature(logits, 0)


def test_numpy_char_model_equals_keras_and_generates():
    import keras

    keras.utils.set_random_seed(0)
    vocab = sq.CharVocabulary.from_text("abcd ")
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab.size, 4),
                              keras.layers.LSTM(6, return_sequences=True), keras.layers.Dense(vocab.size)])
    ids = vocab.encode("abc dab cd")[None, :]
    weights = sq.CharModelWeights.from_keras(*model.layers)
    assert np.allclose(weights.logits(ids), model.predict(ids, verbose=0), atol=1e-5)
    text = sq.generate_text(weights, vocab, "ab", 30, 1.0, np.random.default_rng(0))
    assert len(text) == 30 and set(text) <= set(vocab.chars)
    assert text == sq.generate_text(weights, vocab, "ab", 30, 1.0, np.random.default_rng(0))


# -- words and classification --------------------------------------------------------------------

def test_tokenize_vocabulary_encode():
    tokens = sq.tokenize("It's 3 a.m., OK?")
    assert tokens == ["it's", "3", "a", ".", "m", ".", ",", "ok", "?"]
    vocab = sq.word_vocabulary([["b", "a", "a"], ["c", "b"]], max_words=4)
    assert vocab == {"a": 2, "b": 3}  # 0 padding, 1 unknown; ties alphabetical
    assert sq.encode_words([["a", "c", "b"]], vocab) == [[2, 1, 3]]


def test_majority_accuracy():
    assert sq.majority_accuracy([0, 0, 1], [0, 1, 1, 1]) == 0.25
    with pytest.raises(ValueError):
        sq.majority_accuracy([], [1])


def test_horizon_windows_pair_each_window_with_every_horizon_and_match_keras():
    import keras

    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(100, 3)).astype("float32"), np.arange(100.0)
    w = sq.horizon_windows(features, target, window=24, horizons=[1, 6, 24])
    assert w.x.shape == (100 - 24 - 24 + 1, 24, 3) and w.future.shape == (53, 3)
    assert np.array_equal(w.x[5], features[5:29]) and w.now[5] == 28
    assert np.array_equal(w.future[5], [29, 34, 52]) and np.array_equal(w.day_before[5], [5, 10, 28])
    lead = 24
    ds = keras.utils.timeseries_dataset_from_array(features[:-lead], w.future, sequence_length=24, batch_size=1000)
    kx, ky = next(iter(ds))
    assert np.array_equal(kx.numpy(), w.x) and np.array_equal(ky.numpy(), w.future)
    with pytest.raises(ValueError, match=r"horizons must be between 1 and the period \(24\), got \[0, 6\]"):
        sq.horizon_windows(features, target, 24, [0, 6])
    with pytest.raises(ValueError, match=r"window must be ≥ the period \(24\) so that the day before is inside it"):
        sq.horizon_windows(features, target, 12, [6])
    with pytest.raises(ValueError, match="features and target must have the same length, got 100 and 99"):
        sq.horizon_windows(features, target[:-1], 24, [6])


def test_hourly_weather_accounts_for_every_fill_and_converts_units():
    raw = pd.DataFrame({
        "origin": ["EWR", "EWR", "EWR", "JFK", "JFK", "JFK", "JFK"],
        "time_hour": pd.to_datetime(["2013-06-01 10:00", "2013-06-01 11:00", "2013-06-01 13:00",
                                     "2013-06-01 10:00", "2013-06-01 11:00", "2013-06-01 12:00",
                                     "2013-06-01 13:00"], utc=True),
        "temp": [32.0, 50.0, 68.0, 41.0, 41.0, 41.0, 41.0], "dewp": [32.0] * 7, "humid": [50.0] * 7,
        "wind_dir": [270.0, 0.0, 90.0, 180.0, np.nan, 0.0, 0.0], "wind_speed": [10.0, 0.0, 1048.0, 5.0, 5.0, 5.0, 5.0],
        "wind_gust": [np.nan] * 7, "precip": [0.1] * 7,
        "pressure": [1012.0, np.nan, 1014.0, 1010.0, 1011.0, 1012.0, 1013.0],
        "visib": [10.0] * 7})
    weather = sq.hourly_weather(raw)
    frame = weather.frame
    assert weather.target == "EWR temp_c" and len(frame) == 4 and str(frame.index.tz) == "America/New_York"
    assert np.allclose(frame["EWR temp_c"], [0.0, 10.0, 15.0, 20.0])        # °F -> °C, 12:00 interpolated
    assert np.isclose(frame["EWR wind_east_ms"].iloc[0], 10 * 0.44704)        # from the west: blows east
    assert frame["EWR wind_north_ms"].iloc[1] == 0 and frame["EWR wind_east_ms"].iloc[1] == 0  # calm
    assert np.isclose(frame["JFK precip_mm"].iloc[0], 2.54)
    assert weather.cleaning["wind speeds above 100 mph set missing"] == 1
    assert weather.cleaning["station-hours without a record, interpolated"] == 1
    # EWR's pressure at 11:00, JFK's wind direction at 11:00 (two components), EWR's 1,048 mph wind at 13:00
    # (two components)
    assert weather.cleaning["other missing values, interpolated"] == 5
    with pytest.raises(ValueError, match="target_station must be one of EWR, JFK, got 'LGA'"):
        sq.hourly_weather(raw, target_station="LGA")
