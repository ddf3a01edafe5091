"""Notebook parameters: read from the parameters cell, checked before any heavy work.

A notebook's cell tagged ``parameters`` is the single source of truth. Each line is

    name = default   # meaning, allowed values

where the comment may state the allowed values in one of two ways:

* choices separated by ``|``: ``# fashion_mnist | mnist | cifar10 | digits``
* bounds: ``# passes over the training set, ≥ 1`` or ``# share of rows held out, > 0 and < 1``
  (write ≥ and ≤ rather than >= and <=: papermill's own parameter reader stops at a second "=";
  both spellings are understood here)

The type is the default's type (an int is accepted where the default is a float; a parameter whose
default is ``None`` takes None or a string). :func:`validate` turns a bad value into one sentence
naming the parameter, the value and what is allowed; a float must be finite (no inf, no nan).
:func:`comment_problems` finds a comment that states allowed values the validator cannot read (the lint
fails it, rather than letting any value through).
"""

from __future__ import annotations

import ast
import io
import json
import math
import operator
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_OPS = {"≥": operator.ge, ">": operator.gt, "≤": operator.le, "<": operator.lt}
_BOUND = re.compile(r"(>=|<=|≥|≤|>|<)\s*(-?\d[\d_]*(?:\.\d+)?(?:e-?\d+)?)")
_CHOICES = re.compile(r"^\s*[\w.\-/]+(?:\s*\|\s*[\w.\-/]+)+\s*$")
_COMPARISON = re.compile(r">=|<=|≥|≤|(?<![-=])>|<")


@dataclass(frozen=True)
class Parameter:
    name: str
    default: object
    help: str
    choices: tuple | None = None
    bounds: tuple[tuple[str, float], ...] = ()

    @property
    def type_name(self) -> str:
        return "any" if self.default is None else type(self.default).__name__

    @property
    def allowed(self) -> str:
        """What is allowed, in words: 'int >= 1', 'one of a | b', 'None or a str'."""
        if self.choices is not None:
            return "one of " + " | ".join(str(c) for c in self.choices)
        if self.default is None:
            return "None or a str"
        words = f"{'a number' if isinstance(self.default, float) else 'an ' + self.type_name}"
        if isinstance(self.default, str):
            words = "a str"
        if isinstance(self.default, bool):
            words = "True or False"
        bounds = " and ".join(f"{op} {_fmt(v)}" for op, v in self.bounds)
        return f"{words} {bounds}".strip()


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _parse_comment(comment: str, default: object) -> tuple[tuple | None, tuple]:
    choices = None
    for segment in re.split(r"[,;:]", comment):
        if _CHOICES.match(segment):
            words = [w.strip() for w in segment.split("|")]
            choices = tuple(_coerce_choice(w, default) for w in words)
    bounds = ()
    if isinstance(default, int | float) and not isinstance(default, bool):
        bounds = tuple((op.replace(">=", "≥").replace("<=", "≤"), float(num.replace("_", "")))
                       for op, num in _BOUND.findall(comment))
    return choices, bounds


def _coerce_choice(word: str, default: object) -> object:
    if word == "None":
        return None
    if isinstance(default, bool):
        return {"True": True, "False": False}.get(word, word)
    if isinstance(default, int | float):
        try:
            return type(default)(word)
        except ValueError:
            return word
    return word


def comment_problems(param: Parameter) -> list[str]:
    """Sentences about a comment whose allowed values the validator would not enforce (empty when fine)."""
    problems = []
    numeric = isinstance(param.default, int | float) and not isinstance(param.default, bool)
    if "|" in param.help and param.choices is None:
        problems.append(f"{param.name}: its comment {param.help!r} has a '|' but no choices the validator can "
                        "read: write them as one segment `a | b | c`, set off by commas or colons")
    if numeric and len(_COMPARISON.findall(param.help)) != len(param.bounds):
        problems.append(f"{param.name}: its comment {param.help!r} has a comparison the validator cannot read "
                        "as a bound: write `≥ 1`, `> 0 and < 1` with plain numbers")
    if numeric and not param.bounds and param.choices is None:
        problems.append(f"{param.name}: its comment {param.help!r} states no allowed values, so any number "
                        "would pass: add bounds (`≥ 1`) or choices (`1 | 2 | 4`)")
    if isinstance(param.default, str) and param.choices is None:
        problems.append(f"{param.name}: its comment {param.help!r} states no choices, so any text would pass: "
                        "list them (`a | b`), or make the default None for free text")
    return problems


def parse_source(source: str) -> dict[str, Parameter]:
    """The parameters declared in the source of a parameters cell."""
    tree = ast.parse(source)
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"a parameters cell holds only `name = value  # comment` lines, got: "
                             f"{ast.get_source_segment(source, node)!r}")
        name = node.targets[0].id
        default = ast.literal_eval(node.value)
        comment = comments.get(node.end_lineno, "")
        choices, bounds = _parse_comment(comment, default)
        params[name] = Parameter(name, default, comment, choices, bounds)
    return params


def parameters_cell(nb: Mapping) -> Mapping:
    """The one code cell tagged `parameters` in a notebook (raises ValueError if not exactly one)."""
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def read(notebook: Path | str) -> dict[str, Parameter]:
    """The parameters of a notebook file (from its cell tagged `parameters`)."""
    nb = json.loads(Path(notebook).read_text())
    cell = parameters_cell(nb)
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return parse_source(source)


def check(param: Parameter, value: object) -> object:
    """`value` if it is allowed for `param`; otherwise raise ValueError in one sentence."""
    default = param.default
    ok_type = (
        default is None and (value is None or isinstance(value, str))
        or isinstance(default, bool) and isinstance(value, bool)
        or isinstance(default, int) and not isinstance(default, bool)
        and isinstance(value, int) and not isinstance(value, bool)
        or isinstance(default, float) and isinstance(value, int | float) and not isinstance(value, bool)
        or isinstance(default, str) and isinstance(value, str)
        or type(default) in (list, dict, tuple) and isinstance(value, type(default))
    )
    if not ok_type:
        raise ValueError(f"{param.name} must be {param.allowed}, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{param.name} must be {param.allowed}, a finite number, got {value!r}")
    if param.choices is not None and value not in param.choices:
        raise ValueError(f"{param.name} must be {param.allowed}, got {value!r}")
    for op, bound in param.bounds:
        if not _OPS[op](value, bound):
            raise ValueError(f"{param.name} must be {param.allowed}, got {value!r}")
    return value


def validate(spec: Mapping[str, Parameter], values: Mapping[str, object]) -> dict[str, object]:
    """Check every value against the spec; unknown names are an error too."""
    for name in values:
        if name not in spec:
            known = ", ".join(spec) or "none"
            raise ValueError(f"unknown parameter {name!r}; this notebook's parameters are: {known}")
    return {name: check(spec[name], value) for name, value in values.items()}


def from_text(param: Parameter, text: str) -> object:
    """Turn a command-line value (`-p epochs 3`) into the parameter's type, or raise ValueError."""
    default = param.default
    if isinstance(default, str) or (default is None and text != "None"):
        return text
    if text == "None":
        return None
    if isinstance(default, bool):
        if text in ("True", "true", "1"):
            return True
        if text in ("False", "false", "0"):
            return False
    else:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, type(default)):
            return value
    raise ValueError(f"{param.name} must be {param.allowed}, got {text!r}")
