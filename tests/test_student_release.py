"""The student release: built by nbgrader, no solution leaks, lessons run, only exercises fail."""

from __future__ import annotations

import nbformat
import pytest
from conftest import COURSE
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from dlcourse import course, exercises, lint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")  # session: under xdist, a module's tests are spread over notebook groups
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    paths = exercises.build_student_release(out)
    assert [p.name for p in paths] == [nb.path.name for nb in COURSE]
    return out


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_no_solution_or_hidden_test_line_reaches_students(release, nb):
    master = nbformat.read(nb.path, as_version=4)
    secret = exercises.solution_lines(master)
    assert secret or not lint.exercises(master), "the master's solutions should have distinctive lines"
    student_text = (release / nb.path.name).read_text()
    leaked = sorted(line for line in secret if line in student_text)
    assert not leaked, f"{nb.id}: solution lines in the student release: {leaked}"
    assert "BEGIN SOLUTION" not in student_text and "BEGIN HIDDEN TESTS" not in student_text


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_solutions_are_replaced_and_lesson_outputs_kept(release, nb):
    master = nbformat.read(nb.path, as_version=4)
    student = nbformat.read(release / nb.path.name, as_version=4)
    assert len(student.cells) == len(master.cells)
    for m, s in zip(master.cells, student.cells, strict=True):
        if m.metadata.get("nbgrader", {}).get("solution"):
            assert "raise NotImplementedError()" in s.source and "# YOUR CODE HERE" in s.source
        if exercises.is_exercise_cell(m) and m.cell_type == "code":
            assert s.outputs == [], "exercise outputs must be cleared (they would show the answer)"
        elif m.cell_type == "code":
            assert s.outputs == m.outputs, "lesson outputs must be kept"


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_student_notebook_runs_with_only_its_exercise_cells_failing(release, nb):
    student = parameterize_notebook(load_notebook_node(str(release / nb.path.name)), nb.smoke,
                                    kernel_name="python3")
    NotebookClient(student, timeout=600, kernel_name="python3", allow_errors=True,
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(course.notebooks_dir())}}).execute()
    failed = {i for i, c in enumerate(student.cells)
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))}
    lesson_failures = [i for i in failed if not exercises.is_exercise_cell(student.cells[i])]
    assert not lesson_failures, f"{nb.id}: lesson cells {lesson_failures} fail without the answers"
    for _, check in lint.exercises(student):
        assert check in failed, f"{nb.id} cell {check}: a check passed without an answer"


def test_dlcourse_check_reports_each_exercise(release):
    student = exercises.check_notebook(release / "00_welcome_and_setup.ipynb")
    master = exercises.check_notebook(course.find("00").path)
    assert [(g, ok) for g, ok, _ in master] == [("ex1_counts_check", True), ("ex2_dense_check", True)]
    assert [(g, ok) for g, ok, _ in student] == [("ex1_counts_check", False), ("ex2_dense_check", False)]
    assert all(m.startswith("not answered yet") for _, _, m in student)
