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
