"""Gradient-based explanations of image classifiers, as taught in 14_lightweight_explainable_private.

* :func:`saliency` -- |∂ score / ∂ pixel|: which pixels would change the class score most;
* :func:`integrated_gradients` -- Sundararajan et al. (2017): the path integral of the gradients from a
  baseline (a black image) to the input; the attributions add up to score(x) − score(baseline).

Used in notebooks: 14.
"""

from __future__ import annotations

import numpy as np


def _class_scores(model, x, classes):
    import tensorflow as tf

    out = model(x, training=False)
    return tf.gather(out, classes, axis=1, batch_dims=1)


def saliency(model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Absolute gradient of each image's score for its class in `classes`, max over channels: [n, h, w]."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = _class_scores(model, x, np.asarray(classes))
    grad = tape.gradient(score, x).numpy()
    return np.abs(grad).max(axis=-1)


def integrated_gradients(model, x: np.ndarray, classes: np.ndarray, steps: int = 32,
                         baseline: np.ndarray | None = None) -> np.ndarray:
    """Integrated gradients of each image for its class, same shape as `x` (Riemann sum, midpoint rule,
    `steps` points on the straight path from `baseline` — zeros by default — to the image)."""
    import tensorflow as tf

    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    x = np.asarray(x, "float32")
    baseline = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape).astype("float32")
    classes = np.asarray(classes)
    total = np.zeros_like(x)
    for alpha in (np.arange(steps) + 0.5) / steps:
        point = tf.convert_to_tensor(baseline + alpha * (x - baseline))
        with tf.GradientTape() as tape:
            tape.watch(point)
            score = _class_scores(model, point, classes)
        total += tape.gradient(score, point).numpy()
    return (x - baseline) * total / steps


def class_score(model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The model's output for each image's class in `classes` (to check IG's completeness)."""
    return _class_scores(model, np.asarray(x, "float32"), np.asarray(classes)).numpy()
