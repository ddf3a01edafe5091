"""Notebook lint: the house rules every course notebook keeps, each failure one sentence naming the
notebook and the cell. Used by tests/test_notebook_lint.py and by `dlcourse refresh`/`run`.

Rules: file name NN_snake_case.ipynb with numbers contiguous from 00 and listed in course.toml;
kernelspec python3; exactly one cell tagged `parameters` whose lines all parse; a first markdown cell
with an H1 title, learning objectives and the expected run time; code cells executed in order with
no errors, no stderr log noise and no machine paths; a file of at most 2 MB; exercises in the nbgrader
format (a solution cell, then a check cell), at least 3 from notebook 01 on, under an Exercises
heading; every number in the prose backed by an output, a parameter or the code (or listed as coming
from elsewhere); every `dlcourse run` command in the prose accepted by the runner; the title's run time
equal to what the last `dlcourse refresh` measured, within the notebook's budget.
"""

from __future__ import annotations

import ast
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


def texts(out: Mapping) -> Iterable[tuple[str, str]]:
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


# A printed boolean ("same as Keras: True", "met: True", "alive: [False, False]") checks nothing: a False
# would be committed as the reference. Keyword arguments in printed code (strict=True) and "True | False"
# choices in a parameter table are not verdicts.
SELF_CHECK = re.compile(r"^(?!.*True \| False).*(?<![=\w'\"])(?:True|False)\b(?!\s*\|)(?!\s*[,)]\s*\w+=).*$", re.M)


def self_check_problems(nb: Mapping, where: str) -> list[str]:
    """Printed True/False self-checks ("same as Keras: True"): they fail nothing, so they must be claims."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            shown = source({"source": out.get("data", {}).get("text/plain", "")}).strip()
            if out.get("output_type") == "execute_result" and shown in ("True", "False"):
                problems.append(f"{where} cell {i}: the cell's value is a bare {shown}; make the check a "
                                "dlcourse.claim(...) (which returns None) or end the line with ';'")
        for kind, text in _texts_of(cell):
            hit = SELF_CHECK.search(text) if kind == "stdout" else None
            if hit:
                problems.append(f"{where} cell {i}: a printed self-check {hit.group(0).strip()[:80]!r}; make it "
                                "dlcourse.claim(...) or dlcourse.same(...) so that a failure fails the run")
    return problems


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
        yield from texts(out)


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
        for param in params.parse_source(source(cell)).values():
            problems += [f"{where}: parameter {problem}" for problem in params.comment_problems(param)]
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
    problems += answer_dependency_problems(nb, where)
    problems += prose_number_problems(nb, where)
    problems += self_check_problems(nb, where)
    for i, c in enumerate(cells):
        if c["cell_type"] == "markdown":
            problems += command_problems(source(c), f"{where} cell {i}")
    budget = next((e.budget_s for e in course.notebooks() if f"{e.id}.ipynb" == path.name), None)
    problems += runs_in_problems(nb, where, budget)
    return problems


POINTS = re.compile(r"^\*\*Exercise \d+ [^*]*\*\* \*\((\d+) points?\)\*", re.M)


def manual_cells(nb: Mapping) -> list[int]:
    """The markdown answer cells a teacher grades by hand (nbgrader "manually graded answer")."""
    return [i for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "markdown" and nbgrader(c).get("solution") and nbgrader(c).get("grade")]


def _exercise_problems(nb: Mapping, where: str, number: int) -> list[str]:
    cells = nb["cells"]
    problems = []
    found = exercises(nb)
    solutions = [i for i, c in enumerate(cells) if nbgrader(c).get("solution") and c["cell_type"] == "code"]
    paired = {s for s, _ in found}
    for i in solutions:
        if i not in paired:
            problems.append(f"{where} cell {i}: an exercise solution cell with no check cell after it")
        elif "### BEGIN SOLUTION" not in source(cells[i]):
            problems.append(f"{where} cell {i}: mark the solution with ### BEGIN SOLUTION / ### END SOLUTION")
    checks = [c for _, c in found]
    for i in solutions + manual_cells(nb):
        # a reader who learns alone sees the exercise first: the answer is folded, one click unfolds it
        if not cells[i].get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            problems.append(f"{where} cell {i}: fold the solution cell (metadata jupyter.source_hidden: true) so "
                            "that a reader tries the exercise before seeing the answer")
    for i in manual_cells(nb):
        text = source(cells[i])
        if not (text.startswith("### BEGIN SOLUTION") and text.rstrip().endswith("### END SOLUTION")):
            problems.append(f"{where} cell {i}: a hand-graded answer cell holds the model answer between "
                            "### BEGIN SOLUTION and ### END SOLUTION, nothing outside them")
        if not any(c < i for c in checks):
            problems.append(f"{where} cell {i}: a hand-graded answer cell must follow its exercise's check cell")
        if not nbgrader(cells[i]).get("points"):
            problems.append(f"{where} cell {i}: a hand-graded answer cell needs its points (nbgrader points)")
    problems += _points_problems(nb, where, found)
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


def _points_problems(nb: Mapping, where: str, found: list[tuple[int, int]]) -> list[str]:
    """Each statement says its points ("**Exercise 2 — title.** *(3 points)*"), and they are what nbgrader
    gives: the check cell's points plus those of the hand-graded cells before the next statement."""
    cells = nb["cells"]
    statements = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and
                  re.search(r"^\*\*Exercise \d+", source(c), re.M)]
    problems = []
    for solution, check in found:
        statement = max((i for i in statements if i < solution), default=None)
        if statement is None:
            problems.append(f"{where} cell {solution}: no '**Exercise N — title.**' statement before the solution")
            continue
        stated = POINTS.search(source(cells[statement]))
        following = min((i for i in statements if i > statement), default=len(cells))
        graded = (nbgrader(cells[check]).get("points", 0)
                  + sum(nbgrader(cells[i]).get("points", 0) for i in manual_cells(nb) if check < i < following))
        if stated is None:
            problems.append(f"{where} cell {statement}: say the exercise's points after its bold title, "
                            f"e.g. '*({graded} point{'s' if graded != 1 else ''})*'")
        elif int(stated.group(1)) != graded:
            problems.append(f"{where} cell {statement}: the statement says {stated.group(1)} points, nbgrader "
                            f"gives {graded} (check cell {check} and hand-graded cells after it)")
    return problems


def _names(code: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads) at its top level and inside its functions; IPython magics skipped."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound, read


def answer_dependency_problems(nb: Mapping, where: str) -> list[str]:
    """Lesson cells that read a name which only an exercise's solution defines: students, who have no
    solution, would see that lesson cell fail (the test suite runs the student release with the answers
    played in, so it cannot see this)."""
    problems, defined, only_in_solutions = [], set(), {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        bound, read = _names(source(cell))
        meta = nbgrader(cell)
        if meta.get("solution"):
            only_in_solutions.update({name: i for name in bound - defined})
            continue
        if not meta.get("grade"):
            for name in sorted(read & set(only_in_solutions) - bound):
                problems.append(f"{where} cell {i}: reads {name!r}, which only the solution in cell "
                                f"{only_in_solutions[name]} defines; students without the answer would see this "
                                "lesson cell fail")
        defined |= bound
        for name in bound:
            only_in_solutions.pop(name, None)
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


# -- prose that agrees with the numbers ------------------------------------------------------------
# A number quoted in a markdown cell must appear, within the prose's rounding, in the notebook's outputs,
# its parameters or its code (a fraction printed as 0.923 backs "92.3 %"). Not checked: integers up to 10,
# numbers inside $math$, `code` and links, notebook numbers written with a leading zero ("06"), heading and
# list numbering, and the title's run time (checked against the last refresh, see runs_in_problems). A
# number that comes from elsewhere (a paper, a formula, a year) is listed in an HTML comment of its cell,
# invisible to readers: <!-- from elsewhere: 2012 (AlexNet), 1.1 (the standard error formula) -->.

ALLOW = re.compile(r"<!--\s*from elsewhere:(.*?)-->", re.S)
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "millions": 1e6, "g": 1e9, "billion": 1e9,
          "billions": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.,])[-−+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:[eE]([-−+]?\d+))?"
    r"(?:\s?(k|M|G)(?![a-zA-Z])|\s(thousand|millions?|billions?)\b)?")
_OUT_NUMBER = re.compile(r"(?<![\w.])[-−+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:[eE]([-−+]?\d+))?(k|M|G)?")
_STRIP = [
    re.compile(r"<!--.*?-->", re.S),                     # comments (the allow-list included)
    re.compile(r"```.*?```", re.S),                      # fenced code
    re.compile(r"`[^`\n]*`"),                            # inline code
    re.compile(r"\$\$.*?\$\$", re.S),                    # display math
    re.compile(r"(?<!\\)\$[^$\n]+?\$"),                  # inline math
    re.compile(r"\]\([^)]*\)"),                          # link targets
    re.compile(r"https?://\S+"),                         # bare links
    re.compile(r"<[^>\n]+>"),                            # HTML tags
    re.compile(r"\b\w*\d\w*_\w+|\b\w+_\w*\d\w*"),        # names such as 06_cnn_in_keras, x_2
    re.compile(r"(?<![\d.,eE\-−])0\d\b"),                # notebook numbers: 06, 06's (not 1.4e-09)
    re.compile(r"(?<![\d.,])\d\d(?= · )"),               # notebook references: 12 · Scaling out
    re.compile(r"^\s*#+\s*\d+(?:\.\d+)*\s*[·.:]?", re.M),  # heading numbers
    re.compile(r"^\s*(?:\d+[.)]|[-*])\s", re.M),         # list markers
    re.compile(r"\*\*Runs in\*\* about \d+ s"),          # the title's run time (runs_in_problems)
]


def _value(whole: str, frac: str | None, exp: str | None, scale: str | None) -> tuple[float, float]:
    """(value, half a unit of its last digit) of a number as written."""
    digits = whole.replace(",", "") + (frac or "")
    value = float(digits)
    decimals = len(frac) - 1 if frac else 0
    tol = 0.5 * 10.0 ** -decimals
    if exp:
        factor = 10.0 ** int(exp.replace("−", "-"))
        value, tol = value * factor, tol * factor
    if scale:
        factor = _SCALE[scale.lower()]
        value, tol = value * factor, tol * factor
    return value, tol


def prose_numbers(text: str) -> list[tuple[str, float, float]]:
    """(as written, value, tolerance) of each number a markdown cell states (see the rules above)."""
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    found = []
    for m in _NUMBER.finditer(text):
        whole, frac, exp, unit, word = m.groups()
        value, tol = _value(whole, frac, exp, unit or word)
        if not frac and not exp and not (unit or word) and value <= 10:
            continue
        found.append((m.group(0).strip(), value, tol))
    return found


def evidence_numbers(nb: Mapping) -> list[float]:
    """Every number in a notebook's outputs and code (parameters included), sorted, as absolute values."""
    values = set()
    for cell in nb.get("cells", []):
        if cell["cell_type"] != "code":
            continue
        texts = [source(cell)] + [re.sub(r"<[^>]+>", " ", t) for _, t in _texts_of(cell)]
        for text in texts:
            text = re.sub(r"(?<![A-Za-z])x(?=\d)", "x ", text.replace("−", "-"))  # "x2.12" is 2.12
            for m in _OUT_NUMBER.finditer(text):
                whole, frac, exp, unit = m.groups()
                try:
                    values.add(abs(_value(whole, frac, exp, unit)[0]))
                    if unit:  # "1.00M" is also the plain 1.00
                        values.add(abs(_value(whole, frac, exp, None)[0]))
                except (ValueError, OverflowError):
                    continue
    return sorted(values)


def _backed(value: float, tol: float, evidence: list[float]) -> bool:
    import bisect

    for target in (abs(value), abs(value) / 100):   # "92.3 %" is backed by 0.923 too
        scale = 1 if target == abs(value) else 100
        lo = bisect.bisect_left(evidence, target - tol / scale - 1e-12)
        if lo < len(evidence) and evidence[lo] <= target + tol / scale + 1e-12:
            return True
    return False


def prose_number_problems(nb: Mapping, where: str) -> list[str]:
    """Numbers in markdown cells that none of the notebook's outputs, parameters or code back."""
    evidence = evidence_numbers(nb)
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        allowed = [_value(whole, frac, exp, unit or word)[0] for block in ALLOW.findall(text)
                   for whole, frac, exp, unit, word in (m.groups() for m in _NUMBER.finditer(block))]
        for written, value, tol in prose_numbers(text):
            if _backed(value, tol, evidence) or any(abs(abs(value) - a) <= tol for a in allowed):
                continue
            problems.append(f"{where} cell {i}: the prose says {written!r}, a number that appears in none of the "
                            "notebook's outputs, parameters or code (rewrite it from the output, print it, or "
                            "list it in <!-- from elsewhere: ... -->)")
    return problems


# -- commands quoted in the prose ----------------------------------------------------------------------

_COMMAND = re.compile(r"(?:dlcourse|python -m dlcourse) (run|params|check|refresh)\b([^`\n]*)")


def command_problems(text: str, where: str) -> list[str]:
    """`dlcourse run NN -p name value` commands in `text` that the runner would refuse."""
    import shlex

    from dlcourse.tools import runner

    problems = []
    for m in _COMMAND.finditer(text):
        verb, rest = m.group(1), m.group(2).split("#")[0]
        if re.search(r"\.\.\.|\bNAME\b|-p name value|\bNN\b", rest):
            continue  # a pattern (`dlcourse run NN -p name value`), not a command
        try:
            args = shlex.split(rest)
        except ValueError:
            continue
        names, overrides, profile, k = [], [], "default", 0
        while k < len(args):
            arg = args[k]
            if arg in ("-p", "--parameter"):
                if k + 2 >= len(args):
                    problems.append(f"{where}: the command `{m.group(0).strip()}` would fail: -p needs NAME VALUE")
                    break
                overrides.append((args[k + 1], args[k + 2]))
                k += 3
            elif arg == "--profile" and k + 1 < len(args):
                profile, k = args[k + 1], k + 2
            elif arg == "--out":
                k += 2
            elif re.fullmatch(r"\d\d(_\w+)?(\.ipynb)?", Path(arg).name) and verb != "check":
                names.append(arg)
                k += 1
            else:
                k += 1
        try:
            chosen = [course.find(n) for n in names] if names else course.notebooks()
            if profile not in course.PROFILES:
                raise ValueError(f"profile must be one of {' | '.join(course.PROFILES)}, got {profile!r}")
            if verb == "run":
                specs = {nb.id: params.read(nb.path) for nb in chosen}
                for name, _ in overrides:
                    if not any(name in spec for spec in specs.values()):
                        raise ValueError(f"unknown parameter {name!r} for {', '.join(specs)}")
                for nb in chosen:
                    runner.resolve_parameters(nb, profile, overrides)
        except ValueError as exc:
            problems.append(f"{where}: the command `{m.group(0).strip()}` would fail: {exc}")
    return problems


def runs_in_problems(nb: Mapping, where: str, budget_s: int | None = None) -> list[str]:
    """The title's 'Runs in about N s' against the time the last `dlcourse refresh` measured."""
    title = source(nb["cells"][0]) if nb.get("cells") else ""
    measured = nb.get("metadata", {}).get("dlcourse", {}).get("refresh_seconds")
    m = re.search(r"\*\*Runs in\*\* about (\d+) s", title)
    if measured is None:
        return [f"{where}: no run time measured by `dlcourse refresh` in the notebook's metadata (refresh it)"]
    if not m:
        return [f"{where} cell 0: the title must say '**Runs in** about N s ...' (written by `dlcourse refresh`)"]
    problems = []
    if int(m.group(1)) != runs_in_seconds(measured):
        problems.append(f"{where} cell 0: the title says it runs in about {m.group(1)} s, the last refresh "
                        f"measured {measured:.0f} s (refresh it rather than editing the number)")
    if budget_s is not None and measured > budget_s:
        problems.append(f"{where}: the last refresh took {measured:.0f} s, over the notebook's budget of "
                        f"{budget_s} s (course.toml)")
    return problems


def runs_in_seconds(measured: float) -> int:
    """The run time the title states: the measured seconds to the nearest 5."""
    return max(5, 5 * round(measured / 5))
