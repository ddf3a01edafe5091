"""Each payment with the card holder's recent payments before it: the input of 13's sequence network.

Notebook 02's features describe a payment by aggregates (payments in the last hour, distance since the
previous payment ...). Some fraud only shows in the order of things -- small probes at different shops and
then a large buy, a booking and then payments abroad, a new device that keeps buying more -- so the network
also reads the last :data:`STEPS` payments of the same card, oldest first, the payment being scored last:

* :class:`Histories` -- every payment of the feature set in a table (one row per payment: scaled numbers,
  a category code, a merchant code) plus, for each payment, the rows of the holder's previous payments;
  :meth:`Histories.dataset` assembles the windows on the fly in a tf.data stream (nothing is copied k times);
* :func:`sequence_model` -- embeddings for merchants and categories, a GRU over the window, and the 02
  aggregates beside it, with the hours since each account event also given in bins (:func:`with_event_bins`);
* :class:`HistoryScorer` -- the same windows for payments that arrive one micro-batch at a time: it keeps
  each holder's last payments in memory (a small feature store) and is what the model server runs;
  :class:`TreeScorer` serves the trees alone, :class:`Blend` averages two models' scores.

Used in notebooks: 13.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dlcourse import pipelines

STEPS = 8  # payments in a window: the one scored and up to 7 before it
STEP_LOGS = ("amount_eur", "seconds_since_prev", "km_from_prev", "km_from_home", "amount_vs_past_mean")
STEP_PLAIN = ("new_device", "is_night", "hour")
STEP_NAMES = (*STEP_LOGS, *STEP_PLAIN, "same_device_as_prev", *(f"channel={c}" for c in pipelines.CHANNELS))
MERCHANT_CODES = 8192  # merchant ids M00000-M08190 get their own code, later ones share the last
COLUMNS = ("customer_id", "merchant_id", "device_id")  # read besides pipelines.READ_COLUMNS
EVENT_HOURS = ("hours_since_password_reset", "hours_since_device_change", "hours_since_failed_login")
# Bin edges in hours for EVENT_HOURS: an hour, six, a day, four days, two weeks, and 8760 = "none this year"
# (02's cap). A slow takeover's purchases come one to four days after a reset *and* a device change; as one
# number each, that is a bump in the middle of a range, which a few hundred fraud rows teach a network slowly,
# and two bins that are both on -- the same question a tree asks with two splits -- it learns in an epoch.
EVENT_EDGES = (1, 6, 24, 96, 336, 8759.5)


def with_event_bins(x: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """02's encoded features `x` (pipelines.encode of `frame`) with a one-hot bin of EVENT_EDGES appended for
    each of EVENT_HOURS (a missing value counts as none this year): the network's aggregate input."""
    eye = np.eye(len(EVENT_EDGES) + 1, dtype="float32")
    bins = [eye[np.searchsorted(EVENT_EDGES, frame[c].fillna(24 * 365).to_numpy("float64"), side="right")]
            for c in EVENT_HOURS]
    return np.hstack([np.asarray(x, "float32"), *bins])


def step_features(frame: pd.DataFrame) -> np.ndarray:
    """Per-payment numbers of a window step, unscaled: logs of amounts, durations and distances, flags, the
    hour, whether the device is the one of the holder's previous payment, the channel one-hot."""
    logs = np.log1p(frame[list(STEP_LOGS)].to_numpy("float64").clip(min=0))
    plain = frame[list(STEP_PLAIN)].to_numpy("float64")
    holder = frame["customer_id"].to_numpy()
    device = frame["device_id"].to_numpy()
    same = np.r_[False, (holder[1:] == holder[:-1]) & (device[1:] == device[:-1])]  # frame sorted by holder, time
    channel = frame["channel"].to_numpy()[:, None] == np.array(pipelines.CHANNELS)[None, :]
    x = np.column_stack([logs, plain, same, channel])
    return np.nan_to_num(x, nan=0.0).astype("float32")


def codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(category code, merchant code) per payment; 0 is kept for "no payment" (the padding of a window)."""
    category = pd.Categorical(frame["category"], categories=pipelines.CATEGORIES).codes.astype("int32") + 1
    number = pd.to_numeric(frame["merchant_id"].str[1:], errors="coerce").fillna(MERCHANT_CODES - 2)
    return category, (number.to_numpy().clip(0, MERCHANT_CODES - 2) + 1).astype("int32")


@dataclass
class Histories:
    """All payments (in the row order of the frame given to :meth:`build`) as a lookup table, and each
    payment's window: ``window[i]`` holds the table rows of its last STEPS payments (-1 = none), oldest first."""

    steps: np.ndarray      # [n + 1, len(STEP_NAMES)] scaled; row 0 is the padding
    category: np.ndarray   # [n + 1]
    merchant: np.ndarray   # [n + 1]
    window: np.ndarray     # [n, STEPS] rows of `steps` (already + 1: 0 = padding)
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, frame: pd.DataFrame, fit_rows: np.ndarray) -> Histories:
        """Windows for every row of `frame` (notebook 02's features, with customer_id, merchant_id and
        device_id); the step scaling is fitted on the rows `fit_rows` only (the training period)."""
        order = np.lexsort((np.arange(len(frame)), frame["timestamp"].to_numpy(), frame["customer_id"].to_numpy()))
        by_holder = frame.iloc[order]
        raw = np.empty((len(frame), len(STEP_NAMES)), "float32")
        raw[order] = step_features(by_holder)
        fit = raw[fit_rows]
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        std = np.where(std > 0, std, 1).astype("float32")
        holder = by_holder["customer_id"].to_numpy()
        window = np.zeros((len(frame), STEPS), "int32")
        for back in range(STEPS):  # back = 0 is the payment itself, 1 the one before ...
            same = np.zeros(len(order), bool)
            same[back:] = holder[back:] == holder[:len(holder) - back]
            source = np.where(same, np.r_[np.zeros(back, np.int64), order[:len(order) - back]] + 1, 0)
            window[order, STEPS - 1 - back] = source
        category, merchant = codes(frame)
        pad = np.zeros((1, len(STEP_NAMES)), "float32")
        return cls(np.vstack([pad, (raw - mean) / std]).astype("float32"), np.r_[0, category].astype("int32"),
                   np.r_[0, merchant].astype("int32"), window, mean.astype("float32"), std)

    def inputs(self, rows: np.ndarray, aggregates: np.ndarray) -> dict[str, np.ndarray]:
        """The model inputs of `rows` as NumPy arrays (for prediction); `aggregates` are their scaled 02
        features, row-aligned with `rows`."""
        w = self.window[rows]
        return {"steps": self.steps[w], "category": self.category[w], "merchant": self.merchant[w],
                "aggregates": aggregates}

    def dataset(self, rows: np.ndarray, aggregates: np.ndarray, y: np.ndarray, batch_size: int,
                shuffle: bool = True, seed: int = 0, class_weight: dict | None = None):
        """tf.data stream of (inputs, label[, weight]) batches for `rows`; windows are gathered per batch."""
        import tensorflow as tf

        steps, category, merchant = (tf.constant(a) for a in (self.steps, self.category, self.merchant))
        window = tf.constant(self.window[rows])
        agg, labels = tf.constant(aggregates.astype("float32")), tf.constant(y.astype("float32"))
        weights = None
        if class_weight is not None:
            weights = tf.constant(np.where(y == 1, class_weight[1], class_weight[0]).astype("float32"))
        ds = tf.data.Dataset.range(len(rows))
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)

        def gather(i):
            w = tf.gather(window, i)
            x = {"steps": tf.gather(steps, w), "category": tf.gather(category, w),
                 "merchant": tf.gather(merchant, w), "aggregates": tf.gather(agg, i)}
            if weights is None:
                return x, tf.gather(labels, i)
            return x, tf.gather(labels, i), tf.gather(weights, i)

        return ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def sequence_model(n_aggregates: int, units: int = 32, seed: int = 0):
    """Embeddings of merchant (8) and category (4) per step, concatenated with the step's numbers, a GRU of
    `units` over the window (padding masked), and beside it a dense layer on the 02 aggregates."""
    import keras

    keras.utils.set_random_seed(seed)
    steps = keras.Input((STEPS, len(STEP_NAMES)), name="steps")
    category = keras.Input((STEPS,), dtype="int32", name="category")
    merchant = keras.Input((STEPS,), dtype="int32", name="merchant")
    aggregates = keras.Input((n_aggregates,), name="aggregates")
    per_step = keras.layers.Concatenate()([
        steps,
        keras.layers.Embedding(len(pipelines.CATEGORIES) + 1, 4, mask_zero=True, name="category_embedding")(category),
        keras.layers.Embedding(MERCHANT_CODES, 8, mask_zero=True, name="merchant_embedding")(merchant)])
    sequence = keras.layers.GRU(units)(per_step)
    summary = keras.layers.Dense(64, activation="relu")(aggregates)
    joint = keras.layers.Dense(64, activation="relu")(keras.layers.Concatenate()([sequence, summary]))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dropout(0.1)(joint))
    return keras.Model([steps, category, merchant, aggregates], out, name="sequence_network")


class HistoryScorer:
    """The sequence network behind a server: scores payments as they arrive, keeping each card holder's
    last STEPS - 1 payments (their scaled step numbers and codes) in memory, updated after every batch.

    Pickle it with the model saved beside it as ``model.keras``; the server calls :meth:`bind` with the
    bundle folder before the first batch. ``fields`` are the JSON fields a payment must have."""

    fields = {**{name: "number" for name in (*pipelines.LOG_FEATURES, *pipelines.PLAIN_FEATURES)},
              **{name: "string" for name in ("channel", "category", "customer_id", "merchant_id", "device_id")}}

    def __init__(self, histories: Histories, frame: pd.DataFrame, scaler: pipelines.Scaler, trees=None,
                 blend: Blend | None = None):
        """`frame`: the payments so far (row-aligned with the table of `histories`), to start each holder's
        history; with `trees` (a fitted scikit-learn classifier on 02's features) and `blend`, the score is
        the blend of the network's and the trees' scores."""
        self.mean, self.std, self.scaler, self.trees, self.blend = histories.mean, histories.std, scaler, trees, blend
        keep = STEPS - 1
        last = frame.assign(_row=np.arange(len(frame))).groupby("customer_id", sort=False).tail(keep)
        holder_ids, holders = pd.factorize(last["customer_id"])
        self.index = {holder: i for i, holder in enumerate(holders)}
        # per holder, its last payments right-aligned (the newest at keep - 1), zeros where there is none
        self.past_steps = np.zeros((len(holders), keep, len(STEP_NAMES)), "float32")
        self.past_category = np.zeros((len(holders), keep), "int32")
        self.past_merchant = np.zeros((len(holders), keep), "int32")
        order = np.argsort(holder_ids, kind="stable")  # grouped by holder, time order kept
        ids, rows = holder_ids[order], last["_row"].to_numpy()[order] + 1
        counts = np.bincount(holder_ids, minlength=len(holders))
        slot = keep - counts[ids] + (np.arange(len(ids)) - np.repeat(np.cumsum(counts) - counts, counts))
        self.past_steps[ids, slot] = histories.steps[rows]
        self.past_category[ids, slot] = histories.category[rows]
        self.past_merchant[ids, slot] = histories.merchant[rows]
        self.last_device = last.groupby(holder_ids, sort=True)["device_id"].last().to_numpy().astype(object)
        self.model = None

    def _new_holder(self, holder: str) -> int:
        """A card holder seen for the first time: an empty history (grown in chunks, not per holder)."""
        j = len(self.index)
        if j == len(self.past_steps):
            grow = max(1024, j // 2)
            self.past_steps = np.concatenate([self.past_steps, np.zeros((grow, *self.past_steps.shape[1:]), "float32")])
            self.past_category = np.concatenate([self.past_category, np.zeros((grow, STEPS - 1), "int32")])
            self.past_merchant = np.concatenate([self.past_merchant, np.zeros((grow, STEPS - 1), "int32")])
            self.last_device = np.concatenate([self.last_device, np.full(grow, None, object)])
        self.index[holder] = j
        return j

    def bind(self, bundle_dir: str | Path) -> None:
        """Load the network saved beside the pickle and compile its call once for any batch size (an eager
        call runs the GRU's loop step by step in Python: about 70 ms a batch on 2 cores, against a few)."""
        import keras
        import tensorflow as tf

        self.model = keras.models.load_model(Path(bundle_dir) / "model.keras")
        n_agg = len(self.scaler.mean)
        spec = {"steps": tf.TensorSpec((None, STEPS, len(STEP_NAMES)), tf.float32),
                "category": tf.TensorSpec((None, STEPS), tf.int32), "merchant": tf.TensorSpec((None, STEPS), tf.int32),
                "aggregates": tf.TensorSpec((None, n_agg), tf.float32)}
        self._call = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("model", "_call")} | {"model": None}

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores of a micro-batch of payments in arrival order (each also becomes history for the next)."""
        frame = frame.reset_index(drop=True)
        n, keep = len(frame), STEPS - 1
        raw = step_features(frame.assign(customer_id=np.arange(n).astype(str)))  # "same device" is set below
        same = STEP_NAMES.index("same_device_as_prev")
        category, merchant = codes(frame)
        x_steps = np.zeros((n, STEPS, len(STEP_NAMES)), "float32")
        x_cat, x_merch = np.zeros((n, STEPS), "int32"), np.zeros((n, STEPS), "int32")
        for i, (holder, device) in enumerate(zip(frame["customer_id"], frame["device_id"], strict=True)):
            j = self.index.get(holder)
            if j is None:
                j = self._new_holder(holder)
            raw[i, same] = float(self.last_device[j] == device)
            x_steps[i, :keep], x_cat[i, :keep], x_merch[i, :keep] = (
                self.past_steps[j], self.past_category[j], self.past_merchant[j])
            x_steps[i, keep] = (raw[i] - self.mean) / self.std
            x_cat[i, keep], x_merch[i, keep] = category[i], merchant[i]
            self.past_steps[j], self.past_category[j], self.past_merchant[j] = (
                x_steps[i, 1:], x_cat[i, 1:], x_merch[i, 1:])  # the window slides on by one payment
            self.last_device[j] = device
        x, _ = pipelines.encode(frame.assign(is_fraud=0))
        inputs = {"steps": x_steps, "category": x_cat, "merchant": x_merch,
                  "aggregates": np.asarray(self.scaler(with_event_bins(x, frame)), "float32")}
        network = self._call(inputs).numpy()[:, 0].astype("float64")
        if self.trees is None:
            return network
        return self.blend(network, self.trees.predict_proba(x)[:, 1])


class TreeScorer:
    """A scikit-learn classifier on 02's aggregates behind a server (no history needed)."""

    fields = {**{name: "number" for name in (*pipelines.LOG_FEATURES, *pipelines.PLAIN_FEATURES)},
              **{name: "string" for name in ("channel", "category")}}

    def __init__(self, trees):
        self.trees = trees

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        x, _ = pipelines.encode(frame.assign(is_fraud=0))
        return self.trees.predict_proba(x)[:, 1]


class Blend:
    """The mean of several models' scores, each first turned into its share of validation scores below it
    (its quantile): scores on different scales (a class-weighted network's, the trees' probabilities) then
    count alike, and a payment is scored on its own, as a server must."""

    def __init__(self, *validation_scores: np.ndarray):
        self.reference = [np.sort(np.asarray(s, "float64")) for s in validation_scores]

    def __call__(self, *scores: np.ndarray) -> np.ndarray:
        if len(scores) != len(self.reference):
            raise ValueError(f"Blend was fitted on {len(self.reference)} models' scores, got {len(scores)}")
        return np.mean([np.searchsorted(ref, np.asarray(s, "float64"), side="right") / len(ref)
                        for ref, s in zip(self.reference, scores, strict=True)], axis=0)

