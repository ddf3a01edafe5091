"""Grading a class: how long nbgrader's autograde takes per notebook, and that a correct student gets full marks.

    python benchmarks/grading.py [NN ...] [--profile default|smoke]

One student hands in every notebook (or the ones named) answered with the master's solutions, as a student
who pasted them would (the nbgrader markers removed); `dlcourse grade` grades them with the course's
nbgrader_config.py. Writes results/grading.md: per notebook, the score and autograde's wall time.
Run it alone on the machine: the times are what a teacher's laptop of this kind would see.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat

from dlcourse import course
from dlcourse.tools import grading, release

RESULTS = Path(__file__).resolve().parent / "results" / "grading.md"


def answered(master, student):
    """The student release with every solution cell answered by the master (markers removed), the "why?"
    answers included (they wait for a teacher's hand)."""
    from dlcourse.tools import lint

    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    for solution in [s for s, _ in lint.exercises(master)] + lint.manual_cells(master):
        nb.cells[solution].source = "\n".join(
            line for line in master.cells[solution].source.splitlines() if "### " not in line).strip()
    return nb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--profile", default="default", choices=("default", "smoke"))
    args = parser.parse_args()
    chosen = [course.find(n) for n in args.notebooks] if args.notebooks else course.notebooks()
    with tempfile.TemporaryDirectory(prefix="dlcourse-grading-") as tmp:
        tmp = Path(tmp)
        release.build_student_release(tmp / "release", [nb.number for nb in chosen])
        for nb in chosen:
            master = nbformat.read(nb.path, as_version=4)
            student = nbformat.read(tmp / "release" / nb.path.name, as_version=4)
            (tmp / "submissions" / "pasted").mkdir(parents=True, exist_ok=True)
            nbformat.write(answered(master, student), tmp / "submissions" / "pasted" / nb.path.name)
        start = time.perf_counter()
        grades = grading.grade(tmp / "submissions", tmp / "grading", profile=args.profile, feedback=False)
        wall = time.perf_counter() - start
    rows = ["| notebook | autograded score | points waiting for hand grading | autograde s |", "|---|---:|---:|---:|"]
    for g in grades:
        rows.append(f"| {g.notebook} | {g.score:g}/{g.max_score - g.by_hand:g} | {g.by_hand:g} | {g.seconds:.0f} |")
    total, most = sum(g.score for g in grades), sum(g.max_score - g.by_hand for g in grades)
    rows.append(f"| **all** | **{total:g}/{most:g}** | **{sum(g.by_hand for g in grades):g}** | "
                f"**{sum(g.seconds for g in grades):.0f}** |")
    text = (f"# Autograding one student who pasted the master's answers ({args.profile} profile)\n\n"
            f"`python benchmarks/grading.py{' --profile smoke' if args.profile == 'smoke' else ''}` on "
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}; `dlcourse grade` with notebooks/nbgrader_config.py "
            f"(wall time of the whole run {wall:.0f} s, set-up and export included).\n\n" + "\n".join(rows) + "\n")
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
