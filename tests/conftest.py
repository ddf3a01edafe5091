"""Shared fixtures: the course's notebooks, and tiny stand-in courses for testing the runner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlcourse import course

COURSE = course.notebooks()

# `make test` runs on two pytest-xdist workers (--dist loadgroup). Everything that executes a notebook (its
# papermill smoke run, its student-release run, its nbval cells) goes to one worker as a group, so that no
# two runs of one notebook, nor of notebooks that share files under data/generated/, overlap: 02, 03, 12
# and 13 share the landing zone and feature set, 14 loads the CNN that 06 saves.
SHARED_FILES = {"02": "02-03-12-13", "03": "02-03-12-13", "12": "02-03-12-13", "13": "02-03-12-13",
                "06": "06-14", "14": "06-14"}


def notebook_group(number: str) -> str:
    return SHARED_FILES.get(number, number)


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        nb = callspec.params.get("nb") if callspec else None
        if isinstance(nb, course.Notebook):
            number = nb.number
        elif item.path.suffix == ".ipynb" and item.path.parent == course.notebooks_dir():
            number = item.path.name[:2]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(notebook_group(number)))


def make_notebook(path: Path, params_src: str, body: list[str], title: str | None = None) -> Path:
    """Write a small notebook: title cell, parameters cell, setup-free code cells."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    number = path.name[:2]
    nb.cells = [new_markdown_cell(title or f"# {number} · Tiny\n\n**Learning objectives** none\n\n"
                                           "**Runs in** about 1 s"),
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
