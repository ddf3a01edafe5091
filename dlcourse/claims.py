"""Claims: a sentence of the prose, checked by the code cell that made its evidence.

A notebook that writes "the GRU beats persistence" backs it in the cell that computed both numbers:

    claim("the GRU beats persistence", gru < persistence, f"{gru:.2f} vs {persistence:.2f} °C")

which prints one line the reader sees, ``✓ the GRU beats persistence: 0.41 vs 1.76 °C``. A claim that
does not hold prints ``✗ ...`` and raises :class:`ClaimError`, so that `dlcourse refresh`, nbval and
`make test` fail and the text gets rewritten instead of going stale.

Two kinds of claim:

* exact ones (NumPy equals Keras, a formula equals a count): enforced whatever the parameters;
* learned ones, ``default_only=True`` (a model beats a baseline, a loss falls): they need the default
  profile's full run, so they are enforced at the default parameters and only reported at the smoke
  profile or with other parameters, where the reader sees ``✗ ... (not enforced: ...)``;
* claims about speed, :func:`speed_claim` ("Parquet reads tens of times faster", "over 100,000 rows/s"):
  the clock depends on what else the machine runs, so they are enforced where the committed outputs are
  made — `dlcourse refresh`, one notebook at a time on an idle machine, at the default parameters — and
  only reported elsewhere (CI runs two notebooks at once on 2 cores; a reader's laptop may be busy).

:func:`dlcourse.setup` records which profile the notebook runs at (see :func:`profile`);
:func:`dlcourse.publish` checks the notebook's headline metrics against the bounds in course.toml.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Mapping

import numpy as np

__all__ = ["ClaimError", "claim", "same", "speed_claim", "profile", "check_headline"]

# Set by dlcourse.setup(): the notebook's id and "default" | "smoke" | "custom" (other parameters).
_state: dict[str, str | None] = {"notebook": None, "profile": "default"}


class ClaimError(AssertionError):
    """A claim of the prose that the notebook's own numbers contradict."""


def profile() -> str:
    """'default' (the notebook's own parameters: the committed outputs), 'smoke' or 'custom'."""
    return _state["profile"] or "default"


def set_context(notebook: str | None, profile_name: str) -> None:
    """Called by dlcourse.setup(): which notebook runs, at which profile."""
    if profile_name not in ("default", "smoke", "custom"):
        raise ValueError(f"profile must be default | smoke | custom, got {profile_name!r}")
    _state.update(notebook=notebook, profile=profile_name)


def claim(statement: str, holds: object, evidence: str = "", *, default_only: bool = False) -> None:
    """Print ``✓ statement: evidence`` if `holds`, else ``✗ ...`` and raise ClaimError.

    `default_only=True` marks a claim whose evidence needs the default profile's run (a learned result):
    with other parameters a failure is printed and not raised. Returns None, so that a claim on a cell's
    last line shows its verdict line and nothing else.
    """
    if not statement.strip():
        raise ValueError("claim needs a statement, e.g. claim('the GRU beats persistence', gru < naive)")
    ok = bool(holds)
    line = f"{'✓' if ok else '✗'} {statement}" + (f": {evidence}" if evidence else "")
    if ok:
        print(line)
        return
    if default_only and profile() != "default":
        print(f"{line} (not enforced: this claim is about the default profile's run, this is a "
              f"{profile()} run)")
        return
    print(line)
    raise ClaimError(f"the text claims '{statement}', but the numbers say otherwise ({evidence or 'false'}): "
                     "rewrite the text, or find what broke")


REFRESH_ENV = "DLCOURSE_REFRESH"  # set to "1" by `dlcourse refresh` for the kernels it starts


def speed_claim(statement: str, holds: object, evidence: str = "", *, default_only: bool = True) -> None:
    """A claim about speed: printed like :func:`claim`, enforced only in `dlcourse refresh` at the defaults.

    Elsewhere a failure prints ``✗ ... (not enforced: ...)`` and the notebook goes on. `default_only` is
    accepted for symmetry with :func:`claim`; a speed claim is always about the default profile's run.
    """
    if not statement.strip():
        raise ValueError("speed_claim needs a statement, e.g. speed_claim('Parquet reads faster', a < b)")
    enforced = os.environ.get(REFRESH_ENV) == "1" and profile() == "default"
    if bool(holds) or enforced:
        claim(statement, holds, evidence)
        return
    print(f"✗ {statement}" + (f": {evidence}" if evidence else "") + " (not enforced: a speed depends on what "
          "else the machine runs; `dlcourse refresh` enforces it on an idle machine)")


def same(statement: str, ours: object, theirs: object, *, atol: float = 1e-6, rtol: float = 0.0) -> None:
    """Claim that two arrays (or numbers) are equal within `atol` (+ `rtol` times `theirs`)."""
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.shape != b.shape:
        return claim(statement, False, f"shapes differ, {a.shape} vs {b.shape}")
    ok = bool(np.allclose(a, b, atol=atol, rtol=rtol))
    tolerance = f"within {atol:g}" + (f" + {rtol:g} × the value" if rtol else "")
    if ok:
        return claim(statement, True, tolerance)
    return claim(statement, False, f"largest difference {float(np.max(np.abs(a - b))):.3g}, not {tolerance}")


# -- headline metrics: bounds from course.toml ---------------------------------------------------

_BOUND = re.compile(r"^\s*(>=|<=|==|>|<|≥|≤)\s*(-?[\d_.]+(?:e-?\d+)?)\s*$")
_OPS = {">=": operator.ge, "≥": operator.ge, "<=": operator.le, "≤": operator.le, ">": operator.gt,
        "<": operator.lt, "==": operator.eq}
_SHOWN = {">=": "≥", "<=": "≤", "==": "="}


def parse_bound(text: str) -> tuple[str, float]:
    """'>= 0.9' -> ('>=', 0.9); one sentence naming the text when it is not a bound."""
    m = _BOUND.match(str(text))
    if not m:
        raise ValueError(f"a headline bound must look like '>= 0.90', '<= 3.5' or '== 0', got {text!r}")
    return m.group(1), float(m.group(2).replace("_", ""))


def check_headline(metrics: Mapping[str, object], bounds: Mapping[str, Mapping[str, str]],
                   profile_name: str | None = None) -> list[str]:
    """Check published `metrics` against `bounds` ({metric: {"default": ">= 0.9", "smoke": ">= 0.3"}}).

    Prints one line per bounded metric; at the default and smoke profiles raises ClaimError for a metric
    outside its bound, with other parameters only reports it. Returns the failures as sentences.
    """
    profile_name = profile_name or profile()
    failures, lines = [], []
    for name, value in metrics.items():
        if name not in bounds or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        key = profile_name if profile_name in ("default", "smoke") else "default"
        if key not in bounds[name]:
            continue
        op, limit = parse_bound(bounds[name][key])
        ok = _OPS[op](float(value), limit)
        lines.append(f"{'✓' if ok else '✗'} {name} = {value:g}: {'within' if ok else 'outside'} the {key} "
                     f"profile's bound {_SHOWN.get(op, op)} {limit:g}")
        if not ok:
            failures.append(f"headline metric {name} = {value:g}, outside its {key} bound {op} {limit:g} "
                            "(notebooks/course.toml)")
    for line in lines:
        print(line)
    if failures and profile_name in ("default", "smoke"):
        raise ClaimError("; ".join(failures))
    return failures
