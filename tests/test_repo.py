"""The repository's promises: two-command README, environment.yml == pyproject.toml, CI, layout."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from dlcourse import course
from dlcourse.tools import codemap

ROOT = course.root()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {Requirement(r).name.lower().replace("_", "-"): str(Requirement(r)) for r in reqs}


def environment_lines() -> list[str]:
    """The dependency lines of environment.yml with their comments (yaml drops comments, so read text)."""
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    return [ln for ln in text.splitlines() if re.match(r"\s+- \S", ln) and not ln.strip().endswith("pip:")]


def test_environment_yml_and_pyproject_agree_on_every_dependency():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-e .[dev]" in pip, "environment.yml must install the course package itself"
    listed = {Requirement(r).name.lower().replace("_", "-"): str(Requirement(r)) for r in pip if r != "-e .[dev]"}
    expected = pyproject_requirements()
    assert listed.keys() == expected.keys(), (
        f"only in environment.yml: {sorted(listed.keys() - expected.keys())}; "
        f"only in pyproject.toml: {sorted(expected.keys() - listed.keys())}")
    differ = {k: (listed[k], expected[k]) for k in listed if listed[k] != expected[k]}
    assert not differ, f"different ranges (environment.yml, pyproject.toml): {differ}"


def test_every_environment_dependency_names_the_notebooks_that_need_it():
    for line in environment_lines():
        comment = line.split("#", 1)[1] if "#" in line else ""
        assert re.search(r"\b\d\d\b|all notebooks|package|the section below", comment), (
            f"environment.yml: say which notebooks need it: {line.strip()}")


def test_readme_starts_with_exactly_two_commands_lab_then_test():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines() if ln.strip()]
    assert commands == ["make lab", "make test"]


def test_ci_runs_the_readme_test_command_after_installing_fashion_mnist_chromium_and_a_chinese_font():
    ci = (ROOT / ".ci" / "run").read_text()
    packages = re.search(r'^DEBIAN_PACKAGES="([^"]*)"$', ci, re.M)
    assert packages and {"dataset-fashion-mnist", "chromium", "fonts-wqy-microhei"} <= set(packages.group(1).split())
    assert "apt-get install -y -qq $DEBIAN_PACKAGES" in ci
    assert re.search(r"^make test$", ci, re.M)
    assert "set -euo pipefail" in ci


def lock() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {n.lower().replace("_", "-"): v for n, _, v in (ln.partition("==") for ln in lines if "==" in ln)}


def test_the_lock_pins_every_dependency_within_its_range():
    locked = lock()
    assert len(locked) > 100, "requirements.lock should pin the whole environment, not just the direct dependencies"
    for name, spec in pyproject_requirements().items():
        assert name in locked, f"{name} is a dependency (pyproject.toml) but not in requirements.lock: make lock"
        assert Requirement(spec).specifier.contains(locked[name], prereleases=True), \
            f"requirements.lock has {name}=={locked[name]}, outside pyproject.toml's {spec}: make lock"


def test_make_lab_make_test_and_ci_install_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c requirements.lock -e '.[dev]'" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject.toml requirements.lock$", makefile, re.M)
    assert re.search(r"^lock:", makefile, re.M), "the documented command that refreshes the lock"


def test_the_installed_environment_is_the_locked_one():
    from importlib.metadata import version

    for name in ("tensorflow", "keras", "numpy", "pandas", "dask", "nbval", "ruff"):
        assert version(name) == lock()[name], f"{name}: installed {version(name)}, locked {lock()[name]}"


def test_readme_tables_are_made_from_course_toml_and_the_package():
    text = (ROOT / "README.md").read_text()
    assert codemap.readme_text(text) == text, "README's generated tables are stale: run `dlcourse readme`"


def test_generated_data_and_build_output_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"build/", "data/generated/", ".venv/"} <= set(ignored)


def test_layout():
    for path in ("notebooks", "dlcourse", "data", "tests", "environment.yml", "README.md", "pyproject.toml",
                 "Makefile", ".ci/run", "notebooks/course.toml"):
        assert (ROOT / path).exists(), f"missing {path}"
    assert Path(ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"


def test_make_lab_opens_jupyterlab_at_the_notebooks():
    import subprocess

    done = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "jupyter lab --ServerApp.root_dir=notebooks" in done.stdout


def test_each_notebooks_runs_are_one_unit_of_work_for_the_parallel_suite():
    from conftest import work_unit

    for nb in course.notebooks():
        ids = [f"tests/test_student_release.py::test_smoke_run_of_the_student_release_with_the_answers_played_in"
               f"[{nb.id}]", f"notebooks/{nb.id}.ipynb::Cell 0", f"notebooks/{nb.id}.ipynb::Cell 12"]
        assert len({work_unit(i) for i in ids}) == 1 and work_unit(ids[0]) is not None, nb.id
    assert work_unit("notebooks/02_big_data_preparation.ipynb::Cell 1") == work_unit(
        "tests/test_student_release.py::test_smoke_run_of_the_student_release_with_the_answers_played_in"
        "[13_capstone_fraud_detection]")
    assert work_unit("notebooks/14_lightweight_explainable_private.ipynb::Cell 1") == work_unit(
        "notebooks/02_big_data_preparation.ipynb::Cell 1") == work_unit("notebooks/06_cnn_in_keras.ipynb::Cell 1")
    assert work_unit("notebooks/06_cnn_in_keras.ipynb::Cell 1") != work_unit("notebooks/05_cnn_theory.ipynb::Cell 1")
    assert work_unit("tests/test_cnn.py::test_time_budget_without_stopping") is None
