"""dlcourse.gan_toys: the toy distributions have the densities they claim, the mode-coverage metric counts
what it says, and the GAN's train_step updates both networks (notebook 09)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import gan_toys
from dlcourse.gan_toys import keras


@pytest.fixture
def mixture():
    return gan_toys.Mixture1D(weights=(0.4, 0.6), means=(-2.0, 2.0), stds=(0.5, 0.5))


# -- distributions -------------------------------------------------------------------------------

def test_mixture_density_integrates_to_one_and_matches_its_cdf(mixture):
    x = np.linspace(-10, 10, 20_001)
    assert np.isclose(np.trapezoid(mixture.pdf(x), x), 1, atol=1e-6)
    assert np.isclose(mixture.cdf(np.array(0.0)), 0.4, atol=1e-4)
    assert np.allclose(mixture.cdf(np.array([-50.0, 50.0])), [0, 1])


def test_mixture_samples_follow_the_weights_and_are_reproducible(mixture):
    x = mixture.sample(20_000, seed=3)
    assert x.shape == (20_000, 1) and x.dtype == np.float32
    assert abs((x > 0).mean() - 0.6) < 0.02
    assert np.array_equal(x, mixture.sample(20_000, seed=3))


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": (0.5, 0.6), "means": (0, 1), "stds": (1, 1)}, "sum to 1"),
    ({"weights": (1.0,), "means": (0, 1), "stds": (1, 1)}, "same length"),
    ({"weights": (1.0,), "means": (0,), "stds": (0,)}, "stds must be > 0"),
])
def test_bad_mixtures_are_refused_in_one_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan_toys.Mixture1D(**kwargs)


def test_ring_has_eight_centres_on_a_circle_and_samples_near_them():
    centers = gan_toys.ring_centers()
    assert centers.shape == (8, 2)
    assert np.allclose(np.linalg.norm(centers, axis=1), 2)
    assert np.allclose(centers[0], [2, 0])
    x = gan_toys.sample_ring(4000, seed=0, std=0.05)
    assert x.shape == (4000, 2) and x.dtype == np.float32
    assert np.abs(np.linalg.norm(x, axis=1) - 2).max() < 0.5


# -- mode coverage -------------------------------------------------------------------------------

def test_real_ring_samples_cover_every_mode():
    cov = gan_toys.mode_coverage(gan_toys.sample_ring(4000, seed=1, std=0.05), gan_toys.ring_centers(), 0.05)
    assert cov.modes_covered == 8 and cov.high_quality_fraction > 0.98
    assert cov.counts.sum() == round(cov.high_quality_fraction * 4000)
    assert "8/8 modes covered" in str(cov)


def test_a_collapsed_generator_covers_one_mode():
    centers = gan_toys.ring_centers()
    collapsed = centers[3] + np.random.default_rng(0).normal(0, 0.01, (1000, 2))
    cov = gan_toys.mode_coverage(collapsed, centers, 0.05)
    assert cov.modes_covered == 1 and cov.counts[3] == 1000 and cov.high_quality_fraction == 1


def test_samples_far_from_every_mode_are_not_high_quality():
    cov = gan_toys.mode_coverage(np.zeros((100, 2)), gan_toys.ring_centers(), 0.05)
    assert cov.modes_covered == 0 and cov.high_quality_fraction == 0


def test_mode_coverage_refuses_mismatched_dimensions():
    with pytest.raises(ValueError, match="dimensions"):
        gan_toys.mode_coverage(np.zeros((5, 3)), gan_toys.ring_centers(), 0.05)


# -- the GAN -------------------------------------------------------------------------------------

def small_gan(minibatch_std=False, non_saturating=True, pack=1):
    keras.utils.set_random_seed(0)
    generator = gan_toys.make_mlp(2, 2, hidden_units=8, name="g")
    discriminator = gan_toys.make_mlp(2 * pack + int(minibatch_std), 1, hidden_units=8, name="d")
    gan = gan_toys.ToyGAN(generator, discriminator, latent_dim=2, pack=pack, minibatch_std=minibatch_std, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3),
                non_saturating=non_saturating)
    return gan


@pytest.mark.parametrize("options", [{}, {"minibatch_std": True}, {"non_saturating": False}, {"pack": 2}])
def test_train_gan_updates_both_networks_and_keeps_snapshots(options):
    gan = small_gan(**options)
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    z = np.random.default_rng(0).normal(size=(50, 2)).astype("float32")
    history, keep = gan_toys.train_gan(gan, gan_toys.sample_ring(512, seed=0), steps=6, batch_size=32,
                                       z_fixed=z, snapshots=2, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert keep.steps == [0, 3, 6] and [s.shape for s in keep.samples] == [(50, 2)] * 3
    for before, network in [(g_before, gan.generator), (d_before, gan.discriminator)]:
        after = [w.numpy() for w in network.trainable_weights]
        assert not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), f"{network.name} unchanged"
    assert gan.generate(z).shape == (50, 2)


def test_train_gan_refuses_a_batch_that_does_not_pack():
    with pytest.raises(ValueError, match="multiple of pack"):
        gan_toys.train_gan(small_gan(pack=2), gan_toys.sample_ring(64), steps=2, batch_size=31,
                           z_fixed=np.zeros((4, 2), "float32"), snapshots=1)


def test_snapshot_plots_have_one_panel_per_snapshot(mixture):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = gan_toys.Snapshots(np.zeros((3, 2), "float32"))
    keep.samples, keep.steps = [np.zeros((3, 2))] * 3, [0, 1, 2]
    fig = gan_toys.plot_snapshots_2d(keep, gan_toys.ring_centers())
    assert len(fig.axes) == 3
    keep.samples = [np.zeros((3, 1))] * 3
    assert len(gan_toys.plot_snapshots_1d(keep, mixture).axes) == 3
    plt.close("all")
