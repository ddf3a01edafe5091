"""The one place a notebook kernel is started: its name and arguments, its time limits, the nested-run guard.

The runner (`dlcourse run`, `refresh`, `check`), the student release and the tests all execute notebooks
through :func:`execute` (in place, with nbclient) or :func:`execute_with_parameters` (papermill, into a
new file). nbval starts its own kernels; tests/conftest.py hands it :data:`CELL_TIMEOUT_S`.

Every execution is bounded: a cell that runs past `timeout` seconds (default :data:`CELL_TIMEOUT_S`) is
interrupted and the run fails with :class:`CellTimeout`, naming the cell and the limit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

NAME = "python3"
# The kernel's own log would only clutter the terminal: ipykernel's transport warning, or the error it logs
# when it is shut down in the middle of a cell (Ctrl-C in `dlcourse run`). A cell's errors reach the notebook.
ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
# The longest cell of the course takes about 60 s at the default profile on 2 cores; ten times that means
# something hangs (a Dask scheduler that never answers, a multi-worker run waiting for a dead peer).
CELL_TIMEOUT_S = 600
STARTUP_TIMEOUT_S = 120
MAX_DEPTH = 2  # a notebook may run notebooks (00 reruns itself once), but no deeper
DEPTH_ENV = "DLCOURSE_RUN_DEPTH"


class CellTimeout(RuntimeError):
    """A cell ran past its time limit; the kernel was interrupted and the run stopped."""


@contextlib.contextmanager
def nested() -> Iterator[None]:
    """Count how deep runs are nested (through the kernels' environment) and refuse runaway recursion."""
    depth = int(os.environ.get(DEPTH_ENV, "0"))
    if depth >= MAX_DEPTH:
        raise RuntimeError(f"notebook runs nested {depth} deep; a notebook is running itself in a loop")
    os.environ[DEPTH_ENV] = str(depth + 1)
    try:
        yield
    finally:
        os.environ[DEPTH_ENV] = str(depth)


def _timeout_message(exc: Exception, timeout: int) -> str:
    first = str(exc).strip().splitlines()
    return f"a cell ran past its time limit of {timeout} s and was stopped ({first[0] if first else exc})"


def execute(nb, cwd: Path | str, *, timeout: int = CELL_TIMEOUT_S, allow_errors: bool = False,
            env: Mapping[str, str] | None = None):
    """Execute a notebook node in place (nbclient) with the course's kernel; returns it.

    Raises nbclient's CellExecutionError for a failing cell (unless `allow_errors`), :class:`CellTimeout`
    for a cell that runs past `timeout` seconds, RuntimeError for runaway nesting.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    client = NotebookClient(nb, timeout=timeout, startup_timeout=STARTUP_TIMEOUT_S, kernel_name=NAME,
                            extra_arguments=ARGUMENTS, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    with nested():
        try:
            client.execute(**({"env": dict(env)} if env is not None else {}))
        except CellTimeoutError as exc:
            raise CellTimeout(_timeout_message(exc, timeout)) from None
    return nb


def execute_with_parameters(path: Path | str, out_path: Path | str, parameters: Mapping, cwd: Path | str, *,
                            timeout: int = CELL_TIMEOUT_S, progress: bool | dict = False):
    """Execute the notebook at `path` with papermill, parameters injected, into `out_path`; returns it.

    Raises papermill's PapermillExecutionError for a failing cell and :class:`CellTimeout` for a cell that
    runs past `timeout` seconds (the output notebook keeps what ran before it).
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    with nested():
        try:
            return pm.execute_notebook(
                str(path), str(out_path), parameters=dict(parameters), kernel_name=NAME, cwd=str(cwd),
                extra_arguments=ARGUMENTS, progress_bar=progress, start_timeout=STARTUP_TIMEOUT_S,
                execution_timeout=timeout,
            )
        except CellTimeoutError as exc:
            raise CellTimeout(_timeout_message(exc, timeout)) from None


def with_parameters(nb, values: Mapping):
    """A notebook node with papermill's injected-parameters cell for `values` (nothing to inject: as is)."""
    if not values:
        return nb
    from papermill.parameterize import parameterize_notebook

    return parameterize_notebook(nb, dict(values), kernel_name=NAME)
