"""CIFAR-10 offline: a small data set in the real CIFAR-10 python format, read by the loader a reader who is
online uses, and notebook 06 run on it end to end (dataset="cifar10")."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from papermill.iorw import load_notebook_node

from dlcourse import course, datasets, report
from dlcourse.tools import kernel, lint

IMAGES_PER_BATCH = 200  # the real batches hold 10,000; the format is the same


def write_cifar10(keras_home: Path, per_batch: int = IMAGES_PER_BATCH, seed: int = 0) -> Path:
    """Batches in the format of cifar-10-python.tar.gz, extracted where Keras puts it: a pickled dict per batch
    with b"data" (n, 3072) uint8, channels first, and b"labels". Each class has its own colour and stripe
    direction, plus noise, so that a network can learn it."""
    folder = keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:32, 0:32]
    for name in datasets.CIFAR10_BATCHES:
        labels = rng.integers(0, 10, per_batch)
        images = np.empty((per_batch, 3, 32, 32), "uint8")
        for i, k in enumerate(labels):
            colour = np.array([(k * 37) % 256, (k * 91) % 256, (k * 53 + 80) % 256])[:, None, None]
            stripes = 60 * np.sin((rows * np.cos(k) + cols * np.sin(k)) * 0.8)
            images[i] = np.clip(colour * 0.6 + stripes + rng.normal(0, 90, (3, 32, 32)) + 40, 0, 255)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": images.reshape(per_batch, -1),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in datasets.CIFAR10_CLASSES]}, f)
    return folder


@pytest.fixture
def cifar_home(tmp_path, monkeypatch):
    home = tmp_path / "keras"
    folder = write_cifar10(home)
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(home))   # Keras read $KERAS_HOME when it was imported
    monkeypatch.setenv("KERAS_HOME", str(home))              # for the notebook's kernel
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    return home, folder


def test_the_cached_cifar10_batches_load_as_images(cifar_home):
    assert datasets.where_from("cifar10") == "cache"
    data = datasets.load("cifar10")
    assert data.name == "cifar10" and data.source == "the Keras cache"
    assert data.x_train.shape == (5 * IMAGES_PER_BATCH, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (IMAGES_PER_BATCH, 32, 32, 3) and data.class_names[0] == "airplane"
    with open(cifar_home[1] / "data_batch_1", "rb") as f:   # channels first on disk, channels last here
        first = pickle.load(f, encoding="bytes")
    assert np.array_equal(data.x_train[0, :, :, 1], first[b"data"][0].reshape(3, 32, 32)[1])
    assert data.y_train[0] == first[b"labels"][0]


def test_a_damaged_cifar10_batch_is_one_sentence(cifar_home):
    (cifar_home[1] / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(datasets.DatasetUnavailable,
                       match=r"data_batch_3 is missing or damaged \(UnpicklingError: .*\); delete .*-target"):
        datasets.load("cifar10")
    (cifar_home[1] / "data_batch_3").unlink()
    with pytest.raises(datasets.DatasetUnavailable, match=r"data_batch_3 is missing or damaged \(FileNotFoundError"):
        datasets.load("cifar10")


@pytest.mark.slow
@pytest.mark.parametrize("nb_id", ["06_cnn_in_keras"])   # the id groups it with 06's other runs (conftest)
def test_notebook_06_runs_on_cifar10(cifar_home, nb_id):
    """06 at its smoke profile with dataset="cifar10": the reader's online path (the Keras cache) and the whole
    model path on 32x32 colour images, with clean outputs and its claims checked (custom profile)."""
    nb = course.find(nb_id)
    run = kernel.with_parameters(load_notebook_node(str(nb.path)), {**nb.smoke, "dataset": "cifar10"})
    kernel.execute(run, course.notebooks_dir(), env={**os.environ})
    first = "".join(o.get("text", "") for o in run.cells[next(i for i, c in enumerate(run.cells)
                                                              if "datasets.load(dataset)" in c.source)].outputs)
    assert "cifar10 from the Keras cache: train (900, 32, 32, 3)" in first
    assert "NOTICE" not in first
    problems = lint.output_problems(run, "06 on CIFAR-10 (smoke run)")
    assert not problems, "\n".join(problems)
    assert report.collect(run)["test_accuracy"] > 0.3   # 10 classes: chance is 0.1
