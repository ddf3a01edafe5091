"""Notebook 10's GAN tools: the networks have the shapes they promise, one train step moves each network
by its own loss only, the Fréchet distance has its closed form, coverage counts classes."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.session import import_tensorflow

tf, keras = import_tensorflow()

from dlcourse import gan  # noqa: E402  (TensorFlow is imported quietly first)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# -- networks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1), (32, 32, 3)])
def test_generator_and_discriminator_fit_the_image_shape(shape):
    g = gan.build_generator(16, shape, filters=8)
    d = gan.build_discriminator(shape, filters=8)
    images = g(np.zeros((3, 16), "float32"), training=False).numpy()
    assert images.shape == (3, *shape)
    assert images.min() >= -1 and images.max() <= 1, "tanh output stays in [-1, 1]"
    assert d(images, training=False).shape == (3, 1), "one logit per image"


def test_conditional_networks_take_a_label():
    g = gan.build_generator(16, (28, 28, 1), filters=8, n_classes=10)
    d = gan.build_discriminator((28, 28, 1), filters=8, n_classes=10)
    labels = np.array([[0], [9]], "int32")
    images = g([np.zeros((2, 16), "float32"), labels], training=False)
    assert images.shape == (2, 28, 28, 1) and d([images, tf.constant(labels)], training=False).shape == (2, 1)


def test_bad_shapes_and_arguments_are_refused():
    with pytest.raises(ValueError, match="multiples of 4"):
        gan.build_generator(16, (30, 28, 1))
    with pytest.raises(ValueError, match="dropout"):
        gan.build_discriminator(dropout=1.0)
    with pytest.raises(ValueError, match="steps"):
        gan.interpolate(np.zeros(3), np.ones(3), 1)


def test_scale_images_maps_pixels_to_the_tanh_range():
    scaled = gan.scale_images(np.array([0, 255], "uint8"))
    assert np.allclose(scaled, [-1, 1]) and scaled.dtype == np.float32


# -- training ------------------------------------------------------------------------------------

def _tiny_gan(cls=gan.GAN, n_classes=None):
    g = gan.build_generator(8, (8, 8, 1), filters=8, n_classes=n_classes)
    d = gan.build_discriminator((8, 8, 1), filters=8, n_classes=n_classes)
    model = cls(g, d, 8, seed=1)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    return model


def test_one_discriminator_step_and_one_generator_step_per_batch():
    model = _tiny_gan()
    images = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    callback = gan.ImageGridCallback(np.zeros((4, 8), "float32"), every=1)
    history = model.fit(images, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert int(model.d_optimizer.iterations.numpy()) == 4 and int(model.g_optimizer.iterations.numpy()) == 4
    assert [e for e, _ in callback.snapshots] == [0, 1, 2] and callback.snapshots[0][1].shape == (4, 8, 8, 1)


def test_image_grid_callback_keeps_the_generator_of_every_epoch():
    model = _tiny_gan()
    images = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    noise = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    callback = gan.ImageGridCallback(noise, keep_weights=True)
    model.fit(images, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    assert [e for e, _ in callback.weights] == [0, 1, 2]
    for epoch, drawn in callback.snapshots:  # each kept generator redraws that epoch's row exactly
        assert np.allclose(gan.generate(callback.generator_at(epoch), noise), drawn, atol=1e-5)
    assert not np.allclose(callback.snapshots[0][1], callback.snapshots[-1][1])
    with pytest.raises(ValueError, match="no weights kept for epoch 5"):
        callback.generator_at(5)
    with pytest.raises(ValueError, match="keep_weights=False"):
        gan.ImageGridCallback(noise).generator_at(0)


def test_each_network_moves_only_by_its_own_optimizer():
    model = _tiny_gan()
    images = np.zeros((32, 8, 8, 1), "float32")
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    model.d_optimizer.learning_rate = 0.0  # D frozen: any D change would come from the G step
    model.fit(images, batch_size=32, epochs=1, verbose=0)
    d_after = [w.numpy() for w in model.discriminator.trainable_weights]
    g_after = [w.numpy() for w in model.generator.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(d_before, d_after, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, g_after, strict=True))


def test_the_discriminator_learns_real_is_one():
    model = _tiny_gan()
    model.g_optimizer.learning_rate = 0.0
    images = np.ones((256, 8, 8, 1), "float32")  # trivially told apart from the generator's images
    history = model.fit(images, batch_size=64, epochs=5, verbose=0)
    assert history.history["d_real"][-1] > 0.5 > history.history["d_fake"][-1]


def test_conditional_gan_trains_on_image_label_pairs():
    model = _tiny_gan(gan.ConditionalGAN, n_classes=3)
    images = np.zeros((32, 8, 8, 1), "float32")
    labels = np.arange(32) % 3
    history = model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all()
    out = gan.generate(model.generator, np.zeros((3, 8)), np.arange(3))
    assert out.shape == (3, 8, 8, 1)


def test_one_optimizer_for_both_networks_is_refused():
    model = gan.GAN(gan.build_generator(8, (8, 8, 1), 8), gan.build_discriminator((8, 8, 1), 8), 8)
    adam = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="separate"):
        model.compile(d_optimizer=adam, g_optimizer=adam)


# -- scores --------------------------------------------------------------------------------------

def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a = gan.Gaussian(np.array([0.0, 1.0]), np.diag([1.0, 4.0]))
    b = gan.Gaussian(np.array([3.0, 1.0]), np.diag([4.0, 1.0]))
    # |mu|^2 = 9; per axis (sqrt(s1) - sqrt(s2))^2 = 1 + 1
    assert gan.frechet_distance(a, b) == pytest.approx(11.0)
    assert gan.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_is_symmetric_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5))
    assert gan.frechet_distance(x, y) == pytest.approx(gan.frechet_distance(y, x), rel=1e-6)
    assert gan.frechet_distance(x, y) < 0.05 < gan.frechet_distance(x, y + 1) == pytest.approx(5, rel=0.05)
    with pytest.raises(ValueError, match="dimensions"):
        gan.frechet_distance(x, y[:, :3])


def test_class_coverage_counts_classes_with_enough_samples():
    cov = gan.class_coverage(np.array([0] * 90 + [1] * 9 + [2]), n_classes=4, min_share=0.05)
    assert cov.counts.tolist() == [90, 9, 1, 0] and cov.covered == 2 and cov.largest_share == 0.9
    assert "2 of 4 classes" in str(cov)
    with pytest.raises(ValueError):
        gan.class_coverage(np.array([], "int64"))


def test_interpolate_ends_at_both_vectors():
    z = gan.interpolate(np.zeros(4), np.ones(4), 5)
    assert z.shape == (5, 4) and np.allclose(z[0], 0) and np.allclose(z[-1], 1) and np.allclose(z[2], 0.5)


def test_feature_extractor_returns_the_penultimate_layer():
    clf = gan.build_classifier((8, 8, 1), 10, feature_dim=12)
    features = gan.feature_extractor(clf)(np.zeros((2, 8, 8, 1), "float32"))
    assert features.shape == (2, 12)
