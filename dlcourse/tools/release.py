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

import contextlib
import os
import re
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


def show_solution_cells(nb) -> None:
    """Unfold the answer cells: a master folds its solutions (JupyterLab's ``source_hidden``) so that a reader who
    learns alone tries first; a student's cells hold their own work and open unfolded."""
    for cell in nb.cells:
        if is_exercise_cell(cell):
            cell.metadata.get("jupyter", {}).pop("source_hidden", None)
            if "jupyter" in cell.metadata and not cell.metadata["jupyter"]:
                del cell.metadata["jupyter"]


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
            show_solution_cells(student)
            nbformat.write(student, out / nb.path.name)
            written.append(out / nb.path.name)
    return written


BUNDLE = "dlcourse-student"
# What a student gets besides the notebooks: the package (its source, installed by the bundle's `make lab`),
# the course's catalog and nbgrader settings, the lock, data/'s committed files, a README and Makefile of
# their own (bundle/ in the course folder). Nothing else of the course folder: no master, no tests.
BUNDLE_FILES = {"pyproject.toml": "pyproject.toml", "requirements.lock": "requirements.lock",
                "bundle/README.md": "README.md", "bundle/Makefile": "Makefile", "jupyter/overrides.json":
                "jupyter/overrides.json", "data/README.md": "data/README.md",
                "data/sunspots_yearly.csv": "data/sunspots_yearly.csv",
                "notebooks/course.toml": "notebooks/course.toml",
                "notebooks/nbgrader_config.py": "notebooks/nbgrader_config.py"}


def build_student_bundle(out_dir: Path | str | None = None, archive: bool = True) -> Path:
    """Write the student bundle to `out_dir`/dlcourse-student/ (default build/bundle/), and a .zip of it.

    The student release of every notebook plus what it needs to run (:data:`BUNDLE_FILES`, the package);
    installed by its own `make lab`, where `dlcourse check` works from the plain (non-editable) install.
    Returns the bundle's folder.
    """
    root = course.root()
    out = Path(out_dir) if out_dir else root / "build" / "bundle"
    folder = out / BUNDLE
    shutil.rmtree(folder, ignore_errors=True)
    build_student_release(folder / "notebooks")
    for source, target in BUNDLE_FILES.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / source, folder / target)
    shutil.copytree(root / "dlcourse", folder / "dlcourse",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    if archive:
        shutil.make_archive(str(out / BUNDLE), "zip", out, BUNDLE)
    return folder


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


SETUP_CALL = re.compile(r"""dlcourse\.setup\(\s*["']([0-9]{2}_\w+)["']""")


def notebook_entry(nb, path: Path, name: str | None = None) -> course.Notebook:
    """The course.toml entry of a (student) notebook: `name` if given, else its file name, else the id in its
    ``dlcourse.setup("NN_...")`` call, so that a renamed file (``jdoe_00.ipynb``, ``00_x (1).ipynb``) is found."""
    if name is not None:
        return course.find(name)
    with contextlib.suppress(ValueError):
        return course.find(path.name)
    for cell in nb.cells:
        if cell.cell_type == "code" and (found := SETUP_CALL.search(lint.source(cell))):
            return course.find(found.group(1))
    raise ValueError(f"{path.name}: neither its file name nor a dlcourse.setup(...) call in it names a notebook of "
                     "the course; name it with --notebook NN")


def _error_text(error) -> str:
    """One line for an error output: its name and message; a syntax error also names the line and shows it."""
    text = f"{error['ename']}: {error['evalue']}".strip()
    if error["ename"] in ("SyntaxError", "IndentationError", "TabError"):  # IPython puts the line in the traceback
        traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.get("traceback", [])))
        text = re.sub(r" \(\w+\.py, line \d+\)$", "", text)  # the kernel's temporary file name means nothing
        found = re.search(r"line (\d+)\s*\n\s*(\S.*)", traceback)
        if found:
            text += f" (line {found.group(1)} of the cell: {found.group(2).strip()})"
    return text


def check_notebook(path: Path | str, profile: str = "smoke", timeout: int = kernel.CELL_TIMEOUT_S,
                   notebook: str | None = None) -> list[tuple[str, bool, str]]:
    """Run a (student) notebook at a profile and report each exercise: (grade_id, passed, message).

    The quick alternative to `nbgrader validate`, which runs a notebook at its default parameters:
    `dlcourse check 06_cnn_in_keras.ipynb` runs it at the smoke profile (seconds) and exits non-zero
    if a check fails. A failing exercise names the cell to fix: the answer cell's own error (a syntax
    error, an exception) before the check's. A lesson cell that fails is reported too, as
    ("lesson cell N", False, error). The file may be renamed: `notebook` (a number or id) names it,
    else the file name or its ``dlcourse.setup(...)`` call does.
    """
    from papermill.iorw import load_notebook_node

    path = Path(path)
    if not path.is_file():  # `dlcourse check 06`: the course's own notebook 06
        try:
            path = course.find(str(path)).path
        except ValueError:
            raise FileNotFoundError(f"no notebook {path}: give the file's path, or a notebook's number") from None
    nb = load_notebook_node(str(path))
    entry = notebook_entry(nb, path, notebook)
    cells_before = len(nb.cells)
    nb = kernel.with_parameters(nb, entry.profile(profile))
    # papermill's injected-parameters cell: the cells after it are named by their number in the student's file
    injected = next((i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])), None)

    def number(i: int) -> int:
        return i - 1 if injected is not None and len(nb.cells) > cells_before and i > injected else i

    # the kernel runs beside the file, which may lie outside the course folder: it is told where that is
    kernel.execute(nb, path.parent.resolve(), timeout=timeout, allow_errors=True,
                   env=dict(os.environ, DLCOURSE_ROOT=str(course.root())))

    def error_of(cell):
        return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)

    solutions_of: dict[int, list[int]] = {}
    for solution, check in lint.exercises(nb):
        solutions_of.setdefault(check, []).append(solution)
    results = []
    for i, cell in enumerate(nb.cells):
        error = error_of(cell)
        if i in solutions_of:
            answers = [(j, error_of(nb.cells[j])) for j in solutions_of[i]]
            answer_errors = [(j, e) for j, e in answers if e is not None]
            # an unanswered cell raises NotImplementedError itself, or defines a function that raises it when
            # the check calls it
            if any(e["ename"] == "NotImplementedError" for _, e in answer_errors) or \
                    (not answer_errors and error is not None and error["ename"] == "NotImplementedError"):
                message = "not answered yet: the solution still raises NotImplementedError"
            elif answer_errors:
                j, e = answer_errors[0]
                message = f"your answer in cell {number(j)} fails: {_error_text(e)}"
            elif error is not None:
                message = _error_text(error)
            else:
                message = "passed the visible checks (a teacher's hidden tests may check more)"
            results.append((cell.metadata["nbgrader"]["grade_id"], error is None and not answer_errors, message))
        elif error is not None and not is_exercise_cell(cell):
            results.append((f"lesson cell {number(i)}", False, _error_text(error)))
    return results


# Roles of the cells in :func:`student_run_with_answers`. A shortcut (an answer that calls the course's own
# helper where the statement asks for the student's code) is played in twice: with the student's check, which
# it passes (SHORTCUT), then with the full check, whose hidden tests must catch it (CAUGHT).
LESSON, STUDENT, ANSWER, SHORTCUT, CAUGHT = "lesson", "student", "answer", "shortcut", "caught"


def student_run_with_answers(master, student, shortcuts: dict[str, str] | None = None):
    """One notebook that is the student release run with the master's answers played in: (notebook, roles).

    Every student cell in order; after each exercise's check cell come the master's solution cells of that
    exercise and its full check (hidden tests included). Run once, it shows both what a student sees (lesson
    cells pass, each unanswered check fails) and what a teacher needs (each answer passes its check at this
    profile, the lessons after it run on). `shortcuts` maps a check's grade_id to a shortcut answer's source,
    played in before the master's answer: with the student's check (SHORTCUT, which it should pass) and the
    full one (CAUGHT, which should fail). Roles: LESSON, STUDENT (a student exercise cell), ANSWER, SHORTCUT,
    CAUGHT. Lesson cells that read a name only a solution defines are caught by lint
    (`answer_dependency_problems`), since here they run after the answer.
    """
    if len(master.cells) != len(student.cells):
        raise ValueError(f"master has {len(master.cells)} cells, the student release {len(student.cells)}: "
                         "they must match cell for cell")
    shortcuts = dict(shortcuts or {})
    nb = nbformat.from_dict(dict(student, cells=[]))
    roles: list[str] = []

    def play(cell, role, source=None):
        played = nbformat.from_dict(dict(cell, outputs=[], execution_count=None))
        if source is not None:
            played.source = source
        played.metadata.setdefault("tags", [])  # papermill looks for its parameters tag in every cell
        nb.cells.append(played)
        roles.append(role)

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
            if (shortcut := shortcuts.pop(meta.get("grade_id"), None)) is not None:
                play(pending[-1], SHORTCUT, shortcut)
                play(s, SHORTCUT)
                play(m, CAUGHT)
            for answer in [*pending, m]:
                play(answer, ANSWER)
            pending = []
    if shortcuts:
        raise ValueError(f"shortcuts for checks the notebook does not have: {sorted(shortcuts)}")
    return nb, roles
