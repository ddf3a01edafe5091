"""Notebook 10's DCGAN, its settings varied, on this machine's CPU with the notebook's own Keras code.

    python benchmarks/search/gan_cpu_keras.py VARIANT [EPOCHS]      (SEED=7 in the environment for another seed)

VARIANT joins with '_' any of: `lr1` (both Adam learning rates 1e-3 instead of 5e-4), `drop0` (no dropout in the
discriminator instead of 0.3), `up` (a generator that doubles the image with nearest-neighbour UpSampling2D and
a 3x3 Conv2D instead of each stride-2 Conv2DTranspose); `base` is the notebook's former default. Prints one JSON
line: the Fréchet ratio (5,000 generated vs 5,000 real test images over the distance between the two halves of
the test set) after each epoch of 11,520 training images, in the features of the notebook's classifier trained
for one epoch on the last 20,000 training images, and the seconds the epochs took including the scoring.
"""

import json
import os
import sys
import time

import numpy as np

from dlcourse import datasets, gan
from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()
layers = keras.layers


def upsampling_generator(latent_dim: int = 64, filters: int = 64) -> keras.Model:
    noise = keras.Input((latent_dim,))
    x = layers.Dense(7 * 7 * filters, use_bias=False)(noise)
    x = layers.Reshape((7, 7, filters))(layers.LeakyReLU(0.2)(layers.BatchNormalization()(x)))
    x = layers.Conv2D(filters // 2, 3, padding="same", use_bias=False)(layers.UpSampling2D()(x))
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    images = layers.Conv2D(1, 3, padding="same", activation="tanh")(layers.UpSampling2D()(x))
    return keras.Model(noise, images)


VARIANT_PARTS = ("base", "lr1", "drop0", "up")


def main(variant: str, epochs: int, seed: int) -> dict:
    unknown = [part for part in variant.split("_") if part not in VARIANT_PARTS]
    if unknown or epochs < 1:
        raise SystemExit(f"VARIANT must join {', '.join(VARIANT_PARTS)} with '_' and EPOCHS must be >= 1, "
                         f"got {variant!r} and {epochs}")
    data = datasets.load("fashion_mnist")
    x_all, y_all = gan.scale_images(data.x_train), data.y_train
    x_test = gan.scale_images(data.x_test)
    x_train = x_all[:11520]
    keras.utils.set_random_seed(42)  # the same judge for every variant and seed
    classifier = gan.build_classifier(x_all.shape[1:], 10)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(x_all[-20000:], y_all[-20000:], epochs=1, batch_size=128, verbose=0)
    features = gan.feature_extractor(classifier)

    def embed(images):
        return features.predict(images, batch_size=1000, verbose=0)

    reference = gan.Gaussian.fit(embed(x_test[5000:]))
    floor = gan.frechet_distance(embed(x_test[:5000]), reference)

    keras.utils.set_random_seed(seed)
    parts = variant.split("_")
    learning_rate = 1e-3 if "lr1" in parts else 5e-4
    generator = upsampling_generator() if "up" in parts else gan.build_generator(64, (28, 28, 1))
    discriminator = gan.build_discriminator((28, 28, 1), dropout=0.0 if "drop0" in parts else 0.3)
    model = gan.GAN(generator, discriminator, 64, seed=seed)
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5))
    batches = (tf.data.Dataset.from_tensor_slices(x_train).shuffle(len(x_train), seed=seed)
               .batch(128, drop_remainder=True).prefetch(2))
    noise = np.random.default_rng(42).normal(size=(5000, 64)).astype("float32")
    result = {"variant": variant, "seed": seed, "floor": round(floor, 4), "generator parameters":
              generator.count_params()}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.fit(batches, epochs=1, verbose=0, shuffle=False)
        distance = gan.frechet_distance(embed(gan.generate(generator, noise)), reference)
        result[f"epoch {epoch}"] = round(distance / floor, 1)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


if __name__ == "__main__":
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(json.dumps(main(sys.argv[1], epochs, int(os.environ.get("SEED", "42")))))
