"""Convolutional networks in Keras, as taught in 06_cnn_in_keras (the builders are reused in 14).

* :func:`seeds_cnn` -- the seeds' baseline, the classic Keras example exactly as written: two conv/pool
  blocks (32 and 64 filters of 3x3, ReLU, 2x2 max pooling), flatten, a softmax layer;
* :func:`course_cnn` -- the course's improved CNN: 'same' padding, batch norm, a configurable width,
  global average pooling or flatten, dropout and (optionally) augmentation layers chosen by data set;
* :func:`augmentation` -- Keras preprocessing layers (flip, rotation, translation) for a data set;
* :func:`to_float`, :func:`split_validation`, :func:`make_dataset` -- uint8 images to a cheap tf.data input;
* :class:`TimeBudget` -- a callback that stops training at a wall-clock budget and can drive a one-cycle
  learning rate over that budget, so a run ends annealed whatever the machine's speed;
* :func:`restart` -- a compiled model back to new weights and a fresh optimizer, to train it again untraced;
* :func:`confusion_matrix`, :func:`per_class_accuracy`, :func:`most_confidently_wrong`,
  :func:`plot_confusion` -- looking at the errors (the training curves: :func:`dlcourse.plots.plot_history`).

All models take float32 images in [0, 1] of shape (height, width, channels) and output class
probabilities (softmax), so they train with ``sparse_categorical_crossentropy``.

Used in notebooks: 06, 14.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()
layers = keras.layers


@dataclass(frozen=True)
class Augment:
    """Random transformations for training images: horizontal flips, rotation (fraction of a full turn)
    and translation (fraction of the image side)."""

    flip: bool
    rotation: float
    translation: float


# Chosen by data set: digits must not be mirrored (a mirrored 3 is not a 3); clothes, photos may be.
# CIFAR-10 mirrors the seeds' augmented example (rotation, shifts, horizontal flips).
AUGMENTATIONS: dict[str, Augment] = {
    "fashion_mnist": Augment(flip=True, rotation=0.0, translation=0.08),
    "mnist": Augment(flip=False, rotation=0.03, translation=0.08),
    "digits": Augment(flip=False, rotation=0.03, translation=0.125),
    "cifar10": Augment(flip=True, rotation=0.03, translation=0.1),
    "fashion_mnist_as_cifar10": Augment(flip=True, rotation=0.03, translation=0.1),
}


def augmentation(dataset: str, seed: int | None = None) -> keras.Sequential:
    """The augmentation layers for `dataset` (a key of AUGMENTATIONS); active only while training."""
    if dataset not in AUGMENTATIONS:
        raise ValueError(f"dataset must be one of {', '.join(AUGMENTATIONS)}, got {dataset!r}")
    spec = AUGMENTATIONS[dataset]
    steps = []
    if spec.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if spec.rotation:
        steps.append(layers.RandomRotation(spec.rotation, fill_mode="constant", seed=seed))
    if spec.translation:
        steps.append(layers.RandomTranslation(spec.translation, spec.translation, fill_mode="constant", seed=seed))
    return keras.Sequential(steps, name="augmentation")


def _check_shape(input_shape: Sequence[int], n_classes: int) -> tuple[int, int, int]:
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be ≥ 2, got {n_classes}")
    return tuple(int(s) for s in input_shape)


def seeds_cnn(input_shape: Sequence[int], n_classes: int) -> keras.Sequential:
    """The seeds' baseline CNN, the classic Keras example as written (06_cnn_in_keras): Conv2D 32 3x3 ReLU ->
    MaxPool 2 -> Conv2D 64 3x3 ReLU -> MaxPool 2 -> Flatten -> Dense softmax. Needs images of >= 10x10."""
    shape = _check_shape(input_shape, n_classes)
    if min(shape[:2]) < 10:
        raise ValueError(f"seeds_cnn needs images of at least 10x10 (two valid 3x3 convolutions and two 2x2 "
                         f"poolings), got {shape[0]}x{shape[1]}: enlarge them first (see to_float)")
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(n_classes, activation="softmax"),
    ], name="seeds_cnn")


def course_cnn(input_shape: Sequence[int], n_classes: int, *, widths: Sequence[int] = (32, 64, 128),
               batch_norm: bool = True, dropout: float = 0.2, head: str = "gap", dense: int = 0,
               augment: str | None = None, seed: int | None = None, bn_momentum: float = 0.9,
               pool_first: bool = False, pooled_blocks: int | None = None,
               name: str = "course_cnn") -> keras.Sequential:
    """The course's CNN (06_cnn_in_keras): one block per entry of `widths` -- Conv2D 3x3 'same' (no bias when
    batch norm follows) -> BatchNormalization -> ReLU -> MaxPool 2 (while the image is >= 2 pixels) -- then
    `head` ("gap": global average pooling, "flatten"), optionally a hidden Dense(`dense`, ReLU) layer,
    Dropout(`dropout`), Dense softmax. `augment` names a data set whose augmentation layers (see AUGMENTATIONS)
    go first; they act only in training. `bn_momentum` 0.9 (Keras' default is 0.99) lets batch norm's tracked
    statistics keep up with the fast-changing weights of a short, high-learning-rate run.

    `pool_first` moves the pooling of a block before its batch norm and ReLU (Conv -> MaxPool -> BN -> ReLU):
    normalisation and activation then work on a quarter of the pixels, which makes the block cheaper on a CPU.
    `pooled_blocks` pools after only the first that many blocks (default: every block while the image is
    >= 2 pixels); with head="flatten" an unpooled last block hands the dense layer 4x more features.

    With widths=(32, 64), batch_norm=False, dropout=0, head="flatten" it is the seeds' CNN with 'same' padding.
    """
    shape = _check_shape(input_shape, n_classes)
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be one or more positive filter counts, got {tuple(widths)}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be ≥ 0 and < 1, got {dropout}")
    if dense < 0:
        raise ValueError(f"dense must be ≥ 0 (0: no hidden dense layer), got {dense}")
    if pooled_blocks is not None and not 0 <= pooled_blocks <= len(widths):
        raise ValueError(f"pooled_blocks must be between 0 and the number of blocks ({len(widths)}), "
                         f"got {pooled_blocks}")
    if head not in ("gap", "flatten"):
        raise ValueError(f"head must be 'gap' or 'flatten', got {head!r}")
    stack: list = [keras.Input(shape)]
    if augment is not None:
        stack.append(augmentation(augment, seed=seed))
    size = min(shape[:2])
    n_pooled = len(widths) if pooled_blocks is None else pooled_blocks
    for block, width in enumerate(widths):
        stack.append(layers.Conv2D(int(width), 3, padding="same", use_bias=not batch_norm,
                                   activation=None if batch_norm else "relu"))
        pool = block < n_pooled and size >= 2
        if pool and pool_first:
            stack.append(layers.MaxPooling2D(2))
        if batch_norm:
            stack += [layers.BatchNormalization(momentum=bn_momentum), layers.ReLU()]
        if pool and not pool_first:
            stack.append(layers.MaxPooling2D(2))
        if pool:
            size //= 2
    stack.append(layers.GlobalAveragePooling2D() if head == "gap" else layers.Flatten())
    if dense:
        stack.append(layers.Dense(int(dense), activation="relu"))
    if dropout:
        stack.append(layers.Dropout(dropout, seed=seed))
    stack.append(layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(stack, name=name)


# ---------------------------------------------------------------------------------------------
# Data in


def to_float(images: np.ndarray, min_size: int = 16) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float32 in [0, 1]; images smaller than `min_size` pixels are enlarged by
    repeating pixels (sklearn's 8x8 digits -> 16x16), so that the seeds' CNN fits on them."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, height, width, channels), got {images.shape}")
    x = images.astype("float32") / 255
    factor = max(1, math.ceil(min_size / min(x.shape[1:3])))
    if factor > 1:
        x = x.repeat(factor, axis=1).repeat(factor, axis=2)
    return x


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random `fraction` of (x, y) held out for validation: (x_train, y_train, x_val, y_val)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be > 0 and < 1, got {fraction}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * fraction))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False,
                 seed: int | None = None, autotune: bool = False) -> tf.data.Dataset:
    """A tf.data input of (images, labels) batches, cheap per step: the arrays live in memory as tensors; a
    shuffled dataset draws a fresh permutation of indices each epoch and gathers whole batches at once.

    tf.data's autotuning is off and two batches are prefetched. With autotuning on (tf.data's default),
    every iterator runs a tuning thread, and destroying the iterator waits for that thread's next wake-up:
    with TensorFlow 2.21 on the course's CPU, `fit` stalled for 7 to 10 s at the start of some epochs, when
    Keras drops the last epoch's iterator (benchmarks/results/tfdata_stall.md). This pipeline has nothing
    to tune. `autotune=True` gives tf.data's defaults back (autotuning on, `prefetch(AUTOTUNE)`), to compare."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if shuffle:
        images, labels = tf.constant(x), tf.constant(y)
        ds = (tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
              .batch(batch_size).map(lambda idx: (tf.gather(images, idx), tf.gather(labels, idx))))
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache()
    if autotune:
        return ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


# ---------------------------------------------------------------------------------------------
# Training on a clock


def one_cycle(fraction: float, peak: float, warmup: float = 0.15, final: float = 0.0) -> float:
    """The learning rate after `fraction` of the training: a linear warm-up to `peak` over the first `warmup`,
    then a cosine decay down to `final` x `peak`."""
    fraction = min(max(fraction, 0.0), 1.0)
    if fraction < warmup:
        return peak * fraction / warmup
    progress = (fraction - warmup) / (1 - warmup)
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


class TimeBudget(keras.callbacks.Callback):
    """Stop `fit` when `seconds` of wall-clock time are spent (06_cnn_in_keras).

    The clock starts when training starts and includes the validation passes; training stops early enough
    that the last epoch's validation still fits in the budget. With `learning_rate` given, the callback also
    sets the optimizer's learning rate before every batch to :func:`one_cycle` of the elapsed share of the
    budget, so the schedule ends annealed whether the machine manages 2 epochs or 20.

    `clock="cpu"` measures the budget in process CPU seconds divided by the CPU cores instead: what the wall
    time would be on an idle machine, for fair comparisons on a machine shared with other jobs.

    `skip_tracing=True` starts the clock only when the first batch is done and leaves the first validation
    pass off it too, so that the one-off cost of tracing the training and test steps (a second or two, more
    for a bigger model) does not eat into a short budget: for comparing models at equal budgets of seconds.

    After `fit`: ``seconds`` (wall, tracing included), ``cpu_seconds`` (process CPU time), ``trained_seconds``
    (the time counted against the budget), ``batches`` (counted against the budget), ``epochs`` (begun),
    ``stopped``.
    """

    def __init__(self, seconds: float, learning_rate: float | None = None, warmup: float = 0.15,
                 final: float = 0.0, clock: str = "wall", skip_tracing: bool = False) -> None:
        super().__init__()
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
        self.clock, self._cores = clock, os.cpu_count() or 1
        if learning_rate is not None and learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        self.budget, self.learning_rate, self.warmup, self.final = float(seconds), learning_rate, warmup, final
        self.skip_tracing = skip_tracing
        self.seconds = self.cpu_seconds = self.trained_seconds = 0.0
        self.epochs, self.batches, self.stopped, self._tail, self._tested = 0, 0, False, 0.0, False
        self._start: float | None = None

    def _now(self) -> float:
        return time.perf_counter() if self.clock == "wall" else time.process_time() / self._cores

    def elapsed(self) -> float:
        """Seconds spent so far on the budget's clock (0 until the clock starts)."""
        return 0.0 if self._start is None else self._now() - self._start

    def on_train_begin(self, logs=None):
        self._start = None if self.skip_tracing else self._now()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self.epochs, self.batches, self.stopped, self._tail, self._tested = 0, 0, False, 0.0, False

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs += 1

    def on_train_batch_begin(self, batch, logs=None):
        if self.learning_rate is not None:
            self.model.optimizer.learning_rate = one_cycle(self.elapsed() / self.budget, self.learning_rate,
                                                           self.warmup, self.final)

    def on_train_batch_end(self, batch, logs=None):
        if self._start is None:  # skip_tracing: the first batch paid for the tracing; the clock starts now
            self._start = self._now()
            return
        self.batches += 1
        if self.elapsed() + self._tail >= self.budget:
            self.model.stop_training, self.stopped = True, True

    def on_test_begin(self, logs=None):
        self._test_start = self._now()

    def on_test_end(self, logs=None):
        spent = self._now() - self._test_start
        if self.skip_tracing and not self._tested and self._start is not None:
            self._start += spent  # the first pass traced the test step: off the clock, and no guide to the next
        else:
            self._tail = spent  # the next validation pass takes about as long
        self._tested = True

    def on_train_end(self, logs=None):
        self.seconds, self.cpu_seconds = time.perf_counter() - self._wall, time.process_time() - self._cpu
        self.trained_seconds = self.elapsed()


def restart(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Start a compiled `model` over from `weights` with a fresh optimizer state (06_cnn_in_keras).

    The next `fit` reuses the training step already traced for the model (a second or so saved per run on a
    CPU), so one model can train again with another seed: pass the weights of a freshly built copy. The
    optimizer's step count and moments go back to zero (a learning-rate schedule starts again); a constant
    learning rate is kept."""
    model.set_weights(weights)
    for variable in model.optimizer.variables:
        if not variable.path.endswith("learning_rate"):
            variable.assign(tf.zeros_like(variable))


# ---------------------------------------------------------------------------------------------
# Looking at the errors


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Share of each true class predicted right (the recall): diagonal / row sums (NaN for an empty class)."""
    cm = np.asarray(cm, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def most_confidently_wrong(probs: np.ndarray, y_true: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices of the `k` misclassified examples whose wrong prediction had the highest probability."""
    probs, y_true = np.asarray(probs), np.asarray(y_true).reshape(-1)
    wrong = np.flatnonzero(probs.argmax(axis=1) != y_true)
    confidence = probs[wrong].max(axis=1)
    return wrong[np.argsort(-confidence, kind="stable")[:k]]


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"):
    """The confusion matrix as a heat map with the counts written in; returns the figure."""
    import matplotlib.pyplot as plt

    n = len(class_names)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 3 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    ax.grid(False)
    fig.tight_layout()
    return fig
