"""Notebook 03's input pipelines: every way of streaming yields the same standardised rows."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest

from dlcourse import bigdata, pipelines, prepare
from dlcourse.session import import_tensorflow


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import_tensorflow()
    landing = tmp_path_factory.mktemp("landing")
    bigdata.generate_transactions(landing, 12_000, seed=3, rows_per_file=5_000, progress=False)
    with dask.config.set(scheduler="sync"):
        result = prepare.prepare(landing, tmp_path_factory.mktemp("prepared"), progress=False)
    return pipelines.feature_files(result.features_dir)


@pytest.fixture(scope="module")
def everything(files):
    return pd.concat(list(pipelines.record_batches(files)), ignore_index=True)


def test_encode_gives_one_column_per_feature_name(everything):
    x, y = pipelines.encode(everything)
    assert x.shape == (len(everything), len(pipelines.FEATURE_NAMES)) and x.dtype == np.float32
    assert np.isfinite(x).all() and set(np.unique(y)) <= {0, 1}
    one_hot = x[:, len(pipelines.LOG_FEATURES) + len(pipelines.PLAIN_FEATURES):]
    assert (one_hot.sum(axis=1) == 2).all(), "exactly one channel and one category per row"


def test_scaler_matches_numpy_on_the_training_split(files, everything):
    cut = pipelines.time_cutoff(files, 0.25)
    train = everything[everything["timestamp"] < cut]
    scaler = pipelines.Scaler.fit(pipelines.record_batches(files, batch_rows=777, before=cut))
    x, _ = pipelines.encode(train)
    assert np.allclose(scaler.mean, x.mean(axis=0), atol=1e-4)
    assert np.allclose(scaler.std, np.where(x.std(axis=0) > 0, x.std(axis=0), 1), rtol=1e-3, atol=1e-4)
    share = pipelines.count_rows(files, after=cut) / len(everything)
    assert abs(share - 0.25) < 0.01
    assert pipelines.count_rows(files, before=cut) == len(train)


def test_every_pipeline_yields_the_same_rows(files, tmp_path):
    scaler = pipelines.Scaler.fit(pipelines.record_batches(files))
    n = sum(1 for _ in pipelines.example_generator(files, scaler))

    def rows(dataset):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
        return np.concatenate(xs), np.concatenate(ys)

    naive = rows(pipelines.naive_dataset(files, scaler, 256))
    arrow = rows(pipelines.arrow_dataset(files, scaler, 256))
    shards = pipelines.write_tfrecords(files, scaler, tmp_path, block_rows=100)
    sequential = rows(pipelines.tfrecord_dataset(shards, 256, parallel=False))
    parallel = rows(pipelines.tfrecord_dataset(shards, 256))
    for x, y in (arrow, sequential):  # file order, row order: identical streams
        assert x.shape == (n, len(pipelines.FEATURE_NAMES))
        assert np.allclose(x, naive[0]) and np.array_equal(y, naive[1])

    def in_order(x, y):
        order = np.lexsort(np.column_stack([x, y]).T)
        return x[order], y[order]

    # interleave takes blocks from all shards in turn: the same rows, in another (deterministic) order
    px, py = in_order(*parallel)
    nx, ny = in_order(*naive)
    assert np.allclose(px, nx) and np.array_equal(py, ny)
    shuffled = rows(pipelines.tfrecord_dataset(shards, 256, shuffle_buffer=1_000, seed=1))
    assert not np.allclose(shuffled[0], naive[0]), "a shuffle buffer must change the order"
    sx, sy = in_order(*shuffled)
    assert np.allclose(sx, nx) and np.array_equal(sy, ny), "... but keep every row exactly once"


def test_bad_arguments_are_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="features_dir must hold the Parquet files of notebook 02"):
        pipelines.feature_files(tmp_path)
    with pytest.raises(ValueError, match="validation_share must be > 0 and < 1, got 1.5"):
        pipelines.time_cutoff([], 1.5)
    assert pipelines.steps_per_epoch(1025, 1024) == 2 and pipelines.steps_per_epoch(0, 10) == 1


def test_throughput_runs_time_each_run_and_make_a_table():
    tf, _ = import_tensorflow()
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((1000, 3), "float32"), np.zeros(1000, "int8"))).batch(100)
    rates = pipelines.throughput_runs(ds, 0.05, runs=2)
    assert len(rates) == 2 and all(r > 0 for r in rates)
    table = pipelines.throughput_table({"a": [1.0, 3.0, 2.0], "b": [10.0, 12.0, 11.0]})
    assert list(table["median"]) == [2.0, 11.0] and table.loc["b", "x first"] == 5.5
    assert table.loc["a", "slowest run"] == 1.0 and table.loc["b", "fastest run"] == 12.0
    with pytest.raises(ValueError, match="seconds must be > 0"):
        pipelines.throughput_runs(ds, 0)
