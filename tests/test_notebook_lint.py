"""Notebook lint over the real notebooks, and proof that it catches what it must (a test can fail)."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import COURSE

from dlcourse import course
from dlcourse.tools import lint


def test_the_notebook_set_is_in_order_and_matches_course_toml():
    assert lint.lint_course() == []


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_notebook_keeps_the_house_rules(nb):
    problems = lint.lint_notebook(nb.path)
    assert not problems, "\n".join(problems)


# -- the lint catches deliberate breakage ------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    """A copy of notebook 00 (committed outputs included) to break in one way per test."""
    nb = json.loads(course.find("00").path.read_text())
    assert lint.lint_notebook(course.find("00").path) == []

    def write(mutate, name="00_welcome_and_setup.ipynb"):
        broken = copy.deepcopy(nb)
        mutate(broken)
        path = tmp_path / name
        path.write_text(json.dumps(broken))
        return lint.lint_notebook(path)
    return write


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_an_error_output_is_caught(good):
    def add_error(nb):
        code_cells(nb)[3]["outputs"].append({"output_type": "error", "ename": "ZeroDivisionError",
                                             "evalue": "division by zero", "traceback": []})
    assert any("error output 'ZeroDivisionError" in p for p in good(add_error))


def test_a_missing_parameters_tag_is_caught(good):
    def untag(nb):
        for c in nb["cells"]:
            c.get("metadata", {}).pop("tags", None)
    assert any("exactly one cell tagged 'parameters', found 0" in p for p in good(untag))


def test_a_stderr_line_is_caught(good):
    def noise(nb):
        code_cells(nb)[2]["outputs"].append({
            "output_type": "stream", "name": "stderr",
            "text": "I0000 00:00:1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"})
    assert any("output on stderr (log noise)" in p and "cpu_feature_guard" in p for p in good(noise))


def test_a_machine_path_is_caught(good):
    def path(nb):
        code_cells(nb)[2]["outputs"].append({"output_type": "stream", "name": "stdout",
                                             "text": "saved to /home/ada/course/model.keras\n"})
    assert any("a machine path (/home/...)" in p for p in good(path))


def test_out_of_order_execution_is_caught(good):
    def shuffle(nb):
        cells = code_cells(nb)
        cells[1]["execution_count"], cells[2]["execution_count"] = 7, 3
    assert any("not executed in order" in p for p in good(shuffle))


def test_a_title_without_objectives_or_run_time_is_caught(good):
    def retitle(nb):
        nb["cells"][0]["source"] = "# 00 · Welcome and set-up\n\nHello."
    problems = good(retitle)
    assert any("learning objectives" in p for p in problems)
    assert any("expected run time" in p for p in problems)


def test_a_wrong_kernel_and_file_name_are_caught(good):
    def kernel(nb):
        nb["metadata"]["kernelspec"]["name"] = "venv-ada"
    problems = good(kernel, name="0-Welcome.ipynb")
    assert any("kernelspec must be python3, got 'venv-ada'" in p for p in problems)
    assert any("file name must look like NN_snake_case.ipynb" in p for p in problems)


def test_a_solution_without_check_and_too_few_exercises_are_caught(good):
    def drop_checks(nb):
        nb["cells"] = [c for c in nb["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    problems = good(drop_checks, name="01_big_data_and_deep_learning.ipynb")
    assert any("solution cell with no check cell after it" in p for p in problems)
    assert any("0 exercises, notebooks from 01 on need at least 3" in p for p in problems)


def test_an_unfolded_solution_and_wrong_stated_points_are_caught(good):
    def unfold_and_misstate(nb):
        solution, check = lint.exercises(nb)[0]
        nb["cells"][solution]["metadata"]["jupyter"]["source_hidden"] = False
        nb["cells"][check]["metadata"]["nbgrader"]["points"] = 3
    problems = good(unfold_and_misstate)
    assert any("fold the solution cell (metadata jupyter.source_hidden: true)" in p for p in problems)
    assert any("the statement says 1 points, nbgrader gives 3" in p for p in problems)

    def no_points(nb):
        for c in nb["cells"]:
            if c["cell_type"] == "markdown":
                c["source"] = lint.source(c).replace("*(1 point)*", "")
    assert any("say the exercise's points after its bold title, e.g. '*(1 point)*'" in p for p in good(no_points))


def test_a_hand_graded_answer_counts_in_the_stated_points_and_must_be_well_formed(good):
    def add_manual_cell(text, points):
        def mutate(nb):
            _, check = lint.exercises(nb)[-1]
            nb["cells"].insert(check + 1, {
                "cell_type": "markdown", "source": text, "metadata": {
                    "jupyter": {"source_hidden": True},
                    "nbgrader": {"grade": True, "solution": True, "locked": False, "points": points,
                                 "grade_id": "ex2_why", "schema_version": 3, "task": False}}})
        return mutate
    well_formed = "### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert any("the statement says 1 points, nbgrader gives 2" in p for p in good(add_manual_cell(well_formed, 1)))
    problems = good(add_manual_cell("Because.", 0))
    assert any("holds the model answer between ### BEGIN SOLUTION and ### END SOLUTION" in p for p in problems)
    assert any("a hand-graded answer cell needs its points" in p for p in problems)


def test_a_lesson_cell_that_needs_an_answer_is_caught(good):
    def lean_on_the_answer(nb):
        from dlcourse.tools import lint
        solution, _ = lint.exercises(nb)[0]
        answer = nb["cells"][solution]
        answer["source"] = lint.source(answer).replace("### END SOLUTION", "answer_only = 1\n### END SOLUTION")
        nb["cells"].append({"cell_type": "code", "metadata": {}, "source": "print(answer_only)", "outputs": [],
                            "execution_count": len(code_cells(nb)) + 1})
    assert any("which only the solution in cell" in p for p in good(lean_on_the_answer))


def test_a_papermill_unreadable_parameter_line_is_caught(good):
    def ascii_bound(nb):
        cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        cell["source"] = "seed = 42  # any seed, >= 0\n"
    assert any("papermill cannot read" in p for p in good(ascii_bound))


def test_a_gap_in_the_numbers_is_caught(tmp_path):
    for name in ("00_a.ipynb", "02_c.ipynb"):
        (tmp_path / name).write_text(json.dumps(
            {"cells": [{"cell_type": "markdown", "metadata": {}, "source": f"# {name[:2]} · A"}]}))
    (tmp_path / "course.toml").write_text(
        '[[notebook]]\nid = "00_a"\ntitle = "A"\nsummary = ""\nneeds = ""\nbudget_s = 1\n')
    problems = lint.lint_course(tmp_path)
    assert any("without gaps, got [0, 2]" in p for p in problems)
    assert any("course.toml lists" in p for p in problems)
