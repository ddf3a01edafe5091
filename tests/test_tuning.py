"""dlcourse.tuning: fixed splits, one row per experiment, the honest-selection arithmetic, and keras-tuner
without TensorBoard. The Keras tests train tiny models on random data for one or two epochs."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import tuning


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 4, 4, 1), dtype=np.uint8)
    y = rng.integers(0, 3, size=60)
    return x, y, x[:10], y[:10]


# -- splits --------------------------------------------------------------------------------------

def test_make_split_draws_disjoint_scaled_sets(images):
    x, y, x_test, y_test = images
    split = tuning.make_split(x, y, x_test, y_test, train_size=30, val_size=20, seed=1)
    assert split.x_train.shape == (30, 4, 4, 1) and split.x_val.shape == (20, 4, 4, 1)
    assert split.x_train.dtype == np.float32 and split.x_train.max() <= 1
    flat = x.reshape(len(x), -1).astype("float32") / 255
    rows = {tuple(r) for r in flat}
    assert len(rows) == len(flat), "the fixture's images should all differ"
    train_rows = {tuple(r) for r in split.x_train.reshape(30, -1)}
    val_rows = {tuple(r) for r in split.x_val.reshape(20, -1)}
    assert not train_rows & val_rows, "training and validation images must not overlap"
    again = tuning.make_split(x, y, x_test, y_test, train_size=30, val_size=20, seed=1)
    assert np.array_equal(split.x_train, again.x_train), "the same seed must give the same split"
    assert "train (30, 4, 4, 1)" in repr(split)


def test_make_split_refuses_impossible_sizes(images):
    x, y, x_test, y_test = images
    with pytest.raises(ValueError, match="train_size \\+ val_size must be ≤ 60"):
        tuning.make_split(x, y, x_test, y_test, train_size=50, val_size=20, seed=0)
    with pytest.raises(ValueError, match="must be ≥ 1"):
        tuning.make_split(x, y, x_test, y_test, train_size=0, val_size=20, seed=0)


# -- NumPy helpers -------------------------------------------------------------------------------

def test_generalisation_gap_is_train_minus_validation_at_the_last_epoch():
    history = {"accuracy": [0.5, 0.9, 1.0], "val_accuracy": [0.5, 0.7, 0.75], "loss": [1, 0.5, 0.1]}
    assert tuning.generalisation_gap(history) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="history has no 'val_loss'"):
        tuning.generalisation_gap(history, metric="loss")


def test_standard_error_of_an_accuracy():
    assert tuning.standard_error(0.5, 100) == pytest.approx(0.05)
    assert tuning.standard_error(1.0, 10) == 0
    with pytest.raises(ValueError, match="n must be ≥ 1"):
        tuning.standard_error(0.5, 0)
    with pytest.raises(ValueError, match="accuracy must be in"):
        tuning.standard_error(1.5, 10)


def test_picking_the_best_of_equal_models_on_the_test_set_is_optimistic():
    rng = np.random.default_rng(0)
    many = rng.random((20, 4000)) < 0.8  # 20 models of exactly the same skill, 80 %
    result = tuning.selection_optimism(many, selection_size=200, repeats=200, seed=0)
    assert result["optimism"] > 0.02, "the luckiest of 20 on 200 images should look clearly better"
    assert result["fresh"] == pytest.approx(0.8, abs=0.01), "on fresh images the winner is an ordinary model"
    one = tuning.selection_optimism(many[:1], selection_size=200, repeats=200, seed=0)
    assert abs(one["optimism"]) < 0.01, "with a single model there is no selection, hence no optimism"


def test_selection_optimism_refuses_bad_arguments():
    with pytest.raises(ValueError, match="shape \\(models, examples\\)"):
        tuning.selection_optimism(np.ones(5, bool), 2)
    with pytest.raises(ValueError, match="selection_size must be ≥ 1 and < 5"):
        tuning.selection_optimism(np.ones((2, 5), bool), 5)


# -- Keras and keras-tuner -------------------------------------------------------------------------

def tiny_build():
    import keras

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_run_experiment_returns_a_row_and_is_reproducible(images, capsys):
    x, y, x_test, y_test = images
    split = tuning.make_split(x, y, x_test, y_test, train_size=30, val_size=20, seed=0)
    a = tuning.run_experiment("tiny", tiny_build, split, epochs=2, batch_size=8, seed=3)
    b = tuning.run_experiment("again", tiny_build, split, epochs=2, batch_size=8, seed=3, verbose=False)
    assert "tiny" in capsys.readouterr().out
    assert set(a.row) == {"val_accuracy", "test_accuracy", "train_accuracy", "gap", "epochs_used", "best_epoch",
                          "wall_s", "cpu_s"}
    assert a.row["epochs_used"] == 2 and a.row["gap"] == pytest.approx(a.row["train_accuracy"] - a.row["val_accuracy"])
    assert np.allclose(a.history["loss"], b.history["loss"]), "same seed, same run"
    probs = a.probabilities(split.x_test)
    assert probs.shape == (10, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    table = tuning.results_table([a, b])
    assert list(table.index) == ["tiny", "again"] and table.loc["tiny", "epochs_used"] == 2
    with pytest.raises(ValueError, match="epochs must be ≥ 1"):
        tuning.run_experiment("bad", tiny_build, split, epochs=0, batch_size=8, seed=0)


def test_random_search_runs_without_tensorboard_and_tabulates_its_trials(images):
    x, y, x_test, y_test = images

    def build(hp):
        import keras

        model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(hp.Choice("units", [2, 4]), "relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    flat = x.reshape(len(x), -1).astype("float32") / 255
    tuner = tuning.random_search(build, max_trials=2, seed=0, project_name="test_tuning_tiny")
    tuner.search(flat[:40], y[:40], epochs=1, validation_data=(flat[40:], y[40:]), verbose=0)
    table = tuning.tuner_table(tuner)
    assert list(table.columns) == ["units", "val_accuracy"] and 1 <= len(table) <= 2
    models = tuning.load_trial_models(tuner)
    assert list(models) == list(table.index)
    assert next(iter(models.values())).predict(flat[:5], verbose=0).shape == (5, 3)
    with pytest.raises(ValueError, match="max_trials must be ≥ 1"):
        tuning.random_search(build, max_trials=0, seed=0, project_name="x")


# -- where augmentation pays: shifts, the fixed budget of steps, the sweep and its gains -------------

def test_shift_images_moves_each_image_by_whole_pixels_and_fills_with_zeros():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(400, 6, 7, 1), dtype=np.uint8)  # no zeros inside an image
    out = tuning.shift_images(images, 2, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    found = set()
    for shifted, big in zip(out, padded, strict=True):
        moves = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(shifted, big[2 - dy:2 - dy + 6, 2 - dx:2 - dx + 7])]
        assert len(moves) == 1, "each image must be its original moved by one whole-pixel shift"
        found.add(moves[0])
    assert len(found) == 25, f"every shift from -2 to 2 in each direction should occur, saw {sorted(found)}"
    assert np.array_equal(tuning.shift_images(images[..., 0], 0, rng), images[..., 0]), "0 pixels: unchanged"
    again = tuning.shift_images(images, 2, np.random.default_rng(1))
    assert np.array_equal(out, again), "the same generator state gives the same shifts"


def test_shift_images_refuses_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"max_shift must be a whole number of pixels, ≥ 0 and < 4 .*got 4"):
        tuning.shift_images(np.zeros((2, 4, 5)), 4, rng)
    with pytest.raises(ValueError, match="max_shift must be a whole number of pixels.*got 1.5"):
        tuning.shift_images(np.zeros((2, 4, 5)), 1.5, rng)
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W\) or \(N, H, W, C\), got \(4, 5\)"):
        tuning.shift_images(np.zeros((4, 5)), 1, rng)


def test_epoch_order_is_one_shuffled_epoch_after_another_cut_at_the_budget():
    order = tuning.epoch_order(10, steps=7, batch_size=4, rng=np.random.default_rng(0))
    assert len(order) == 28, "7 steps of 4 examples"
    for start in (0, 10):
        assert sorted(order[start:start + 10]) == list(range(10)), "each epoch visits every example once"
    assert len(set(order[20:])) == 8, "the cut third epoch repeats no example"
    assert not np.array_equal(order[:10], order[10:20]), "each epoch is shuffled anew"
    assert len(tuning.epoch_order(1000, steps=2, batch_size=3, rng=np.random.default_rng(0))) == 6
    with pytest.raises(ValueError, match="steps must be a whole number ≥ 1, got 0"):
        tuning.epoch_order(10, steps=0, batch_size=4, rng=np.random.default_rng(0))


def dense_build():
    import keras

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def learnable():
    """Images whose class is where their bright 2x2 patch sits, so that a tiny model learns something."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 700)
    x = rng.integers(0, 60, size=(700, 4, 4, 1)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, label:label + 2, 1:3, 0] = 255
    return x[:400], y[:400], x[400:], y[400:]


def test_augmentation_sweep_pairs_runs_and_matches_fresh_models(learnable):
    import keras

    x, y, x_test, y_test = learnable
    runs = tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[30, 400], seeds=[5, 6], steps=12,
                                     batch_size=16, max_shift=1, verbose=False)
    assert len(runs) == 8 and list(runs.columns) == ["size", "seed", "augmented", "epochs", "train_accuracy",
                                                     "test_accuracy", "wall_s"]
    assert runs.groupby("size")["epochs"].first().to_dict() == {30: 12 * 16 / 30, 400: 12 * 16 / 400}
    # the last run of the sweep (size 400, seed 6, shifted) again with a model built from scratch
    rng = np.random.default_rng(6)
    pool = rng.permutation(len(x))[:400]
    order = pool[tuning.epoch_order(400, 12, 16, rng)]
    shifted = tuning.shift_images(x[order].astype("float32") / 255, 1, rng)
    keras.utils.set_random_seed(6)
    fresh = dense_build()
    fresh.fit(shifted, y[order], batch_size=16, epochs=1, shuffle=False, verbose=0)
    expected = fresh.evaluate(x_test.astype("float32") / 255, y_test, verbose=0, return_dict=True)["accuracy"]
    last = runs.iloc[-1]
    assert (last["size"], last["seed"], bool(last["augmented"])) == (400, 6, True)
    assert last["test_accuracy"] == pytest.approx(expected, abs=1e-6), \
        "a run on the reused model must give the numbers of a freshly built one"
    alone = tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[400], seeds=[6], steps=12,
                                      batch_size=16, max_shift=1, verbose=False)
    assert np.allclose(alone["test_accuracy"], runs["test_accuracy"].iloc[-2:]), \
        "a run must not depend on the runs before it"


def test_augmentation_sweep_refuses_bad_arguments(learnable):
    x, y, x_test, y_test = learnable
    sweep = {"steps": 2, "batch_size": 4, "max_shift": 1, "verbose": False}
    with pytest.raises(ValueError, match="sizes must be a non-empty list of whole numbers from 1 to 400"):
        tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[10, 401], seeds=[0], **sweep)
    with pytest.raises(ValueError, match="sizes must not repeat a size"):
        tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[10, 10], seeds=[0], **sweep)
    with pytest.raises(ValueError, match="seeds must be a non-empty list of different whole numbers"):
        tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[10], seeds=[], **sweep)
    with pytest.raises(ValueError, match=r"max_shift must be a whole number of pixels ≥ 1 \(0 would not augment\)"):
        tuning.augmentation_sweep(dense_build, x, y, x_test, y_test, sizes=[10], seeds=[0], **{**sweep, "max_shift": 0})
    with pytest.raises(ValueError, match="images and labels must have the same length"):
        tuning.augmentation_sweep(dense_build, x, y[:-1], x_test, y_test, sizes=[10], seeds=[0], **sweep)


def sweep_rows(accuracies):
    """Rows as augmentation_sweep returns them: {(size, seed, augmented): test accuracy}."""
    import pandas as pd

    return pd.DataFrame([{"size": n, "seed": s, "augmented": a, "epochs": 640 / n, "train_accuracy": 1.0 - a / 10,
                          "test_accuracy": acc, "wall_s": 0.1} for (n, s, a), acc in accuracies.items()])


def test_augmentation_gain_pairs_by_seed_and_calls_noise_noise():
    runs = sweep_rows({(64, 0, False): 0.70, (64, 0, True): 0.72, (64, 1, False): 0.60, (64, 1, True): 0.63,
                       (64, 2, False): 0.65, (64, 2, True): 0.67,      # +2, +3, +2 points: pays
                       (640, 0, False): 0.80, (640, 0, True): 0.79, (640, 1, False): 0.81, (640, 1, True): 0.82,
                       (640, 2, False): 0.80, (640, 2, True): 0.80})   # -1, +1, 0: noise
    gains = tuning.augmentation_gain(runs)
    assert list(gains.index) == [64, 640]
    assert gains.loc[64, "gain_points"] == pytest.approx(7 / 3)
    assert gains.loc[64, "se_points"] == pytest.approx(np.std([2, 3, 2], ddof=1) / np.sqrt(3))
    assert gains.loc[64, "without"] == pytest.approx(0.65) and gains.loc[64, "epochs"] == 10
    assert list(gains["verdict"]) == ["pays", "noise"]
    assert gains.loc[64, "train_with"] == pytest.approx(0.9) and gains.loc[64, "train_without"] == 1.0
    costs = sweep_rows({(64, 0, False): 0.70, (64, 0, True): 0.65, (64, 1, False): 0.60, (64, 1, True): 0.56})
    assert tuning.augmentation_gain(costs).loc[64, "verdict"] == "costs"
    with pytest.raises(ValueError, match="size 64 needs a run with and one without augmentation for each of at least"):
        tuning.augmentation_gain(sweep_rows({(64, 0, False): 0.7, (64, 0, True): 0.72}))
    with pytest.raises(ValueError, match="runs must have the columns"):
        tuning.augmentation_gain(runs.drop(columns="seed"))


def test_plot_augmentation_gain_draws_accuracy_and_gain_on_log_axes():
    import matplotlib

    matplotlib.use("Agg")
    runs = sweep_rows({(n, s, a): 0.7 + 0.01 * s + (0.02 if a and n < 600 else -0.01 if a else 0)
                       for n in (64, 640) for s in (0, 1, 2) for a in (False, True)})
    fig = tuning.plot_augmentation_gain(tuning.augmentation_gain(runs))
    ax_acc, ax_gain = fig.axes
    assert ax_acc.get_xscale() == "log" and ax_gain.get_xscale() == "log"
    assert "gain" in ax_gain.get_ylabel() and "test accuracy" in ax_acc.get_ylabel()
    assert any(line.get_ydata()[0] == 0 for line in ax_gain.get_lines()), "the zero line"
    assert [t.get_text() for t in ax_gain.texts] == ["10 epochs", "1 epoch"]
