"""The student release: built by nbgrader, no solution leaks, lessons run, only exercises fail."""

from __future__ import annotations

import copy

import nbformat
import pytest
from conftest import COURSE
from papermill.iorw import load_notebook_node

from dlcourse import course
from dlcourse.tools import kernel, lint, release

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")  # session: under xdist, a module's tests are spread over notebook groups
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    paths = release.build_student_release(out)
    assert [p.name for p in paths] == [nb.path.name for nb in COURSE]
    return out


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_no_solution_or_hidden_test_line_reaches_students(student_dir, nb):
    master = nbformat.read(nb.path, as_version=4)
    assert release.solution_lines(master) or not lint.exercises(master), \
        "the master's solutions should have distinctive lines"
    student = nbformat.read(student_dir / nb.path.name, as_version=4)
    leaked = release.leaked_lines(master, student)
    assert not leaked, f"{nb.id}: solution lines in the student release: {leaked}"
    student_text = "\n".join(lint.source(c) for c in student.cells)
    assert "BEGIN SOLUTION" not in student_text and "BEGIN HIDDEN TESTS" not in student_text


def test_the_leak_check_finds_a_leaked_line_with_quotes_and_backslashes(student_dir):
    """A secret line is compared with the cells as a reader sees them: escaping in the JSON cannot hide it."""
    master = nbformat.read(course.find("06").path, as_version=4)
    quoted = sorted(line for line in release.solution_lines(master) if '"' in line or "\\" in line)
    assert quoted, "06's solutions should hold a line with a quote to test against"
    student = nbformat.read(student_dir / master_name("06"), as_version=4)
    assert release.leaked_lines(master, student) == []
    in_source, in_output = copy.deepcopy(student), copy.deepcopy(student)
    lesson = next(c for c in in_source.cells if c.cell_type == "code" and not release.is_exercise_cell(c))
    lesson.source += "\n    " + quoted[0]
    assert release.leaked_lines(master, in_source) == [quoted[0]]
    cell = next(c for c in in_output.cells if c.cell_type == "code" and c.outputs)
    cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=quoted[-1] + "\n"))
    assert release.leaked_lines(master, in_output) == [quoted[-1]]


def master_name(number: str) -> str:
    return course.find(number).path.name


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_solutions_are_replaced_and_lesson_outputs_kept(student_dir, nb):
    master = nbformat.read(nb.path, as_version=4)
    student = nbformat.read(student_dir / nb.path.name, as_version=4)
    assert len(student.cells) == len(master.cells)
    for m, s in zip(master.cells, student.cells, strict=True):
        if m.metadata.get("nbgrader", {}).get("solution"):
            assert "raise NotImplementedError()" in s.source and "# YOUR CODE HERE" in s.source
        if release.is_exercise_cell(m) and m.cell_type == "code":
            assert s.outputs == [], "exercise outputs must be cleared (they would show the answer)"
        elif m.cell_type == "code":
            assert s.outputs == m.outputs, "lesson outputs must be kept"


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_student_notebook_runs_with_only_its_exercise_cells_failing(student_dir, nb):
    student = kernel.with_parameters(load_notebook_node(str(student_dir / nb.path.name)), nb.smoke)
    kernel.execute(student, course.notebooks_dir(), allow_errors=True)
    failed = {i for i, c in enumerate(student.cells)
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))}
    lesson_failures = [i for i in failed if not release.is_exercise_cell(student.cells[i])]
    assert not lesson_failures, f"{nb.id}: lesson cells {lesson_failures} fail without the answers"
    for _, check in lint.exercises(student):
        assert check in failed, f"{nb.id} cell {check}: a check passed without an answer"


def test_dlcourse_check_reports_each_exercise(student_dir):
    student = release.check_notebook(student_dir / "00_welcome_and_setup.ipynb")
    master = release.check_notebook(course.find("00").path)
    assert [(g, ok) for g, ok, _ in master] == [("ex1_counts_check", True), ("ex2_dense_check", True)]
    assert [(g, ok) for g, ok, _ in student] == [("ex1_counts_check", False), ("ex2_dense_check", False)]
    assert all(m.startswith("not answered yet") for _, _, m in student)
