"""dlcourse.lite, explain, privacy and backends: the machinery of notebook 14."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import backends, explain, lite, privacy
from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()


@pytest.fixture(scope="module")
def small_cnn():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((64, 12, 12, 1)).astype("float32")
    return model, x


@pytest.mark.parametrize("mode", lite.MODES)
def test_every_quantised_model_predicts_like_keras(small_cnn, mode):
    model, x = small_cnn
    content = lite.convert(model, mode, representative=x[:32])
    lm = lite.LiteModel(content)
    got, want = lm.predict(x, batch_size=16), model.predict(x, verbose=0)
    assert got.shape == want.shape
    tolerance = {"float32": 1e-5, "float16": 1e-2, "dynamic_range": 5e-2, "int8": 5e-2}[mode]
    assert np.abs(got - want).max() < tolerance, f"{mode}: {np.abs(got - want).max()}"
    assert lm.latency_ms(x[0], runs=5) > 0


def test_latency_is_the_median_of_the_calls_in_milliseconds(monkeypatch):
    """A broken latency clock (seconds for milliseconds, the mean, the warm-up counted) reads these wrong."""
    import time

    waits = iter([0.5] + [0.010, 0.020, 0.012, 0.200, 0.011])  # a slow warm-up, then one outlier

    class Slow:
        def predict_on_batch(self, batch):
            time.sleep(next(waits))

    ms = lite.keras_latency_ms(Slow(), np.zeros((4, 4, 1)), runs=5)
    assert 12 <= ms < 60, f"median of 10, 11, 12, 20, 200 ms should read about 12 ms, got {ms:.1f}"


def test_quantisation_shrinks_the_file(small_cnn):
    model, x = small_cnn
    sizes = {mode: len(lite.convert(model, mode, representative=x[:8])) for mode in lite.MODES}
    assert sizes["float16"] < sizes["float32"] and sizes["int8"] < sizes["float16"]


def test_bad_quantisation_requests_are_named(small_cnn):
    model, _ = small_cnn
    with pytest.raises(ValueError, match="mode must be one of float32, float16, dynamic_range, int8, got 'int4'"):
        lite.convert(model, "int4")
    with pytest.raises(ValueError, match="needs representative inputs"):
        lite.convert(model, "int8")


def test_integrated_gradients_are_complete_and_saliency_is_the_gradient(small_cnn):
    model, x = small_cnn
    classes = model.predict(x[:4], verbose=0).argmax(1)
    ig = explain.integrated_gradients(model, x[:4], classes, steps=64)
    gap = explain.class_score(model, x[:4], classes) - explain.class_score(model, np.zeros_like(x[:4]), classes)
    assert np.allclose(ig.sum(axis=(1, 2, 3)), gap, atol=2e-3)
    # saliency of a linear model is |w| for every image
    linear = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    sal = explain.saliency(linear, x[:2], np.array([1, 1]))
    assert np.allclose(sal[0], np.abs(linear.layers[-1].get_weights()[0][:, 1]).reshape(12, 12), atol=1e-6)
    with pytest.raises(ValueError, match="steps must be ≥ 1, got 0"):
        explain.integrated_gradients(model, x[:1], classes[:1], steps=0)


def test_complete_integrated_gradients_add_points_only_where_the_sum_misses(small_cnn):
    model, x = small_cnn
    classes = model.predict(x[:6], verbose=0).argmax(1)
    gap = explain.class_score(model, x[:6], classes) - explain.class_score(model, np.zeros_like(x[:6]), classes)
    found = explain.complete_integrated_gradients(model, x[:6], classes, steps=1, tolerance=1e-3)
    assert np.all(found.error <= 1e-3)
    assert np.allclose(np.abs(found.values.sum(axis=(1, 2, 3)) - gap), found.error, atol=1e-6)
    for i, n in enumerate(found.steps):  # each image's values are plain IG at the points it was given
        plain = explain.integrated_gradients(model, x[i:i + 1], classes[i:i + 1], steps=int(n))
        assert np.allclose(found.values[i], plain[0], atol=1e-6)
        if n > 1:  # and it was given more only because half as many missed
            half = explain.integrated_gradients(model, x[i:i + 1], classes[i:i + 1], steps=int(n) // 2)
            assert abs(half.sum() - gap[i]) > 1e-3
    capped = explain.complete_integrated_gradients(model, x[:6], classes, steps=1, tolerance=1e-9, max_steps=4)
    assert capped.steps.max() == 4 and np.any(capped.error > 1e-9)  # the cap is reported, not hidden
    with pytest.raises(ValueError, match="tolerance must be > 0, got 0"):
        explain.complete_integrated_gradients(model, x[:1], classes[:1], tolerance=0)
    with pytest.raises(ValueError, match=r"max_steps must be ≥ steps \(32\), got 8"):
        explain.complete_integrated_gradients(model, x[:1], classes[:1], steps=32, max_steps=8)


def test_membership_attack_reads_the_loss_gap():
    rng = np.random.default_rng(0)
    same = privacy.membership_attack(rng.exponential(1, 4000), rng.exponential(1, 4000))
    assert abs(same["auc"] - 0.5) < 0.03 and same["advantage"] < 0.06
    leaky = privacy.membership_attack(rng.exponential(0.1, 4000), rng.exponential(1, 4000))
    assert leaky["auc"] > 0.85 and leaky["advantage"] > 0.5
    assert leaky["accuracy"] == pytest.approx(0.5 + leaky["advantage"] / 2)
    assert np.allclose(privacy.per_example_loss(np.array([[0.25, 0.75]]), np.array([1])), -np.log(0.75))
    with pytest.raises(ValueError, match="equal length"):
        privacy.membership_attack([0.1], [0.1, 0.2])


def test_the_same_model_runs_on_jax(small_cnn, tmp_path):
    model, x = small_cnn
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(len(x)) % 3, x_eval=x[:8])
    result = backends.run("jax", tmp_path / "m.keras", tmp_path / "d.npz", epochs=2, batch_size=16)
    assert result["backend"] == "jax"
    assert np.allclose(result["predictions"], model.predict(x[:8], verbose=0), atol=1e-5)
    assert len(result["loss"]) == 2 and np.isfinite(result["loss"]).all()
    assert len(result["epoch_s"]) == 2 and result["epoch_s"][0] > result["epoch_s"][1]  # the first one compiles
    here = backends.measure(tmp_path / "m.keras", tmp_path / "d.npz", epochs=2, batch_size=16)  # in this process
    assert here["backend"] == "tensorflow" and len(here["epoch_s"]) == 2
    assert np.allclose(here["predictions"], result["predictions"], atol=1e-5)
    with pytest.raises(ValueError, match="backend must be jax, torch or tensorflow, got 'mxnet'"):
        backends.run("mxnet", tmp_path / "m.keras", tmp_path / "d.npz", 1, 16)


def test_the_attack_with_noise_balances_the_groups_and_measures_the_spread():
    rng = np.random.default_rng(0)
    leaky = privacy.attack_with_noise(rng.exponential(0.1, 300), rng.exponential(1, 5000), seed=1)
    assert leaky["pairs"] == 300 and leaky["advantage"] > 0.5 and 0 < leaky["advantage s.e."] < 0.1
    small = privacy.attack_with_noise(rng.exponential(1, 30), rng.exponential(1, 30), seed=1)
    large = privacy.attack_with_noise(rng.exponential(1, 3000), rng.exponential(1, 3000), seed=1)
    assert small["advantage s.e."] > 3 * large["advantage s.e."], "fewer examples, more noise"
    with pytest.raises(ValueError, match="at least 2 members and 2 non-members, got 1 and 5"):
        privacy.attack_with_noise([0.1], [0.1] * 5)
