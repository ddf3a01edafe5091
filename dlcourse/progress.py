"""Progress bars that stay readable after the run.

Live while the work runs, and their final state stored in the notebook, so that a static view (GitHub,
nbviewer, the course site) shows "100% ... 1.00M rows" instead of a widget's "0%".

In a notebook kernel each bar is one text output updated in place through an IPython display handle
(`update_display_data`, which nbclient and papermill store); elsewhere (a terminal, a benchmark script)
the libraries' own text bars run unchanged.

    with progress.bar(total=n_rows, unit="rows", desc="transactions") as bar:
        ...; bar.update(len(block))

    progress.dask(futures)   # Dask's task progress, blocking until the futures are done
"""

from __future__ import annotations

import io
import time

from tqdm.std import tqdm as _text_tqdm

__all__ = ["bar", "dask"]


def _kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the course environment
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class _Line:
    """One text output of the running cell, replaced in place on every update."""

    def __init__(self) -> None:
        from IPython.display import display

        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def show(self, text: str) -> None:
        self._handle.update({"text/plain": text}, raw=True)


class _NotebookTqdm(_text_tqdm):
    """tqdm's text bar, drawn into one updatable output instead of a stream (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        self._line = _Line() if not kwargs.get("disable") else None
        kwargs["file"] = io.StringIO()  # tqdm's own writes go nowhere; display() draws the bar
        kwargs.setdefault("ncols", 100)
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        if self._line is not None:
            self._line.show(self.__str__() if msg is None else msg)
        return True


def bar(*args, **kwargs) -> _text_tqdm:
    """A tqdm progress bar (same arguments as tqdm) whose final state stays in the notebook."""
    return (_NotebookTqdm if _kernel() else _text_tqdm)(*args, **kwargs)


def _drop_cancelled_feed(record) -> bool:
    """False for the scheduler's ERROR record of a progress feed cancelled when its bar closes (harmless)."""
    import asyncio

    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def dask(futures, *, width: int = 40) -> None:
    """Show the progress of Dask futures (all their tasks) until they are done; blocks."""
    import logging

    from distributed.diagnostics.progressbar import TextProgressBar

    scheduler_log = logging.getLogger("distributed.scheduler")
    if _drop_cancelled_feed not in scheduler_log.filters:
        scheduler_log.addFilter(_drop_cancelled_feed)
    from dask.utils import format_time

    futures = futures if isinstance(futures, list | set | tuple) else [futures]
    if not _kernel():
        TextProgressBar(futures, width=width)
        return

    class _NotebookBar(TextProgressBar):
        line = _Line()
        started = time.perf_counter()

        def _draw_bar(self, remaining, all, **kwargs):
            done = (1 - remaining / all) if all else 1.0
            self.line.show(f"[{'#' * int(self.width * done):<{self.width}}] | {int(100 * done)}% of "
                           f"{all:,} tasks | {format_time(time.perf_counter() - self.started)}")

        def _draw_stop(self, **kwargs):
            pass  # the last drawn bar stays

    _NotebookBar(futures, width=width)
