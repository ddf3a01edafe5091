"""The student release: built by nbgrader, no solution leaks; each notebook's one smoke run (release + answers)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import nbformat
import pytest
from conftest import COURSE
from papermill.iorw import load_notebook_node

from dlcourse import claims, course, report
from dlcourse.tools import kernel, lint, release

pytestmark = pytest.mark.slow
# Answers that call the course's own helper where an exercise asks for the student's code: each must pass the
# check a student sees and fail the full one (tests/exercise_shortcuts.toml says which helper each one uses).
SHORTCUTS = tomllib.loads((Path(__file__).parent / "exercise_shortcuts.toml").read_text())["shortcut"]


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
        if m.metadata.get("nbgrader", {}).get("solution") and m.cell_type == "code":
            assert "raise NotImplementedError()" in s.source and "# YOUR CODE HERE" in s.source
        elif m.metadata.get("nbgrader", {}).get("solution"):  # a hand-graded answer: the student writes it
            assert s.source.strip() == "YOUR ANSWER HERE", s.source
        if release.is_exercise_cell(m):  # the student's own cells open unfolded
            assert "source_hidden" not in s.metadata.get("jupyter", {})
        if release.is_exercise_cell(m) and m.cell_type == "code":
            assert s.outputs == [], "exercise outputs must be cleared (they would show the answer)"
        elif m.cell_type == "code":
            assert s.outputs == m.outputs, "lesson outputs must be kept"


def shortcuts_of(nb) -> dict[str, str]:
    """The shortcut answers of a notebook's exercises (tests/exercise_shortcuts.toml), by check grade_id."""
    return {s["grade_id"]: s["source"] for s in SHORTCUTS if s["notebook"] == nb.number}


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_smoke_run_of_the_student_release_with_the_answers_played_in(student_dir, nb):
    """The notebook's one smoke-profile run in the suite (nbval runs the defaults): the student release with the
    master's answers after each exercise (release.student_run_with_answers), and before them each shortcut of
    tests/exercise_shortcuts.toml. Lesson cells run without the answers, every unanswered check fails, each
    shortcut passes the student's check and fails the full one on an assert (the hidden tests catch it), every
    answer passes its full check at the smoke profile, the outputs are clean and the smoke headline metrics
    hold."""
    master = nbformat.read(nb.path, as_version=4)
    student = load_notebook_node(str(student_dir / nb.path.name))
    combined, roles = release.student_run_with_answers(master, student, shortcuts_of(nb))
    combined = kernel.with_parameters(combined, nb.smoke)
    if len(combined.cells) == len(roles) + 1:  # papermill's injected-parameters cell, right after the defaults
        injected = next(i for i, c in enumerate(combined.cells) if "injected-parameters" in c.metadata.get("tags", []))
        roles.insert(injected, release.LESSON)
    kernel.execute(combined, course.notebooks_dir(), allow_errors=True)
    errors = {i: error for i, c in enumerate(combined.cells)
              if (error := next((o for o in c.get("outputs", []) if o.get("output_type") == "error"), None))}
    failed = set(errors)
    lesson_failures = [i for i in failed if roles[i] == release.LESSON]
    assert not lesson_failures, f"{nb.id}: lesson cells {lesson_failures} fail (smoke profile)"
    answer_failures = [i for i in failed if roles[i] == release.ANSWER]
    assert not answer_failures, f"{nb.id}: the master's answers fail in cells {answer_failures} (smoke profile)"
    student_checks = [i for i, c in enumerate(combined.cells)
                      if roles[i] == release.STUDENT and lint.nbgrader(c).get("grade")]
    assert len(student_checks) == len(lint.exercises(master))
    assert all(i in failed for i in student_checks), f"{nb.id}: a check passed without an answer"
    shortcut_failures = {i: errors[i]["evalue"] for i in failed if roles[i] == release.SHORTCUT}
    assert not shortcut_failures, f"{nb.id}: a shortcut should pass what the student sees: {shortcut_failures}"
    caught = [i for i, role in enumerate(roles) if role == release.CAUGHT]
    assert len(caught) == len(shortcuts_of(nb))
    missed = [lint.nbgrader(combined.cells[i])["grade_id"] for i in caught
              if errors.get(i, {}).get("ename") != "AssertionError"]
    assert not missed, f"{nb.id}: the hidden tests of {missed} do not catch the shortcut answer"
    allowed = {i for i, role in enumerate(roles) if role in (release.STUDENT, release.CAUGHT)}
    problems = lint.output_problems(combined, f"{nb.id} (smoke run)", allow_errors_in=allowed)
    assert not problems, "\n".join(problems)
    metrics = report.collect(combined)
    assert metrics, f"{nb.id} publishes no metrics (dlcourse.publish)"
    smoke_bounds = {name: bound for name, bound in nb.headline.items() if "smoke" in bound}
    missing = sorted(set(smoke_bounds) - set(metrics))
    assert not missing, f"{nb.id}: headline metrics with a smoke bound not published: {missing}"
    assert claims.check_headline(metrics, smoke_bounds, "smoke") == []


def test_the_answers_are_played_in_after_each_check():
    master = nbformat.read(course.find("00").path, as_version=4)
    student = copy.deepcopy(master)
    combined, roles = release.student_run_with_answers(master, student)
    pairs = lint.exercises(master)
    assert len(combined.cells) == len(master.cells) + 2 * len(pairs)  # 00: one solution cell per exercise
    for solution, check in pairs:
        shift = 2 * sum(1 for _, c in pairs if c < check)
        assert roles[solution + shift] == roles[check + shift] == release.STUDENT
        assert roles[check + shift + 1: check + shift + 3] == [release.ANSWER, release.ANSWER]
        assert combined.cells[check + shift + 1].source == master.cells[solution].source
        assert combined.cells[check + shift + 2].source == master.cells[check].source
    with pytest.raises(ValueError, match="cell for cell"):
        release.student_run_with_answers(master, nbformat.v4.new_notebook(cells=student.cells[1:]))


def test_a_shortcut_is_played_in_with_the_students_check_then_the_full_one_before_the_answer():
    master = nbformat.read(course.find("00").path, as_version=4)
    (solution, check), _ = lint.exercises(master)
    grade_id = lint.nbgrader(master.cells[check])["grade_id"]
    combined, roles = release.student_run_with_answers(master, copy.deepcopy(master), {grade_id: "counts = 1"})
    after = check + 1
    assert roles[after:after + 5] == [release.SHORTCUT, release.SHORTCUT, release.CAUGHT, release.ANSWER,
                                      release.ANSWER]
    assert combined.cells[after].source == "counts = 1"
    assert combined.cells[after + 1].source == combined.cells[after + 2].source == master.cells[check].source
    assert all(c.outputs == [] for c in combined.cells[after:after + 5])
    with pytest.raises(ValueError, match="no_such_check"):
        release.student_run_with_answers(master, copy.deepcopy(master), {"no_such_check": "x = 1"})


def test_every_shortcut_names_a_check_of_its_notebook():
    for shortcut in SHORTCUTS:
        master = nbformat.read(course.find(shortcut["notebook"]).path, as_version=4)
        checks = {lint.nbgrader(master.cells[c])["grade_id"] for _, c in lint.exercises(master)}
        assert shortcut["grade_id"] in checks, shortcut
        assert shortcut["uses"] and shortcut["source"].strip()


def test_dlcourse_check_reports_each_exercise(student_dir):
    student = release.check_notebook(student_dir / "00_welcome_and_setup.ipynb")
    master = release.check_notebook(course.find("00").path)
    assert [(g, ok) for g, ok, _ in master] == [("ex1_counts_check", True), ("ex2_dense_check", True)]
    assert [(g, ok) for g, ok, _ in student] == [("ex1_counts_check", False), ("ex2_dense_check", False)]
    assert all(m.startswith("not answered yet") for _, _, m in student)
