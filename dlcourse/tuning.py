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

Where augmentation pays: :func:`augmentation_sweep` trains one model with and without random shifts
(:func:`shift_images`) at several training-set sizes and seeds on the same budget of gradient steps;
:func:`augmentation_gain` pairs the runs by seed (gain and its standard error per size) and
:func:`plot_augmentation_gain` draws the crossover.

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
# Where augmentation pays: the same budget of steps at several training-set sizes


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Every image moved by its own random whole number of pixels, from -`max_shift` to `max_shift` down and
    across (uniformly), the uncovered border filled with zeros: the augmentation of notebook 11's sweep.

    `images` is (N, H, W) or (N, H, W, C), of any dtype (returned unchanged in dtype and shape). Whole
    pixels, so no interpolation blurs the image, unlike Keras' `RandomTranslation`.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    height, width = images.shape[1:3]
    if isinstance(max_shift, bool) or not isinstance(max_shift, int | np.integer) or not (
            0 <= max_shift < min(height, width)):
        raise ValueError(f"max_shift must be a whole number of pixels, ≥ 0 and < {min(height, width)} "
                         f"(the image side), got {max_shift!r}")
    k = int(max_shift)
    down, across = rng.integers(-k, k + 1, len(images)), rng.integers(-k, k + 1, len(images))
    padded = np.pad(images, [(0, 0), (k, k), (k, k)] + [(0, 0)] * (images.ndim - 3))
    out = np.empty_like(images)
    for dy in range(-k, k + 1):  # one slice per shift: out[r, c] = image[r - dy, c - dx]
        for dx in range(-k, k + 1):
            pick = (down == dy) & (across == dx)
            out[pick] = padded[pick, k - dy:k - dy + height, k - dx:k - dx + width]
    return out


def epoch_order(n: int, steps: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """The order in which `steps` batches of `batch_size` visit a training set of `n` examples: one random
    permutation of 0..n-1 after another (an epoch each), cut at steps × batch_size indices.

    A fixed budget of steps is many epochs of a small training set and part of one epoch of a large one.
    """
    for name, value in (("n", n), ("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    total = steps * batch_size
    return np.concatenate([rng.permutation(n) for _ in range(-(-total // n))])[:total]


def _check_sweep(x, y, x_test, y_test, sizes, seeds) -> tuple[list[int], list[int]]:
    if len(x) != len(y) or len(x_test) != len(y_test):
        raise ValueError(f"images and labels must have the same length, got {len(x)} and {len(y)} for training, "
                         f"{len(x_test)} and {len(y_test)} for test")
    sizes, seeds = list(sizes), list(seeds)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= len(x)
                        for n in sizes):
        raise ValueError(f"sizes must be a non-empty list of whole numbers from 1 to {len(x):,} (the training "
                         f"images), got {sizes!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must not repeat a size, got {sizes!r}")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of different whole numbers ≥ 0, got {seeds!r}")
    return [int(n) for n in sizes], [int(s) for s in seeds]


def augmentation_sweep(build: Callable[[], object], x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
                       y_test: np.ndarray, *, sizes: Sequence[int], seeds: Sequence[int], steps: int,
                       batch_size: int, max_shift: int, verbose: bool = True):
    """Augmentation off and on at several training-set sizes, each on the same budget of gradient steps —
    the crossover experiment of notebook 11.

    For every size n and seed: draw n training images from (x, y) with the seed, lay out `steps` batches of
    `batch_size` over them (:func:`epoch_order`: many epochs of a small set, part of one epoch of 60,000),
    and train `build()` twice on exactly those batches — once as they are, once with every image of every
    batch shifted by up to `max_shift` pixels (:func:`shift_images`, a fresh shift each time an image is
    seen). Both runs of a pair start from the same weights (the seed is set before `build()`, as in
    :func:`run_experiment`), so their difference is the augmentation's alone. `build` returns a compiled
    classifier (its accuracy is the argmax of its outputs); a learning-rate schedule in it should span `steps`.

    One compiled model serves every run: before each, its variables are set to those of a model freshly
    built under the run's seed and its optimizer state to its initial one, which gives the numbers of a
    new model without tracing the training step again. uint8 images stay uint8 in memory (a quarter of
    the bytes) and are scaled to [0, 1] batch by batch.

    Returns a DataFrame, one row per run: size, seed, augmented, epochs (passes over the n images),
    train_accuracy (on up to 2,000 of the n images, unshifted), test_accuracy and wall_s.
    """
    import keras
    import pandas as pd
    import tensorflow as tf

    sizes, seeds = _check_sweep(x, y, x_test, y_test, sizes, seeds)
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int | np.integer) or max_shift < 1:
        raise ValueError(f"max_shift must be a whole number of pixels ≥ 1 (0 would not augment), got {max_shift!r}")

    def scale(a: np.ndarray) -> np.ndarray:
        return a.astype("float32") / 255 if a.dtype == np.uint8 else a.astype("float32")

    def batches(images: np.ndarray, labels: np.ndarray):  # uint8 in memory, scaled batch by batch
        data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
        return data.map(lambda a, b: (tf.cast(a, "float32") / 255, b)) if images.dtype == np.uint8 else data

    def accuracy(images: np.ndarray, labels: np.ndarray) -> float:  # the model called directly: no evaluate() set-up
        predicted = np.concatenate([np.asarray(worker(images[k:k + 2048], training=False)).argmax(axis=1)
                                    for k in range(0, len(images), 2048)])
        return float(np.mean(predicted == np.asarray(labels)))

    x, x_test = np.asarray(x), scale(np.asarray(x_test))
    worker = build()
    worker.optimizer.build(worker.trainable_variables)
    optimizer_start = [v.numpy() for v in worker.optimizer.variables]
    rows = []
    for n in sizes:
        with stopwatch.timed() as size_clock:
            for seed in seeds:
                rng = np.random.default_rng(seed)
                pool = rng.permutation(len(x))[:n]
                order = pool[epoch_order(n, steps, batch_size, rng)]
                streams = {False: x[order], True: shift_images(x[order], max_shift, rng)}
                seen = pool[:2000]
                for augmented, images in streams.items():
                    keras.utils.set_random_seed(seed)
                    fresh = build()
                    for mine, theirs in zip(worker.variables, fresh.variables, strict=True):
                        mine.assign(theirs)
                    for v, start in zip(worker.optimizer.variables, optimizer_start, strict=True):
                        v.assign(start)
                    with stopwatch.timed() as clock:
                        worker.fit(batches(images, y[order]), epochs=1, shuffle=False, verbose=0)
                    scores = [accuracy(scale(x[seen]), y[seen]), accuracy(x_test, y_test)]
                    rows.append({"size": n, "seed": seed, "augmented": augmented,
                                 "epochs": steps * batch_size / n, "train_accuracy": scores[0],
                                 "test_accuracy": scores[1], "wall_s": clock.wall_s})
        if verbose:
            done = [r for r in rows if r["size"] == n]
            means = {a: np.mean([r["test_accuracy"] for r in done if r["augmented"] == a]) for a in (False, True)}
            print(f"{n:>7,} images {steps * batch_size / n:>6.3g} epochs  test accuracy without {means[False]:.4f}, "
                  f"with shifts {means[True]:.4f}  ({len(seeds)} seeds, {size_clock.wall_s:.1f} s)")
    return pd.DataFrame(rows)


def augmentation_gain(runs):
    """Per training-set size, from :func:`augmentation_sweep`'s runs: the mean test accuracy without and with
    augmentation, the gain in points of accuracy (with minus without, paired by seed), its standard error
    over the seeds (sd / √seeds), the gain in units of it, and a verdict: 'pays' or 'costs' when the gain
    is beyond 2 standard errors, 'noise' otherwise; with a train_accuracy column, also the mean training
    accuracy without and with (train_without, train_with). Used in notebook 11.
    """
    import pandas as pd

    needed = {"size", "seed", "augmented", "epochs", "test_accuracy"}
    if not needed <= set(runs.columns):
        raise ValueError(f"runs must have the columns {sorted(needed)} of augmentation_sweep, got {list(runs.columns)}")
    rows = {}
    for n, group in runs.groupby("size", sort=True):
        pair = group.pivot(index="seed", columns="augmented", values="test_accuracy")
        if set(pair.columns) != {False, True} or pair.isna().any().any() or len(pair) < 2:
            raise ValueError(f"size {n} needs a run with and one without augmentation for each of at least "
                             f"2 seeds, got {len(pair)} seed(s) with columns {list(pair.columns)}")
        gain = 100 * (pair[True] - pair[False])
        se = float(gain.std(ddof=1) / np.sqrt(len(gain)))
        mean = float(gain.mean())
        verdict = "pays" if mean > 2 * se else "costs" if mean < -2 * se else "noise"
        rows[int(n)] = {"epochs": float(group["epochs"].iloc[0]), "without": float(pair[False].mean()),
                        "with": float(pair[True].mean()), "gain_points": mean, "se_points": se,
                        "gain_in_se": mean / se if se > 0 else float(np.sign(mean) * np.inf),
                        "verdict": verdict, "seeds": len(gain)}
        if "train_accuracy" in group:
            train = group.groupby("augmented")["train_accuracy"].mean()
            rows[int(n)].update(train_without=float(train[False]), train_with=float(train[True]))
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("training images")


def plot_augmentation_gain(gains, title: str = "Where augmentation pays"):
    """Two panels over the training-set size (log axis), from :func:`augmentation_gain`: the test accuracy
    without and with augmentation (left), and the gain in points with ±2 standard errors and the zero line
    (right), each point labelled with its epochs; returns the figure. Used in notebook 11."""
    import matplotlib.pyplot as plt

    sizes = np.asarray(gains.index, dtype=float)
    fig, (ax_acc, ax_gain) = plt.subplots(1, 2, figsize=(12, 4.2))
    ax_acc.plot(sizes, 100 * gains["without"], "o-", color="tab:blue", label="without augmentation")
    ax_acc.plot(sizes, 100 * gains["with"], "s--", color="tab:orange", label="with random shifts")
    ax_acc.set(xscale="log", xlabel="training images (log scale)", ylabel="test accuracy (%)",
               title=f"Test accuracy\n(mean of {int(gains['seeds'].min())} seeds)")
    ax_acc.legend(fontsize=8)
    colours = gains["verdict"].map({"pays": "tab:green", "costs": "tab:red", "noise": "grey"})
    ax_gain.axhline(0, color="black", lw=1)
    ax_gain.plot(sizes, gains["gain_points"], color="grey", lw=1, zorder=1)
    for k, (n, row, colour) in enumerate(zip(sizes, gains.itertuples(), colours, strict=True)):
        ax_gain.errorbar(n, row.gain_points, yerr=2 * row.se_points, fmt="o", color=colour, capsize=4, zorder=2)
        epochs = f"{row.epochs:,.3g}"
        last = k == len(sizes) - 1  # the last label goes to the left of its point, inside the axes
        ax_gain.annotate(f"{epochs} epoch{'' if epochs == '1' else 's'}", (n, row.gain_points),
                         textcoords="offset points", xytext=(-8 if last else 8, 6), ha="right" if last else "left",
                         fontsize=8)
    ax_gain.set(xscale="log", xlabel="training images (log scale)", ylabel="gain from augmentation (points)",
                title="With minus without, ±2 s.e. over seeds\n(green: pays, red: costs, grey: noise)")
    for ax in (ax_acc, ax_gain):
        ax.set_xticks(sizes, [f"{n:,.0f}" for n in sizes])
        ax.minorticks_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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
