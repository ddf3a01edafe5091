"""Notebook lint: the house rules every course notebook keeps, each failure one sentence naming the
notebook and the cell. Used by tests/test_notebook_lint.py and by `dlcourse refresh`/`run`.

Rules: file name NN_snake_case.ipynb with numbers contiguous from 00 and listed in course.toml;
kernelspec python3; exactly one cell tagged `parameters` whose lines all parse; a first markdown cell
with an H1 title, learning objectives and the expected run time; code cells executed in order with
no errors, no stderr log noise and no machine paths; a file of at most 2 MB; exercises in the nbgrader
format (a solution cell, then a check cell), at least 3 from notebook 01 on, under an Exercises
heading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from dlcourse import course, params

NAME = re.compile(r"^(\d\d)_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")
NOISE = re.compile(
    r"(^[IWEF]\d{4} |oneDNN custom operations|absl::InitializeLog|cpu_feature_guard|cuda_|"
    r"\bWARNING\b|Warning:|DeprecationWarning|FutureWarning|UserWarning|RuntimeWarning|Traceback)",
    re.M,
)
MACHINE_PATH = re.compile(r"(/home/|/root/|/tmp/|/work/|/Users/|/private/var/|[A-Z]:\\\\Users|"
                          r"site-packages/|\.venv/)")
MAX_BYTES = 2 * 1024 * 1024
MIN_EXERCISES = 3


def source(cell: Mapping) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _texts(out: Mapping) -> Iterable[tuple[str, str]]:
    if "text" in out:
        yield out.get("name", "stdout"), source({"source": out["text"]})
    for mime, val in out.get("data", {}).items():
        if mime.startswith("text/"):
            yield mime, source({"source": val})
    if out.get("output_type") == "error":
        yield "error", f"{out.get('ename', '')}: {out.get('evalue', '')}"


def nbgrader(cell: Mapping) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(nb: Mapping) -> list[tuple[int, int]]:
    """(solution cell index, check cell index) for each exercise of a notebook."""
    cells = nb["cells"]
    pairs = []
    for i, cell in enumerate(cells):
        if nbgrader(cell).get("solution") and cell["cell_type"] == "code":
            j = next((k for k in range(i + 1, len(cells)) if nbgrader(cells[k]).get("grade")), None)
            if j is not None:
                pairs.append((i, j))
    return pairs


def output_problems(nb: Mapping, where: str, allow_errors_in: set[int] = frozenset()) -> list[str]:
    """Errors, stderr noise and machine paths in a notebook's outputs (also used on executed runs)."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for kind, text in _texts_of(cell):
            if kind == "error" and i not in allow_errors_in:
                problems.append(f"{where} cell {i}: error output {text.splitlines()[0][:120]!r}")
            elif kind == "stderr" and text.strip():
                first = next((ln for ln in text.splitlines() if NOISE.search(ln)), text.strip().splitlines()[0])
                problems.append(f"{where} cell {i}: output on stderr (log noise): {first[:120]!r}")
            if kind != "error" and MACHINE_PATH.search(text):
                hit = MACHINE_PATH.search(text).group(0)
                problems.append(f"{where} cell {i}: a machine path ({hit}...) in the output")
    return problems


def _texts_of(cell: Mapping) -> Iterable[tuple[str, str]]:
    for out in cell.get("outputs", []):
        yield from _texts(out)


def lint_notebook(path: Path) -> list[str]:
    """Problems of one notebook file, each a sentence naming the notebook and the cell."""
    where = path.name
    problems = []
    if not NAME.match(path.name):
        problems.append(f"{where}: file name must look like NN_snake_case.ipynb")
    if path.stat().st_size > MAX_BYTES:
        problems.append(f"{where}: {path.stat().st_size / 1e6:.1f} MB, more than 2 MB (shrink plots/outputs)")
    nb = json.loads(path.read_text())
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{where}: kernelspec must be python3, got {kernel!r}")
    cells = nb.get("cells", [])
    if not cells or cells[0]["cell_type"] != "markdown":
        problems.append(f"{where} cell 0: the first cell must be markdown with the title")
    else:
        title = source(cells[0])
        if not re.match(r"^# \d\d · \S", title):
            problems.append(f"{where} cell 0: the title cell must start with an H1 like '# 06 · Title'")
        if "learning objectives" not in title.lower():
            problems.append(f"{where} cell 0: the title cell must list the learning objectives")
        if not re.search(r"runs in[^\n]*\d+\s*s", title, re.I):
            problems.append(f"{where} cell 0: the title cell must give the expected run time ('Runs in about N s')")
    try:
        cell = params.parameters_cell(nb)
        params.parse_source(source(cell))
        for line in source(cell).splitlines():
            if line.count("=") > 1:
                problems.append(f"{where}: parameters cell line {line.strip()!r} has a second '=', which "
                                "papermill cannot read; write ≥ and ≤ in comments")
    except (ValueError, SyntaxError) as exc:
        problems.append(f"{where}: parameters cell: {exc}")
    counts = [c.get("execution_count") for c in cells if c["cell_type"] == "code" and source(c).strip()]
    not_run = [i for i, c in enumerate(cells)
               if c["cell_type"] == "code" and source(c).strip() and c.get("execution_count") is None]
    if not_run:
        problems.append(f"{where} cell {not_run[0]}: not executed ({len(not_run)} code cells without outputs;"
                        " refresh the notebook)")
    elif counts != list(range(1, len(counts) + 1)):
        problems.append(f"{where}: code cells were not executed in order from 1 (stale or partial run; refresh)")
    problems += output_problems(nb, where)
    for i, c in enumerate(cells):
        hit = MACHINE_PATH.search(source(c))
        if hit:
            problems.append(f"{where} cell {i}: a machine path ({hit.group(0)}...) in the source")
    problems += _exercise_problems(nb, where, int(path.name[:2]) if NAME.match(path.name) else 0)
    return problems


def _exercise_problems(nb: Mapping, where: str, number: int) -> list[str]:
    cells = nb["cells"]
    problems = []
    found = exercises(nb)
    solutions = [i for i, c in enumerate(cells) if nbgrader(c).get("solution")]
    paired = {s for s, _ in found}
    for i in solutions:
        if i not in paired:
            problems.append(f"{where} cell {i}: an exercise solution cell with no check cell after it")
        elif "### BEGIN SOLUTION" not in source(cells[i]):
            problems.append(f"{where} cell {i}: mark the solution with ### BEGIN SOLUTION / ### END SOLUTION")
    ids = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c).get("grade_id")]
    if len(ids) != len(set(ids)):
        problems.append(f"{where}: nbgrader grade_id values must be unique, got {sorted(ids)}")
    if number >= 1 and len(found) < MIN_EXERCISES:
        problems.append(f"{where}: {len(found)} exercises, notebooks from 01 on need at least {MIN_EXERCISES}")
    if found:
        first = found[0][0]
        heading = any(c["cell_type"] == "markdown" and re.search(r"^#+ .*Exercises", source(c), re.M)
                      for c in cells[:first])
        if not heading:
            problems.append(f"{where} cell {first}: exercises must come under an 'Exercises' heading")
    return problems


def lint_course(folder: Path | None = None) -> list[str]:
    """Problems of the notebook set: names, contiguous numbers, agreement with course.toml."""
    folder = folder or course.notebooks_dir()
    files = sorted(p.name for p in folder.glob("*.ipynb"))
    problems = [f"{f}: file name must look like NN_snake_case.ipynb" for f in files if not NAME.match(f)]
    numbers = [int(f[:2]) for f in files if NAME.match(f)]
    if numbers != list(range(len(numbers))):
        problems.append(f"notebook numbers must run 00, 01, ... without gaps, got {numbers}")
    listed = [f"{nb.id}.ipynb" for nb in course.notebooks(folder / "course.toml")]
    if listed != [f for f in files if NAME.match(f)]:
        problems.append(f"notebooks/course.toml lists {listed} but the folder holds {files}")
    for nb in course.notebooks(folder / "course.toml"):
        path = folder / f"{nb.id}.ipynb"
        if path.exists():
            title = source(json.loads(path.read_text())["cells"][0]).splitlines()[0]
            if title.strip() != f"# {nb.number} · {nb.title}":
                problems.append(f"{path.name} cell 0: title {title!r} differs from course.toml's "
                                f"'# {nb.number} · {nb.title}'")
            try:
                spec = params.read(path)
            except (ValueError, SyntaxError):
                continue  # lint_notebook names this problem
            for profile in ("smoke", "full"):
                try:
                    params.validate(spec, nb.profile(profile))
                except ValueError as exc:
                    problems.append(f"notebooks/course.toml [{nb.id}.{profile}]: {exc}")
    return problems
