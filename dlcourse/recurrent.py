"""NumPy reference recurrent layers, as derived in 07_rnn_theory.

Notebook 07 writes SimpleRNN, LSTM and GRU cells from their equations, proves each equal to its Keras
namesake with copied weights, writes backpropagation through time for the simple RNN and measures how
the gradient with respect to earlier inputs shrinks or grows. This module keeps those pieces so that
the lesson cells stay short and later notebooks (08) can reuse them.

Conventions are Keras' own, so weights move between the two unchanged: sequences are
(batch, time, features); a layer has a ``kernel`` (features, gates * units), a ``recurrent_kernel``
(units, gates * units) and a ``bias`` (gates * units,), with the gates side by side in Keras' order
(LSTM: i, f, c, o; GRU: z, r, h). A GRU with ``reset_after=True`` (Keras' default) has a bias of shape
(2, 3 * units): row 0 is added to the input projection, row 1 to the recurrent one.

    w = weights_from_keras(keras_lstm_layer)                 # {"kernel", "recurrent_kernel", "bias"}
    outputs, h, c = lstm_forward(x, **w)                     # same numbers as the Keras layer
    grads = simple_rnn_backward(x, outputs, d_outputs, **w)  # backpropagation through time

Used in notebooks: 07.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dlcourse.scratch import sigmoid

LSTM_GATES = ("i", "f", "c", "o")  # input, forget, candidate cell, output: Keras' column order
GRU_GATES = ("z", "r", "h")        # update, reset, candidate state: Keras' column order
WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")

Weights = dict[str, np.ndarray]
Step = Callable[..., tuple[np.ndarray, ...]]


# ---------------------------------------------------------------------------------------------
# One time step of each cell


def simple_rnn_step(x_t: np.ndarray, h: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                    bias: np.ndarray, activation: Callable[[np.ndarray], np.ndarray] = np.tanh) -> tuple[np.ndarray]:
    """h_t = f(x_t W_xh + h_{t-1} W_hh + b_h), as derived in 07_rnn_theory; returns the new state (h_t,)."""
    return (activation(x_t @ kernel + h @ recurrent_kernel + bias),)


def lstm_step(x_t: np.ndarray, h: np.ndarray, c: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
              bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step from its gate equations (gates i, f, c, o in Keras' order), as derived in 07_rnn_theory.

    i, f, o = sigmoid(...), c~ = tanh(...), c_t = f * c_{t-1} + i * c~, h_t = o * tanh(c_t); returns (h_t, c_t).
    """
    z = x_t @ kernel + h @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    c_new = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
    return sigmoid(z_o) * np.tanh(c_new), c_new


def gru_step(x_t: np.ndarray, h: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
             bias: np.ndarray, reset_after: bool = True) -> tuple[np.ndarray]:
    """One GRU step (gates z, r, h in Keras' order), as derived in 07_rnn_theory; returns (h_t,).

    With ``reset_after=True`` (Keras' default, the cuDNN variant) the reset gate multiplies the recurrent
    projection *after* the matrix product, and the bias has two rows (input, recurrent).
    """
    bias = np.asarray(bias)
    b_in, b_rec = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
    x_z, x_r, x_h = np.split(x_t @ kernel + b_in, 3, axis=-1)
    u_z, u_r, u_h = np.split(recurrent_kernel, 3, axis=-1)
    b_z, b_r, b_h = np.split(b_rec, 3, axis=-1)
    z = sigmoid(x_z + h @ u_z + b_z)
    r = sigmoid(x_r + h @ u_r + b_r)
    recurrent_h = r * (h @ u_h + b_h) if reset_after else (r * h) @ u_h
    return (z * h + (1 - z) * np.tanh(x_h + recurrent_h),)


# ---------------------------------------------------------------------------------------------
# Whole sequences


def _check_sequences(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be a batch of sequences (batch, time, features), got shape {x.shape}")
    return x


def scan(step: Step, x: np.ndarray, states: Sequence[np.ndarray], mask: np.ndarray | None = None,
         **weights: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Run ``step`` over the time axis of ``x``; returns (outputs (batch, time, units), final states).

    The output at step t is the first state (h_t). Where ``mask[b, t]`` is False the step is skipped for
    that sequence: its states are carried over and its output repeats the previous one, as Keras does
    for masked (padded) time steps.
    """
    x = _check_sequences(x)
    states = tuple(np.asarray(s) for s in states)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask must have shape (batch, time) = {x.shape[:2]}, got {mask.shape}")
    outputs = []
    for t in range(x.shape[1]):
        new = step(x[:, t], *states, **weights)
        if mask is not None:
            keep = mask[:, t, None]
            new = tuple(np.where(keep, n, s) for n, s in zip(new, states, strict=True))
        states = new
        outputs.append(states[0])
    return np.stack(outputs, axis=1), states


def _zeros(x: np.ndarray, units: int, given: np.ndarray | None) -> np.ndarray:
    return np.zeros((x.shape[0], units), dtype=x.dtype) if given is None else np.asarray(given)


def simple_rnn_forward(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray,
                       h0: np.ndarray | None = None, mask: np.ndarray | None = None,
                       activation: Callable[[np.ndarray], np.ndarray] = np.tanh) -> tuple[np.ndarray, np.ndarray]:
    """keras.layers.SimpleRNN in NumPy, as derived in 07_rnn_theory; returns (all outputs, final h)."""
    x = _check_sequences(x)
    h0 = _zeros(x, recurrent_kernel.shape[0], h0)
    outputs, (h,) = scan(simple_rnn_step, x, (h0,), mask, kernel=kernel, recurrent_kernel=recurrent_kernel,
                         bias=bias, activation=activation)
    return outputs, h


def lstm_forward(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray,
                 h0: np.ndarray | None = None, c0: np.ndarray | None = None,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """keras.layers.LSTM in NumPy, as derived in 07_rnn_theory; returns (all outputs, final h, final c)."""
    x = _check_sequences(x)
    units = recurrent_kernel.shape[0]
    outputs, (h, c) = scan(lstm_step, x, (_zeros(x, units, h0), _zeros(x, units, c0)), mask, kernel=kernel,
                           recurrent_kernel=recurrent_kernel, bias=bias)
    return outputs, h, c


def gru_forward(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray,
                h0: np.ndarray | None = None, mask: np.ndarray | None = None,
                reset_after: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """keras.layers.GRU in NumPy, as derived in 07_rnn_theory; returns (all outputs, final h)."""
    x = _check_sequences(x)
    h0 = _zeros(x, recurrent_kernel.shape[0], h0)
    outputs, (h,) = scan(gru_step, x, (h0,), mask, kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias,
                         reset_after=reset_after)
    return outputs, h


# ---------------------------------------------------------------------------------------------
# Weights to and from Keras


def split_gates(weight: np.ndarray, gates: Sequence[str]) -> dict[str, np.ndarray]:
    """The blocks of a kernel, recurrent kernel or bias, one per gate: split_gates(kernel, LSTM_GATES)["f"]."""
    weight = np.asarray(weight)
    if weight.shape[-1] % len(gates):
        raise ValueError(f"the last axis ({weight.shape[-1]}) must split into {len(gates)} equal gate blocks")
    return dict(zip(gates, np.split(weight, len(gates), axis=-1), strict=True))


def weights_from_keras(layer, dtype: str = "float64") -> Weights:
    """A built Keras SimpleRNN, LSTM or GRU layer's weights as {"kernel", "recurrent_kernel", "bias"}.

    ``dtype`` float64 (the default) makes the NumPy forward pass a reference more exact than Keras'
    float32 arithmetic.
    """
    values = layer.get_weights()
    if len(values) != 3:
        raise ValueError(f"expected kernel, recurrent_kernel and bias, got {len(values)} weights from "
                         f"{type(layer).__name__} (use_bias=False is not supported)")
    return {name: np.asarray(v, dtype=dtype) for name, v in zip(WEIGHT_NAMES, values, strict=True)}


def weights_to_keras(layer, weights: Mapping[str, np.ndarray]) -> None:
    """Copy {"kernel", "recurrent_kernel", "bias"} into a built Keras SimpleRNN, LSTM or GRU layer."""
    current = layer.get_weights()
    missing = [n for n in WEIGHT_NAMES if n not in weights]
    if missing:
        raise ValueError(f"weights lack {', '.join(missing)}")
    for name, old in zip(WEIGHT_NAMES, current, strict=True):
        if np.shape(weights[name]) != old.shape:
            raise ValueError(f"{name} must have shape {old.shape} for this layer, got {np.shape(weights[name])}")
    layer.set_weights([np.asarray(weights[n], dtype=old.dtype) for n, old in zip(WEIGHT_NAMES, current, strict=True)])


def forward_like_keras(layer, x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The NumPy forward pass of a Keras SimpleRNN, LSTM or GRU layer, with its weights; returns
    (outputs, *final states) in float64, whatever the layer's return_sequences."""
    name = type(layer).__name__
    if name not in ("SimpleRNN", "LSTM", "GRU"):
        raise ValueError(f"forward_like_keras knows SimpleRNN, LSTM and GRU, got {name}")
    w = weights_from_keras(layer)
    x = np.asarray(x, dtype="float64")
    if name == "SimpleRNN":
        if layer.cell.activation.__name__ != "tanh":
            raise ValueError("forward_like_keras supports SimpleRNN with its default tanh activation only")
        return simple_rnn_forward(x, **w, mask=mask)
    if name == "LSTM":
        return lstm_forward(x, **w, mask=mask)
    return gru_forward(x, **w, mask=mask, reset_after=layer.cell.reset_after)


# ---------------------------------------------------------------------------------------------
# Backpropagation through time


def simple_rnn_backward(x: np.ndarray, outputs: np.ndarray, d_outputs: np.ndarray, kernel: np.ndarray,
                        recurrent_kernel: np.ndarray, bias: np.ndarray | None = None,
                        h0: np.ndarray | None = None) -> Weights:
    """Backpropagation through time for a tanh SimpleRNN, as derived in 07_rnn_theory.

    ``outputs`` are the states h_1..h_T of the forward pass, ``d_outputs`` the gradient of the loss with
    respect to each of them (zeros except at the last step when only h_T is used). Walking back from
    t = T: dh_t = d_outputs_t + da_{t+1} W_hh^T, da_t = dh_t * (1 - h_t^2). Returns the gradients
    "kernel", "recurrent_kernel", "bias", "x" and "h0".
    """
    x = _check_sequences(x)
    if outputs.shape[:2] != x.shape[:2] or d_outputs.shape != outputs.shape:
        raise ValueError(f"outputs and d_outputs must be (batch, time, units) for x of shape {x.shape}, "
                         f"got {outputs.shape} and {d_outputs.shape}")
    h0 = _zeros(x, recurrent_kernel.shape[0], h0)
    previous = np.concatenate([h0[:, None], outputs[:, :-1]], axis=1)  # h_{t-1} for every t
    grads = {"kernel": np.zeros_like(kernel), "recurrent_kernel": np.zeros_like(recurrent_kernel),
             "bias": np.zeros(recurrent_kernel.shape[1], dtype=outputs.dtype), "x": np.zeros_like(x)}
    dh_next = np.zeros_like(outputs[:, 0])
    for t in reversed(range(x.shape[1])):
        da = (d_outputs[:, t] + dh_next) * (1 - outputs[:, t] ** 2)
        grads["kernel"] += x[:, t].T @ da
        grads["recurrent_kernel"] += previous[:, t].T @ da
        grads["bias"] += da.sum(axis=0)
        grads["x"][:, t] = da @ kernel.T
        dh_next = da @ recurrent_kernel.T
    grads["h0"] = dh_next
    return grads


# ---------------------------------------------------------------------------------------------
# Measuring vanishing and exploding gradients (TensorFlow)


def input_gradient_norms(fn: Callable, x: np.ndarray, readout: np.ndarray | None = None) -> np.ndarray:
    """How strongly the final output depends on each earlier input, as measured in 07_rnn_theory.

    ``fn`` maps a batch of sequences (batch, T, features) to the final output of each sequence: a Keras
    layer with return_sequences=False, or a model. An output of m > 1 units is read out as one number,
    y = out @ readout (default: the unit vector of equal weights, ones(m) / sqrt(m)), like a Dense(1)
    head would. Entry k of the result is the batch mean of the norm of dy_b / dx_{b, T-1-k}: k = 0 is
    the last input, k = T-1 the first. One backward pass (sequences in a batch are independent).
    """
    import tensorflow as tf

    x = tf.constant(_check_sequences(x), dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fn(x)
        out = tf.reshape(out, (tf.shape(out)[0], -1))
        m = out.shape[1]
        if readout is None:
            readout = np.full(m, 1 / np.sqrt(m))
        readout = np.asarray(readout, dtype="float32").reshape(-1)
        if readout.shape != (m,):
            raise ValueError(f"readout must have one weight per output unit ({m}), got shape {readout.shape}")
        y = tf.reduce_sum(out * readout, axis=1)
    grad = tape.gradient(y, x)                                     # (batch, T, features)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=2))        # (batch, T)
    return tf.reduce_mean(norms, axis=0).numpy()[::-1].astype("float64")


def global_norm(grads: Sequence[np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient entry: the norm tf.clip_by_global_norm rescales."""
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(g, dtype="float64"))) for g in grads)))


def make_windows(series: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of a 1-D series: x (N, length, 1) of consecutive values and y (N,) the value
    right after each window, as used in 07_rnn_theory."""
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {series.shape}")
    if not 1 <= length < len(series):
        raise ValueError(f"length must be ≥ 1 and < len(series) = {len(series)}, got {length}")
    idx = np.arange(length)[None, :] + np.arange(len(series) - length)[:, None]
    return series[idx][..., None], series[length:]
