"""Controlled training experiments, as run in 11_training_better_models.

Notebook 11 compares remedies for overfitting (weight decay, dropout, early stopping, augmentation,
batch normalisation, learning-rate schedules), a keras-tuner search and ensembles. A comparison is only
fair when everything but the one change is held fixed, so this module runs every configuration the same
way: the same split, the same seed before the model is built (same initial weights for the same
architecture), the same epochs cap and batch size, and one row of results per run.

    split = fashion_split(train_size=1500, val_size=1000, seed=42)
    result = run_experiment("baseline", build, split, epochs=40, batch_size=64, seed=42)
    results_table([result])            # val/test accuracy, epochs used, wall seconds, ...
    plot_remedies([result, ...])       # validation curves and test accuracy with error bars

NumPy-only helpers (:func:`generalisation_gap`, :func:`standard_error`, :func:`selection_optimism`)
import no TensorFlow.

Used in notebooks: 11.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlcourse import stopwatch
from dlcourse.scratch import softmax


@dataclass
class Split:
    """A fixed train / validation / test split: images (N, H, W, C) as float32 in [0, 1], integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"Split(train {self.x_train.shape}, validation {self.x_val.shape}, "
                f"test {self.x_test.shape})")


def make_split(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *, train_size: int,
               val_size: int, seed: int) -> Split:
    """Draw `train_size` training and `val_size` validation examples (disjoint) from (x, y) with `seed`.

    uint8 images are scaled to float32 in [0, 1]; the test set is kept whole.
    """
    if train_size < 1 or val_size < 1:
        raise ValueError(f"train_size and val_size must be ≥ 1, got {train_size} and {val_size}")
    if train_size + val_size > len(x):
        raise ValueError(f"train_size + val_size must be ≤ {len(x)} examples, got {train_size + val_size}")
    order = np.random.default_rng(seed).permutation(len(x))
    train, val = order[:train_size], order[train_size:train_size + val_size]

    def scale(a: np.ndarray) -> np.ndarray:
        return a.astype("float32") / 255 if a.dtype == np.uint8 else a.astype("float32")

    return Split(scale(x[train]), y[train], scale(x[val]), y[val], scale(x_test), y_test)


def fashion_split(train_size: int, val_size: int, seed: int) -> Split:
    """A small Fashion-MNIST split: train and validation drawn from its 60k training images, test = its 10k."""
    from dlcourse import datasets

    data = datasets.load("fashion_mnist")
    return make_split(data.x_train, data.y_train, data.x_test, data.y_test, train_size=train_size,
                      val_size=val_size, seed=seed)


@dataclass
class Experiment:
    """One trained configuration: its row of results, its history (per-epoch metrics) and the model."""

    name: str
    row: dict
    history: dict[str, list[float]]
    model: object = field(repr=False, default=None)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The model's class probabilities for `x` (softmax applied to logits when needed)."""
        out = np.asarray(self.model.predict(x, batch_size=1024, verbose=0), dtype="float64")
        if not np.allclose(out.sum(axis=1), 1, atol=1e-3) or out.min() < 0:
            out = softmax(out, axis=1)
        return out


def run_experiment(name: str, build: Callable[[], object], split: Split, *, epochs: int, batch_size: int,
                   seed: int, callbacks: Sequence[object] = (), verbose: bool = True) -> Experiment:
    """Build, train and evaluate one configuration on `split`; the row a results table needs.

    The seed is set right before `build()`, so two configurations with the same layers start from the
    same weights and see the same batches. `build` returns a compiled model with an accuracy metric.
    The row: validation and test accuracy of the final (or restored) weights, training accuracy
    measured the same way (no dropout, no augmentation), the gap train - validation, epochs used, the
    best epoch by validation accuracy, and wall seconds of training.
    """
    import keras

    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    keras.utils.set_random_seed(seed)
    model = build()
    with stopwatch.timed() as clock:
        fit = model.fit(split.x_train, split.y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=(split.x_val, split.y_val), callbacks=list(callbacks), verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        return float(model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)["accuracy"])

    train_acc, val_acc = accuracy(split.x_train, split.y_train), accuracy(split.x_val, split.y_val)
    row = {"val_accuracy": val_acc, "test_accuracy": accuracy(split.x_test, split.y_test),
           "train_accuracy": train_acc, "gap": train_acc - val_acc,
           "epochs_used": len(history["loss"]),
           "best_epoch": int(np.argmax(history["val_accuracy"])) + 1,
           "wall_s": clock.wall_s, "cpu_s": clock.cpu_s}
    if verbose:
        print(f"{name:<22} val {val_acc:.4f}  test {row['test_accuracy']:.4f}  gap {row['gap']:+.3f}  "
              f"epochs {row['epochs_used']:>3}  {clock.wall_s:.1f} s")
    return Experiment(name, row, history, model)


def results_table(results: Sequence[Experiment]):
    """One row per experiment (a pandas DataFrame indexed by name), in the order given."""
    import pandas as pd

    if not results:
        raise ValueError("results_table needs at least one Experiment")
    return pd.DataFrame([r.row for r in results], index=pd.Index([r.name for r in results], name="experiment"))


# ---------------------------------------------------------------------------------------------
# NumPy-only helpers


def generalisation_gap(history: Mapping[str, Sequence[float]], metric: str = "accuracy") -> float:
    """Training minus validation `metric` at the last epoch of a Keras history (``history.history``)."""
    for key in (metric, "val_" + metric):
        if key not in history or len(history[key]) == 0:
            raise ValueError(f"history has no {key!r}; it has {sorted(history)}")
    return float(history[metric][-1] - history["val_" + metric][-1])


def standard_error(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on `n` independent examples: sqrt(p (1 - p) / n)."""
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be in [0, 1], got {accuracy}")
    return float(np.sqrt(accuracy * (1 - accuracy) / n))


def selection_optimism(correct: np.ndarray, selection_size: int, repeats: int = 200, seed: int = 0) -> dict:
    """How much picking the best of several models *on the test set itself* flatters the winner.

    `correct` is a boolean array (models, examples): whether each model got each test example right.
    Each repeat splits the examples at random into a selection set of `selection_size` and a fresh set
    (the rest), picks the model with the highest selection accuracy, and records the winner's accuracy
    on both. Returns the means over repeats: 'reported' (selection accuracy of the winner, what one
    would publish), 'fresh' (its accuracy on the untouched rest) and 'optimism' (reported - fresh).
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[0] < 1:
        raise ValueError(f"correct must have shape (models, examples), got {correct.shape}")
    n = correct.shape[1]
    if not 1 <= selection_size < n:
        raise ValueError(f"selection_size must be ≥ 1 and < {n} (the examples), got {selection_size}")
    if repeats < 1:
        raise ValueError(f"repeats must be ≥ 1, got {repeats}")
    rng = np.random.default_rng(seed)
    reported, fresh = np.empty(repeats), np.empty(repeats)
    for i in range(repeats):
        order = rng.permutation(n)
        sel, rest = correct[:, order[:selection_size]], correct[:, order[selection_size:]]
        winner = int(np.argmax(sel.mean(axis=1)))
        reported[i], fresh[i] = sel[winner].mean(), rest[winner].mean()
    return {"reported": float(reported.mean()), "fresh": float(fresh.mean()),
            "optimism": float((reported - fresh).mean())}


# ---------------------------------------------------------------------------------------------
# keras-tuner and plots


def random_search(build: Callable, *, max_trials: int, seed: int, project_name: str,
                  objective: str = "val_accuracy"):
    """A keras-tuner RandomSearch writing to data/generated/11_tuner/<project_name> (overwritten each run).

    keras-tuner imports TensorBoard in every trial (to patch a TensorBoard callback, if one is passed)
    and fails when TensorBoard is not installed; this subclass skips that step when it is missing.
    """
    import importlib.util

    import keras_tuner

    from dlcourse import course

    if max_trials < 1:
        raise ValueError(f"max_trials must be ≥ 1, got {max_trials}")

    class RandomSearch(keras_tuner.RandomSearch):
        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            if importlib.util.find_spec("tensorboard") is None:
                return  # no TensorBoard, so no TensorBoard callback to patch
            super()._configure_tensorboard_dir(callbacks, trial, execution)

    return RandomSearch(build, objective=objective, max_trials=max_trials, seed=seed, overwrite=True,
                        directory=str(course.generated_dir() / "11_tuner"), project_name=project_name)


def tuner_table(tuner, hyperparameters: Sequence[str] | None = None):
    """Every completed keras-tuner trial as a row: its hyperparameters and its score, in trial order."""
    import pandas as pd

    rows = []
    for trial_id, trial in _completed_trials(tuner):
        values = dict(trial.hyperparameters.values)
        if hyperparameters is not None:
            values = {k: values.get(k) for k in hyperparameters}
        rows.append({"trial": trial_id, **values, "val_accuracy": float(trial.score)})
    return pd.DataFrame(rows).set_index("trial")


def _completed_trials(tuner) -> list[tuple[str, object]]:
    """(trial id, trial) of every trial with a score, in the order they ran."""
    def order(item):
        return (0, int(item[0])) if item[0].isdigit() else (1, item[0])

    return sorted(((tid, t) for tid, t in tuner.oracle.trials.items() if t.score is not None), key=order)


def load_trial_models(tuner) -> dict[str, object]:
    """The model of every completed trial (weights of its best epoch), by trial id, in the order they ran.

    Keras warns that the saved optimizer state is not loaded; these models are only used to predict,
    so that warning is silenced.
    """
    import warnings

    models = {}
    for trial_id, trial in _completed_trials(tuner):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            models[trial_id] = tuner.load_model(trial)
    return models


def plot_overfitting(history: Mapping[str, Sequence[float]], title: str = "Overfitting"):
    """:func:`dlcourse.plots.plot_history` of one history with the epoch of the lowest validation loss and the
    final accuracy gap marked; returns the figure."""
    from dlcourse import plots

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig = plots.plot_history({"": history}, title=title)
    ax_loss, ax_acc = fig.axes
    best = int(np.argmin(history["val_loss"]))
    ax_loss.axvline(epochs[best], color="grey", lw=1, ls=":", label=f"lowest validation loss (epoch {best + 1})")
    gap = generalisation_gap(history)
    ax_acc.annotate(f"gap {gap:.3f}", xy=(epochs[-1], history["val_accuracy"][-1]),
                    xytext=(epochs[-1], history["val_accuracy"][-1] + gap / 2), ha="right",
                    arrowprops={"arrowstyle": "<->", "color": "grey"})
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    return fig


def plot_remedies(results: Sequence[Experiment], n_test: int, title: str = "Remedies on the same split and budget"):
    """Validation accuracy per epoch of every experiment (left) and test accuracy with ±1 standard
    error bars on `n_test` examples (right); returns the figure."""
    import matplotlib.pyplot as plt

    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for r in results:
        ax_curve.plot(np.arange(1, len(r.history["val_accuracy"]) + 1), r.history["val_accuracy"], label=r.name)
    ax_curve.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    ax_curve.legend(fontsize=7, ncol=2)
    acc = np.array([r.row["test_accuracy"] for r in results])
    err = np.array([standard_error(a, n_test) for a in acc])
    ax_bar.barh(np.arange(len(results)), acc, xerr=err, color="tab:blue", alpha=0.7, capsize=3)
    ax_bar.set_yticks(np.arange(len(results)), [r.name for r in results], fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(max(0.0, acc.min() - 0.05), min(1.0, acc.max() + 0.03))
    ax_bar.set(xlabel=f"test accuracy (±1 s.e., {n_test:,} images)", title="Test accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
