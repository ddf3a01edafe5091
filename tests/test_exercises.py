"""dlcourse.calls_to: what the hidden tests use to catch an answer that calls the course's own helper."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import dlcourse
from dlcourse import convolution as cv


def test_a_call_is_seen_through_an_alias_a_lambda_and_a_decorator():
    conv = cv.conv2d
    wrap = lambda x, k: conv(x, k)  # noqa: E731 (an answer that hides the call)
    with dlcourse.calls_to(cv.conv2d, cv.pool2d) as used:
        wrap(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)))
    assert used == ["dlcourse.convolution.conv2d"]

    @functools.wraps(cv.output_size)
    def decorated(*args):
        return cv.output_size(*args)
    with dlcourse.calls_to(decorated) as used:  # the function under its decorator is what is watched
        cv.output_size(28, 3)
    assert used == ["dlcourse.convolution.output_size"]


def test_an_answer_of_its_own_leaves_the_list_empty_and_the_profiler_as_it_was():
    import sys

    before = sys.getprofile()
    with dlcourse.calls_to(cv.conv2d) as used:
        np.lib.stride_tricks.sliding_window_view(np.ones((4, 4)), (2, 2)).sum(axis=(2, 3))
    assert used == [] and sys.getprofile() is before


def test_a_dotted_name_and_a_class_constructor_are_watched_by_readable_names():
    import keras

    with dlcourse.calls_to("dlcourse.convolution.conv_parameters", keras.layers.Layer.__new__) as used:
        cv.conv_parameters(3, 1, 8)
        keras.layers.Dense(2)
        cv.conv_parameters(3, 8, 8)
    assert used == ["dlcourse.convolution.conv_parameters", "keras.src.layers.layer.Layer"]


def test_what_cannot_be_watched_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="'dlcourse.convolution.no_such' names no function"):
        with dlcourse.calls_to("dlcourse.convolution.no_such"):
            pass
    with pytest.raises(TypeError, match="has no code to watch"):
        with dlcourse.calls_to(len):
            pass
