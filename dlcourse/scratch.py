"""NumPy reference implementations of neural-network basics, as derived in 04_neural_network_foundations.

Everything here is a few lines of NumPy that notebook 04 derives from the formulas and checks against
Keras; later notebooks import it to compare their own from-scratch code with Keras. The conventions are
Keras' own, so weights can be copied between the two: rows of ``x`` are examples, a dense layer's kernel
``W`` has shape (inputs, units), class labels are integers (Keras' "sparse" labels), and every
optimizer applies exactly the update rule of its ``keras.optimizers`` namesake.

    params = init_mlp(784, 128, 10, seed=0)          # W1, b1, W2, b2
    loss, grads = mlp_loss_and_grads(params, x, y)   # forward + backward (backprop)
    Adam(learning_rate=1e-3).step(params, grads)     # updates params in place
    history = train_mlp(params, x, y, epochs=3, batch_size=64, optimizer=Adam())

Used in notebooks: 04, 12.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from dlcourse import stopwatch

Params = dict[str, np.ndarray]
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Run NumPy's matrix products on one thread inside the block (a no-op without threadpoolctl).

    A minibatch's products are small (64 x 784 by 784 x 128): splitting them across threads costs more in
    hand-offs than it gains, and on a busy machine waiting threads can make an epoch ten times slower.
    """
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:  # pragma: no cover - scikit-learn is part of the course environment
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# Activations and their derivatives


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + e^-z) without overflow, as derived in 04_neural_network_foundations; the gates'
    activation of :mod:`dlcourse.recurrent` (Keras' ``recurrent_activation="sigmoid"``, 07_rnn_theory)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))  # never overflows: the exponent is <= 0
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit max(z, 0), as derived in 04_neural_network_foundations."""
    return np.maximum(z, 0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """Derivative of ReLU: 1 where z > 0, else 0 (0 at z = 0, as TensorFlow takes it), as derived in
    04_neural_network_foundations."""
    z = np.asarray(z)
    return (z > 0).astype(z.dtype if z.dtype.kind == "f" else float)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax e^z / sum(e^z) along `axis`, shifted by the maximum so that it never overflows, as
    derived in 04_neural_network_foundations."""
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(z)) computed stably (log-sum-exp), as derived in 04_neural_network_foundations."""
    z = np.asarray(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------------------
# Losses


def _check_labels(labels: np.ndarray, n_rows: int, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n_rows:
        raise ValueError(f"labels must be a 1-D array of {n_rows} class indices, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers (class indices), got dtype {labels.dtype}")
    if n_rows and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    return labels


def _check_scores(scores: np.ndarray, what: str) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{what} must be 2-D (examples, classes), got shape {scores.shape}")
    return scores


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels (N,) as one-hot rows (N, n_classes), as used in 04_neural_network_foundations."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be ≥ 1, got {n_classes}")
    labels = _check_labels(labels, len(np.asarray(labels).reshape(-1)), n_classes)
    return np.eye(n_classes)[labels]


def softmax_cross_entropy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean cross-entropy of softmax(logits), computed stably from the logits (Keras' `from_logits=True`),
    as derived in 04_neural_network_foundations."""
    logits = _check_scores(logits, "logits")
    labels = _check_labels(labels, len(logits), logits.shape[1])
    return float(-np.mean(log_softmax(logits)[np.arange(len(logits)), labels]))


def softmax_cross_entropy_grad(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits, (softmax(z) - onehot(y)) / N,
    as derived in 04_neural_network_foundations."""
    logits = _check_scores(logits, "logits")
    labels = _check_labels(labels, len(logits), logits.shape[1])
    grad = softmax(logits)
    grad[np.arange(len(logits)), labels] -= 1
    return grad / len(logits)


# ---------------------------------------------------------------------------------------------
# Gradient checking


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every entry of `x`.

    `x` is changed in place while f is evaluated and restored afterwards; use float64 arrays (in float32
    the differences drown in rounding). As derived in 04_neural_network_foundations.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
        raise ValueError("x must be a float NumPy array (it is perturbed in place)")
    grad = np.zeros_like(x, dtype=float)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous (it is perturbed in place)")
    with one_blas_thread():  # thousands of small evaluations: threads would only wait for each other
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f(x)
            flat[i] = old - eps
            down = f(x)
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||): 0 when equal, 1 when opposite; 0 when both are zero. As used in
    04_neural_network_foundations for gradient checks."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# The two-layer perceptron: dense -> ReLU -> dense -> softmax


def glorot_uniform(n_in: int, n_out: int, rng: np.random.Generator, dtype: str = "float32") -> np.ndarray:
    """Keras' default kernel initializer: uniform in +-sqrt(6 / (n_in + n_out)), as used in
    04_neural_network_foundations."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"a dense layer needs n_in ≥ 1 and n_out ≥ 1, got {n_in} and {n_out}")
    limit = np.sqrt(6 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype)


def init_mlp(n_inputs: int, n_hidden: int, n_outputs: int, seed: int = 0, dtype: str = "float32") -> Params:
    """Weights of a 2-layer perceptron like keras Dense(n_hidden, "relu") + Dense(n_outputs): Glorot-uniform
    kernels and zero biases, as derived in 04_neural_network_foundations."""
    rng = np.random.default_rng(seed)
    return {"W1": glorot_uniform(n_inputs, n_hidden, rng, dtype), "b1": np.zeros(n_hidden, dtype),
            "W2": glorot_uniform(n_hidden, n_outputs, rng, dtype), "b2": np.zeros(n_outputs, dtype)}


def _check_params(params: Mapping[str, np.ndarray]) -> None:
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params needs {', '.join(PARAM_NAMES)}; missing {', '.join(missing)}")
    n_in, n_hidden = params["W1"].shape
    if params["b1"].shape != (n_hidden,) or params["W2"].shape[0] != n_hidden \
            or params["b2"].shape != (params["W2"].shape[1],):
        shapes = {k: params[k].shape for k in PARAM_NAMES}
        raise ValueError(f"params shapes do not fit together: {shapes}")


def mlp_forward(params: Mapping[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Forward pass: Z1 = X W1 + b1, H = relu(Z1), logits Z2 = H W2 + b2. Returns (logits, cache), the
    cache holding what the backward pass needs. As derived in 04_neural_network_foundations."""
    _check_params(params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != params["W1"].shape[0]:
        raise ValueError(f"x must have shape (examples, {params['W1'].shape[0]}), got {x.shape}")
    z1 = x @ params["W1"] + params["b1"]
    h = relu(z1)
    logits = h @ params["W2"] + params["b2"]
    return logits, (x, z1, h, logits)


def mlp_backward(params: Mapping[str, np.ndarray], cache: tuple, labels: np.ndarray) -> Params:
    """Backward pass (backprop, the chain rule) of the mean softmax cross-entropy: the gradient of the loss
    with respect to W1, b1, W2, b2. As derived in 04_neural_network_foundations."""
    x, z1, h, logits = cache
    dz2 = softmax_cross_entropy_grad(labels, logits)  # (P - Y) / N
    dh = dz2 @ params["W2"].T
    dz1 = dh * relu_grad(z1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ dz2, "b2": dz2.sum(axis=0)}


def mlp_loss_and_grads(params: Mapping[str, np.ndarray], x: np.ndarray, labels: np.ndarray) -> tuple[float, Params]:
    """Mean softmax cross-entropy of the 2-layer perceptron on (x, labels) and its gradients, as derived
    in 04_neural_network_foundations."""
    logits, cache = mlp_forward(params, x)
    return softmax_cross_entropy(labels, logits), mlp_backward(params, cache, labels)


def evaluate(params: Mapping[str, np.ndarray], x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the 2-layer perceptron on (x, labels)."""
    logits, _ = mlp_forward(params, x)
    return softmax_cross_entropy(labels, logits), float(np.mean(logits.argmax(axis=1) == np.asarray(labels)))


# ---------------------------------------------------------------------------------------------
# Optimizers: the update rules of keras.optimizers, applied to a dict of NumPy arrays in place


def _check_learning_rate(learning_rate: float) -> None:
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")


def _check_grads(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
    for name, value in params.items():
        if name not in grads:
            raise ValueError(f"grads has no entry for parameter {name!r}")
        if np.shape(grads[name]) != np.shape(value):
            raise ValueError(f"grads[{name!r}] has shape {np.shape(grads[name])}, the parameter {np.shape(value)}")


@dataclass
class SGD:
    """Stochastic gradient descent with optional momentum, keras.optimizers.SGD's rule, as derived in
    04_neural_network_foundations:  v <- momentum v - learning_rate g;  w <- w + v  (v = 0 at first)."""

    learning_rate: float = 0.01
    momentum: float = 0.0
    velocity: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_learning_rate(self.learning_rate)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be ≥ 0 and < 1, got {self.momentum}")

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:
        """Update every array of `params` in place from its gradient in `grads`."""
        _check_grads(params, grads)
        for name, w in params.items():
            g = np.asarray(grads[name], dtype=w.dtype)
            if self.momentum == 0:
                w -= self.learning_rate * g
                continue
            v = self.velocity.setdefault(name, np.zeros_like(w))
            v *= self.momentum
            v -= self.learning_rate * g
            w += v


@dataclass
class Adam:
    """Adam, keras.optimizers.Adam's rule, as derived in 04_neural_network_foundations:
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - learning_rate sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon)."""

    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    iterations: int = 0
    m: dict = field(default_factory=dict, repr=False)
    v: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_learning_rate(self.learning_rate)
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 0 and < 1, got {getattr(self, name)}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")

    def step(self, params: Params, grads: Mapping[str, np.ndarray]) -> None:
        """Update every array of `params` in place from its gradient in `grads`."""
        _check_grads(params, grads)
        self.iterations += 1
        for name, w in params.items():
            real = w.dtype.type  # compute in the parameter's precision, as Keras does
            t = real(self.iterations)
            alpha = real(self.learning_rate) * np.sqrt(1 - real(self.beta_2) ** t) / (1 - real(self.beta_1) ** t)
            g = np.asarray(grads[name], dtype=w.dtype)
            m = self.m.setdefault(name, np.zeros_like(w))
            v = self.v.setdefault(name, np.zeros_like(w))
            m += (g - m) * real(1 - self.beta_1)
            v += (g * g - v) * real(1 - self.beta_2)
            w -= m * alpha / (np.sqrt(v) + real(self.epsilon))


# ---------------------------------------------------------------------------------------------
# Minibatch training


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index arrays covering range(n) once, batch_size at a time (the last may be smaller)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train_mlp(params: Params, x: np.ndarray, labels: np.ndarray, *, epochs: int, batch_size: int,
              optimizer: SGD | Adam, seed: int = 0,
              validation_data: tuple[np.ndarray, np.ndarray] | None = None, verbose: bool = True) -> dict:
    """Minibatch training of the 2-layer perceptron in place; returns a Keras-like history dict.

    Each epoch shuffles (x, labels), takes one optimizer step per batch, and records the mean training
    loss and accuracy over its batches (as Keras reports them), plus validation loss and accuracy when
    `validation_data` is given, and the seconds it took. With `verbose` it prints one line per epoch,
    like Keras' `fit(..., verbose=2)`. The minibatch products run on one BLAS thread (see
    :func:`one_blas_thread`). As derived in 04_neural_network_foundations.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    x, labels = np.asarray(x), np.asarray(labels)
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(f"x and labels must hold the same number (> 0) of examples, got {len(x)} and {len(labels)}")
    rng = np.random.default_rng(seed)
    keys = ["loss", "accuracy", "seconds"] + (["val_loss", "val_accuracy"] if validation_data else [])
    history: dict[str, list[float]] = {k: [] for k in keys}
    for epoch in range(1, epochs + 1):
        loss_sum = correct = 0.0
        with stopwatch.timed() as clock, one_blas_thread():
            for idx in minibatches(len(x), batch_size, rng):
                logits, cache = mlp_forward(params, x[idx])
                loss_sum += softmax_cross_entropy(labels[idx], logits) * len(idx)
                correct += float(np.sum(logits.argmax(axis=1) == labels[idx]))
                optimizer.step(params, mlp_backward(params, cache, labels[idx]))
        history["loss"].append(loss_sum / len(x))
        history["accuracy"].append(correct / len(x))
        line = f"loss: {history['loss'][-1]:.4f} - accuracy: {history['accuracy'][-1]:.4f}"
        if validation_data:
            val_loss, val_acc = evaluate(params, *validation_data)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            line += f" - val_accuracy: {val_acc:.4f} - val_loss: {val_loss:.4f}"
        history["seconds"].append(clock.wall_s)
        if verbose:
            print(f"Epoch {epoch}/{epochs} - {history['seconds'][-1]:.1f}s - {line}", flush=True)
    return history
