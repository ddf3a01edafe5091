"""The course as a website: `make site` (`dlcourse site`) builds build/site/html/ from the committed notebooks.

:func:`assemble` writes the Sphinx sources into build/site-src/ and :func:`build` runs Sphinx on them
(configuration in site/conf.py: MyST-NB renders the committed outputs without executing anything, every
warning fails the build, so a broken internal link or a missing image stops it). The pages:

* the home page: the course map from notebooks/course.toml with each notebook's headline results, read from
  its committed outputs;
* one page per notebook, opened by a line that links the notebook file, the package modules it uses
  (course.toml's map) and its key terms in the glossary; exercise solutions folded, hidden tests left out;
* the glossary (notebooks/glossary.toml, English and Chinese), the FAQ and how to run the course (site/*.md);
* one page per package module: what it is for, the notebooks that use it, its public names and its source.

Pages written by hand may quote a published result as ``{{13:blend_pr_auc:.3f}}`` (notebook number, metric,
format): :func:`fill_metrics` replaces it with the value in that notebook's committed outputs, and an unknown
notebook or metric fails the build, so a number on the site is always the number in the notebook.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from dlcourse import course, report
from dlcourse.tools import codemap

__all__ = ["SITE_DIR", "assemble", "build", "fill_metrics", "notebook_page", "published_metrics", "sphinx"]

SITE_DIR = Path("site")  # hand-written pages and conf.py, relative to the course root
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)
METRIC = re.compile(r"\{\{\s*(\d\d):([A-Za-z_][A-Za-z0-9_]*)(?::([^}\s]*))?\s*\}\}")
CLAIM = re.compile(r"\s*\{\{\s*assert\s+(\d\d:\w+|[-\d.]+)\s*(<=|>=|<|>|==)\s*(\d\d:\w+|[-\d.]+)\s*\}\}")
COMPARE = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__}


def published_metrics() -> dict[str, dict]:
    """The metrics each notebook publishes in its committed outputs, by notebook number."""
    return {nb.number: report.collect(json.loads(nb.path.read_text(encoding="utf-8")))
            for nb in course.notebooks()}


def fill_metrics(text: str, metrics: Mapping[str, Mapping], page: str) -> str:
    """Replace each ``{{NN:metric:format}}`` in `text` by the published value; unknown ones raise ValueError.

    A comparison in the text is checked with ``{{assert 13:retrained_pr_auc > 13:blend_pr_auc}}`` (a metric
    or a number on either side): it leaves no trace on the page when it holds and raises ValueError when not.
    """

    def operand(token: str) -> float:
        if ":" in token:
            return float(value(METRIC.match("{{" + token + "}}"), raw=True))
        return float(token)

    def check(match: re.Match) -> str:
        left, op, right = match.group(1), match.group(2), match.group(3)
        a, b = operand(left), operand(right)
        if not COMPARE[op](a, b):
            raise ValueError(f"{page}: the claim {left} {op} {right} is false in the committed outputs "
                             f"({a:g} vs {b:g}): rewrite the sentence")
        return ""

    def value(match: re.Match, raw: bool = False) -> str:
        number, name, spec = match.group(1), match.group(2), match.group(3) or ""
        if number not in metrics:
            raise ValueError(f"{page}: {match.group(0)} names notebook {number}, which is not in the course "
                             f"(notebooks: {', '.join(sorted(metrics))})")
        if name not in metrics[number]:
            raise ValueError(f"{page}: {match.group(0)} names metric {name!r}, which notebook {number} does not "
                             f"publish (it publishes: {', '.join(sorted(metrics[number]))})")
        if raw:
            return metrics[number][name]
        try:
            return format(metrics[number][name], spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{page}: {match.group(0)}: format {spec!r} does not apply to "
                             f"{metrics[number][name]!r} ({exc})") from None

    return METRIC.sub(value, CLAIM.sub(check, text))


def _markdown(text: str, cell_id: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {},
            "source": text.splitlines(keepends=True)}


def _term_links(line: str, known: set[str]) -> str:
    """The title cell's key-terms line with each term linked to its glossary entry."""
    head, _, tail = line.partition("**Key terms · 关键术语**")
    items = [item.strip() for item in tail.split(" · ") if item.strip()]
    linked = []
    for item in items:
        english = next((en for en in sorted(known, key=len, reverse=True)
                        if item == en or item.startswith(en + " ")), None)
        linked.append(f"{{term}}`{item} <{english}>`" if english else item)
    return f"{head}**Key terms · 关键术语** " + " · ".join(linked)


def _folded_answer(markdown: str) -> str:
    """A written answer (an nbgrader markdown solution) as a folded HTML block: try first, then unfold."""
    from markdown_it import MarkdownIt

    body = re.sub(r"^### (BEGIN|END) SOLUTION\s*$", "", markdown, flags=re.M).strip()
    html = MarkdownIt("commonmark").render(body)
    return f'<details class="model-answer">\n<summary>A model answer (try first)</summary>\n\n{html}</details>\n'


def notebook_page(nb: course.Notebook, known_terms: set[str], master: dict | None = None) -> dict:
    """The site's copy of a notebook (`master`, its JSON, if already read): a links line after the title,
    linked key terms, solutions folded."""
    page = copy.deepcopy(master) if master is not None else json.loads(nb.path.read_text(encoding="utf-8"))
    # Progress bars leave ipywidgets state in the metadata, though no output shows a widget: with it, MyST-NB
    # would load the widget manager from a CDN on the page.
    page["metadata"].pop("widgets", None)
    cells = page["cells"]
    title = cells[0]
    lines = "".join(title["source"]).split("\n")
    title["source"] = "\n".join(_term_links(ln, known_terms) if "**Key terms · 关键术语**" in ln else ln
                                for ln in lines)
    modules = " · ".join(f"[dlcourse.{m}](../modules/{m}.md)" for m in nb.modules)
    links = (f"**Run it yourself** {{download}}`{nb.id}.ipynb <{nb.id}.ipynb>` in JupyterLab "
             f"([how to run the course](../run.md)) · **Package modules** {modules}")
    cells.insert(1, _markdown(links, "site-links"))
    for cell in cells:
        grading = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and grading.get("solution"):
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            tags.append("hide-input")  # a reader who learns alone tries first, then unfolds
        if cell["cell_type"] == "markdown" and grading.get("solution"):
            source = _folded_answer(source)
        if cell["cell_type"] == "code" and HIDDEN_TESTS.search(source):
            source = HIDDEN_TESTS.sub("# (hidden tests: the grader runs more checks here)\n", source)
        cell["source"] = source
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(report.MIMETYPE, None)  # the same metrics are in its HTML table
    return page


def _home(metrics: Mapping[str, Mapping]) -> str:
    rows = []
    for nb in course.notebooks():
        shown = ", ".join(f"{name} {_short(metrics[nb.number].get(name))}" for name in nb.headline
                          if name in metrics[nb.number])
        rows.append(f"| {nb.number} | [{nb.title}](notebooks/{nb.id}.ipynb) | {nb.summary} | {shown} |")
    toc = "\n".join(f"notebooks/{nb.id}" for nb in course.notebooks())
    home = (course.root() / SITE_DIR / "index.md").read_text(encoding="utf-8")
    table = "| # | notebook | what you will do | headline results (committed outputs) |\n|---|---|---|---|\n"
    return (home.replace("<!-- course-map -->", table + "\n".join(rows))
            + f"\n\n```{{toctree}}\n:hidden:\n:caption: Notebooks\n\n{toc}\n```\n\n"
            "```{toctree}\n:hidden:\n:caption: Reference\n\nrun\nglossary\nfaq\nmodules/index\n```\n")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def _glossary_page(notebook_terms: Mapping[str, list[str]]) -> str:
    from dlcourse.tools import glossary

    terms = glossary.load()
    taught: dict[str, list[str]] = {}
    for number, listed in notebook_terms.items():
        for en in listed:
            taught.setdefault(en.lower(), []).append(number)
    ids = {nb.number: nb.id for nb in course.notebooks()}
    out = ["# Glossary · 术语表", "",
           f"The course's {len(terms)} key terms in English and Chinese (中文), with the Chinese term as the articles "
           "the course was written from use it. Each notebook's title lists the terms it teaches; this list is "
           "`notebooks/glossary.toml`, and the tests check that every term a notebook lists is here and that no "
           "Chinese term stands for two English ones.", "", "```{glossary}", ":sorted:", ""]
    for term in terms:
        where = " · ".join(f"[{n}](notebooks/{ids[n]}.ipynb)" for n in taught.get(term.en.lower(), []))
        taught_in = f" Taught in: {where}." if where else ""
        out += [term.en, term.zh, f"  {term.definition}{taught_in}", ""]
    out.append("```")
    return "\n".join(out) + "\n"


def _module_pages(src: Path) -> None:
    folder = src / "modules"
    (folder / "_source").mkdir(parents=True)
    users: dict[str, list[course.Notebook]] = {}
    for nb in course.notebooks():
        for m in nb.modules:
            users.setdefault(m, []).append(nb)
    found = codemap.modules()
    index = ["# The package, module by module", "",
             "Each notebook imports a few modules of the `dlcourse` package (plumbing that is noise in a lesson, "
             "and helpers two notebooks share). `dlcourse/tools/` holds what runs outside a notebook: the "
             "`dlcourse` command, the lint, the student release, this site.", "",
             "| module | what it is for | used in |", "|---|---|---|"]
    for name, module in found.items():
        path = codemap.PACKAGE / module.path.removeprefix("dlcourse/")
        shutil.copy(path, folder / "_source" / f"{name}.py")
        used = " · ".join(f"[{nb.number}](../notebooks/{nb.id}.ipynb)" for nb in users.get(name, []))
        index.append(f"| [dlcourse.{name}]({name}.md) | {module.summary.replace('|', '/')} | {used} |")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        public = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                doc = (ast.get_docstring(node) or "").strip().split("\n\n")[0].replace("\n", " ")
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                public.append(f"| `{node.name}` | {kind} | {doc.replace('|', '/')} |")
        page = [f"# dlcourse.{name}", "", "```text", ast.get_docstring(tree) or "(no docstring)", "```", ""]
        if used:
            page += [f"**Used in notebooks** {used}", ""]
        if public:
            page += ["## Public functions and classes", "", "| name | kind | what it does |", "|---|---|---|",
                     *public, ""]
        page += ["## Source", "", f"```{{literalinclude}} _source/{name}.py", ":language: python",
                 ":linenos:", "```", ""]
        (folder / f"{name}.md").write_text("\n".join(page), encoding="utf-8")
    toc = "\n".join(found)
    (folder / "index.md").write_text("\n".join(index) + f"\n\n```{{toctree}}\n:hidden:\n\n{toc}\n```\n",
                                     encoding="utf-8")


def assemble(src: Path | None = None) -> Path:
    """Write the site's Sphinx sources into `src` (default build/site-src/), afresh."""
    from dlcourse.tools import glossary

    root = course.root()
    src = src or root / "build" / "site-src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(root / SITE_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "index.md"))
    metrics = published_metrics()
    for page in src.glob("*.md"):
        page.write_text(fill_metrics(page.read_text(encoding="utf-8"), metrics, f"site/{page.name}"),
                        encoding="utf-8")
    (src / "index.md").write_text(fill_metrics(_home(metrics), metrics, "site/index.md"), encoding="utf-8")
    known = {t.en for t in glossary.load()}
    (src / "notebooks").mkdir()
    notebook_terms = {}
    for nb in course.notebooks():
        master = json.loads(nb.path.read_text(encoding="utf-8"))
        notebook_terms[nb.number] = glossary.key_terms(master)
        page = notebook_page(nb, known, master)
        (src / "notebooks" / f"{nb.id}.ipynb").write_text(json.dumps(page, ensure_ascii=False, indent=1),
                                                          encoding="utf-8")
    (src / "glossary.md").write_text(_glossary_page(notebook_terms), encoding="utf-8")
    _module_pages(src)
    return src


def sphinx(src: Path, html: Path, jobs: str = "2") -> Path:
    """Run Sphinx on `src` into `html` with site/conf.py's settings; any warning raises RuntimeError."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-j", jobs,
               "-d", str(html.parent / "doctrees"), str(src), str(html)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        problems = "\n".join(line for line in (done.stderr or done.stdout).splitlines()
                             if "WARNING" in line or "ERROR" in line or "Error" in line) or done.stderr
        raise RuntimeError(f"the site did not build (Sphinx exit code {done.returncode}):\n{problems.strip()}")
    return html


def build(out: Path | None = None, src: Path | None = None) -> Path:
    """Assemble and build the HTML site into `out`/html/ (default build/site/html/)."""
    out = out or course.root() / "build" / "site"
    return sphinx(assemble(src), out / "html")
