"""The test harness (hermetic, bounded) and shared fixtures: the course's notebooks, tiny stand-in courses.

Hermetic: before anything runs, every process the suite starts (pytest workers, notebook kernels, Dask
workers, training processes) gets an environment inside build/test-env/: a fresh HOME (so Keras' data home,
matplotlib's and Jupyter's folders and every cache live there), TMPDIR, DLCOURSE_OFFLINE=1 (notebooks take
their offline branches without probing the network) and the network guard of tests/harness/ (nothing but
the loopback; an attempt fails the session). Keras' data home is seeded from the system data set folder
(Debian's dataset-fashion-mnist) where it exists. Nothing depends on the caller's environment.

Bounded: every notebook cell has kernel.CELL_TIMEOUT_S (nbval's, papermill's and nbclient's limit) and every
test a per-test limit (pytest-timeout, pyproject.toml).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlcourse import course
from dlcourse.tools import kernel, runner

ROOT = Path(__file__).resolve().parent.parent
# One folder per pytest session (xdist workers share their controller's), so that two sessions at once (say
# `make test-fast` in one terminal and one test in another) never delete each other's files.
TEST_ENVS = ROOT / "build" / "test-env"
TEST_ENV = Path(os.environ["DLCOURSE_TEST_ENV"]) if os.environ.get("PYTEST_XDIST_WORKER") else \
    TEST_ENVS / f"session-{os.getpid()}"
HARNESS = Path(__file__).resolve().parent / "harness"
NETWORK_LOG = TEST_ENV / "network-refused.log"
SYSTEM_DATA = {Path("/usr/share/datasets/fashion-mnist"): "fashion-mnist"}  # -> $KERAS_HOME/datasets/...


def hermetic_environment(base: Path = TEST_ENV) -> dict[str, str]:
    """The variables that keep every process of the suite inside `base` and off the network."""
    home = base / "home"
    return {
        "HOME": str(home), "TMPDIR": str(base / "tmp"), "KERAS_HOME": str(home / ".keras"),
        "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"), "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / ".local" / "share" / "jupyter" / "runtime"),
        "DLCOURSE_OFFLINE": "1", "DLCOURSE_NETWORK_LOG": str(base / "network-refused.log"),
        "PYTHONPATH": str(HARNESS), "DLCOURSE_TEST_ENV": str(base),
    }


# Where tools write into a home directory (Keras, matplotlib, Jupyter, IPython, pip/dask caches, CUDA).
HOME_PLACES = (".keras", ".cache", ".config", ".local/share/jupyter", ".ipython", ".jupyter", ".nv", ".dask",
               ".matplotlib", ".tensorflow")
CALLER_HOME = Path.home()


def home_entries(home: Path) -> set[str]:
    """The caller's home as the suite could change it: its top-level names and what the tools' folders hold."""
    found = {p.name for p in home.iterdir()} if home.is_dir() else set()
    for place in HOME_PLACES:
        if (home / place).is_dir():
            found |= {str(p.relative_to(home)) for p in (home / place).rglob("*")
                      if len(p.relative_to(home).parts) <= 4}
    return found


HOME_BEFORE = home_entries(CALLER_HOME)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prepare_test_environment() -> None:
    """Once per session, in the controlling process (xdist workers inherit the result)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for old in TEST_ENVS.glob("session-*"):  # what finished sessions left
        if not _alive(int(old.name.removeprefix("session-"))):
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(TEST_ENV, ignore_errors=True)
    env = hermetic_environment()
    for name in ("HOME", "TMPDIR", "MPLCONFIGDIR", "JUPYTER_RUNTIME_DIR"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    for source, folder in SYSTEM_DATA.items():  # what datasets.load would link on first use, done up front
        if source.is_dir():
            cache = Path(env["KERAS_HOME"]) / "datasets" / folder
            cache.mkdir(parents=True, exist_ok=True)
            for f in source.iterdir():
                (cache / f.name).symlink_to(f)
    for name in [k for k in os.environ if k.startswith(("JUPYTER_", "XDG_", "DLCOURSE_"))]:
        del os.environ[name]  # e.g. the caller's DLCOURSE_ROOT or DLCOURSE_REFRESH must not leak in
    os.environ.update(env)
    tempfile.tempdir = None  # forget a temporary folder found before TMPDIR was set


def _guard_this_process() -> None:
    """The network guard for the pytest process itself (processes it starts load it at start-up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dlcourse_network_guard", HARNESS / "sitecustomize.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


_prepare_test_environment()
_guard_this_process()
COURSE = course.notebooks()


def locked_version(package: str) -> str:
    """The version of `package` in requirements.lock: what tests expect instead of a hard-coded one."""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().replace("_", "-") == package.lower().replace("_", "-"):
            return version.strip()
    raise KeyError(f"{package} is not in requirements.lock")


def pytest_configure(config):
    if hasattr(config.option, "nbval_cell_timeout") and config.option.nbval_cell_timeout == 2000:
        config.option.nbval_cell_timeout = kernel.CELL_TIMEOUT_S  # nbval's default (2000 s) is too lax
    config.option.nbval_kernel_startup_timeout = kernel.STARTUP_TIMEOUT_S


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if added := sorted(home_entries(CALLER_HOME) - HOME_BEFORE):
        print(f"\nthe suite wrote {len(added)} entries into {CALLER_HOME}: {', '.join(added[:10])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    attempts = NETWORK_LOG.read_text().splitlines() if NETWORK_LOG.exists() else []
    if attempts:
        print(f"\nthe suite tried to reach the network {len(attempts)} time(s) (refused):\n  "
              + "\n  ".join(attempts[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

# `make test` runs on two pytest-xdist workers. Everything that executes one notebook (its smoke run with the
# student release, its nbval cells) is one unit of work for one worker, so that no two runs of a notebook, nor
# of notebooks that share files under data/generated/, overlap: 02, 03, 12 and 13 share the landing zone and
# the feature set, 14 reads that feature set (1,000,000 rows: 02's and 13's) and loads the CNN that 06 saves.
# Other tests go by module, as in xdist's --dist loadscope. (Not --dist loadgroup with xdist_group marks: with
# pytest 9.2 and xdist 3.8 that silently stops grouping, pytest-dev/pytest-xdist#1386.)
SHARED_FILES = (("02", "03", "06", "12", "13", "14"),)
NOTEBOOK_IN_NODEID = re.compile(r"^notebooks/(\d\d)_\w+\.ipynb::|\[(\d\d)_\w+\]$")


def work_unit(nodeid: str) -> str | None:
    """The notebook group a test belongs to, from its node id, or None for a test that runs no notebook."""
    found = NOTEBOOK_IN_NODEID.search(nodeid)
    if not found:
        return None
    number = found.group(1) or found.group(2)
    return "notebook " + "-".join(next((group for group in SHARED_FILES if number in group), (number,)))


def unit_cost(unit: str) -> int:
    """Seconds a notebook group is budgeted (its notebooks' default runs, plus a smoke run each)."""
    numbers = unit.removeprefix("notebook ").split("-")
    return sum(course.find(n).budget_s + runner.SMOKE_BUDGET_S for n in numbers)


def pytest_collection_modifyitems(session, config, items):
    """The costliest notebook groups first, the tests that run no notebook last: xdist hands out work units in
    collection order, so a long group started late would finish alone while the other worker idles. The order
    inside a group (nbval's cells) is kept."""
    first_seen = {}
    for i, item in enumerate(items):
        first_seen.setdefault(work_unit(item.nodeid), i)

    def key(pair):
        i, item = pair
        unit = work_unit(item.nodeid)
        return (0, -unit_cost(unit), first_seen[unit], i) if unit else (1, 0, 0, i)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


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
        wait = 0.0     # seconds the second cell sleeps first, ≥ 0
    """, ["import dlcourse\ndlcourse.setup('01_fails', globals(), tensorflow=False)",
          "import time\ntime.sleep(wait)\nif fail:\n    raise RuntimeError('asked to fail')",
          "dlcourse.publish(done=1)"])
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
