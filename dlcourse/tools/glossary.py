"""The course's glossary: English ↔ 中文 key terms, read from notebooks/glossary.toml.

The website (dlcourse.tools.site) builds its glossary page from :func:`load` and links each notebook's key
terms to it; every notebook's title cell (cell 0) lists the terms it teaches in one paragraph,

    **Key terms · 关键术语** convolution 卷积 · pooling 池化 · feature map 特征图

which :func:`key_terms` reads and :func:`check_notebook` checks against the glossary (tests/test_glossary.py
does so for all 15 notebooks). A term is written "English Chinese"; the Chinese starts at the first word
holding a Chinese character, so "Adam Adam算法" is the English "Adam" and the Chinese "Adam算法".
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dlcourse import course

__all__ = ["GLOSSARY_PATH", "LABEL", "Term", "check_notebook", "key_terms", "load", "slug"]

LABEL = "**Key terms · 关键术语**"
FIELDS = {"en": str, "zh": str, "definition": str, "seeds": bool}
CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PARAGRAPH = re.compile(rf"^{re.escape(LABEL)}(.*?)(?:\n[ \t]*\n|\Z)", re.M | re.S)


def _glossary_path() -> Path:
    try:
        return course.notebooks_dir() / "glossary.toml"
    except FileNotFoundError:  # no course folder around: load() names the missing file when called
        return Path("notebooks") / "glossary.toml"


GLOSSARY_PATH = _glossary_path()


@dataclass(frozen=True)
class Term:
    """One entry of the glossary."""

    en: str  # "convolution"; lower case unless a name or an acronym ("GAN", "Dask")
    zh: str  # "卷积": the seeds' word where they have one, otherwise the standard term
    definition: str  # one sentence in the course's own words
    seeds: bool  # whether zh is the seed articles' own word for it


def slug(en: str) -> str:
    """A stable, ASCII-only HTML anchor for a term: "Fréchet distance" -> "term-frechet-distance"."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", en) if not unicodedata.combining(c))
    words = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return f"term-{words}"


def load(path: Path = GLOSSARY_PATH) -> list[Term]:
    """The glossary's terms in file order, after checking every entry; a bad entry raises ValueError."""
    path = Path(path)
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("term", [])
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path} lists no terms: each one is a [[term]] table with en, zh, seeds, definition")
    terms: list[Term] = []
    by_en: dict[str, str] = {}
    by_zh: dict[str, str] = {}
    by_slug: dict[str, str] = {}
    for number, entry in enumerate(entries, 1):
        name = f"term {number} ({entry.get('en')!r})" if isinstance(entry, dict) else f"term {number}"
        problem = _entry_problem(entry)
        if problem:
            raise ValueError(f"{path}: {name} {problem}")
        term = Term(en=entry["en"].strip(), zh=entry["zh"].strip(), definition=entry["definition"].strip(),
                    seeds=entry["seeds"])
        for seen, key, what in ((by_en, term.en.lower(), "English term"), (by_zh, term.zh, "Chinese term"),
                                (by_slug, slug(term.en), "anchor")):
            if key in seen:
                raise ValueError(f"{path}: {name} repeats the {what} {key!r} of {seen[key]!r}; "
                                 "each English term and each Chinese term appears once")
            seen[key] = term.en
        terms.append(term)
    return terms


def _entry_problem(entry: object) -> str | None:
    """What is wrong with one [[term]] table, as the end of a sentence; None when nothing is."""
    if not isinstance(entry, dict):
        return "is not a table"
    if unknown := sorted(set(entry) - set(FIELDS)):
        return f"has unknown fields {', '.join(unknown)} (allowed: {', '.join(FIELDS)})"
    for field, kind in FIELDS.items():
        if field not in entry:
            return f"has no {field}"
        value = entry[field]
        if not isinstance(value, kind):
            return f"has a {field} that is not a {kind.__name__}: {value!r}"
        if kind is str and not value.strip():
            return f"has an empty {field}"
    en, zh = entry["en"].strip(), entry["zh"].strip()
    if "·" in en or "·" in zh:
        return "contains '·', which separates the terms of a notebook's key-terms line"
    if CHINESE.search(en):
        return f"has Chinese in its English term {en!r}"
    if not CHINESE.search(zh.split()[0]):
        return f"has a Chinese term {zh!r} whose first word has no Chinese character (write a name as 'Keras库')"
    return None


def _listed(nb: Mapping) -> list[tuple[str, str]]:
    """(English, Chinese as written) for each item of a notebook's key-terms paragraph; [] if it has none."""
    cells = nb.get("cells") or []
    if not cells:
        return []
    source = cells[0].get("source", "")
    text = "".join(source) if isinstance(source, list) else source
    found = _PARAGRAPH.search(text)
    if not found:
        return []
    listed = []
    for item in " ".join(found.group(1).split()).split("·"):
        words = item.split()
        if not words:
            continue
        first = next((i for i, word in enumerate(words) if CHINESE.search(word)), len(words))
        listed.append((" ".join(words[:first]), " ".join(words[first:])))
    return listed


def key_terms(nb: Mapping) -> list[str]:
    """The English key terms a notebook's title cell lists after **Key terms · 关键术语**, in order."""
    return [en for en, _ in _listed(nb)]


def check_notebook(nb: Mapping, terms: Iterable[Term]) -> list[str]:
    """Problems with a notebook's key terms: not in the glossary, spelt otherwise, or Chinese that differs."""
    glossary = {t.en.lower(): t for t in terms}
    problems, seen = [], set()
    for en, zh in _listed(nb):
        if not en:
            problems.append(f"key term {zh!r} has no English term before its Chinese")
            continue
        term = glossary.get(en.lower())
        if term is None:
            problems.append(f"key term {en!r} is not in the glossary (notebooks/glossary.toml)")
        elif en != term.en:
            problems.append(f"key term {en!r} is spelt {term.en!r} in the glossary")
        elif zh != term.zh:
            problems.append(f"key term {en!r} is written {zh or '(no Chinese)'!r}, the glossary's Chinese is "
                            f"{term.zh!r}")
        if en.lower() in seen:
            problems.append(f"key term {en!r} is listed twice")
        seen.add(en.lower())
    return problems
