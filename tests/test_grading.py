"""Grading a class: nbgrader's cell limit, autograde's scores, the student bundle, `dlcourse check`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from conftest import COURSE, ROOT
from traitlets.config.loader import PyFileConfigLoader

from dlcourse import course
from dlcourse.tools import grading, lint, release

# One plausible mistake per notebook graded below: the rest of that student's answers are the master's.
WRONG = {
    "05": ("ex1_same_padding_check", """
def same_padding(n, kernel_size, stride=1, dilation=1):
    n_out = -(-n // stride)
    total = max((n_out - 1) * stride + dilation * (kernel_size - 1) + 1 - n, 0)
    return total - total // 2, total // 2   # the extra zero at the start: Keras puts it at the end
"""),
    "07": ("ex1_lstm_params_check", """
def lstm_param_count(units, input_dim):
    return 4 * units * (units + input_dim)   # the four biases forgotten
"""),
}


def measured_cell_seconds(nb) -> list[float]:
    """Each code cell's run time in the committed outputs (nbclient's timing metadata)."""
    from datetime import datetime

    seconds = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            seconds.append((end - start).total_seconds())
    return seconds


def test_nbgraders_cell_limit_leaves_room_over_the_slowest_measured_cell():
    config = PyFileConfigLoader(grading.CONFIG, path=str(course.notebooks_dir())).load_config()
    limit = config.Execute.timeout
    longest = {nb.id: max(measured_cell_seconds(nbformat.read(nb.path, as_version=4)), default=0) for nb in COURSE}
    assert all(longest.values()), f"notebooks without timing metadata: {[k for k, v in longest.items() if not v]}"
    slowest = max(longest, key=longest.get)
    assert limit >= 4 * longest[slowest], (
        f"nbgrader's cell limit ({limit} s) should be at least 4 times the slowest cell ({slowest}: "
        f"{longest[slowest]:.0f} s), or a correct student on a slower laptop loses points")
    assert sum(s > 30 for s in longest.values()) >= 1, "nbgrader's default of 30 s would then do"


def submission(master, student, answers: dict[str, str] | None = None, solved: bool = True):
    """A student's copy: the release with each solution cell answered by the master (or by `answers`, keyed by
    the grade id of the exercise's check), the nbgrader markers removed as a student would."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    check_of = dict(lint.exercises(master))
    for i, cell in enumerate(master.cells):
        if i not in check_of or not solved:
            continue
        grade_id = lint.nbgrader(master.cells[check_of[i]])["grade_id"]
        source = (answers or {}).get(grade_id) or "\n".join(
            line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line
            and "### END SOLUTION" not in line)
        nb.cells[i].source = source.strip()
    return nb


def points(master) -> float:
    """The points autograde gives: those of the check cells (a hand-graded answer waits for the teacher)."""
    return sum(lint.nbgrader(c).get("points", 0) for c in master.cells
               if lint.nbgrader(c).get("grade") and c.cell_type == "code")


@pytest.mark.slow
def test_autograde_gives_full_marks_to_a_correct_student_and_counts_the_hidden_tests(tmp_path):
    """Three students hand in 05 and 07 under the names an LMS gives them; `dlcourse grade` (nbgrader's
    autograde with the course's config) at the smoke profile: the master's answers score full marks, the
    untouched release 0, one wrong answer per notebook loses exactly its points."""
    student_dir = tmp_path / "release"
    release.build_student_release(student_dir, list(WRONG))
    submissions = tmp_path / "submissions"
    for number, (grade_id, wrong) in WRONG.items():
        nb = course.find(number)
        master = nbformat.read(nb.path, as_version=4)
        student = nbformat.read(student_dir / nb.path.name, as_version=4)
        for who, copy in {"full": submission(master, student), "empty": submission(master, student, solved=False),
                          "wrong": submission(master, student, {grade_id: wrong})}.items():
            (submissions / who).mkdir(parents=True, exist_ok=True)
            nbformat.write(copy, submissions / who / f"{who}_{number} (1).ipynb")
    out = tmp_path / "grading"
    grades = grading.grade(submissions, out, profile="smoke")
    by = {(g.student, g.notebook[:2]): g for g in grades}
    assert len(by) == 6, sorted(by)
    for number, (grade_id, _) in WRONG.items():
        master = nbformat.read(course.find(number).path, as_version=4)
        worth = next(lint.nbgrader(c)["points"] for c in master.cells if lint.nbgrader(c).get("grade_id") == grade_id)
        total = points(master)
        assert by["full", number].max_score - by["full", number].by_hand == total
        assert by["full", number].score == total, f"{number}: the master's answers score {by['full', number].score}"
        assert by["empty", number].score == 0
        assert by["wrong", number].score == total - worth, f"{number}: one wrong answer ({grade_id})"
    assert (out / "grades.csv").is_file() and len((out / "grades.csv").read_text().splitlines()) >= 4
    feedback = sorted((out / "feedback").rglob("*.html"))
    assert len(feedback) == 6
    logs = "\n".join(p.read_text() for p in (out / "logs").glob("*.log"))
    assert "Attribute 'checksum'" not in logs and "SAWarning" not in logs, "harmless nbgrader warnings are back"


@pytest.mark.slow
def test_the_student_bundle_holds_no_secret_and_checks_from_a_plain_install(tmp_path):
    folder = release.build_student_bundle(tmp_path / "bundle")
    assert (folder.parent / f"{release.BUNDLE}.zip").is_file()
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == sorted(nb.path.name for nb in COURSE)
    secret = set()
    for nb in COURSE:
        secret |= release.solution_lines(nbformat.read(nb.path, as_version=4))
    # a line of the package's source is course material every reader has, not an answer ("return out", and the
    # broadcast of 09's hint, which gan_toys.mode_coverage uses too): secret are the lines found nowhere else
    package = {line.strip() for path in (ROOT / "dlcourse").rglob("*.py") for line in path.read_text().splitlines()}
    assert len(secret - package) > 0.95 * len(secret), "most solution lines should be the answers' own"
    secret -= package
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".ipynb":
            lines = {line.strip() for cell in nbformat.read(path, as_version=4).cells
                     for text in [lint.source(cell)] + [t for o in cell.get("outputs", []) for _, t in lint.texts(o)]
                     for line in text.splitlines()}
            if any(m in lines for m in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")):
                leaks.append(f"{path.name}: nbgrader markers")
        else:
            lines = {line.strip() for line in path.read_text(errors="replace").splitlines()}
        leaks += [f"{path.relative_to(folder)}: {line}" for line in sorted(secret & lines)]
    assert not leaks, leaks
    assert not (folder / "tests").exists() and not list(folder.rglob("test_*.py"))

    # a fresh virtual environment; the course's dependencies are lent from this one (no download), the
    # package itself is installed from the bundle as a plain (non-editable) install
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    (site / "lent-course-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", str(folder)], check=True, capture_output=True)
    where = subprocess.run([venv / "bin" / "python", "-c", "import dlcourse; print(dlcourse.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site), f"dlcourse imported from {where}, not from the plain install"
    env = {k: v for k, v in os.environ.items() if k != "DLCOURSE_ROOT"}
    done = subprocess.run([venv / "bin" / "dlcourse", "check", "00_welcome_and_setup.ipynb"], cwd=folder / "notebooks",
                          capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.findall(r"^FAIL  (\w+): not answered yet", done.stdout, re.M) == ["ex1_counts_check", "ex2_dense_check"]


@pytest.mark.slow
def test_dlcourse_check_names_the_answer_cell_that_fails_and_accepts_a_renamed_file(tmp_path):
    nb = course.find("00")
    master = nbformat.read(nb.path, as_version=4)
    solutions = [s for s, _ in lint.exercises(master)]
    broken = nbformat.from_dict(json.loads(json.dumps(master)))
    broken.cells[solutions[0]].source = "counts = np.bincount(data.y_train, minlength=10"  # a missing parenthesis
    path = tmp_path / "jdoe_welcome (1).ipynb"
    nbformat.write(broken, path)
    results = {name: (ok, message) for name, ok, message in release.check_notebook(path)}
    ok, message = results["ex1_counts_check"]
    assert not ok and message.startswith(f"your answer in cell {solutions[0]} fails: SyntaxError"), message
    assert message.endswith("(line 1 of the cell: counts = np.bincount(data.y_train, minlength=10)"), message
    assert results["ex2_dense_check"] == (True, "passed the visible checks (a teacher's hidden tests may check more)")
    anonymous = tmp_path / "homework.ipynb"
    setup_free = nbformat.from_dict(json.loads(json.dumps(master)))
    for cell in setup_free.cells:
        cell.source = cell.source.replace("dlcourse.setup(", "dlcourse.setup (")
    nbformat.write(setup_free, anonymous)
    with pytest.raises(ValueError, match="--notebook"):
        release.check_notebook(anonymous)


def test_the_student_bundle_lists_only_files_the_course_has():
    missing = [source for source in release.BUNDLE_FILES if not (ROOT / source).is_file()]
    assert not missing
