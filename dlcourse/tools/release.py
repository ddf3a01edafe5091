"""Exercises: the notebooks in notebooks/ are nbgrader instructor masters; this builds the student release.

An exercise in a master is a markdown statement, a solution cell (nbgrader "solution", with the
answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) and right below it a check cell
(nbgrader "grade": asserts with helpful messages; a teacher's extra checks go between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``).

:func:`build_student_release` runs nbgrader's own ``generate_assignment`` in a throw-away course
folder (its gradebook database included, so the user sets nothing up, and it works offline), keeps
the lesson outputs and clears only the exercise cells' outputs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from dlcourse import course
from dlcourse.tools import kernel, lint

ASSIGNMENT = "dlcourse"


def is_exercise_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def clear_exercise_outputs(nb) -> int:
    """Clear outputs of the solution and check cells (lesson outputs stay); returns how many."""
    cleared = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and is_exercise_cell(cell):
            cell.outputs, cell.execution_count = [], None
            cleared += 1
    return cleared


def build_student_release(out_dir: Path | str | None = None, notebooks: Sequence[str] | None = None) -> list[Path]:
    """Write the student notebooks to `out_dir` (default build/student/); returns their paths."""
    out = Path(out_dir) if out_dir else course.root() / "build" / "student"
    chosen = [course.find(n) for n in notebooks] if notebooks else course.notebooks()
    with tempfile.TemporaryDirectory(prefix="dlcourse-nbgrader-") as tmp:
        source = Path(tmp) / "source" / ASSIGNMENT
        source.mkdir(parents=True)
        for nb in chosen:
            shutil.copy(nb.path, source / nb.path.name)
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force", "--no-db",
               f"--CourseDirectory.root={tmp}", "--ClearOutput.enabled=False", "--log-level=ERROR"]
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for nb in chosen:
            student = nbformat.read(Path(tmp) / "release" / ASSIGNMENT / nb.path.name, as_version=4)
            clear_exercise_outputs(student)
            nbformat.write(student, out / nb.path.name)
            written.append(out / nb.path.name)
    return written


def solution_lines(nb) -> set[str]:
    """The distinctive lines of a master's solutions and hidden tests: none may reach students.

    A line that students see anyway (in a lesson cell, or in the visible part of a check cell) is not secret.
    """
    secret: set[str] = set()
    public: set[str] = set()
    for cell in nb["cells"]:
        inside = False
        for line in lint.source(cell).splitlines():
            mark = line.strip()
            if mark in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                inside = True
            elif mark in ("### END SOLUTION", "### END HIDDEN TESTS"):
                inside = False
            elif inside and len(mark) > 3 and not mark.startswith("#"):
                secret.add(mark)
            else:
                public.add(mark)
    return secret - public


def leaked_lines(master, student) -> list[str]:
    """The master's secret lines (:func:`solution_lines`) found in the student notebook's cells.

    Compared line by line with the student's cell sources and text outputs as a reader sees them (not
    with the file's JSON, where quotes and backslashes are escaped).
    """
    seen = set()
    for cell in student["cells"]:
        texts = [lint.source(cell)] + [text for out in cell.get("outputs", []) for _, text in lint.texts(out)]
        seen |= {line.strip() for text in texts for line in text.splitlines()}
    return sorted(solution_lines(master) & seen)


def check_notebook(path: Path | str, profile: str = "smoke",
                   timeout: int = kernel.CELL_TIMEOUT_S) -> list[tuple[str, bool, str]]:
    """Run a (student) notebook at a profile and report each exercise: (grade_id, passed, message).

    The quick alternative to `nbgrader validate`, which runs a notebook at its default parameters:
    `dlcourse check 06_cnn_in_keras.ipynb` runs it at the smoke profile (seconds) and exits non-zero
    if a check fails. A lesson cell that fails is reported too, as ("lesson cell N", False, error).
    """
    from papermill.iorw import load_notebook_node

    path = Path(path)
    nb = kernel.with_parameters(load_notebook_node(str(path)), course.find(path.name).profile(profile))
    kernel.execute(nb, path.parent.resolve(), timeout=timeout, allow_errors=True)

    def error_of(cell):
        return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)

    solution_of = {j: i for i, j in lint.exercises(nb)}
    results = []
    for i, cell in enumerate(nb.cells):
        error = error_of(cell)
        if i in solution_of:
            raised = {(error_of(c) or {}).get("ename") for c in (nb.cells[solution_of[i]], cell)}
            message = ("not answered yet: the solution still raises NotImplementedError"
                       if "NotImplementedError" in raised
                       else f"{error['ename']}: {error['evalue']}".strip() if error else "passed")
            results.append((cell.metadata["nbgrader"]["grade_id"], error is None, message))
        elif error is not None and not is_exercise_cell(cell):
            results.append((f"lesson cell {i}", False, f"{error['ename']}: {error['evalue']}"))
    return results


# Roles of the cells in :func:`student_run_with_answers`.
LESSON, STUDENT, ANSWER = "lesson", "student", "answer"


def student_run_with_answers(master, student):
    """One notebook that is the student release run with the master's answers played in: (notebook, roles).

    Every student cell in order; after each exercise's check cell come the master's solution cells of that
    exercise and its full check (hidden tests included). Run once, it shows both what a student sees (lesson
    cells pass, each unanswered check fails) and what a teacher needs (each answer passes its check at this
    profile, the lessons after it run on). Roles: LESSON, STUDENT (a student exercise cell) or ANSWER.
    Lesson cells that read a name only a solution defines are caught by lint (`answer_dependency_problems`),
    since here they run after the answer.
    """
    if len(master.cells) != len(student.cells):
        raise ValueError(f"master has {len(master.cells)} cells, the student release {len(student.cells)}: "
                         "they must match cell for cell")
    nb = nbformat.from_dict(dict(student, cells=[]))
    roles: list[str] = []
    pending: list = []  # the master's solution cells since the last check
    for m, s in zip(master.cells, student.cells, strict=True):
        meta = m.get("metadata", {}).get("nbgrader", {})
        nb.cells.append(s)
        roles.append(STUDENT if is_exercise_cell(m) and m.cell_type == "code" else LESSON)
        if m.cell_type != "code":
            continue
        if meta.get("solution"):
            pending.append(m)
        elif meta.get("grade"):
            for answer in [*pending, m]:
                played = nbformat.from_dict(dict(answer, outputs=[], execution_count=None))
                played.metadata.setdefault("tags", [])  # papermill looks for its parameters tag in every cell
                nb.cells.append(played)
                roles.append(ANSWER)
            pending = []
    return nb, roles
