"""Claims and headline results: the prose and the numbers are one thing, and breaking either fails the suite.

Unit tests of dlcourse.claims; the committed outputs against course.toml's headline bounds; and end to end on
a tiny course (real kernels): a false comparison, a metric below its floor and a wrong prose number each fail.
"""

from __future__ import annotations

import copy
import json
import textwrap

import nbformat
import pytest
from conftest import COURSE, make_notebook

from dlcourse import claims, course, report
from dlcourse.tools import lint, runner


@pytest.fixture(autouse=True)
def _default_profile():
    saved = dict(claims._state)
    claims.set_context(None, "default")
    yield
    claims._state.update(saved)


# -- claim and same ---------------------------------------------------------------------------------

def test_a_true_claim_prints_its_verdict_and_evidence(capsys):
    assert claims.claim("the GRU beats persistence", 0.41 < 1.76, "0.41 vs 1.76 °C") is None
    assert capsys.readouterr().out == "✓ the GRU beats persistence: 0.41 vs 1.76 °C\n"


def test_a_false_claim_prints_a_cross_and_raises(capsys):
    with pytest.raises(claims.ClaimError, match="the GRU beats persistence"):
        claims.claim("the GRU beats persistence", 1.9 < 1.76, "1.90 vs 1.76 °C")
    assert capsys.readouterr().out.startswith("✗ the GRU beats persistence: 1.90 vs 1.76 °C")


@pytest.mark.parametrize("profile", ["smoke", "custom"])
def test_a_learned_claim_is_only_reported_away_from_the_default_profile(profile, capsys):
    claims.set_context("06_cnn_in_keras", profile)
    claims.claim("batch norm helps", False, "0.52 vs 0.70", default_only=True)
    assert f"(not enforced: this claim is about the default profile's run, this is a {profile} run)" in \
        capsys.readouterr().out
    with pytest.raises(claims.ClaimError):  # an exact claim is enforced at every profile
        claims.claim("the formula equals Keras' count", False, "34,826 vs 34,827")


def test_a_learned_claim_is_enforced_at_the_default_profile():
    with pytest.raises(claims.ClaimError):
        claims.claim("batch norm helps", False, "0.52 vs 0.70", default_only=True)


def test_a_speed_claim_is_enforced_only_by_refresh_at_the_default_profile(monkeypatch, capsys):
    monkeypatch.delenv(claims.REFRESH_ENV, raising=False)
    claims.speed_claim("Parquet reads faster than CSV", False, "0.9x")   # a busy CI box: reported
    assert "✗ Parquet reads faster than CSV: 0.9x (not enforced: a speed depends on what else" in \
        capsys.readouterr().out
    claims.speed_claim("Parquet reads faster than CSV", True, "87x")
    assert capsys.readouterr().out == "✓ Parquet reads faster than CSV: 87x\n"
    monkeypatch.setenv(claims.REFRESH_ENV, "1")                        # dlcourse refresh: enforced
    with pytest.raises(claims.ClaimError, match="Parquet reads faster than CSV"):
        claims.speed_claim("Parquet reads faster than CSV", False, "0.9x")
    claims.set_context("01", "smoke")                                   # but not at the smoke profile
    claims.speed_claim("Parquet reads faster than CSV", False, "0.9x")


def test_same_reports_the_tolerance_or_the_largest_difference(capsys):
    claims.same("NumPy equals Keras", [1.0, 2.0], [1.0, 2.0 + 1e-8], atol=1e-6)
    assert capsys.readouterr().out == "✓ NumPy equals Keras: within 1e-06\n"
    with pytest.raises(claims.ClaimError, match="largest difference 0.001"):
        claims.same("NumPy equals Keras", [1.0, 2.0], [1.0, 2.001], atol=1e-6)
    with pytest.raises(claims.ClaimError, match=r"shapes differ, \(2,\) vs \(3,\)"):
        claims.same("NumPy equals Keras", [1.0, 2.0], [1.0, 2.0, 3.0])


def test_a_claim_needs_a_statement():
    with pytest.raises(ValueError, match="claim needs a statement"):
        claims.claim("  ", True)


# -- headline bounds --------------------------------------------------------------------------------

BOUNDS = {"test_accuracy": {"default": ">= 0.90", "smoke": ">= 0.30"}, "unaccounted": {"default": "== 0"}}


def test_a_metric_within_its_bound_prints_a_tick(capsys):
    assert claims.check_headline({"test_accuracy": 0.923, "other": 5}, BOUNDS, "default") == []
    assert capsys.readouterr().out == "✓ test_accuracy = 0.923: within the default profile's bound ≥ 0.9\n"


def test_a_metric_below_its_floor_raises_at_the_default_and_smoke_profiles():
    with pytest.raises(claims.ClaimError, match=r"test_accuracy = 0.1, outside its default bound >= 0.9"):
        claims.check_headline({"test_accuracy": 0.1}, BOUNDS, "default")
    with pytest.raises(claims.ClaimError, match=r"outside its smoke bound >= 0.3"):
        claims.check_headline({"test_accuracy": 0.1}, BOUNDS, "smoke")
    with pytest.raises(claims.ClaimError, match=r"unaccounted = 3, outside its default bound == 0"):
        claims.check_headline({"unaccounted": 3}, BOUNDS, "default")


def test_with_other_parameters_a_missed_bound_is_reported_not_raised(capsys):
    failures = claims.check_headline({"test_accuracy": 0.1}, BOUNDS, "custom")
    assert failures and "✗ test_accuracy = 0.1: outside the default profile's bound" in capsys.readouterr().out


def test_a_bad_bound_is_one_sentence():
    with pytest.raises(ValueError, match=r"must look like '>= 0.90'.*got 'at least 0.9'"):
        claims.parse_bound("at least 0.9")


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_every_notebook_declares_headline_results_that_its_committed_outputs_reach(nb):
    assert nb.headline, f"{nb.id}: no [notebook.headline] in course.toml"
    published = report.collect(json.loads(nb.path.read_text()))
    for name, bound in nb.headline.items():
        assert set(bound) <= {"default", "smoke"}, f"{nb.id}.{name}: only 'default' and 'smoke' bounds"
        assert "default" in bound, f"{nb.id}.{name}: no default bound"
        for text in bound.values():
            claims.parse_bound(text)
        assert name in published, f"{nb.id} declares headline metric {name!r} but does not publish it"
    assert claims.check_headline(published, nb.headline, "default") == []


# -- the profile a notebook runs at -----------------------------------------------------------------

def test_setup_tells_the_default_smoke_and_custom_profiles_apart():
    from dlcourse import params, session

    nb = course.find("06")
    defaults = {name: p.default for name, p in params.read(nb.path).items()}
    assert session.profile_of("06", defaults) == "default"
    assert session.profile_of("06", {**defaults, **nb.smoke}) == "smoke"
    assert session.profile_of("06", {**defaults, "seed": 7}) == "custom"


# -- the prose lint -----------------------------------------------------------------------------------

def markdown_notebook(text: str, output: str) -> dict:
    return {"cells": [
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]},
        {"cell_type": "markdown", "source": text, "metadata": {}}]}


@pytest.mark.parametrize("text", [
    "The test accuracy is 0.9233.", "It reaches 92.3 % of the images.", "We saw 18,816 parameters.",
    "The pipeline made 3.4 million rows.", "A 3×3 kernel on notebook 06's images ($k = 2.5$, `n=77`).",
    "Adam (2014) is from a paper. <!-- from elsewhere: 2014 (Kingma & Ba) -->",
    "The full profile makes 10 million rows. <!-- from elsewhere: 10 million (course.toml) -->",
    "Next, **12 · Scaling out**.", "A relative error of 1.4e-09.", "Parquet is 2.12 times smaller.",
])
def test_prose_numbers_backed_by_an_output_or_listed_as_from_elsewhere_pass(text):
    nb = markdown_notebook(text, "accuracy 0.9233, 18816 parameters, 3,412,345 rows, error 1.39e-09, x2.12\n")
    assert lint.prose_number_problems(nb, "t.ipynb") == []


@pytest.mark.parametrize("text, written", [
    ("The test accuracy is 0.9251.", "0.9251"), ("It reaches 93.7 % of the images.", "93.7"),
    ("Adam (2014) is from a paper.", "2014"), ("It made 5.1 million rows.", "5.1 million"),
])
def test_a_prose_number_that_no_output_backs_is_caught(text, written):
    nb = markdown_notebook(text, "accuracy 0.9233, 18816 parameters, 3,412,345 rows\n")
    problems = lint.prose_number_problems(nb, "t.ipynb")
    assert len(problems) == 1 and f"the prose says {written!r}" in problems[0]


def test_editing_a_number_in_a_real_notebooks_prose_fails_its_lint(tmp_path):
    """Deliberate breakage on a committed notebook: one number of 06's prose changed."""
    nb = json.loads(course.find("06").path.read_text())
    before = lint.prose_number_problems(nb, "06")  # [] once committed (test_notebook_lint checks it)
    broken = copy.deepcopy(nb)
    cell = next(c for c in broken["cells"] if c["cell_type"] == "markdown" and "Batch normalization" in
                "".join(c["source"]))
    cell["source"] = "".join(cell["source"]) + "\n\nIt reaches 97.31 % test accuracy."
    problems = [p for p in lint.prose_number_problems(broken, "06") if p not in before]
    assert len(problems) == 1 and "'97.31'" in problems[0]


def test_a_command_the_runner_would_refuse_is_caught():
    good = "Try `dlcourse run 06 -p dataset mnist -p train_seconds 300`."
    bad = "Try `dlcourse run 06 -p dataset mnist -p epochs 12`."
    assert lint.command_problems(good, "t") == []
    problems = lint.command_problems(bad, "t")
    assert len(problems) == 1 and "unknown parameter 'epochs' for 06_cnn_in_keras" in problems[0]
    assert "dataset must be one of" in lint.command_problems("`dlcourse run 06 -p dataset imagenet`", "t")[0]


def test_the_readme_and_contributing_commands_are_accepted_by_the_runner():
    for name in ("README.md", "CONTRIBUTING.md"):
        assert lint.command_problems((course.root() / name).read_text(), name) == []


def test_the_run_time_in_the_title_is_the_measured_one():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {},
                     "source": "# 00 · T\n\n**Runs in** about 45 s on a 2-core CPU at the default profile."}],
          "metadata": {"dlcourse": {"refresh_seconds": 71.2}}}
    problems = lint.runs_in_problems(nb, "09", budget_s=60)
    assert any("says it runs in about 45 s, the last refresh measured 71 s" in p for p in problems)
    assert any("over the notebook's budget of 60 s" in p for p in problems)
    nb["metadata"]["dlcourse"]["refresh_seconds"] = 44.0
    assert lint.runs_in_problems(nb, "09", budget_s=60) == []


# -- end to end on a tiny course: a false claim or a missed floor fails the run -------------------------

@pytest.fixture
def claims_course(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_notebook(nbdir / "00_claims.ipynb", """
        accuracy = 0.95     # the accuracy the notebook 'measures', ≥ 0 and ≤ 1
        baseline = 0.80     # the baseline's accuracy, ≥ 0 and ≤ 1
    """, ["import dlcourse\ndlcourse.setup('00_claims', globals(), tensorflow=False)",
          "dlcourse.claim('the model beats the baseline', accuracy > baseline, f'{accuracy} vs {baseline}', "
          "default_only=True)",
          "dlcourse.publish(test_accuracy=accuracy)"],
        title="# 00 · Claims\n\n**Learning objectives** none\n\n**Runs in** about 5 s on a 2-core CPU at the "
              "default profile")
    (nbdir / "course.toml").write_text(textwrap.dedent("""
        [[notebook]]
        id = "00_claims"
        title = "Claims"
        summary = "s"
        needs = "n"
        budget_s = 60
        [notebook.smoke]
        accuracy = 0.5
        [notebook.full]
        [notebook.headline]
        test_accuracy = { default = ">= 0.9", smoke = ">= 0.3" }
    """))
    monkeypatch.setenv("DLCOURSE_ROOT", str(tmp_path))
    return nbdir


@pytest.mark.slow
def test_a_false_comparison_and_a_metric_below_its_floor_fail_the_run(claims_course, tmp_path):
    nb = course.find("00")
    ok = runner.run_one(nb, runner.resolve_parameters(nb, "default", []), tmp_path, html=False, progress=False)
    assert ok.status == "ok", ok.error
    shown = "".join(o.get("text", "") for c in nbformat.read(ok.output, as_version=4).cells
                    for o in c.get("outputs", []))
    assert "✓ the model beats the baseline: 0.95 vs 0.8" in shown
    assert "✓ test_accuracy = 0.95: within the default profile's bound ≥ 0.9" in shown

    false_claim = runner.run_one(nb, runner.resolve_parameters(nb, "default", [("baseline", "0.97")]),
                                 tmp_path, html=False, progress=False)
    assert false_claim.status == "ok", "with other parameters a learned claim is reported, not enforced"

    (claims_course / "course.toml").write_text((claims_course / "course.toml").read_text().replace(
        "accuracy = 0.5", "accuracy = 0.5\nbaseline = 0.97"))
    smoke = runner.run_one(nb, runner.resolve_parameters(nb, "smoke", []), tmp_path, html=False, progress=False)
    assert smoke.status == "ok", "a learned claim is only reported at the smoke profile"

    # the default profile: flip the notebook's own default so that the claim is false there
    src = nb.path.read_text().replace("baseline = 0.80", "baseline = 0.97")
    nb.path.write_text(src)
    failed = runner.run_one(nb, runner.resolve_parameters(nb, "default", []), tmp_path, html=False,
                            progress=False)
    assert failed.status == "failed" and "ClaimError" in failed.error and "the model beats the baseline" in \
        failed.error

    nb.path.write_text(src.replace("baseline = 0.97", "baseline = 0.10").replace("accuracy = 0.95",
                                                                                  "accuracy = 0.85"))
    below = runner.run_one(nb, runner.resolve_parameters(nb, "default", []), tmp_path, html=False,
                           progress=False)
    assert below.status == "failed" and "test_accuracy = 0.85, outside its default bound >= 0.9" in below.error


@pytest.mark.slow
def test_refresh_refuses_a_false_claim_and_writes_the_measured_run_time(claims_course):
    before = course.find("00").path.read_text()
    [result] = runner.refresh(["00"])
    assert result.status == "ok", result.error
    written = nbformat.read(course.find("00").path, as_version=4)
    measured = written.metadata["dlcourse"]["refresh_seconds"]
    assert f"**Runs in** about {lint.runs_in_seconds(measured)} s on a" in written.cells[0].source
    assert lint.runs_in_problems(written, "00", budget_s=60) == []

    course.find("00").path.write_text(before.replace("baseline = 0.80", "baseline = 0.99"))
    refused = course.find("00").path.read_text()
    [failed] = runner.refresh(["00"])
    assert failed.status == "failed" and "ClaimError" in failed.error
    assert course.find("00").path.read_text() == refused, "a failed refresh leaves the master as it was"

    # a false speed claim: reported by a plain run (CI), refused by refresh (the committed outputs)
    course.find("00").path.write_text(before.replace(
        "dlcourse.claim('the model beats", "dlcourse.speed_claim('the model beats").replace(
        "baseline = 0.80", "baseline = 0.99"))
    nb, out = course.find("00"), claims_course.parent / "runs"
    out.mkdir()
    run = runner.run_one(nb, runner.resolve_parameters(nb, "default", []), out, html=False, progress=False)
    assert run.status == "ok", run.error
    [slow] = runner.refresh(["00"])
    assert slow.status == "failed" and "ClaimError" in slow.error


@pytest.mark.slow
def test_a_progress_bar_keeps_its_final_state_in_the_stored_notebook(tiny_course, tmp_path):
    path = make_notebook(tiny_course / "notebooks" / "00_tiny.ipynb", "rows = 10  # rows, ≥ 1", [
        "from dlcourse import progress\nwith progress.bar(total=rows, desc='rows') as bar:\n"
        "    for _ in range(rows):\n        bar.update(1)"])
    nb = course.find("00")
    result = runner.run_one(nb, runner.resolve_parameters(nb, "default", []), tmp_path, html=False,
                            progress=False)
    assert result.status == "ok", result.error
    outputs = [o for c in nbformat.read(result.output, as_version=4).cells for o in c.get("outputs", [])]
    shown = [o["data"]["text/plain"] for o in outputs if "data" in o]
    assert len(shown) == 1 and shown[0].startswith("rows: 100%|") and "10/10" in shown[0], shown
    assert path.exists()
