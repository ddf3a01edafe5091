"""Shared fixtures: the course's notebooks, and tiny stand-in courses for testing the runner."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlcourse import course

COURSE = course.notebooks()

# `make test` runs on two pytest-xdist workers. Everything that executes one notebook (its papermill smoke
# run, its student-release run, its nbval cells) is one unit of work for one worker, so that no two runs of
# a notebook, nor of notebooks that share files under data/generated/, overlap: 02, 03, 12 and 13 share the
# landing zone and the feature set, and 14 loads the CNN that 06 saves. Other tests go by module, as in
# xdist's --dist loadscope. (Not --dist loadgroup with xdist_group marks: with pytest 9.2 and xdist 3.8 that
# silently stops grouping, pytest-dev/pytest-xdist#1386.)
SHARED_FILES = (("02", "03", "12", "13"), ("06", "14"))
NOTEBOOK_IN_NODEID = re.compile(r"^notebooks/(\d\d)_\w+\.ipynb::|\[(\d\d)_\w+\]$")


def work_unit(nodeid: str) -> str | None:
    """The notebook group a test belongs to, from its node id, or None for a test that runs no notebook."""
    found = NOTEBOOK_IN_NODEID.search(nodeid)
    if not found:
        return None
    number = found.group(1) or found.group(2)
    return "notebook " + "-".join(next((group for group in SHARED_FILES if number in group), (number,)))


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is a dev dependency; without it the suite runs serially
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:
    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid) or super()._split_scope(nodeid)

    def pytest_xdist_make_scheduler(config, log):
        return NotebookScheduling(config, log)


def make_notebook(path: Path, params_src: str, body: list[str], title: str | None = None) -> Path:
    """Write a small notebook: title cell, parameters cell, setup-free code cells."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    number = path.name[:2]
    nb.cells = [new_markdown_cell(title or f"# {number} · Tiny\n\n**Learning objectives** none\n\n"
                                           "**Runs in** about 1 s on a 2-core CPU at the default profile"),
                new_code_cell(textwrap.dedent(params_src).strip(), metadata={"tags": ["parameters"]})]
    nb.cells += [new_code_cell(textwrap.dedent(src).strip()) for src in body]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def tiny_course(tmp_path, monkeypatch):
    """A course of two tiny notebooks under DLCOURSE_ROOT=tmp_path: 00 works, 01 fails when asked to."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_notebook(nbdir / "00_tiny.ipynb", """
        rows = 10      # how many rows, ≥ 1
        seed = 0       # any int, ≥ 0
    """, ["import dlcourse\ndlcourse.setup('00_tiny', globals(), tensorflow=False)",
          "dlcourse.publish(rows_seen=rows * 2)"])
    make_notebook(nbdir / "01_fails.ipynb", """
        fail = False   # True | False: raise in the second cell
    """, ["import dlcourse\ndlcourse.setup('01_fails', globals(), tensorflow=False)",
          "if fail:\n    raise RuntimeError('asked to fail')", "dlcourse.publish(done=1)"])
    (nbdir / "course.toml").write_text(textwrap.dedent("""
        [[notebook]]
        id = "00_tiny"
        title = "Tiny"
        summary = "s"
        needs = "n"
        budget_s = 5
        [notebook.smoke]
        rows = 2
        [notebook.full]
        rows = 1000

        [[notebook]]
        id = "01_fails"
        title = "Fails"
        summary = "s"
        needs = "n"
        budget_s = 5
        [notebook.smoke]
        [notebook.full]
    """))
    monkeypatch.setenv("DLCOURSE_ROOT", str(tmp_path))
    return tmp_path


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
