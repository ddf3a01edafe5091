"""Generative adversarial networks the Keras 3 way, as taught in 10_gan_in_keras.

A small DCGAN (generator and discriminator builders), the :class:`GAN` model whose ``train_step``
alternates a discriminator step and a generator step with two optimizers, its label-conditioned
variant :class:`ConditionalGAN`, and the tools to judge samples: the Fréchet distance between two
feature sets, the class coverage of generated images, and a callback that keeps images generated from a
fixed noise batch after every epoch.

Importing this module imports TensorFlow (quietly): call ``dlcourse.setup(...)`` first.

Used in notebooks: 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()
layers = keras.layers


def _check_image_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image height and width must be multiples of 4 (two stride-2 layers), got {image_shape}")
    return tuple(int(s) for s in image_shape)


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 -> float32 in [-1, 1], the range of the generator's tanh output (10_gan_in_keras)."""
    return (np.asarray(images, dtype="float32") - 127.5) / 127.5


# ---------------------------------------------------------------------------------------------
# The two networks


def build_generator(latent_dim: int, image_shape: tuple[int, int, int] = (28, 28, 1), filters: int = 64,
                    n_classes: int | None = None, name: str = "generator") -> keras.Model:
    """DCGAN generator: noise (latent_dim,) -> Dense -> (H/4, W/4, filters) -> two Conv2DTranspose.

    (H/4 x W/4 x filters) -> (H/2 x W/2 x filters/2) -> (H x W x channels), batch normalization and leaky
    ReLU in between, tanh at the end so that images come out in [-1, 1]. With `n_classes`, the model
    takes a second input, an integer label, whose learned embedding is concatenated to the noise (the
    conditional GAN of 10_gan_in_keras).
    """
    if latent_dim < 1 or filters < 2:
        raise ValueError(f"latent_dim must be ≥ 1 and filters ≥ 2, got {latent_dim} and {filters}")
    height, width, channels = _check_image_shape(image_shape)
    noise = keras.Input((latent_dim,), name="noise")
    inputs, x = [noise], noise
    if n_classes is not None:
        label = keras.Input((1,), dtype="int32", name="label")
        embedded = layers.Flatten()(layers.Embedding(n_classes, 16, name="label_embedding")(label))
        inputs, x = [noise, label], layers.Concatenate()([noise, embedded])
    x = layers.Dense((height // 4) * (width // 4) * filters, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((height // 4, width // 4, filters))(x)
    x = layers.Conv2DTranspose(filters // 2, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    images = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh")(x)
    return keras.Model(inputs if len(inputs) > 1 else noise, images, name=name)


def build_discriminator(image_shape: tuple[int, int, int] = (28, 28, 1), filters: int = 64,
                        dropout: float = 0.3, n_classes: int | None = None,
                        name: str = "discriminator") -> keras.Model:
    """DCGAN discriminator: two stride-2 Conv2D with leaky ReLU and dropout, then one logit ("real").

    With `n_classes`, a second input (the integer label) is embedded, mapped to one H x W plane and
    stacked onto the image as an extra channel, and the logit gets a *projection* term: the dot product of
    a learned class vector with the image features (Miyato & Koyama's projection discriminator), so the
    discriminator judges "real image *of this class*" from the first steps on.
    """
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be ≥ 0 and < 1, got {dropout}")
    height, width, channels = _check_image_shape(image_shape)
    image = keras.Input((height, width, channels), name="image")
    inputs, x = [image], image
    if n_classes is not None:
        label = keras.Input((1,), dtype="int32", name="label")
        plane = layers.Flatten()(layers.Embedding(n_classes, 16, name="label_embedding")(label))
        plane = layers.Reshape((height, width, 1))(layers.Dense(height * width)(plane))
        inputs, x = [image, label], layers.Concatenate()([image, plane])
    for f in (filters // 2, filters):
        x = layers.Conv2D(f, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    h = layers.Flatten()(x)
    logit = layers.Dense(1)(h)
    if n_classes is not None:
        class_vector = layers.Flatten()(layers.Embedding(n_classes, h.shape[-1], name="class_projection")(label))
        logit = layers.Add()([logit, layers.Dot(axes=1)([class_vector, h])])
    return keras.Model(inputs if len(inputs) > 1 else image, logit, name=name)


# ---------------------------------------------------------------------------------------------
# The adversarial game


class GAN(keras.Model):
    """A GAN trained with ``fit``: each batch one discriminator step, then one generator step.

    Labels follow the textbook convention, D(x) = probability that x is real: real images 1, generated
    images 0 for the discriminator's loss; the generator's loss asks D to say 1 for its images (the
    non-saturating loss). Each network has its own optimizer and is updated only by its own loss.
    Defined in 10_gan_in_keras.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="d_real")  # mean D(x) on real images
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")  # mean D(G(z)) before G's step

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                loss_fn: keras.losses.Loss | None = None, **kwargs) -> None:
        super().compile(**kwargs)
        if d_optimizer is g_optimizer:
            raise ValueError("the discriminator and the generator need two separate optimizer objects")
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self) -> list:
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker, self.fake_score_tracker]

    def sample_noise(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def _generate(self, noise, labels):
        return self.generator(noise, training=True)

    def _judge(self, images, labels, training=True):
        return self.discriminator(images, training=training)

    def _split(self, data):
        return data, None

    def train_step(self, data):
        real_images, labels = self._split(data)
        n = tf.shape(real_images)[0]
        ones, zeros = tf.ones((n, 1)), tf.zeros((n, 1))
        # 1) discriminator: real images -> 1, generated images -> 0; only D's weights move
        fake_images = self._generate(self.sample_noise(n), labels)
        with tf.GradientTape() as tape:
            real_logits = self._judge(real_images, labels)
            fake_logits = self._judge(fake_images, labels)
            d_loss = self.loss_fn(ones, real_logits) + self.loss_fn(zeros, fake_logits)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))
        # 2) generator: fresh noise, through G *and* D, target "real" (1); only G's weights move
        with tf.GradientTape() as tape:
            fake_logits_g = self._judge(self._generate(self.sample_noise(n), labels), labels)
            g_loss = self.loss_fn(ones, fake_logits_g)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(tf.sigmoid(real_logits))
        self.fake_score_tracker.update_state(tf.sigmoid(fake_logits))
        return {m.name: m.result() for m in self.metrics}


class ConditionalGAN(GAN):
    """The GAN of :class:`GAN` with a label fed to both networks: ``fit`` on (images, labels) batches.

    The generator draws an image *of the given class*; the discriminator judges image-label pairs, so a
    generated image with the wrong class is as fake as a blurry one. Defined in 10_gan_in_keras.
    """

    def _split(self, data):
        images, labels = data
        return images, tf.reshape(tf.cast(labels, "int32"), (-1, 1))

    def _generate(self, noise, labels):
        return self.generator([noise, labels], training=True)

    def _judge(self, images, labels, training=True):
        return self.discriminator([images, labels], training=training)


def generate(generator: keras.Model, noise: np.ndarray, labels: np.ndarray | None = None,
             batch_size: int = 1000) -> np.ndarray:
    """Images in [-1, 1] from `noise` (and, for a conditional generator, integer `labels`), inference mode."""
    noise = np.asarray(noise, dtype="float32")
    inputs = noise if labels is None else [noise, np.asarray(labels, dtype="int32").reshape(-1, 1)]
    return generator.predict(inputs, batch_size=batch_size, verbose=0)


class ImageGridCallback(keras.callbacks.Callback):
    """Keeps the images the generator draws from one fixed noise batch after every `every` epochs.

    ``snapshots`` is a list of (epoch, images) with images in [-1, 1]; epoch 0 is the untrained
    generator. A fixed noise batch makes the rows comparable: the same z, a better generator.
    With `keep_weights`, ``weights`` holds (epoch, generator weights) at the same moments, so that the
    generator of any epoch can be scored later (:meth:`generator_at`). Defined in 10_gan_in_keras.
    """

    def __init__(self, noise: np.ndarray, labels: np.ndarray | None = None, every: int = 1,
                 keep_weights: bool = False):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be ≥ 1, got {every}")
        self.noise, self.labels, self.every = np.asarray(noise, dtype="float32"), labels, every
        self.keep_weights = keep_weights
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.weights: list[tuple[int, list[np.ndarray]]] = []

    def _snap(self, epoch: int) -> None:
        self.snapshots.append((epoch, generate(self.model.generator, self.noise, self.labels)))
        if self.keep_weights:
            self.weights.append((epoch, self.model.generator.get_weights()))

    def generator_at(self, epoch: int) -> keras.Model:
        """A copy of the generator as it was after `epoch` epochs (needs keep_weights=True)."""
        kept = dict(self.weights)
        if epoch not in kept:
            raise ValueError(f"no weights kept for epoch {epoch}; kept: {sorted(kept) or 'none (keep_weights=False)'}")
        copy = keras.models.clone_model(self.model.generator)
        copy.set_weights(kept[epoch])
        return copy

    def on_train_begin(self, logs=None):
        if not self.snapshots:
            self._snap(0)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 or done == self.params.get("epochs"):
            self._snap(done)


def plot_snapshots(snapshots: list[tuple[int | str, np.ndarray]], title: str = "Generated from a fixed noise batch",
                   size: float = 0.9):
    """One row of images in [-1, 1] per (label, images) pair, e.g. the snapshots of an :class:`ImageGridCallback`.

    An integer label is shown as "epoch N", any other label as it is (a class name, "z0 -> z1").
    """
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("no snapshots: pass the ImageGridCallback to fit first")
    ncols = len(snapshots[0][1])
    fig, axes = plt.subplots(len(snapshots), ncols, figsize=(size * ncols + 0.8, size * len(snapshots)),
                             squeeze=False)
    for row, (epoch, images) in zip(axes, snapshots, strict=True):
        for ax, img in zip(row, images, strict=True):
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else (img + 1) / 2, cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        label = f"epoch {epoch}" if isinstance(epoch, int | np.integer) else str(epoch)
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """`steps` points on the straight line from z0 to z1, both ends included: shape (steps, latent_dim)."""
    if steps < 2:
        raise ValueError(f"steps must be ≥ 2, got {steps}")
    t = np.linspace(0, 1, steps, dtype="float32")[:, None]
    return (1 - t) * np.asarray(z0, dtype="float32") + t * np.asarray(z1, dtype="float32")


# ---------------------------------------------------------------------------------------------
# Judging samples: a feature space, the Fréchet distance, class coverage


def build_classifier(image_shape: tuple[int, int, int] = (28, 28, 1), n_classes: int = 10,
                     feature_dim: int = 64) -> keras.Model:
    """A small CNN classifier whose penultimate layer, named "features", is the space we score GANs in."""
    height, width, channels = _check_image_shape(image_shape)
    inputs = keras.Input((height, width, channels))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    features = layers.Dense(feature_dim, activation="relu", name="features")(x)
    logits = layers.Dense(n_classes)(layers.Dropout(0.3)(features))
    return keras.Model(inputs, logits, name="feature_classifier")


def feature_extractor(classifier: keras.Model) -> keras.Model:
    """The classifier up to its "features" layer: images -> penultimate activations."""
    return keras.Model(classifier.input, classifier.get_layer("features").output, name="features")


@dataclass
class Gaussian:
    """Mean and covariance of a feature set (rows = samples), the two numbers the Fréchet distance uses."""

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Gaussian:
        f = np.asarray(features, dtype="float64")
        if f.ndim != 2 or len(f) < 2:
            raise ValueError(f"features must be (samples ≥ 2, dims), got shape {f.shape}")
        return cls(f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1]))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((a + a.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: np.ndarray | Gaussian, b: np.ndarray | Gaussian) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets, as derived in 10_gan_in_keras.

    d² = |μ_a − μ_b|² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}). The trace of the matrix square root is computed
    as the sum of square roots of the eigenvalues of Σ_a^{1/2} Σ_b Σ_a^{1/2} (symmetric, so stable).
    Accepts feature arrays (samples, dims) or fitted :class:`Gaussian` s. With Inception-v3 features this is
    the FID; here any classifier's penultimate layer.
    """
    ga = a if isinstance(a, Gaussian) else Gaussian.fit(a)
    gb = b if isinstance(b, Gaussian) else Gaussian.fit(b)
    if ga.mean.shape != gb.mean.shape:
        raise ValueError(f"feature dimensions differ: {ga.mean.shape[0]} and {gb.mean.shape[0]}")
    root_a = _sqrtm_psd(ga.cov)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ gb.cov @ root_a), 0, None)).sum()
    d2 = np.sum((ga.mean - gb.mean) ** 2) + np.trace(ga.cov) + np.trace(gb.cov) - 2 * cross
    return float(max(d2, 0.0))


@dataclass
class Coverage:
    """How generated samples spread over the classes a classifier sees in them."""

    counts: np.ndarray       # samples assigned to each class
    covered: int             # classes holding at least `min_share` of the samples
    min_share: float
    largest_share: float     # share of the most frequent class (1/n_classes when perfectly even)

    def __str__(self) -> str:
        return (f"{self.covered} of {len(self.counts)} classes hold at least {self.min_share:.0%} of the samples; "
                f"the largest class holds {self.largest_share:.1%}")


def class_coverage(predicted: np.ndarray, n_classes: int = 10, min_share: float = 0.02) -> Coverage:
    """Class histogram of predicted labels and how many classes get at least `min_share` of them.

    A GAN that collapses onto a few modes covers few classes even if each image looks good.
    """
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or len(predicted) == 0:
        raise ValueError(f"predicted must be a non-empty 1-D array of class indices, got shape {predicted.shape}")
    if not 0 < min_share < 1:
        raise ValueError(f"min_share must be > 0 and < 1, got {min_share}")
    counts = np.bincount(predicted, minlength=n_classes)[:n_classes]
    shares = counts / len(predicted)
    return Coverage(counts, int((shares >= min_share).sum()), min_share, float(shares.max()))


def plot_losses(history, title: str = "GAN training"):
    """Discriminator and generator losses, and D's mean outputs on real and generated images, per epoch."""
    import matplotlib.pyplot as plt

    h = history.history if hasattr(history, "history") else history
    epochs = np.arange(1, len(h["d_loss"]) + 1)
    fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_l.plot(epochs, h["d_loss"], "o-", label="discriminator (real + fake)")
    ax_l.plot(epochs, h["g_loss"], "s-", label="generator")
    ax_l.axhline(2 * np.log(2), color="grey", ls=":", label="D at chance: 2 ln 2")
    ax_l.axhline(np.log(2), color="grey", ls="--", label="G at chance: ln 2")
    ax_l.set(xlabel="epoch", ylabel="binary cross-entropy (nats)", title=f"{title}: losses")
    ax_s.plot(epochs, h["d_real"], "o-", label="mean D(x), real images")
    ax_s.plot(epochs, h["d_fake"], "s-", label="mean D(G(z)), generated")
    ax_s.axhline(0.5, color="grey", ls=":", label="chance")
    ax_s.set(xlabel="epoch", ylabel="D's probability of 'real'", ylim=(0, 1), title=f"{title}: D's verdicts")
    for ax in (ax_l, ax_s):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
