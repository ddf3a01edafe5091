"""The checked map from notebooks to the package: which modules each notebook uses, and where they live.

notebooks/course.toml names, for each notebook, the package modules it imports (``modules = [...]``).
From that one list come the README's two tables (the notebooks; the package's modules with the notebooks
that use them) and `dlcourse list`; :func:`problems` checks the list against the code:

* every lesson module is used by some notebook,
* each notebook imports exactly the modules course.toml names for it,
* each lesson module's docstring ends its first part with one line in one fixed form, naming those
  notebooks: ``Used in notebooks: 06, 14.``

The package has two rooms. Top level: what runs inside a notebook kernel, which is the lesson modules plus
the :data:`CORE` machinery every notebook uses through ``dlcourse.setup``/``claim``/``publish``.
``dlcourse/tools/``: what runs outside a kernel (the `dlcourse` command, kernels, lint, student release).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from dlcourse import course

# Kernel-side machinery rather than a lesson: setup, claims, published results, parameters, the catalog, bars,
# the exercises' checks.
CORE = ("claims", "course", "exercises", "params", "progress", "report", "session")
USED_IN = re.compile(r"^Used in notebooks: (\d\d(?:, \d\d)*)\.$", re.M)
PACKAGE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Module:
    name: str  # "prepare", "tools.runner"
    kind: str  # lesson | core | tool
    summary: str  # the docstring's first sentence
    used_in: tuple[str, ...] | None  # the notebooks its docstring names (lesson modules), else None

    @property
    def path(self) -> str:
        return "dlcourse/" + self.name.replace(".", "/") + ".py"


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def modules() -> dict[str, Module]:
    """Every module of the package (but __init__ and __main__), by name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.stem.startswith("__"):
            continue
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        kind = "tool" if name.startswith("tools.") else "core" if name in CORE else "lesson"
        doc = _docstring(path)
        summary = re.split(r"(?<=\.)\s", doc.strip().split("\n\n")[0].replace("\n", " "), maxsplit=1)[0]
        used = USED_IN.search(doc)
        found[name] = Module(name, kind, summary, tuple(used.group(1).split(", ")) if used else None)
    return found


def imported_modules(nb_path: Path) -> set[str]:
    """The package modules a notebook's code cells import or reach as ``dlcourse.<module>``."""
    import nbformat

    known = set(modules())
    used: set[str] = set()
    for cell in nbformat.read(nb_path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlcourse"):
                base = node.module.removeprefix("dlcourse").lstrip(".")
                if base in known:
                    used.add(base)
                for alias in node.names:
                    name = f"{base}.{alias.name}" if base else alias.name
                    if name in known:
                        used.add(name)
            elif isinstance(node, ast.Import):
                used |= {a.name.removeprefix("dlcourse.") for a in node.names if a.name.startswith("dlcourse.")}
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id == "dlcourse" and node.attr in known):
                used.add(node.attr)
    return used


def problems() -> list[str]:
    """Every disagreement between course.toml's modules, the notebooks' imports and the docstrings."""
    found = modules()
    notebooks = course.notebooks()
    claimed_by: dict[str, list[str]] = {}
    out = []
    for nb in notebooks:
        for name in nb.modules:
            if name not in found:
                out.append(f"course.toml: {nb.id} names the module {name!r}, which is not in dlcourse/ "
                           f"(modules: {', '.join(sorted(found))})")
            claimed_by.setdefault(name, []).append(nb.number)
        imported = imported_modules(nb.path)
        if missing := sorted(imported - set(nb.modules)):
            out.append(f"{nb.id} imports {', '.join(missing)}, which its modules list in course.toml leaves out")
        if extra := sorted(set(nb.modules) - imported):
            out.append(f"course.toml lists {', '.join(extra)} for {nb.id}, which does not import it")
    for module in found.values():
        if module.kind != "lesson":
            continue
        users = tuple(claimed_by.get(module.name, []))
        if not users:
            out.append(f"{module.path} is a lesson module that no notebook uses (course.toml names it nowhere): "
                       "use it in a notebook, move it to the tools, or delete it")
        elif module.used_in != users:
            want = f"Used in notebooks: {', '.join(users)}."
            out.append(f"{module.path}: its docstring must end its first part with the line {want!r}"
                       + (f" (it says {', '.join(module.used_in)})" if module.used_in else ""))
    return out


def notebook_table() -> str:
    """The README's table of the notebooks."""
    lines = ["| # | notebook | what you will do |", "|---|---|---|"]
    lines += [f"| {nb.number} | [{nb.title}](notebooks/{nb.id}.ipynb) | {nb.summary} |"
              for nb in course.notebooks()]
    return "\n".join(lines)


def module_table() -> str:
    """The README's table of the package: each module, what it is for, and the notebooks that use it."""
    users: dict[str, list[str]] = {}
    for nb in course.notebooks():
        for name in nb.modules:
            users.setdefault(name, []).append(nb.number)
    rows = ["| module | what it holds | notebooks that import it |", "|---|---|---|"]
    for kind, note in (("lesson", ""), ("core", " (core)"), ("tool", " (tool)")):
        for m in (m for m in modules().values() if m.kind == kind):
            used = ", ".join(users.get(m.name, [])) or "-"
            if kind == "core":
                reach = ("check cells through `dlcourse.calls_to`" if m.name == "exercises"
                         else "all through `dlcourse.setup`, `claim`, `publish`")
                used = f"{used}; {reach}" if used != "-" else reach
            rows.append(f"| `{m.path}`{note} | {m.summary} | {used} |")
    return "\n".join(rows)


def course_map() -> str:
    """`dlcourse list`: each notebook, what it does and the modules behind it."""
    lines = []
    for nb in course.notebooks():
        lines.append(f"{nb.number}  {nb.title}\n    {nb.summary}\n    modules: {', '.join(nb.modules) or '-'}")
    return "\n".join(lines)


BLOCKS = {"course-map": notebook_table, "package-map": module_table}


def readme_text(text: str) -> str:
    """README text with its generated blocks (<!-- NAME ... --> ... <!-- /NAME -->) made anew."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}[^>]*-->\n).*?(\n<!-- /{name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- {name} --> ... <!-- /{name} --> block to fill")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text


def write_readme(path: Path | None = None) -> bool:
    """Rewrite the README's generated blocks; returns whether anything changed."""
    path = path or course.root() / "README.md"
    old = path.read_text(encoding="utf-8")
    new = readme_text(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
