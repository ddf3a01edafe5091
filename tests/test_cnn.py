"""dlcourse.cnn: the model builders have the architecture notebook 06 describes, the data helpers keep shapes
and ranges, TimeBudget stops on time and drives the learning rate, and the error-analysis helpers count right.
Tiny models and data only: nothing here trains for more than a few steps."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import cnn

keras = cnn.keras


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


# -- builders ----------------------------------------------------------------------------------------

def test_seeds_cnn_is_the_classic_keras_example():
    model = cnn.seeds_cnn((28, 28, 1), 10)
    assert layer_types(model) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert model.count_params() == (9 * 1 + 1) * 32 + (9 * 32 + 1) * 64 + (5 * 5 * 64 + 1) * 10 == 34_826
    assert tuple(model.outputs[0].shape[1:]) == (10,)


def test_seeds_cnn_refuses_images_too_small_for_it():
    with pytest.raises(ValueError, match="at least 10x10"):
        cnn.seeds_cnn((8, 8, 1), 10)
    with pytest.raises(ValueError, match="input_shape"):
        cnn.seeds_cnn((28, 28), 10)


def test_course_cnn_blocks_and_parameters():
    model = cnn.course_cnn((28, 28, 1), 10, widths=(32, 64, 128), dropout=0.2)
    types = layer_types(model)
    assert types.count("Conv2D") == 3 and types.count("BatchNormalization") == 3 and types.count("MaxPooling2D") == 3
    assert types[-3:] == ["GlobalAveragePooling2D", "Dropout", "Dense"]
    convs = 9 * 1 * 32 + 9 * 32 * 64 + 9 * 64 * 128        # no biases before batch norm
    assert model.count_params() == convs + 4 * (32 + 64 + 128) + (128 + 1) * 10


def test_course_cnn_without_batch_norm_is_a_plain_stack():
    model = cnn.course_cnn((16, 16, 3), 5, widths=(8, 16), batch_norm=False, dropout=0, head="flatten")
    assert "BatchNormalization" not in layer_types(model) and "Dropout" not in layer_types(model)
    assert model.count_params() == (27 + 1) * 8 + (72 + 1) * 16 + (4 * 4 * 16 + 1) * 5


def test_course_cnn_stops_pooling_at_one_pixel():
    model = cnn.course_cnn((8, 8, 1), 10, widths=(4, 4, 4, 4, 4))
    assert layer_types(model).count("MaxPooling2D") == 3


def test_course_cnn_puts_augmentation_first_and_it_acts_only_in_training():
    model = cnn.course_cnn((28, 28, 1), 10, widths=(4,), augment="fashion_mnist", seed=0)
    assert model.layers[0].name == "augmentation"
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
    assert np.allclose(model.layers[0](x, training=False), x)
    assert not np.allclose(model.layers[0](x, training=True), x)


@pytest.mark.parametrize("kwargs, message", [
    ({"widths": ()}, "widths"), ({"dropout": 1.0}, "dropout"), ({"head": "dense"}, "head"),
    ({"augment": "imagenet"}, "dataset must be one of"), ({"pooled_blocks": 4}, "pooled_blocks"),
    ({"pooled_blocks": -1}, "pooled_blocks"),
])
def test_course_cnn_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cnn.course_cnn((28, 28, 1), 10, **kwargs)


def test_course_cnn_pool_first_and_pooled_blocks():
    model = cnn.course_cnn((28, 28, 1), 10, widths=(4, 8, 16), pool_first=True, pooled_blocks=2, dropout=0,
                           head="flatten")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:4] == ["Conv2D", "MaxPooling2D", "BatchNormalization", "ReLU"]  # pooling before the norm
    assert kinds.count("MaxPooling2D") == 2
    assert tuple(model.layers[-2].output.shape[1:]) == (7 * 7 * 16,)  # the unpooled last block: 7x7x16 flattened
    plain = cnn.course_cnn((28, 28, 1), 10, widths=(4, 8, 16), dropout=0, head="flatten")
    assert [type(layer).__name__ for layer in plain.layers][:4] == ["Conv2D", "BatchNormalization", "ReLU",
                                                                     "MaxPooling2D"]
    # same weights either way: only where the pooling sits differs
    assert model.count_params() - plain.count_params() == (7 * 7 * 16 - 3 * 3 * 16) * 10


def test_augmentation_never_mirrors_digits():
    for name in ("mnist", "digits"):
        assert "RandomFlip" not in layer_types(cnn.augmentation(name))
    assert {"RandomFlip", "RandomRotation", "RandomTranslation"} <= set(layer_types(cnn.augmentation("cifar10")))


# -- data ----------------------------------------------------------------------------------------------

def test_to_float_scales_and_enlarges_small_images():
    images = np.full((3, 8, 8, 1), 255, dtype="uint8")
    x = cnn.to_float(images)
    assert x.dtype == np.float32 and x.shape == (3, 16, 16, 1) and x.max() == 1.0
    assert cnn.to_float(np.zeros((2, 28, 28, 1), "uint8")).shape == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="images must have shape"):
        cnn.to_float(np.zeros((28, 28)))


def test_split_validation_is_a_deterministic_partition():
    x, y = np.arange(100)[:, None], np.arange(100)
    x_tr, y_tr, x_val, y_val = cnn.split_validation(x, y, 0.1, seed=1)
    assert len(x_val) == 10 and len(x_tr) == 90
    assert sorted(np.concatenate([y_tr, y_val])) == list(range(100))
    assert np.array_equal(x_tr[:, 0], y_tr)
    assert np.array_equal(cnn.split_validation(x, y, 0.1, seed=1)[3], y_val)
    with pytest.raises(ValueError, match="fraction"):
        cnn.split_validation(x, y, 1.5, seed=1)


def test_make_dataset_batches_and_shuffles_every_example_once():
    x = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    y = np.arange(10)
    batches = list(cnn.make_dataset(x, y, 4, shuffle=True, seed=0).as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    labels = np.concatenate([b[1] for b in batches])
    assert sorted(labels) == list(range(10))
    assert all(np.array_equal(b[0][:, 0, 0, 0], b[1]) for b in batches)  # images stay with their labels
    ordered = np.concatenate([b[1] for b in cnn.make_dataset(x, y, 4).as_numpy_iterator()])
    assert np.array_equal(ordered, y)


def test_make_dataset_turns_tf_data_autotuning_off_unless_asked():
    # with autotuning on, Keras' new iterator each epoch waited seconds for the old one's tuning thread
    # (benchmarks/results/tfdata_stall.md)
    x, y = np.zeros((6, 2, 2, 1), dtype="float32"), np.arange(6)
    for shuffle in (False, True):
        assert cnn.make_dataset(x, y, 4, shuffle=shuffle).options().autotune.enabled is False
        assert cnn.make_dataset(x, y, 4, shuffle=shuffle, autotune=True).options().autotune.enabled is not False


# -- training on a clock -------------------------------------------------------------------------------

def test_one_cycle_warms_up_then_anneals():
    assert cnn.one_cycle(0.0, 0.01) == 0
    assert cnn.one_cycle(0.15, 0.01) == pytest.approx(0.01)
    assert cnn.one_cycle(1.0, 0.01, final=0.1) == pytest.approx(0.001)
    values = [cnn.one_cycle(f, 1.0) for f in np.linspace(0.15, 1, 20)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def tiny_fit(callback, epochs=50):
    x = np.random.default_rng(0).random((64, 10, 10, 1), dtype="float32")
    y = np.arange(64) % 2
    model = cnn.course_cnn((10, 10, 1), 2, widths=(4,))
    model.compile(optimizer=keras.optimizers.AdamW(0.01), loss="sparse_categorical_crossentropy")
    model.fit(cnn.make_dataset(x, y, 8, shuffle=True, seed=0), validation_data=(x, y), epochs=epochs,
              callbacks=[callback], verbose=0, shuffle=False)
    return model


def test_time_budget_stops_training_in_time():
    budget = cnn.TimeBudget(1.0)
    tiny_fit(budget, epochs=10_000)
    assert budget.stopped and budget.epochs < 10_000
    assert 0 < budget.seconds < 300  # generous: the first step compiles, and the machine may be shared
    assert budget.cpu_seconds > 0


def test_time_budget_drives_the_learning_rate_down_to_the_end():
    budget = cnn.TimeBudget(1.5, learning_rate=0.01, clock="cpu")
    model = tiny_fit(budget, epochs=10_000)
    assert budget.stopped
    assert float(model.optimizer.learning_rate) < 0.01 * 0.5  # the last steps ran well below the peak


def test_time_budget_without_stopping():
    budget = cnn.TimeBudget(600)
    tiny_fit(budget, epochs=2)
    assert not budget.stopped and budget.epochs == 2


def test_time_budget_skip_tracing_counts_only_the_trained_batches():
    budget = cnn.TimeBudget(0.5, skip_tracing=True)
    tiny_fit(budget, epochs=10_000)
    assert budget.stopped and budget.batches > 0
    # The first batch and the first validation pass (tracing) are off the clock; the last validation pass
    # is on it, and may run a little faster than the one before it that set the stopping point.
    assert 0.45 <= budget.trained_seconds < budget.seconds


@pytest.mark.parametrize("kwargs, message", [
    ({"seconds": 0}, "seconds"), ({"seconds": 5, "learning_rate": -1}, "learning_rate"),
    ({"seconds": 5, "clock": "gpu"}, "clock"),
])
def test_time_budget_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cnn.TimeBudget(**kwargs)


def test_restart_gives_new_weights_and_a_fresh_optimizer_without_retracing():
    model = tiny_fit(cnn.TimeBudget(600), epochs=2)
    traced = model.train_function
    fresh = [np.zeros_like(w) for w in model.get_weights()]
    cnn.restart(model, fresh)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh, strict=True))
    assert int(model.optimizer.iterations) == 0 and float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert all(not np.any(v.numpy()) for v in model.optimizer.variables if not v.path.endswith("learning_rate"))
    x, y = np.zeros((16, 10, 10, 1), "float32"), np.zeros(16, "int64")
    model.fit(cnn.make_dataset(x, y, 8), epochs=1, verbose=0)
    assert model.train_function is traced and int(model.optimizer.iterations) == 2


# -- errors ---------------------------------------------------------------------------------------------

def test_confusion_matrix_and_per_class_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    cm = cnn.confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    acc = cnn.per_class_accuracy(cm)
    assert np.allclose(acc[:3], [0.5, 2 / 3, 1.0]) and np.isnan(acc[3])
    with pytest.raises(ValueError, match="labels must lie"):
        cnn.confusion_matrix(y_true, y_pred, 2)


def test_most_confidently_wrong_orders_by_confidence():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    y_true = np.array([1, 0, 0, 1, 0])  # wrong: 0 (0.9), 1 (0.8), 2 (0.6)
    assert cnn.most_confidently_wrong(probs, y_true, k=2).tolist() == [0, 1]
    assert cnn.most_confidently_wrong(probs, y_true, k=10).tolist() == [0, 1, 2]


def test_course_cnn_hidden_dense_layer_and_batch_norm_momentum():
    model = cnn.course_cnn((28, 28, 1), 10, widths=(8,), head="gap", dense=16, dropout=0)
    assert layer_types(model)[-2:] == ["Dense", "Dense"]
    assert model.count_params() == 9 * 8 + 4 * 8 + (8 + 1) * 16 + (16 + 1) * 10
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert bn.momentum == pytest.approx(0.9)
    with pytest.raises(ValueError, match="dense"):
        cnn.course_cnn((28, 28, 1), 10, dense=-1)
