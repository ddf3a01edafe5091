"""The course catalog (notebooks/course.toml) and the folders of the course.

notebooks/course.toml is the one place that lists the notebooks in order with their titles, the package
modules each one uses, their smoke and full parameter sets and their headline bounds; the README's tables,
the tests and the `dlcourse` command all read it through :func:`notebooks`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROFILES = ("smoke", "default", "full")


CATALOG = Path("notebooks") / "course.toml"


def root() -> Path:
    """The course folder: the one holding notebooks/course.toml, notebooks/ and data/.

    DLCOURSE_ROOT if set; else the source tree of this package (a clone, an editable install); else, for a
    plain `pip install` (a student bundle installed with `make lab`), the working folder or the nearest
    folder above it that holds notebooks/course.toml: a kernel started in the bundle's notebooks/ finds it.
    """
    if "DLCOURSE_ROOT" in os.environ:
        return Path(os.environ["DLCOURSE_ROOT"]).resolve()
    source_tree = Path(__file__).resolve().parent.parent
    if (source_tree / CATALOG).is_file():
        return source_tree
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CATALOG).is_file():
            return folder
    raise FileNotFoundError(f"no {CATALOG} in {here} or a folder above it (nor beside the installed package): "
                            "run from the course folder (or its notebooks/), or set DLCOURSE_ROOT to it")


def notebooks_dir() -> Path:
    return root() / "notebooks"


def data_dir() -> Path:
    """data/: small committed files; generated data goes to data/generated/ (git-ignored)."""
    return root() / "data"


def generated_dir() -> Path:
    path = data_dir() / "generated"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Notebook:
    """One entry of notebooks/course.toml."""

    id: str  # e.g. "06_cnn_in_keras"
    title: str
    summary: str
    needs: str
    budget_s: int
    modules: tuple[str, ...] = ()  # the package modules it imports (dlcourse.tools.codemap checks the list)
    smoke: dict = field(default_factory=dict)
    full: dict = field(default_factory=dict)
    # headline metrics (published with dlcourse.publish) and the bound a run must reach at each profile:
    # {"test_accuracy": {"default": ">= 0.90", "smoke": ">= 0.30"}}; dlcourse.claims checks them
    headline: dict = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.id[:2]

    @property
    def path(self) -> Path:
        return notebooks_dir() / f"{self.id}.ipynb"

    def profile(self, name: str) -> dict:
        """The parameter overrides of a profile: {} for "default"."""
        if name not in PROFILES:
            raise ValueError(f"profile must be one of {' | '.join(PROFILES)}, got {name!r}")
        return {"smoke": self.smoke, "default": {}, "full": self.full}[name]


def notebooks(catalog: Path | None = None) -> list[Notebook]:
    """The notebooks of the course in order, as listed in notebooks/course.toml."""
    catalog = catalog or notebooks_dir() / "course.toml"
    entries = tomllib.loads(catalog.read_text())["notebook"]
    return [
        Notebook(
            id=e["id"], title=e["title"], summary=e["summary"], needs=e["needs"],
            budget_s=int(e["budget_s"]), modules=tuple(e.get("modules", ())),
            smoke=dict(e.get("smoke", {})), full=dict(e.get("full", {})),
            headline={k: dict(v) for k, v in e.get("headline", {}).items()},
        )
        for e in entries
    ]


def find(name: str) -> Notebook:
    """A notebook by number ("06"), id ("06_cnn_in_keras") or file name ("06_cnn_in_keras.ipynb")."""
    key = Path(str(name)).name.removesuffix(".ipynb")
    course = notebooks()
    for nb in course:
        if key in (nb.id, nb.number) or (key.isdigit() and int(key) == int(nb.number)):
            return nb
    known = ", ".join(nb.id for nb in course)
    raise ValueError(f"unknown notebook {name!r}; the course has: {known}")


def table():
    """The course map as a pandas DataFrame (number, title, what you will do, run-time budget)."""
    import pandas as pd

    return pd.DataFrame([{"notebook": nb.number, "title": nb.title, "what you will do": nb.summary,
                          "needs": nb.needs, "budget (s)": nb.budget_s} for nb in notebooks()]
                        ).set_index("notebook")
