"""Input pipelines from the Parquet feature set to Keras, as taught in 03_input_pipelines (reused in 13 and 14).

The feature set of notebook 02 is a folder of Parquet files. This module turns it into model inputs
without ever loading it whole:

* :func:`encode` -- a pandas/Arrow batch of features -> a float32 matrix (log scales, one-hot codes);
* :class:`Scaler` -- standardisation fitted on the training split only, one streaming pass;
* :func:`example_generator` -- the naive way: one Python example at a time;
* :func:`arrow_dataset` -- tf.data over Parquet record batches read with pyarrow;
* :func:`write_tfrecords` / :func:`tfrecord_dataset` -- TFRecord shards written once, read with parallel
  interleave, parallel map, cache and prefetch.

Used in notebooks: 03, 13, 14.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dlcourse import bigdata, stopwatch

# numeric features, each with how it is scaled before standardisation
LOG_FEATURES = ("amount_eur", "seconds_since_prev", "km_from_prev", "speed_kmh", "amount_vs_past_mean",
                "km_from_home", "account_days", "hours_since_password_reset", "hours_since_device_change",
                "hours_since_failed_login")
PLAIN_FEATURES = ("txn_last_1h", "txn_last_24h", "new_device", "hour", "is_night", "age")
CHANNELS = bigdata.CHANNELS
CATEGORIES = tuple(bigdata.CATEGORIES)
READ_COLUMNS = [*LOG_FEATURES, *PLAIN_FEATURES, "channel", "category", "timestamp", "is_fraud"]
FEATURE_NAMES = (*LOG_FEATURES, *PLAIN_FEATURES, *(f"channel={c}" for c in CHANNELS),
                 *(f"category={c}" for c in CATEGORIES))


def feature_files(features_dir: str | Path) -> list[Path]:
    files = sorted(Path(features_dir).glob("*.parquet"))
    if not files:
        raise ValueError(f"features_dir must hold the Parquet files of notebook 02, found none in {features_dir}")
    return files


def encode(batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Features -> (x float32 [n, len(FEATURE_NAMES)], y int8 [n]); missing values become 0 before scaling."""
    logs = np.log1p(batch[list(LOG_FEATURES)].to_numpy(dtype="float64").clip(min=0))
    plain = batch[list(PLAIN_FEATURES)].to_numpy(dtype="float64")
    channel = (batch["channel"].to_numpy()[:, None] == np.array(CHANNELS)[None, :])
    category = (batch["category"].to_numpy()[:, None] == np.array(CATEGORIES)[None, :])
    x = np.concatenate([logs, plain, channel, category], axis=1)
    return np.nan_to_num(x, nan=0.0).astype("float32"), batch["is_fraud"].to_numpy(dtype="int8")


def record_batches(files: Sequence[Path], batch_rows: int = 65_536, before=None,
                   after=None) -> Iterator[pd.DataFrame]:
    """Stream the feature set as pandas frames of at most `batch_rows`, optionally one side of a time split
    (`before`/`after`: a pandas Timestamp). Only the columns a model needs are read."""
    for path in files:
        for rb in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=READ_COLUMNS):
            frame = rb.to_pandas()
            if before is not None:
                frame = frame[frame["timestamp"] < before]
            if after is not None:
                frame = frame[frame["timestamp"] >= after]
            if len(frame):
                yield frame


@dataclass
class Scaler:
    """Standardisation (x - mean) / std, fitted in one streaming pass over the training split only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, batches: Iterator[pd.DataFrame]) -> Scaler:
        n, total, squares = 0, 0.0, 0.0
        for frame in batches:
            x, _ = encode(frame)
            n += len(x)
            total = total + x.sum(axis=0, dtype="float64")
            squares = squares + (x.astype("float64") ** 2).sum(axis=0)
        if n == 0:
            raise ValueError("Scaler.fit needs at least one row, got an empty split")
        mean = total / n
        std = np.sqrt(np.maximum(squares / n - mean**2, 0))
        return cls(mean.astype("float32"), np.where(std > 0, std, 1).astype("float32"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype("float32")


def count_rows(files: Sequence[Path], before=None, after=None) -> int:
    """Rows of a split, from the timestamp column alone (a cheap columnar read)."""
    n = 0
    for path in files:
        ts = pq.read_table(path, columns=["timestamp"]).column("timestamp").to_pandas()
        keep = np.ones(len(ts), bool)
        if before is not None:
            keep &= (ts < before).to_numpy()
        if after is not None:
            keep &= (ts >= after).to_numpy()
        n += int(keep.sum())
    return n


def time_cutoff(files: Sequence[Path], validation_share: float = 0.2) -> pd.Timestamp:
    """The cut-off time with `validation_share` of the rows after it: train on the past, validate on the
    future (no leakage from a random split of time-dependent data)."""
    if not 0 < validation_share < 1:
        raise ValueError(f"validation_share must be > 0 and < 1, got {validation_share}")
    ts = pd.concat([pq.read_table(p, columns=["timestamp"]).column("timestamp").to_pandas() for p in files])
    return ts.quantile(1 - validation_share)


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return max(1, math.ceil(n_rows / batch_size))


def example_generator(files: Sequence[Path], scaler: Scaler, limit: int | None = None):
    """The naive way: a Python generator yielding one (x, y) example at a time."""
    seen = 0
    for frame in record_batches(files):
        x, y = encode(frame)
        x = scaler(x)
        for i in range(len(x)):
            yield x[i], y[i]
            seen += 1
            if limit is not None and seen >= limit:
                return


def _signature():
    import tensorflow as tf

    return (tf.TensorSpec((None, len(FEATURE_NAMES)), tf.float32), tf.TensorSpec((None,), tf.int8))


def naive_dataset(files: Sequence[Path], scaler: Scaler, batch_size: int, limit: int | None = None):
    """tf.data over :func:`example_generator`, batched: every example crosses Python on its own."""
    import tensorflow as tf

    spec = (tf.TensorSpec((len(FEATURE_NAMES),), tf.float32), tf.TensorSpec((), tf.int8))
    return tf.data.Dataset.from_generator(lambda: example_generator(files, scaler, limit),
                                          output_signature=spec).batch(batch_size)


def arrow_dataset(files: Sequence[Path], scaler: Scaler, batch_size: int, before=None, after=None,
                  shuffle_buffer: int = 0, seed: int = 0):
    """tf.data over Parquet record batches: Python touches each batch of thousands of rows once.

    With `shuffle_buffer` > 0 the rows are shuffled in a buffer of that many rows (an honest, local shuffle).
    """
    import tensorflow as tf

    def batches():
        for frame in record_batches(files, before=before, after=after):
            x, y = encode(frame)
            yield scaler(x), y

    ds = tf.data.Dataset.from_generator(batches, output_signature=_signature()).unbatch()
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def write_tfrecords(files: Sequence[Path], scaler: Scaler, out_dir: str | Path, block_rows: int = 1024) -> list[Path]:
    """Write the feature set once as TFRecord shards (one per Parquet file). Each record is a block of
    `block_rows` scaled rows (two serialized tensors), so reading parses thousands of rows per record."""
    import tensorflow as tf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, path in enumerate(files):
        shard = out / f"shard-{i:05d}.tfrecord"
        with tf.io.TFRecordWriter(str(shard)) as writer:
            for frame in record_batches([path]):
                x, y = encode(frame)
                x = scaler(x)
                for start in range(0, len(x), block_rows):
                    example = tf.train.Example(features=tf.train.Features(feature={
                        "x": _bytes(tf.io.serialize_tensor(x[start:start + block_rows])),
                        "y": _bytes(tf.io.serialize_tensor(y[start:start + block_rows])),
                    }))
                    writer.write(example.SerializeToString())
        written.append(shard)
    return written


def _bytes(tensor):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[tensor.numpy()]))


def tfrecord_dataset(shards: Sequence[Path], batch_size: int, cache: bool = False, shuffle_buffer: int = 0,
                     seed: int = 0, parallel: bool = True):
    """TFRecord shards -> batches: interleave the shards, parse blocks in parallel, re-cut them into batches
    (or unbatch, shuffle and batch), (cache) and prefetch, every stage tuned by tf.data's AUTOTUNE."""
    import tensorflow as tf

    auto = tf.data.AUTOTUNE if parallel else None
    spec = {"x": tf.io.FixedLenFeature([], tf.string), "y": tf.io.FixedLenFeature([], tf.string)}

    def parse(record):
        block = tf.io.parse_single_example(record, spec)
        x = tf.io.parse_tensor(block["x"], tf.float32)
        y = tf.io.parse_tensor(block["y"], tf.int8)
        return tf.ensure_shape(x, (None, len(FEATURE_NAMES))), tf.ensure_shape(y, (None,))

    files = tf.data.Dataset.from_tensor_slices([str(s) for s in shards])
    if parallel:
        ds = files.interleave(tf.data.TFRecordDataset, cycle_length=len(shards), num_parallel_calls=auto,
                              deterministic=True)
    else:
        ds = files.flat_map(tf.data.TFRecordDataset)
    ds = ds.map(parse, num_parallel_calls=auto)
    if shuffle_buffer:  # row-level shuffling needs single rows
        ds = ds.unbatch().shuffle(shuffle_buffer, seed=seed).batch(batch_size)
    else:  # re-cut the blocks into batches without handling rows one by one
        ds = ds.rebatch(batch_size)
    if cache:
        ds = ds.cache()
    return ds.prefetch(tf.data.AUTOTUNE) if parallel else ds


def throughput_runs(dataset, seconds: float, runs: int = 3) -> list[float]:
    """Samples per second of iterating `dataset` (the input pipeline alone, no model) in `runs` timed runs.

    Each run starts a fresh pass over `dataset` (repeated if it ends early, so an in-memory cache that a
    full pass has filled is read from memory) and stops after about `seconds`. The spread of the runs is
    the measurement's noise (03_input_pipelines)."""
    if seconds <= 0 or runs < 1:
        raise ValueError(f"seconds must be > 0 and runs ≥ 1, got seconds={seconds}, runs={runs}")
    rates = []
    for _ in range(runs):
        seen = 0
        with stopwatch.timed() as clock:
            for x, _ in dataset.repeat():
                seen += int(x.shape[0])
                if clock.wall_s >= seconds:
                    break
        rates.append(seen / clock.wall_s)
    return rates


def throughput_table(runs: dict[str, list[float]]) -> pd.DataFrame:
    """One row per pipeline: the median, slowest and fastest of its timed runs (samples/s), the median
    against the first pipeline's and against the previous row's (03_input_pipelines)."""
    table = pd.DataFrame({"median": {name: float(np.median(r)) for name, r in runs.items()},
                          "slowest run": {name: min(r) for name, r in runs.items()},
                          "fastest run": {name: max(r) for name, r in runs.items()}}).round(0)
    table["x first"] = (table["median"] / table["median"].iloc[0]).round(1)
    table["x previous"] = (table["median"] / table["median"].shift(1)).round(2)
    return table


def throughput(dataset, max_samples: int, repeats: int = 1) -> float:
    """Samples per second of iterating `dataset` (the input pipeline alone, no model), over up to
    `max_samples` samples; with repeats > 1, the last pass is timed (e.g. after a cache is filled)."""
    rate = 0.0
    for _ in range(repeats):
        seen = 0
        with stopwatch.timed() as clock:
            for x, _ in dataset:
                seen += int(x.shape[0])
                if seen >= max_samples:
                    break
        rate = seen / clock.wall_s
    return rate
