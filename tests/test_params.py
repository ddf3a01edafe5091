"""Parameters: parsing the parameters cell, checking values, one clear sentence per bad value."""

import pytest

from dlcourse import params

SOURCE = '''
dataset = "fashion_mnist"   # fashion_mnist | mnist | cifar10 | digits
epochs = 6                  # passes over the training set, ≥ 1
holdout = 0.1               # share held out, > 0 and < 1
seed = 42                   # reruns with the same seed give the same numbers, ≥ 0
augment = True              # True | False
scheduler_address = None    # None, or the address of a running Dask scheduler
batch_size = 64             # 32 | 64 | 128
'''


@pytest.fixture(scope="module")
def spec():
    return params.parse_source(SOURCE)


def test_parse_reads_defaults_meaning_and_allowed_values(spec):
    assert list(spec) == ["dataset", "epochs", "holdout", "seed", "augment", "scheduler_address", "batch_size"]
    assert spec["dataset"].choices == ("fashion_mnist", "mnist", "cifar10", "digits")
    assert spec["epochs"].bounds == (("≥", 1.0),)
    assert spec["holdout"].bounds == ((">", 0.0), ("<", 1.0))
    assert spec["batch_size"].choices == (32, 64, 128)
    assert spec["augment"].choices == (True, False)
    assert spec["seed"].help == "reruns with the same seed give the same numbers, ≥ 0"
    assert spec["epochs"].allowed == "an int ≥ 1"


def test_ascii_bounds_are_understood_too():
    spec = params.parse_source("epochs = 6  # at least one, >= 1")
    with pytest.raises(ValueError, match="epochs must be an int ≥ 1, got 0"):
        params.check(spec["epochs"], 0)


@pytest.mark.parametrize("name, value, message", [
    ("epochs", -3, "epochs must be an int ≥ 1, got -3"),
    ("epochs", 2.5, "epochs must be an int ≥ 1, got 2.5 (float)"),
    ("epochs", True, "epochs must be an int ≥ 1, got True (bool)"),
    ("dataset", "imagenet", "dataset must be one of fashion_mnist | mnist | cifar10 | digits, got 'imagenet'"),
    ("holdout", 1.0, "holdout must be a number > 0 and < 1, got 1.0"),
    ("augment", 1, "augment must be one of True | False, got 1 (int)"),
    ("batch_size", 65, "batch_size must be one of 32 | 64 | 128, got 65"),
    ("scheduler_address", 8786, "scheduler_address must be None or a str, got 8786 (int)"),
])
def test_bad_values_get_one_sentence(spec, name, value, message):
    with pytest.raises(ValueError) as err:
        params.check(spec[name], value)
    assert str(err.value) == message


@pytest.mark.parametrize("name, value", [
    ("epochs", 1), ("holdout", 0.5), ("holdout", 0.25), ("dataset", "digits"), ("augment", False),
    ("scheduler_address", None), ("scheduler_address", "tcp://127.0.0.1:8786"), ("batch_size", 128),
])
def test_good_values_pass(spec, name, value):
    assert params.check(spec[name], value) == value


def test_unknown_name_lists_the_known_ones(spec):
    with pytest.raises(ValueError, match="unknown parameter 'epoch'; this notebook's parameters are: dataset, epochs"):
        params.validate(spec, {"epoch": 3})


@pytest.mark.parametrize("name, text, value", [
    ("epochs", "3", 3), ("holdout", "1e-1", 0.1), ("holdout", "1", 1.0), ("augment", "false", False),
    ("dataset", "mnist", "mnist"), ("scheduler_address", "None", None), ("scheduler_address", "tcp://x:1", "tcp://x:1"),
])
def test_command_line_text_becomes_the_right_type(spec, name, text, value):
    assert params.from_text(spec[name], text) == value


def test_command_line_text_of_the_wrong_type_is_refused(spec):
    with pytest.raises(ValueError, match="epochs must be an int ≥ 1, got 'three'"):
        params.from_text(spec["epochs"], "three")


def test_parameters_cell_must_hold_only_assignments():
    with pytest.raises(ValueError, match="only `name = value  # comment` lines"):
        params.parse_source("import os\nx = 1  # fine")


def test_exactly_one_parameters_cell_is_required():
    with pytest.raises(ValueError, match="exactly one cell tagged 'parameters', found 0"):
        params.parameters_cell({"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]})


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_float_must_be_finite(value):
    spec = params.parse_source("rate = 0.5  # share of rows held out, > 0 and < 1\n"
                               "scale = 1.0  # any factor, ≥ -1e9 and ≤ 1e9\n")
    for name in ("rate", "scale"):
        with pytest.raises(ValueError, match=rf"^{name} must be a number .*, a finite number, got {value!r}$"):
            params.check(spec[name], value)
    with pytest.raises(ValueError, match="a finite number"):
        params.check(spec["scale"], params.from_text(spec["scale"], "1e999"))


@pytest.mark.parametrize(("line", "complaint"), [
    ('clock = "wall"  # what it counts: wall | cpu (cpu: CPU seconds / cores)', "has a '|' but no choices"),
    ('clock = "wall"  # what the budgets count', "states no choices, so any text would pass"),
    ("epochs = 3  # passes over the data, at least 1", "states no allowed values, so any number would pass"),
    ("epochs = 3  # passes, ≥ one", "has a comparison the validator cannot read"),
])
def test_a_comment_the_validator_cannot_read_is_a_problem_not_a_free_pass(line, complaint):
    [param] = params.parse_source(line).values()
    problems = params.comment_problems(param)
    assert any(complaint in p for p in problems), problems


def test_readable_comments_are_no_problem(spec):
    assert [p for param in spec.values() for p in params.comment_problems(param)] == []
