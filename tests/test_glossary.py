"""The English ↔ 中文 glossary (notebooks/glossary.toml) and the key terms each notebook's title cell lists.

The real glossary loads and every notebook's key terms are in it with the same Chinese; small broken glossaries
prove that each check of dlcourse.tools.glossary can fail.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import COURSE, ROOT

from dlcourse.tools import glossary

TERMS = glossary.load()


def write_glossary(tmp_path, *entries: str):
    path = tmp_path / "glossary.toml"
    path.write_text("\n".join(f"[[term]]\n{textwrap.dedent(e).strip()}\n" for e in entries), encoding="utf-8")
    return path


CONVOLUTION = 'en = "convolution"\nzh = "卷积"\nseeds = true\ndefinition = "Sliding a kernel over an input."'
POOLING = 'en = "pooling"\nzh = "池化"\nseeds = true\ndefinition = "Summarising each window by one number."'


def title_cell(*lines: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "\n".join(lines)}]}


# -- the real glossary ----------------------------------------------------------------------------------

def test_the_glossary_loads_with_at_least_100_terms():
    assert len(TERMS) >= 100
    assert glossary.GLOSSARY_PATH == ROOT / "notebooks" / "glossary.toml"
    assert all(isinstance(t, glossary.Term) and t.en and t.zh and t.definition for t in TERMS)


def test_overfitting_and_underfitting_are_not_swapped():
    zh = {t.zh: t.en for t in TERMS}
    assert zh["过拟合"] == "overfitting"
    assert zh["欠拟合"] == "underfitting"


def test_every_anchor_is_ascii_and_unique():
    slugs = [glossary.slug(t.en) for t in TERMS]
    assert len(set(slugs)) == len(slugs)
    assert all(s.isascii() and s.startswith("term-") for s in slugs)
    assert glossary.slug("Fréchet distance") == "term-frechet-distance"
    assert glossary.slug("Jensen–Shannon divergence") == "term-jensen-shannon-divergence"



# -- the checks can fail --------------------------------------------------------------------------------

def test_a_small_glossary_loads(tmp_path):
    terms = glossary.load(write_glossary(tmp_path, CONVOLUTION, POOLING))
    assert terms == [glossary.Term("convolution", "卷积", "Sliding a kernel over an input.", True),
                     glossary.Term("pooling", "池化", "Summarising each window by one number.", True)]


def test_a_duplicate_english_term_is_refused(tmp_path):
    twice = CONVOLUTION.replace('"卷积"', '"卷积运算"').replace('"convolution"', '"Convolution"')
    path = write_glossary(tmp_path, CONVOLUTION, twice)
    with pytest.raises(ValueError, match=r"glossary\.toml: term 2 \('Convolution'\) repeats the English term "
                                         r"'convolution'"):
        glossary.load(path)


def test_a_chinese_term_used_for_two_english_terms_is_refused(tmp_path):
    path = write_glossary(tmp_path, CONVOLUTION, POOLING.replace('"池化"', '"卷积"'))
    with pytest.raises(ValueError, match=r"term 2 \('pooling'\) repeats the Chinese term '卷积' of 'convolution'"):
        glossary.load(path)


@pytest.mark.parametrize("field", ["en", "zh", "definition"])
def test_an_empty_field_is_refused(tmp_path, field):
    broken = "\n".join(f'{field} = "  "' if line.startswith(f"{field} =") else line
                       for line in CONVOLUTION.splitlines())
    with pytest.raises(ValueError, match=rf"glossary\.toml: term 1 .* has an empty {field}$"):
        glossary.load(write_glossary(tmp_path, broken))


def test_a_missing_field_is_refused(tmp_path):
    path = write_glossary(tmp_path, POOLING, CONVOLUTION.replace("seeds = true\n", ""))
    with pytest.raises(ValueError, match=r"term 2 \('convolution'\) has no seeds"):
        glossary.load(path)


def test_a_misspelt_field_is_refused(tmp_path):
    path = write_glossary(tmp_path, CONVOLUTION.replace("definition =", "defintion ="))
    with pytest.raises(ValueError, match="has unknown fields defintion"):
        glossary.load(path)


def test_a_chinese_term_without_chinese_is_refused(tmp_path):
    path = write_glossary(tmp_path, CONVOLUTION.replace('"卷积"', '"convolution"'))
    with pytest.raises(ValueError, match="whose first word has no Chinese character"):
        glossary.load(path)


# -- key terms in the title cells -----------------------------------------------------------------------

def test_key_terms_reads_the_title_cells_paragraph():
    nb = title_cell("# 05 · Convolution from scratch", "",
                    "**Runs in** about 50 s on a 2-core CPU at the default profile.", "",
                    "**Key terms · 关键术语** convolution 卷积 · feature map 特征图 · Adam Adam算法 ·",
                    "PR-AUC PR曲线下面积", "", "## Not a key term 术语")
    assert glossary.key_terms(nb) == ["convolution", "feature map", "Adam", "PR-AUC"]
    assert glossary.key_terms(title_cell("# 05 · Convolution from scratch")) == []


def test_check_notebook_names_an_unknown_term_and_a_different_chinese():
    nb = title_cell("**Key terms · 关键术语** convolution 卷积 · pooling 汇聚 · attention map 注意力图 · Pooling 池化")
    terms = [glossary.Term("convolution", "卷积", "d", True), glossary.Term("pooling", "池化", "d", True)]
    assert glossary.check_notebook(nb, terms) == [
        "key term 'pooling' is written '汇聚', the glossary's Chinese is '池化'",
        "key term 'attention map' is not in the glossary (notebooks/glossary.toml)",
        "key term 'Pooling' is spelt 'pooling' in the glossary",
        "key term 'Pooling' is listed twice",
    ]


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_every_notebook_lists_its_key_terms_as_the_glossary_has_them(nb):
    notebook = json.loads(nb.path.read_text(encoding="utf-8"))
    listed = glossary.key_terms(notebook)
    assert len(listed) >= 5, f"{nb.id}: the title cell lists {len(listed)} key terms, at least 5 expected"
    assert glossary.check_notebook(notebook, TERMS) == []


def test_the_notebooks_together_list_most_of_the_glossary():
    listed = {en for nb in COURSE for en in glossary.key_terms(json.loads(nb.path.read_text(encoding="utf-8")))}
    assert len(listed) >= 80
