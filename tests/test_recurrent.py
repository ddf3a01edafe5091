"""dlcourse.recurrent: the NumPy SimpleRNN, LSTM and GRU follow their equations, equal the Keras layers with
copied weights (masks included), backpropagation through time matches finite differences, and bad
arguments are refused with one clear sentence. Notebook 07 teaches all of it."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import recurrent as rnn
from dlcourse import scratch


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_weights(rng, d, u, gates, two_row_bias=False):
    bias_shape = (2, gates * u) if two_row_bias else (gates * u,)
    return {"kernel": rng.normal(scale=0.5, size=(d, gates * u)),
            "recurrent_kernel": rng.normal(scale=0.5, size=(u, gates * u)),
            "bias": rng.normal(scale=0.5, size=bias_shape)}


# -- the cells follow their equations -------------------------------------------------------------

def test_simple_rnn_is_the_textbook_loop(rng):
    x = rng.normal(size=(3, 5, 2))
    w = random_weights(rng, 2, 4, 1)
    outputs, h = rnn.simple_rnn_forward(x, **w)
    expected = np.zeros((3, 4))
    for t in range(5):
        expected = np.tanh(x[:, t] @ w["kernel"] + expected @ w["recurrent_kernel"] + w["bias"])
        assert np.allclose(outputs[:, t], expected)
    assert outputs.shape == (3, 5, 4) and np.array_equal(h, outputs[:, -1])


def test_lstm_with_zero_weights_halves_the_cell_each_step():
    # all pre-activations 0: i = f = o = 0.5 and the candidate tanh(0) = 0, so c_t = 0.5 c_(t-1)
    zero = {"kernel": np.zeros((1, 8)), "recurrent_kernel": np.zeros((2, 8)), "bias": np.zeros(8)}
    c0 = np.array([[1.0, -2.0]])
    _, h, c = rnn.lstm_forward(np.zeros((1, 3, 1)), **zero, h0=np.zeros((1, 2)), c0=c0)
    assert np.allclose(c, c0 / 8)
    assert np.allclose(h, 0.5 * np.tanh(c0 / 8))


def test_lstm_gate_order_is_i_f_c_o(rng):
    w = random_weights(rng, 1, 3, 4)
    gates = rnn.split_gates(w["bias"], rnn.LSTM_GATES)
    assert list(gates) == ["i", "f", "c", "o"] and all(g.shape == (3,) for g in gates.values())
    big_forget = dict(w, bias=np.concatenate([gates["i"], np.full(3, 50.0), gates["c"], gates["o"]]),
                      kernel=np.zeros_like(w["kernel"]))
    big_forget["bias"][:3] = -50.0  # input gate shut, forget gate open: the cell state never changes
    c0 = rng.normal(size=(2, 3))
    _, _, c = rnn.lstm_forward(rng.normal(size=(2, 6, 1)), **big_forget, c0=c0)
    assert np.allclose(c, c0)


def test_gru_reset_after_equals_reset_before_for_a_diagonal_candidate_kernel(rng):
    # r * (h R_h) == (r * h) R_h when R_h is diagonal and the recurrent bias is zero
    w = random_weights(rng, 2, 3, 3)
    w["recurrent_kernel"][:, 6:] = np.diag(rng.normal(size=3))
    x = rng.normal(size=(4, 5, 2))
    before, _ = rnn.gru_forward(x, **w, reset_after=False)
    two_rows = dict(w, bias=np.stack([w["bias"], np.zeros(9)]))
    after, _ = rnn.gru_forward(x, **two_rows, reset_after=True)
    assert np.allclose(before, after)
    w["recurrent_kernel"][:, 6:] = rng.normal(size=(3, 3))  # a full matrix: the two variants differ
    assert not np.allclose(rnn.gru_forward(x, **w, reset_after=False)[0],
                           rnn.gru_forward(x, **dict(w, bias=np.stack([w["bias"], np.zeros(9)])))[0])


def test_gru_update_gate_at_one_keeps_the_state(rng):
    w = random_weights(rng, 1, 2, 3, two_row_bias=True)
    w["kernel"][:] = 0
    w["recurrent_kernel"][:, :2] = 0
    w["bias"][:, :2] = 50.0  # z = 1: h_t = h_(t-1)
    h0 = rng.normal(size=(3, 2))
    _, h = rnn.gru_forward(rng.normal(size=(3, 4, 1)), **w, h0=h0)
    assert np.allclose(h, h0)


# -- masks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("forward, gates, two_rows", [
    (rnn.simple_rnn_forward, 1, False), (rnn.lstm_forward, 4, False), (rnn.gru_forward, 3, True)])
def test_a_masked_tail_gives_the_unpadded_result(rng, forward, gates, two_rows):
    w = random_weights(rng, 2, 3, gates, two_rows)
    x = rng.normal(size=(2, 6, 2))
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 4:] = False
    out = forward(x, **w, mask=mask)
    alone = forward(x[1:, :4], **w)
    assert np.allclose(out[1][1], alone[1][0])                 # final state of the padded row
    assert np.allclose(out[0][1, 4:], out[0][1, 3])            # masked steps repeat the last output
    assert np.allclose(out[0][0], forward(x[:1], **w)[0][0])   # an unmasked row is untouched


def test_a_wrong_mask_shape_is_refused(rng):
    w = random_weights(rng, 1, 2, 1)
    with pytest.raises(ValueError, match="mask must have shape"):
        rnn.simple_rnn_forward(np.zeros((2, 3, 1)), **w, mask=np.ones((2, 4), dtype=bool))


# -- backpropagation through time ------------------------------------------------------------------

def test_bptt_matches_finite_differences(rng):
    x = rng.normal(size=(2, 5, 2))
    w = random_weights(rng, 2, 3, 1)
    readout = rng.normal(size=(5, 3))  # L = sum over t of h_t . readout_t

    def loss(**changed):
        args = {**w, "x": x, **changed}
        outputs, _ = rnn.simple_rnn_forward(args.pop("x"), **args)
        return float(np.sum(outputs * readout))

    outputs, _ = rnn.simple_rnn_forward(x, **w)
    grads = rnn.simple_rnn_backward(x, outputs, np.broadcast_to(readout, outputs.shape).copy(), **w)
    for name in ("kernel", "recurrent_kernel", "bias", "x"):
        value = x if name == "x" else w[name]
        numeric = scratch.numerical_gradient(lambda v, name=name: loss(**{name: v}), value.copy())
        assert scratch.relative_error(grads[name], numeric) < 1e-7, name
    assert grads["h0"].shape == (2, 3)


def test_bptt_refuses_mismatched_shapes(rng):
    w = random_weights(rng, 1, 2, 1)
    with pytest.raises(ValueError, match="d_outputs"):
        rnn.simple_rnn_backward(np.zeros((2, 3, 1)), np.zeros((2, 3, 2)), np.zeros((2, 2, 2)), **w)


# -- helpers ---------------------------------------------------------------------------------------

def test_make_windows_pairs_each_window_with_the_next_value():
    x, y = rnn.make_windows(np.arange(10.0), 4)
    assert x.shape == (6, 4, 1) and y.shape == (6,)
    assert np.array_equal(x[0, :, 0], [0, 1, 2, 3]) and y[0] == 4 and y[-1] == 9
    with pytest.raises(ValueError, match="length must be"):
        rnn.make_windows(np.arange(10.0), 10)
    with pytest.raises(ValueError, match="1-D"):
        rnn.make_windows(np.zeros((3, 3)), 2)


def test_split_gates_and_global_norm():
    assert set(rnn.split_gates(np.zeros((2, 9)), rnn.GRU_GATES)) == {"z", "r", "h"}
    with pytest.raises(ValueError, match="equal gate blocks"):
        rnn.split_gates(np.zeros(10), rnn.LSTM_GATES)
    assert rnn.global_norm([np.array([3.0]), np.array([[4.0]])]) == pytest.approx(5.0)


def test_sequences_must_be_three_dimensional(rng):
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        rnn.simple_rnn_forward(np.zeros((3, 4)), **random_weights(rng, 1, 2, 1))


# -- equal to Keras --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    from dlcourse.session import import_tensorflow

    _, keras = import_tensorflow()
    keras.utils.set_random_seed(0)
    return keras


@pytest.mark.parametrize("name, options", [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}),
                                           ("GRU", {"reset_after": False})])
def test_numpy_forward_equals_keras_with_and_without_mask(keras, rng, name, options):
    layer = getattr(keras.layers, name)(4, return_sequences=True, return_state=True,
                                        bias_initializer="random_normal", **options)
    x = rng.normal(size=(3, 7, 2)).astype("float32")
    mask = np.ones((3, 7), dtype=bool)
    mask[0, 5:] = False
    mask[2, 2:] = False
    for m in (None, mask):
        theirs = layer(x) if m is None else layer(x, mask=m)
        ours = rnn.forward_like_keras(layer, x, mask=m)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert np.allclose(a, np.asarray(b), atol=1e-5)


def test_weights_round_trip_through_keras(keras, rng):
    layer = keras.layers.LSTM(3)
    layer.build((None, None, 2))
    w = random_weights(rng, 2, 3, 4)
    rnn.weights_to_keras(layer, w)
    back = rnn.weights_from_keras(layer)
    assert all(np.allclose(back[n], w[n], atol=1e-6) for n in rnn.WEIGHT_NAMES)
    with pytest.raises(ValueError, match="recurrent_kernel must have shape"):
        rnn.weights_to_keras(layer, dict(w, recurrent_kernel=np.zeros((3, 3))))
    with pytest.raises(ValueError, match="lack bias"):
        rnn.weights_to_keras(layer, {k: w[k] for k in ("kernel", "recurrent_kernel")})


def test_input_gradient_norms_equal_bptt(keras, rng):
    layer = keras.layers.SimpleRNN(5)
    x = rng.normal(size=(4, 9, 2)).astype("float32")
    norms = rnn.input_gradient_norms(layer, x)
    w = rnn.weights_from_keras(layer)
    outputs, _ = rnn.simple_rnn_forward(x.astype("float64"), **w)
    d_outputs = np.zeros_like(outputs)
    d_outputs[:, -1] = 1 / np.sqrt(5)  # the default readout: equal weights, unit norm
    dx = rnn.simple_rnn_backward(x.astype("float64"), outputs, d_outputs, **w)["x"]
    expected = np.linalg.norm(dx, axis=2).mean(axis=0)[::-1]  # k = 0 is the last step
    assert norms.shape == (9,) and np.allclose(norms, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="readout must have one weight per output unit"):
        rnn.input_gradient_norms(layer, x, readout=np.ones(3))


def test_forward_like_keras_refuses_other_layers(keras):
    with pytest.raises(ValueError, match="knows SimpleRNN, LSTM and GRU"):
        rnn.forward_like_keras(keras.layers.Dense(2), np.zeros((1, 2, 2)))
