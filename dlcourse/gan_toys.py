"""Toy distributions and a small GAN, as taught in 09_gan_theory.

Notebook 09 studies generative adversarial networks where every density is known: a 1-D Gaussian
mixture and the classic ring of 8 Gaussians in 2-D. This module keeps what the lessons need but should
not show line by line:

    mixture = Mixture1D(weights=(0.5, 0.5), means=(-2, 2), stds=(0.5, 0.5))
    x = mixture.sample(10_000, seed=0)            # (10000, 1) float32
    mixture.pdf(np.linspace(-5, 5, 101))          # the exact density
    ring = sample_ring(10_000, seed=0)            # (10000, 2), 8 modes on a circle of radius 2
    gan = ToyGAN(make_mlp(2, 2, ...), make_mlp(2, 1, ...), latent_dim=2)
    gan.compile(d_optimizer=..., g_optimizer=...)
    gan.fit(real_dataset(ring, 256, seed=0), epochs=5, steps_per_epoch=200, shuffle=False,
            callbacks=[Snapshots(z_fixed)])
    mode_coverage(gan.generate(z_fixed), ring_centers(), std=0.05)   # modes covered, sample quality

TensorFlow and Keras are imported when this module is imported: import it after ``dlcourse.setup``.

Used in notebooks: 09.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()

# -- the toy distributions ------------------------------------------------------------------------


def gaussian_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Density of N(mean, std²) at every point of `x`."""
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    x = np.asarray(x, dtype="float64")
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


@dataclass(frozen=True)
class Mixture1D:
    """A 1-D Gaussian mixture p(x) = Σ_k w_k N(x; μ_k, σ_k²), the 1-D toy data of 09_gan_theory."""

    weights: Sequence[float]
    means: Sequence[float]
    stds: Sequence[float]

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype="float64")
        if not (len(w) == len(self.means) == len(self.stds)) or len(w) == 0:
            raise ValueError(f"weights, means and stds need the same length ≥ 1, got "
                             f"{len(w)}, {len(self.means)} and {len(self.stds)}")
        if np.any(w < 0) or not np.isclose(w.sum(), 1):
            raise ValueError(f"weights must be ≥ 0 and sum to 1, got {list(self.weights)}")
        if np.any(np.asarray(self.stds) <= 0):
            raise ValueError(f"stds must be > 0, got {list(self.stds)}")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The exact mixture density at every point of `x` (any shape)."""
        return sum(w * gaussian_pdf(x, m, s) for w, m, s in zip(self.weights, self.means, self.stds, strict=True))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The exact probability P(X ≤ x) at every point of `x` (any shape)."""
        from scipy.special import ndtr

        x = np.asarray(x, dtype="float64")
        return sum(w * ndtr((x - m) / s) for w, m, s in zip(self.weights, self.means, self.stds, strict=True))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` samples as a float32 column (n, 1): pick a component by its weight, then draw from it."""
        if n < 1:
            raise ValueError(f"n must be ≥ 1, got {n}")
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights, dtype="float64"))
        x = rng.normal(np.asarray(self.means)[k], np.asarray(self.stds)[k])
        return x.astype("float32")[:, None]


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The (n_modes, 2) centres of the ring of Gaussians, evenly spaced on a circle, the first on the x-axis."""
    if n_modes < 1:
        raise ValueError(f"n_modes must be ≥ 1, got {n_modes}")
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n: int, seed: int = 0, n_modes: int = 8, radius: float = 2.0, std: float = 0.05) -> np.ndarray:
    """`n` float32 points (n, 2) of the ring of `n_modes` Gaussians of standard deviation `std`, equal weights."""
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    rng = np.random.default_rng(seed)
    centers = ring_centers(n_modes, radius)
    return (centers[rng.integers(n_modes, size=n)] + rng.normal(0, std, size=(n, 2))).astype("float32")


# -- measuring a generator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeCoverage:
    """How well samples cover known modes: see :func:`mode_coverage`."""

    modes_covered: int            # modes that received at least `min_count` high-quality samples
    n_modes: int
    high_quality_fraction: float  # share of samples within `n_std` standard deviations of a centre
    counts: np.ndarray            # high-quality samples per mode

    def __str__(self) -> str:
        return (f"{self.modes_covered}/{self.n_modes} modes covered, "
                f"{self.high_quality_fraction:.1%} high-quality samples")


def mode_coverage(samples: np.ndarray, centers: np.ndarray, std: float, n_std: float = 3.0,
                  min_fraction: float = 0.01) -> ModeCoverage:
    """Modes covered and share of high-quality samples (the metric of the unrolled-GAN and VEEGAN papers).

    A sample is *high quality* when it lies within `n_std`·`std` of its nearest centre; a mode is *covered*
    when at least `min_fraction` of all samples are high-quality samples of that mode. Taught in 09_gan_theory.
    """
    samples = np.asarray(samples, dtype="float64").reshape(len(samples), -1)
    centers = np.asarray(centers, dtype="float64").reshape(len(centers), -1)
    if len(samples) == 0:
        raise ValueError("samples must hold at least one sample, got 0")
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples have {samples.shape[1]} dimensions but centers {centers.shape[1]}")
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= n_std * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    covered = int(np.sum(counts >= max(1, min_fraction * len(samples))))
    return ModeCoverage(covered, len(centers), float(good.mean()), counts)


# -- the GAN ----------------------------------------------------------------------------------------


def make_mlp(input_dim: int, output_dim: int, hidden_units: int = 64, hidden_layers: int = 2,
             name: str | None = None) -> keras.Model:
    """A small fully connected network (LeakyReLU hidden layers, linear output): a generator or a
    discriminator that returns logits."""
    if hidden_layers < 0 or hidden_units < 1:
        raise ValueError(f"need hidden_layers ≥ 0 and hidden_units ≥ 1, got {hidden_layers} and {hidden_units}")
    layers = [keras.Input((input_dim,))]
    for _ in range(hidden_layers):
        layers += [keras.layers.Dense(hidden_units), keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Dense(output_dim))
    return keras.Sequential(layers, name=name)


def real_dataset(samples: np.ndarray, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """An endless, shuffled tf.data stream of batches of real samples (complete batches only)."""
    return (tf.data.Dataset.from_tensor_slices(np.asarray(samples, dtype="float32"))
            .shuffle(len(samples), seed=seed).repeat().batch(batch_size, drop_remainder=True))


class ToyGAN(keras.Model):
    """A generator and a discriminator trained against each other by `fit`, as derived in 09_gan_theory.

    The discriminator returns logits a, D = σ(a). Its loss is the binary cross-entropy
    −log D(x) − log(1 − D(G(z))); the generator's is the non-saturating −log D(G(z)) or, with
    ``non_saturating=False``, the minimax log(1 − D(G(z))). With ``pack`` = m > 1 the discriminator judges
    m samples at once (PacGAN): it sees their coordinates side by side, so a generator that puts every
    sample in one place is easy to spot.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, pack: int = 1,
                 minibatch_std: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if pack < 1:
            raise ValueError(f"pack must be ≥ 1, got {pack}")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.pack, self.minibatch_std = latent_dim, pack, minibatch_std
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_real", "d_fake")}

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                non_saturating: bool = True, **kwargs) -> None:
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer, self.non_saturating = d_optimizer, g_optimizer, non_saturating

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def call(self, z, training: bool = False):
        return self.generator(z, training=training)

    def judge(self, x):
        """Discriminator logits for samples x, grouped `pack` at a time."""
        x = tf.reshape(x, (-1, self.pack * x.shape[-1]))
        if self.minibatch_std:  # one more input: the spread of the whole batch, the same for every row
            spread = tf.reduce_mean(tf.math.reduce_std(x, axis=0))
            x = tf.concat([x, tf.fill((tf.shape(x)[0], 1), spread)], axis=1)
        return self.discriminator(x)

    def train_step(self, real):
        batch_size = tf.shape(real)[0]
        # 1 · the discriminator: push D(x) up on real samples and D(G(z)) down on generated ones
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            real_logits, fake_logits = self.judge(real), self.judge(self.generator(z))
            # −log σ(a) = softplus(−a) and −log(1 − σ(a)) = softplus(a), computed stably from the logits
            d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))
        # 2 · the generator: fool the updated discriminator on fresh noise
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            logits = self.judge(self.generator(z))
            if self.non_saturating:
                g_loss = tf.reduce_mean(tf.nn.softplus(-logits))   # −log D(G(z))
            else:
                g_loss = -tf.reduce_mean(tf.nn.softplus(logits))   # log(1 − D(G(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        for name, value in [("d_loss", d_loss), ("g_loss", g_loss), ("d_real", tf.sigmoid(real_logits)),
                            ("d_fake", tf.sigmoid(fake_logits))]:
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def generate(self, z: np.ndarray) -> np.ndarray:
        """Generated samples for the latent points `z` (a NumPy array)."""
        return self.generator.predict(np.asarray(z, dtype="float32"), batch_size=4096, verbose=0)


class Snapshots(keras.callbacks.Callback):
    """Keeps the generator's samples for fixed latent points `z` before training and after every epoch."""

    def __init__(self, z: np.ndarray):
        super().__init__()
        self.z = np.asarray(z, dtype="float32")
        self.samples: list[np.ndarray] = []
        self.steps: list[int] = []

    def _keep(self, step: int) -> None:
        self.samples.append(self.model.generator(self.z, training=False).numpy())
        self.steps.append(step)

    def on_train_begin(self, logs=None):
        self._keep(0)

    def on_epoch_end(self, epoch, logs=None):
        self._keep((epoch + 1) * self.params["steps"])


def train_gan(gan: ToyGAN, real: np.ndarray, steps: int, batch_size: int, z_fixed: np.ndarray,
              snapshots: int = 4, seed: int = 0, verbose: int = 2) -> tuple[keras.callbacks.History, Snapshots]:
    """Train `gan` for `steps` steps on batches of `real` samples with `fit` (one epoch per snapshot);
    returns the history and the :class:`Snapshots` taken on `z_fixed`."""
    if snapshots < 1 or steps < snapshots:
        raise ValueError(f"need snapshots ≥ 1 and steps ≥ snapshots, got {snapshots} and {steps}")
    if batch_size % gan.pack:
        raise ValueError(f"batch_size must be a multiple of pack={gan.pack}, got {batch_size}")
    keep = Snapshots(z_fixed)
    history = gan.fit(real_dataset(real, batch_size, seed), epochs=snapshots, steps_per_epoch=steps // snapshots,
                      shuffle=False, callbacks=[keep], verbose=verbose)
    return history, keep


# -- pictures ---------------------------------------------------------------------------------------


def plot_snapshots_1d(keep: Snapshots, mixture: Mixture1D, x_range: tuple[float, float] = (-5.0, 5.0),
                      title: str = "1-D GAN"):
    """Histograms of the generated samples at each snapshot, with the true density; returns the figure."""
    import matplotlib.pyplot as plt

    grid = np.linspace(*x_range, 400)
    fig, axes = plt.subplots(1, len(keep.samples), figsize=(2.6 * len(keep.samples), 2.6), sharey=True,
                             squeeze=False)
    for ax, samples, step in zip(axes[0], keep.samples, keep.steps, strict=True):
        ax.hist(samples[:, 0], bins=60, range=x_range, density=True, color="tab:orange", alpha=0.7,
                label="generated")
        ax.plot(grid, mixture.pdf(grid), "k", lw=1.5, label="$p_{data}$")
        ax.set(title=f"step {step}", xlabel="x")
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_snapshots_2d(keep: Snapshots, centers: np.ndarray, real: np.ndarray | None = None,
                      title: str = "2-D GAN", limit: float = 3.0):
    """Scatter plots of the generated samples at each snapshot, with the mode centres; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keep.samples), figsize=(2.6 * len(keep.samples), 2.8), squeeze=False)
    for ax, samples, step in zip(axes[0], keep.samples, keep.steps, strict=True):
        if real is not None:
            ax.scatter(real[:1000, 0], real[:1000, 1], s=2, color="grey", alpha=0.3)
        ax.scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange", alpha=0.5)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", color="k", s=30)
        ax.set(title=f"step {step}", xlim=(-limit, limit), ylim=(-limit, limit), xlabel="$x_1$", aspect="equal")
    axes[0, 0].set_ylabel("$x_2$")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
