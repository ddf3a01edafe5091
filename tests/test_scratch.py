"""dlcourse.scratch: the NumPy reference implementations are right (gradient checks), keep their shapes and
refuse bad arguments with one clear sentence. NumPy only: notebook 04 compares them with Keras."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import scratch


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def batch(rng):
    """A small classification batch: 6 examples, 5 features, labels in 0..2."""
    return rng.normal(size=(6, 5)), np.array([0, 1, 2, 1, 0, 2])


# -- activations ---------------------------------------------------------------------------------

def test_activations_have_their_textbook_values():
    z = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(scratch.sigmoid(z), 1 / (1 + np.exp(-z)))
    assert np.allclose(scratch.relu(z), [0, 0, 3])
    assert scratch.sigmoid(np.array(0.0)) == 0.5


def test_sigmoid_and_softmax_do_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.allclose(scratch.sigmoid(np.array([-1000.0, 1000.0])), [0, 1])
        probs = scratch.softmax(np.array([[1000.0, 0.0, -1000.0]]))
    assert np.allclose(probs, [[1, 0, 0]])


def test_relu_derivative_matches_finite_differences():
    z = np.linspace(-4, 4, 40) + 0.013  # keeps clear of ReLU's kink at 0
    numeric = scratch.numerical_gradient(lambda v: float(np.sum(scratch.relu(v))), z.copy())
    assert scratch.relative_error(scratch.relu_grad(z), numeric) < 1e-8


def test_relu_derivative_at_zero_is_zero_like_tensorflow():
    assert scratch.relu_grad(np.array([0.0])) == 0


def test_activation_derivatives_keep_float32():
    z = np.ones(3, dtype="float32")
    assert scratch.relu_grad(z).dtype == np.float32


def test_softmax_is_a_distribution_and_ignores_shifts(rng):
    z = rng.normal(size=(4, 7))
    p = scratch.softmax(z)
    assert p.shape == (4, 7) and np.all(p > 0)
    assert np.allclose(p.sum(axis=1), 1)
    assert np.allclose(scratch.softmax(z + 100), p)
    assert np.allclose(scratch.log_softmax(z), np.log(p))
    assert np.allclose(scratch.softmax(z, axis=0).sum(axis=0), 1)


# -- losses --------------------------------------------------------------------------------------

def test_cross_entropy_of_a_uniform_guess_is_log_k():
    assert scratch.softmax_cross_entropy(np.arange(5), np.zeros((5, 10))) == pytest.approx(np.log(10))


def test_softmax_cross_entropy_gradient_matches_finite_differences(batch, rng):
    logits, labels = rng.normal(size=(6, 3)), batch[1]
    numeric = scratch.numerical_gradient(lambda z: scratch.softmax_cross_entropy(labels, z), logits.copy())
    grad = scratch.softmax_cross_entropy_grad(labels, logits)
    assert grad.shape == logits.shape
    assert scratch.relative_error(grad, numeric) < 1e-8
    assert np.allclose(grad.sum(axis=1), 0)


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 3]), r"labels must lie in 0..2, got 0..3"),
    (np.array([0.0, 1.0, 2.0]), "labels must be integers"),
    (np.array([0, 1]), "1-D array of 3 class indices"),
    (np.array([[0], [1], [2]]), "1-D array of 3 class indices"),
])
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        scratch.softmax_cross_entropy(labels, np.zeros((3, 3)))


def test_logits_must_be_2d():
    with pytest.raises(ValueError, match=r"logits must be 2-D \(examples, classes\), got shape \(3,\)"):
        scratch.softmax_cross_entropy(np.array([0, 1, 2]), np.zeros(3))


def test_one_hot():
    assert np.array_equal(scratch.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="n_classes must be ≥ 1"):
        scratch.one_hot(np.array([0]), 0)


# -- gradient checking ---------------------------------------------------------------------------

def test_numerical_gradient_of_a_known_function_and_x_is_restored(rng):
    x = rng.normal(size=(3, 4))
    before = x.copy()
    grad = scratch.numerical_gradient(lambda v: float(np.sum(v**3)), x)
    assert np.allclose(grad, 3 * before**2, atol=1e-6)
    assert np.array_equal(x, before), "x must be restored after the check"


def test_numerical_gradient_refuses_what_it_cannot_perturb():
    with pytest.raises(ValueError, match="eps must be > 0"):
        scratch.numerical_gradient(np.sum, np.zeros(2), eps=0)
    with pytest.raises(ValueError, match="float NumPy array"):
        scratch.numerical_gradient(np.sum, np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="contiguous"):
        scratch.numerical_gradient(np.sum, np.zeros((4, 4))[:3, :2])


def test_relative_error():
    a = np.array([1.0, -2.0])
    assert scratch.relative_error(a, a) == 0
    assert scratch.relative_error(a, -a) == pytest.approx(1)
    assert scratch.relative_error(np.zeros(2), np.zeros(2)) == 0
    with pytest.raises(ValueError, match="same shape"):
        scratch.relative_error(np.zeros(2), np.zeros(3))


# -- the 2-layer perceptron ----------------------------------------------------------------------

def test_init_mlp_shapes_dtypes_and_glorot_limits():
    params = scratch.init_mlp(784, 128, 10, seed=1)
    assert {k: v.shape for k, v in params.items()} == {"W1": (784, 128), "b1": (128,), "W2": (128, 10), "b2": (10,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert np.abs(params["W1"]).max() <= np.sqrt(6 / (784 + 128))
    assert not params["b1"].any() and not params["b2"].any()
    again = scratch.init_mlp(784, 128, 10, seed=1)
    assert all(np.array_equal(params[k], again[k]) for k in params), "the same seed gives the same weights"
    assert scratch.init_mlp(3, 2, 2, dtype="float64")["W1"].dtype == np.float64
    with pytest.raises(ValueError, match="n_in ≥ 1 and n_out ≥ 1"):
        scratch.init_mlp(3, 0, 2)


def test_mlp_forward_shapes(batch):
    x, _ = batch
    params = scratch.init_mlp(5, 4, 3, dtype="float64")
    logits, cache = scratch.mlp_forward(params, x)
    assert logits.shape == (6, 3)
    assert [a.shape for a in cache] == [(6, 5), (6, 4), (6, 4), (6, 3)]


def test_mlp_backward_passes_a_gradient_check(batch):
    x, labels = batch
    params = scratch.init_mlp(5, 4, 3, seed=3, dtype="float64")
    params["b1"] += 0.05  # non-zero biases get checked too
    loss, grads = scratch.mlp_loss_and_grads(params, x, labels)
    assert loss > 0
    for name in scratch.PARAM_NAMES:
        numeric = scratch.numerical_gradient(lambda _: scratch.mlp_loss_and_grads(params, x, labels)[0],
                                             params[name])
        assert grads[name].shape == params[name].shape
        assert scratch.relative_error(grads[name], numeric) < 1e-7, f"wrong gradient for {name}"


def test_a_wrong_backward_pass_would_be_caught(batch):
    """The gradient check is sharp: a gradient off by 1 % fails it."""
    x, labels = batch
    params = scratch.init_mlp(5, 4, 3, seed=3, dtype="float64")
    _, grads = scratch.mlp_loss_and_grads(params, x, labels)
    numeric = scratch.numerical_gradient(lambda _: scratch.mlp_loss_and_grads(params, x, labels)[0], params["W2"])
    assert scratch.relative_error(1.01 * grads["W2"], numeric) > 1e-3


def test_mlp_refuses_inputs_and_weights_that_do_not_fit(batch):
    x, labels = batch
    params = scratch.init_mlp(5, 4, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(examples, 5\), got \(6, 4\)"):
        scratch.mlp_forward(params, x[:, :4])
    with pytest.raises(ValueError, match="missing b2"):
        scratch.mlp_forward({k: v for k, v in params.items() if k != "b2"}, x)
    broken = dict(params, W2=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="do not fit together"):
        scratch.mlp_forward(broken, x)


def test_evaluate(batch):
    x, labels = batch
    params = scratch.init_mlp(5, 4, 3, seed=0, dtype="float64")
    loss, accuracy = scratch.evaluate(params, x, labels)
    assert loss == pytest.approx(scratch.mlp_loss_and_grads(params, x, labels)[0])
    assert accuracy == pytest.approx(np.mean(scratch.mlp_forward(params, x)[0].argmax(axis=1) == labels))


# -- optimizers ----------------------------------------------------------------------------------

def test_sgd_step():
    params = {"w": np.array([1.0, -2.0])}
    scratch.SGD(learning_rate=0.1).step(params, {"w": np.array([10.0, 10.0])})
    assert np.allclose(params["w"], [0.0, -3.0])


def test_momentum_accumulates_a_velocity():
    params, opt = {"w": np.array([0.0])}, scratch.SGD(learning_rate=0.1, momentum=0.9)
    g = {"w": np.array([1.0])}
    opt.step(params, g)  # v = -0.1
    opt.step(params, g)  # v = 0.9 * -0.1 - 0.1 = -0.19
    assert params["w"] == pytest.approx(-0.29)


def test_adam_first_step_moves_each_coordinate_by_the_learning_rate():
    params = {"w": np.array([0.0, 0.0, 0.0])}
    scratch.Adam(learning_rate=0.01).step(params, {"w": np.array([0.1, -50.0, 7.0])})
    assert np.allclose(params["w"], [-0.01, 0.01, -0.01], rtol=1e-3), "Adam's first step is about lr * sign(g)"


def test_adam_follows_the_textbook_rule():
    rng = np.random.default_rng(1)
    params, opt = {"w": np.zeros(4)}, scratch.Adam(learning_rate=0.05)
    w, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    for t in range(1, 21):
        g = rng.normal(size=4)
        opt.step(params, {"w": g})
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        w = w - 0.05 * m_hat / (np.sqrt(v_hat) + 1e-7 / np.sqrt(1 - 0.999**t))  # Keras' epsilon "hat"
    assert np.allclose(params["w"], w, rtol=1e-10, atol=1e-12)
    assert opt.iterations == 20


def test_optimizers_minimise_a_quadratic():
    for opt in (scratch.SGD(0.1), scratch.SGD(0.05, momentum=0.9), scratch.Adam(0.1)):
        params = {"w": np.array([3.0, -2.0])}
        for _ in range(300):
            opt.step(params, {"w": 2 * params["w"]})
        assert np.abs(params["w"]).max() < 1e-2, f"{opt} did not reach the minimum"


@pytest.mark.parametrize("make, message", [
    (lambda: scratch.SGD(learning_rate=0), "learning_rate must be > 0, got 0"),
    (lambda: scratch.SGD(momentum=1.0), "momentum must be ≥ 0 and < 1, got 1.0"),
    (lambda: scratch.Adam(learning_rate=-1), "learning_rate must be > 0, got -1"),
    (lambda: scratch.Adam(beta_2=1.0), "beta_2 must be ≥ 0 and < 1, got 1.0"),
    (lambda: scratch.Adam(epsilon=0), "epsilon must be > 0, got 0"),
])
def test_bad_optimizer_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_gradients_must_match_the_parameters():
    params = {"w": np.zeros(2), "b": np.zeros(1)}
    with pytest.raises(ValueError, match="grads has no entry for parameter 'b'"):
        scratch.SGD().step(params, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape \(3,\), the parameter \(2,\)"):
        scratch.Adam().step(params, {"w": np.zeros(3), "b": np.zeros(1)})


# -- training ------------------------------------------------------------------------------------

def test_minibatches_cover_every_example_once(rng):
    batches = list(scratch.minibatches(10, 4, rng))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    with pytest.raises(ValueError, match="batch_size must be ≥ 1, got 0"):
        list(scratch.minibatches(10, 0, rng))


def blobs(n=300, seed=0):
    """Three well-separated Gaussian clusters in 2-D: a problem the perceptron must learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return (centres[labels] + rng.normal(scale=0.7, size=(n, 2))).astype("float32"), labels


def test_train_mlp_learns_and_reports_a_keras_like_history(capsys):
    x, y = blobs()
    params = scratch.init_mlp(2, 16, 3, seed=0)
    history = scratch.train_mlp(params, x, y, epochs=5, batch_size=32, optimizer=scratch.Adam(0.05),
                                validation_data=blobs(100, seed=1))
    assert set(history) == {"loss", "accuracy", "seconds", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 5 and "Epoch 5/5" in out and "val_accuracy" in out


def test_train_mlp_is_reproducible_and_quiet_when_asked(capsys):
    x, y = blobs()
    runs = []
    for _ in range(2):
        params = scratch.init_mlp(2, 8, 3, seed=0)
        scratch.train_mlp(params, x, y, epochs=2, batch_size=16, optimizer=scratch.SGD(0.1), seed=5, verbose=False)
        runs.append(params)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in scratch.PARAM_NAMES)
    assert capsys.readouterr().out == ""


def test_train_mlp_refuses_bad_arguments():
    x, y = blobs(20)
    params = scratch.init_mlp(2, 4, 3)
    with pytest.raises(ValueError, match="epochs must be ≥ 1, got 0"):
        scratch.train_mlp(params, x, y, epochs=0, batch_size=4, optimizer=scratch.SGD())
    with pytest.raises(ValueError, match="same number"):
        scratch.train_mlp(params, x, y[:10], epochs=1, batch_size=4, optimizer=scratch.SGD())
