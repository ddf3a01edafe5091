"""Key metrics a notebook publishes, in a form both a reader and the `dlcourse run` summary can read.

`publish(test_accuracy=0.912, train_seconds=81.4)` shows a small table in the notebook and stores the
same numbers as a machine-readable output (mimetype ``application/vnd.dlcourse.metrics+json``) that
:func:`collect` reads back from an executed notebook.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from numbers import Real

from dlcourse import claims

MIMETYPE = "application/vnd.dlcourse.metrics+json"


def _plain(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"a published metric must be finite, got {value}")
        return int(value) if value.is_integer() and abs(value) < 2**53 else float(f"{value:.6g}")
    raise ValueError(f"a published metric must be a number, a bool or a str, got {type(value).__name__}")


def publish(**metrics: object) -> None:
    """Show `metrics` as a table and store them for the runner's summary (see :func:`collect`).

    Metrics that course.toml declares as the notebook's headline results are checked against their
    bound for the profile the notebook runs at (dlcourse.claims.check_headline): one line each below
    the table, and a ClaimError at the default or smoke profile when one misses.
    """
    if not metrics:
        raise ValueError("publish needs at least one metric, e.g. publish(test_accuracy=0.91)")
    stored = {name: _plain(value) for name, value in metrics.items()}
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in stored.items())
    bundle = {
        "text/plain": "\n".join(f"{k}: {v}" for k, v in stored.items()),
        "text/html": f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>",
        MIMETYPE: stored,
    }
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the course environment
        print(bundle["text/plain"])
    else:
        display(bundle, raw=True)
    notebook = claims._state["notebook"]
    if notebook:
        from dlcourse import course

        claims.check_headline(stored, course.find(notebook).headline)


def collect(nb: Mapping) -> dict:
    """All metrics published in an executed notebook (later values of a name win)."""
    found: dict = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if MIMETYPE in data:
                found.update(data[MIMETYPE])
    return found
