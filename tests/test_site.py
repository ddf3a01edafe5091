"""The course website's builder (dlcourse.tools.site): numbers and claims from the committed outputs, notebook
pages that fold answers and hide the hidden tests, and a Sphinx build that fails on a broken link or a missing
image. The built site itself is opened in a real browser by tests/test_browser.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dlcourse import course, report
from dlcourse.tools import glossary, site

METRICS = {"13": {"blend_pr_auc": 0.652916, "network_pr_auc": 0.62665, "served_requests_per_s": 251.104,
                  "lines": 1339712}}


def test_a_metric_in_the_text_is_the_published_number_formatted_as_asked():
    text = "PR-AUC {{13:blend_pr_auc:.3f}} at {{ 13:served_requests_per_s:.0f }} req/s over {{13:lines:,}} lines"
    assert site.fill_metrics(text, METRICS, "faq.md") == "PR-AUC 0.653 at 251 req/s over 1,339,712 lines"


@pytest.mark.parametrize("text, message", [
    ("{{07:blend_pr_auc}}", "names notebook 07, which is not in the course"),
    ("{{13:pr_auc}}", "names metric 'pr_auc', which notebook 13 does not publish"),
    ("{{13:blend_pr_auc:,d}}", "format ',d' does not apply to 0.652916"),
    ("blend ahead {{assert 13:network_pr_auc > 13:blend_pr_auc}}.", "network_pr_auc > 13:blend_pr_auc is false"),
    ("{{assert 13:blend_pr_auc >= 0.9}}", "is false in the committed outputs (0.652916 vs 0.9)"),
])
def test_an_unknown_metric_a_bad_format_or_a_false_claim_stops_the_build_in_one_sentence(text, message):
    with pytest.raises(ValueError, match="faq.md: ") as caught:
        site.fill_metrics(text, METRICS, "faq.md")
    assert message in str(caught.value)


def test_a_claim_that_holds_leaves_no_trace_on_the_page():
    text = "the blend leads {{assert 13:blend_pr_auc > 13:network_pr_auc}}, by {{assert 13:blend_pr_auc < 1}}far."
    assert site.fill_metrics(text, METRICS, "faq.md") == "the blend leads, byfar."


def test_the_hand_written_pages_quote_only_published_numbers_and_true_claims():
    metrics = site.published_metrics()
    for page in (course.root() / site.SITE_DIR).glob("*.md"):
        filled = site.fill_metrics(page.read_text(encoding="utf-8"), metrics, page.name)
        assert "{{" not in filled, f"site/{page.name}: a placeholder the builder does not know"


def test_the_faq_answers_each_question_of_the_articles_appendix_with_numbers_and_a_link():
    faq = (course.root() / site.SITE_DIR / "faq.md").read_text(encoding="utf-8")
    for question in ("深度学习与大数据的关系", "如何选择合适的深度学习模型", "如何提高深度学习模型的性能",
                     "如何防止深度学习模型过拟合", "如何选择合适的深度学习框架", "部署", "维护和更新"):
        assert question in faq, f"site/faq.md does not answer {question}"
    answers = faq.split("\n## ")[1:]
    assert len(answers) >= 7
    for answer in answers:
        assert "{{" in answer and "](notebooks/" in answer, f"an answer without a number or a link: {answer[:60]}"


def test_a_notebook_page_folds_answers_hides_the_hidden_tests_and_links_file_modules_and_terms():
    nb = course.find("13")
    known = {t.en for t in glossary.load()}
    page = site.notebook_page(nb, known)
    sources = ["".join(c["source"]) for c in page["cells"]]
    assert not any("BEGIN HIDDEN TESTS" in s for s in sources), "hidden tests on the site"
    master = json.loads(nb.path.read_text(encoding="utf-8"))
    solutions = [c for c in page["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert solutions and len(solutions) == sum(bool(c.get("metadata", {}).get("nbgrader", {}).get("solution"))
                                               for c in master["cells"])
    for cell in solutions:
        if cell["cell_type"] == "code":
            assert "hide-input" in cell["metadata"]["tags"]
        else:
            assert cell["source"].startswith("<details") and "BEGIN SOLUTION" not in cell["source"]
    links = sources[1]
    assert f"{{download}}`{nb.id}.ipynb" in links
    for module in nb.modules:
        assert f"(../modules/{module}.md)" in links
    assert "{term}`" in sources[0], "the key terms should link to the glossary"
    assert "widgets" not in page["metadata"]
    assert not any(report.MIMETYPE in o.get("data", {}) for c in page["cells"] for o in c.get("outputs", []))


def tiny_site(tmp_path: Path, index: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(course.root() / site.SITE_DIR / "_static", src / "_static")
    shutil.copy(course.root() / site.SITE_DIR / "conf.py", src / "conf.py")
    (src / "index.md").write_text("# Home\n\n" + index + "\n\n```{toctree}\nother\n```\n", encoding="utf-8")
    (src / "other.md").write_text("# Other\n\n## A section\n\nText.\n", encoding="utf-8")
    return src


def test_the_site_configuration_builds_a_good_page(tmp_path):
    src = tiny_site(tmp_path, "[a section](other.md#a-section) and $x^2$.")
    html = site.sphinx(src, tmp_path / "out" / "html", jobs="1")
    assert (html / "index.html").is_file() and (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert "cdn." not in (html / "index.html").read_text(encoding="utf-8"), "a page loads MathJax from a CDN"


@pytest.mark.parametrize("index, problem", [
    ("[gone](missing.md)", "missing.md"),
    ("[no such section](other.md#nowhere)", "nowhere"),
    ("![a plot](plots/missing.png)", "missing.png"),
])
def test_a_broken_link_or_a_missing_image_fails_the_build(tmp_path, index, problem):
    with pytest.raises(RuntimeError, match="the site did not build") as caught:
        site.sphinx(tiny_site(tmp_path, index), tmp_path / "out" / "html", jobs="1")
    assert problem in str(caught.value)
