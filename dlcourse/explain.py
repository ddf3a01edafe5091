"""Gradient-based explanations of image classifiers, as taught in 14_lightweight_explainable_private.

* :func:`saliency` -- |∂ score / ∂ pixel|: which pixels would change the class score most;
* :func:`integrated_gradients` -- Sundararajan et al. (2017): the path integral of the gradients from a
  baseline (a black image) to the input; the attributions add up to score(x) − score(baseline);
* :func:`complete_integrated_gradients` -- the same, with more points on the path for each image whose
  Riemann sum still misses that total by more than a tolerance (the check the paper recommends).

Used in notebooks: 14.
"""

from __future__ import annotations

from typing import NamedTuple

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


class Attributions(NamedTuple):
    """Integrated gradients with the evidence that they are complete."""

    values: np.ndarray  # same shape as the images
    steps: np.ndarray   # points on the path each image needed
    error: np.ndarray   # |sum of its attributions − (F(x) − F(baseline))| per image, at those steps


def complete_integrated_gradients(model, x: np.ndarray, classes: np.ndarray, steps: int = 32,
                                  tolerance: float = 0.05, max_steps: int = 1024,
                                  baseline: np.ndarray | None = None) -> Attributions:
    """Integrated gradients whose sums are checked against completeness: every image starts with `steps`
    points; an image whose attributions miss F(x) − F(baseline) by more than `tolerance` is computed again
    with twice the points, until it meets the tolerance or reaches `max_steps` (its error then says so).

    A ReLU network's score can turn sharply somewhere on the path; a few points step over the turn, and how
    many are enough differs from image to image and from one trained model to the next."""
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if max_steps < steps:
        raise ValueError(f"max_steps must be ≥ steps ({steps}), got {max_steps}")
    x = np.asarray(x, "float32")
    baseline = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape).astype("float32")
    classes = np.asarray(classes)
    gap = class_score(model, x, classes) - class_score(model, baseline, classes)
    values, used, error = np.zeros_like(x), np.zeros(len(x), int), np.full(len(x), np.inf)
    todo, n = np.arange(len(x)), steps
    while len(todo):
        values[todo] = integrated_gradients(model, x[todo], classes[todo], steps=n, baseline=baseline[todo])
        used[todo] = n
        error[todo] = np.abs(values[todo].reshape(len(todo), -1).sum(axis=1) - gap[todo])
        todo = todo[error[todo] > tolerance]
        if 2 * n > max_steps:
            break
        n *= 2
    return Attributions(values, used, error)


def class_score(model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The model's output for each image's class in `classes` (to check IG's completeness)."""
    return _class_scores(model, np.asarray(x, "float32"), np.asarray(classes)).numpy()
