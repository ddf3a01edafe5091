"""The map from notebooks to the package: course.toml's `modules`, the notebooks' imports, the docstrings."""

from __future__ import annotations

import ast
import dataclasses

import pytest

from dlcourse import course
from dlcourse.tools import codemap


def test_course_toml_the_notebooks_and_the_docstrings_agree():
    assert codemap.problems() == []


def test_every_lesson_module_is_used_by_a_notebook_and_says_which():
    lessons = [m for m in codemap.modules().values() if m.kind == "lesson"]
    assert len(lessons) >= 15
    assert all(m.used_in for m in lessons), [m.path for m in lessons if not m.used_in]


def test_the_top_level_never_imports_a_tool():
    for path in sorted(codemap.PACKAGE.glob("*.py")):
        if path.name == "__main__.py":  # `python -m dlcourse` is the command, a tool's entry point
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.startswith("dlcourse.tools") for n in names), f"{path.name} imports a tool"


@pytest.fixture
def altered(monkeypatch):
    """Swap one notebook's entry of course.toml for a changed copy."""
    real = course.notebooks()

    def alter(number: str, **changes):
        fake = [dataclasses.replace(nb, **changes) if nb.number == number else nb for nb in real]
        monkeypatch.setattr(course, "notebooks", lambda catalog=None: fake)

    return alter


def test_a_module_left_out_of_course_toml_is_found(altered):
    altered("07", modules=("datasets",))
    found = codemap.problems()
    assert any("07_rnn_theory imports recurrent, which its modules list in course.toml leaves out" in p
               for p in found), found
    assert any("dlcourse/recurrent.py is a lesson module that no notebook uses" in p for p in found), found


def test_a_module_listed_but_not_imported_is_found(altered):
    altered("09", modules=("gan_toys", "gan"))
    found = codemap.problems()
    assert any("course.toml lists gan for 09_gan_theory, which does not import it" in p for p in found)
    assert any("dlcourse/gan.py: its docstring must end its first part with the line "
               "'Used in notebooks: 09, 10.'" in p for p in found), found


def test_a_misspelt_module_is_found(altered):
    altered("05", modules=("convolutions", "datasets", "convolution"))
    assert any("names the module 'convolutions', which is not in dlcourse/" in p for p in codemap.problems())


def test_imports_are_read_in_every_form(tmp_path):
    from conftest import make_notebook

    path = make_notebook(tmp_path / "00_x.ipynb", "seed = 0  # ≥ 0", [
        "import dlcourse\nfrom dlcourse import datasets, plots as p\nfrom dlcourse.scratch import relu",
        "from dlcourse.tools import runner\nimport dlcourse.cnn\ndlcourse.fraud.pr_auc\ndlcourse.setup",
        "%matplotlib inline\nfrom dlcourse.convolution import conv2d as c"])
    assert codemap.imported_modules(path) == {"datasets", "plots", "scratch", "tools.runner", "cnn", "fraud",
                                              "convolution"}


def test_dlcourse_list_names_the_modules_behind_each_notebook(capsys):
    from dlcourse.tools import runner

    assert runner.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "07  Recurrent networks from scratch" in out and "modules: datasets, recurrent" in out
