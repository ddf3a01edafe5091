"""Grading a class with nbgrader: one command from a folder of submissions to a table of scores.

    dlcourse grade SUBMISSIONS [--notebooks 00 05] [--profile default|smoke] [--out build/grading]

SUBMISSIONS holds one folder per student (the folder's name is the student's id) with that student's
notebooks under any file names: an LMS export's ``jdoe_00.ipynb`` or ``00_welcome_and_setup (1).ipynb`` is
recognised by its ``dlcourse.setup("00_...")`` call. :func:`grade` builds an nbgrader course folder under
`out` with one assignment per notebook (named by its number, "00" to "14"), runs nbgrader's own
``generate_assignment``, ``autograde`` (the hidden tests count here) and ``generate_feedback`` (HTML per
student and notebook, under ``feedback/``; it shows the hidden tests), and writes ``grades.csv`` (nbgrader's
``export``). Every cell runs under the time limit of notebooks/nbgrader_config.py, which this copies in.

At the default profile a notebook is graded in about the time it takes to run (README, "For teachers");
``profile="smoke"`` grades each submission at the smoke parameters (the same checks on smaller lessons:
seconds per notebook), for a first look at a class or a test.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse import course
from dlcourse.tools import kernel, release

CONFIG = "nbgrader_config.py"


def config_file() -> Path:
    """The course's nbgrader settings (cell time limit, quieter logs): notebooks/nbgrader_config.py."""
    return course.notebooks_dir() / CONFIG


@dataclass(frozen=True)
class Grade:
    student: str
    notebook: str  # its id, e.g. "00_welcome_and_setup"
    score: float  # autograded points (a hand-graded answer adds its points once a teacher grades it)
    max_score: float  # every point of the notebook, hand-graded ones included
    by_hand: float  # points of answers that wait for a teacher (nbgrader formgrader); 0 once graded
    seconds: float  # autograde's wall time for this notebook, all students (shared by the rows of a notebook)


def _nbgrader(args: Sequence[str], course_dir: Path) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course folder; its output goes to logs/<command>-<assignment>.log."""
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course_dir}"]
    # nbgrader runs `alembic` (its database migrations) by name: the environment's bin/ goes first on PATH, so
    # that `.venv/bin/dlcourse grade` works without an activated environment
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run(cmd, cwd=course_dir, capture_output=True, text=True, env=dict(os.environ, PATH=path))
    log = course_dir / "logs" / ("-".join(a for a in args[:2] if not a.startswith("-")) + ".log")
    log.parent.mkdir(exist_ok=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def find_submissions(submissions: Path) -> dict[tuple[str, str], Path]:
    """(student, notebook id) -> file, for every notebook in SUBMISSIONS/<student>/; refuses duplicates."""
    if not submissions.is_dir():
        raise ValueError(f"submissions folder {submissions} does not exist; it should hold one folder per student")
    found: dict[tuple[str, str], Path] = {}
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        for path in sorted(student_dir.glob("*.ipynb")):
            entry = release.notebook_entry(nbformat.read(path, as_version=4), path)
            key = (student_dir.name, entry.id)
            if key in found:
                raise ValueError(f"student {student_dir.name} handed in {entry.id} twice: {found[key].name} and "
                                 f"{path.name}; keep one")
            found[key] = path
    if not found:
        raise ValueError(f"no notebooks in {submissions}/<student>/: it should hold one folder per student")
    return found


def grade(submissions: Path | str, out: Path | str | None = None, notebooks: Sequence[str] | None = None,
          profile: str = "default", feedback: bool = True) -> list[Grade]:
    """Autograde every submission in SUBMISSIONS/<student>/*.ipynb with nbgrader; returns the scores."""
    if profile not in ("default", "smoke"):
        raise ValueError(f"profile must be 'default' or 'smoke', got {profile!r}")
    submissions = Path(submissions)
    out = Path(out) if out else course.root() / "build" / "grading"
    found = find_submissions(submissions)
    chosen = [course.find(n) for n in notebooks] if notebooks else \
        [nb for nb in course.notebooks() if any(key[1] == nb.id for key in found)]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(config_file(), out / CONFIG)
    for nb in chosen:
        source = out / "source" / nb.number
        source.mkdir(parents=True)
        shutil.copy(nb.path, source / nb.path.name)
        _nbgrader(["generate_assignment", nb.number, "--force"], out)
    for (student, nb_id), path in found.items():
        nb = course.find(nb_id)
        if nb not in chosen:
            continue
        target = out / "submitted" / student / nb.number / nb.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if profile == "smoke":  # papermill's reader: it gives every cell the tags its parameterizer expects
            from papermill.iorw import load_notebook_node

            submitted = kernel.with_parameters(load_notebook_node(str(path)), nb.smoke)
        else:
            submitted = nbformat.read(path, as_version=4)
        nbformat.write(submitted, target)
    seconds = {}
    for nb in chosen:
        start = time.perf_counter()
        _nbgrader(["autograde", nb.number, "--force"], out)
        seconds[nb.id] = time.perf_counter() - start
        if feedback:
            _nbgrader(["generate_feedback", nb.number, "--force"], out)
    _nbgrader(["export", f"--to={out / 'grades.csv'}"], out)
    return scores(out, chosen, seconds)


def scores(course_dir: Path, chosen: Sequence[course.Notebook], seconds: dict[str, float]) -> list[Grade]:
    """The gradebook's score of every student and notebook."""
    from nbgrader.api import Gradebook, MissingEntry

    grades = []
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        for nb in chosen:
            for student in gradebook.students:
                try:
                    found = gradebook.find_submission_notebook(nb.path.stem, nb.number, student.id)
                except MissingEntry:
                    continue
                waiting = sum(g.max_score for g in found.grades if g.needs_manual_grade)
                grades.append(Grade(student.id, nb.id, found.score, found.max_score, waiting,
                                    seconds.get(nb.id, 0.0)))
    return grades


def write_table(grades: Sequence[Grade], path: Path) -> str:
    """grades as a Markdown table (student, then one column per notebook, then the total; "(1 by hand)" counts
    points that wait for a teacher's hand); also as CSV."""
    students = sorted({g.student for g in grades})
    notebooks = sorted({g.notebook for g in grades})
    cell = {(g.student, g.notebook): g for g in grades}
    lines = ["| student | " + " | ".join(n[:2] for n in notebooks) + " | total |",
             "|---|" + "---:|" * (len(notebooks) + 1)]
    with path.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "score", "max_score", "waiting_for_hand_grading"])
        for s in students:
            row, total, most, waiting = [], 0.0, 0.0, 0.0
            for n in notebooks:
                g = cell.get((s, n))
                hand = f" ({g.by_hand:g} by hand)" if g and g.by_hand else ""
                row.append(f"{g.score:g}/{g.max_score:g}{hand}" if g else "—")
                if g:
                    total, most, waiting = total + g.score, most + g.max_score, waiting + g.by_hand
                    writer.writerow([s, n, g.score, g.max_score, g.by_hand])
            lines.append(f"| {s} | " + " | ".join(row) + f" | {total:g}/{most:g}"
                         + (f" ({waiting:g} by hand)" if waiting else "") + " |")
    table = "\n".join(lines)
    path.write_text(table + "\n")
    return table
