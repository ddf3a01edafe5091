"""dlcourse.convolution: the NumPy convolution and pooling equal SciPy's and the textbook formulas, shapes
follow the output-size formula, and bad arguments are refused with one clear sentence. NumPy and SciPy only:
notebook 05 compares the same functions with Keras."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dlcourse import convolution as cv


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_single_channel_conv2d_is_scipys_cross_correlation(rng):
    image, kernel = rng.normal(size=(9, 11)), rng.normal(size=(3, 4))
    ours = cv.conv2d(image[None, :, :, None], kernel[:, :, None, None])[0, :, :, 0]
    assert np.allclose(ours, signal.correlate2d(image, kernel, mode="valid"))
    # convolution proper = cross-correlation with the kernel flipped both ways
    assert np.allclose(ours, signal.convolve2d(image, kernel[::-1, ::-1], mode="valid"))
    assert not np.allclose(ours, signal.convolve2d(image, kernel, mode="valid"))


def test_multi_channel_conv2d_matches_the_sum_formula(rng):
    x, w, b = rng.normal(size=(2, 6, 7, 3)), rng.normal(size=(2, 3, 3, 4)), rng.normal(size=4)
    out = cv.conv2d(x, w, b, stride=2, padding=1, dilation=1)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros_like(out)
    for n, i, j, o in np.ndindex(*out.shape):
        expected[n, i, j, o] = b[o] + np.sum(xp[n, 2 * i:2 * i + 2, 2 * j:2 * j + 3, :] * w[..., o])
    assert np.allclose(out, expected)


def test_dilation_spreads_the_kernel(rng):
    image, kernel = rng.normal(size=(10, 10)), rng.normal(size=(3, 3))
    dilated = np.zeros((5, 5))
    dilated[::2, ::2] = kernel  # a 3x3 kernel with dilation 2 is a 5x5 kernel with holes
    ours = cv.conv2d(image[None, :, :, None], kernel[:, :, None, None], dilation=2)[0, :, :, 0]
    assert np.allclose(ours, signal.correlate2d(image, dilated, mode="valid"))


@pytest.mark.parametrize(("n", "k", "p", "s", "d"), [(28, 3, 0, 1, 1), (28, 3, 1, 2, 1), (27, 5, 2, 3, 1),
                                                     (20, 3, 0, 1, 3), (7, 7, 0, 1, 1), (10, 2, 1, 4, 2)])
def test_output_size_formula_gives_the_shape_conv2d_makes(n, k, p, s, d):
    out = cv.conv2d(np.ones((1, n, n, 1)), np.ones((k, k, 1, 1)), stride=s, padding=p, dilation=d)
    assert out.shape[1:3] == (cv.output_size(n, k, p, s, d),) * 2


def test_output_size_and_parameters_refuse_bad_values():
    assert cv.output_size(28, 3) == 26 and cv.output_size(28, 3, padding=1, stride=2) == 14
    with pytest.raises(ValueError, match="stride must be an integer ≥ 1"):
        cv.output_size(28, 3, stride=0)
    with pytest.raises(ValueError, match="does not fit"):
        cv.output_size(4, 3, dilation=3)
    assert cv.conv_parameters(3, 1, 32) == 320 and cv.conv_parameters((3, 1), 8, 4, use_bias=False) == 96


def test_conv2d_refuses_mismatched_shapes(rng):
    with pytest.raises(ValueError, match=r"shape \(N, H, W, C\)"):
        cv.conv2d(rng.normal(size=(5, 5)), rng.normal(size=(3, 3, 1, 1)))
    with pytest.raises(ValueError, match="3 input channels"):
        cv.conv2d(rng.normal(size=(1, 5, 5, 3)), rng.normal(size=(3, 3, 1, 2)))
    with pytest.raises(ValueError, match="bias must have shape"):
        cv.conv2d(rng.normal(size=(1, 5, 5, 1)), rng.normal(size=(3, 3, 1, 2)), np.zeros(3))


def test_pooling_takes_the_max_or_mean_of_each_window():
    x = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    assert np.array_equal(cv.pool2d(x, 2)[0, :, :, 0], [[5, 7], [13, 15]])
    assert np.array_equal(cv.pool2d(x, 2, mode="average")[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert cv.pool2d(x, 3, stride=1).shape == (1, 2, 2, 1)
    with pytest.raises(ValueError, match="mode must be"):
        cv.pool2d(x, 2, mode="min")


def test_receptive_fields_follow_the_recursion():
    stack = [cv.Layer("conv3", 3), cv.Layer("pool2", 2, stride=2), cv.Layer("conv3", 3),
             cv.Layer("dilated", 3, dilation=2)]
    assert [r["receptive_field"] for r in cv.receptive_fields(stack)] == [3, 4, 8, 16]
    assert [r["jump"] for r in cv.receptive_fields(stack)] == [1, 2, 2, 2]
    assert cv.nonzero_extent(np.pad(np.ones((3, 5)), 4)) == (3, 5)
    assert cv.nonzero_extent(np.zeros((4, 4))) == (0, 0)


def test_shift_moves_pixels_and_fills_with_zeros():
    x = np.arange(9, dtype=float).reshape(1, 3, 3, 1)
    assert np.array_equal(cv.shift(x, 1, 0)[0, :, :, 0], [[0, 0, 0], [0, 1, 2], [3, 4, 5]])
    assert np.array_equal(cv.shift(x, 0, -1)[0, :, :, 0], [[1, 2, 0], [4, 5, 0], [7, 8, 0]])
    assert not cv.shift(x, 3, 0).any()


def test_cosine_similarity_per_example():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])
    assert np.allclose(cv.cosine_similarity(a, b), [1, -1, 0])


def test_to_gray():
    photo = np.full((4, 6, 3), 255, dtype=np.uint8)
    assert np.allclose(cv.to_gray(photo, step=2), np.ones((2, 3)))
