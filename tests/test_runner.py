"""`dlcourse run / params / refresh` on a tiny stand-in course (real kernels, real papermill)."""

from __future__ import annotations

import csv

import nbformat
import pytest

from dlcourse.tools import runner

pytestmark = pytest.mark.slow


def test_success_writes_outputs_html_and_a_summary_with_metrics(tiny_course):
    out = tiny_course / "runs"
    results = runner.run(["00"], profile="smoke", out_dir=out, progress=False)
    assert [(r.notebook, r.status) for r in results] == [("00_tiny", "ok")]
    assert results[0].metrics == {"rows_seen": 4}  # smoke profile: rows = 2
    assert (out / "00_tiny.ipynb").exists() and (out / "00_tiny.html").exists()
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert rows[0]["notebook"] == "00_tiny" and rows[0]["status"] == "ok" and rows[0]["profile"] == "smoke"
    assert "| 00_tiny | ok |" in (out / "summary.md").read_text()


def test_overrides_reach_the_notebook(tiny_course):
    results = runner.run(["00"], profile="full", overrides=[("rows", "7")], out_dir=tiny_course / "r",
                         progress=False)
    assert results[0].metrics == {"rows_seen": 14}


def test_a_failing_notebook_keeps_its_partial_output_and_the_run_carries_on(tiny_course):
    out = tiny_course / "runs"
    results = runner.run(["01", "00"], overrides=[("fail", "True")], out_dir=out, progress=False)
    assert [(r.notebook, r.status) for r in results] == [("01_fails", "failed"), ("00_tiny", "ok")]
    assert "RuntimeError: asked to fail" in results[0].error
    partial = nbformat.read(out / "01_fails.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in partial.cells for o in c.get("outputs", []))
    assert "metrics" not in results[0].error and results[0].metrics == {}


def test_stop_on_failure_stops(tiny_course):
    results = runner.run(["01", "00"], overrides=[("fail", "True")], out_dir=tiny_course / "r",
                         stop_on_failure=True, progress=False)
    assert [r.notebook for r in results] == ["01_fails"]


def test_a_bad_parameter_fails_before_any_kernel_starts(tiny_course):
    out = tiny_course / "runs"
    results = runner.run(["00", "01"], overrides=[("rows", "0")], out_dir=out, progress=False)
    assert results[0].status == "bad parameter"
    assert results[0].error == "rows must be an int ≥ 1, got 0"
    assert not (out / "00_tiny.ipynb").exists(), "no kernel may start for a bad parameter"
    assert results[1].status == "ok", "the other notebooks carry on"


def test_the_notebook_itself_refuses_a_bad_value_in_one_sentence(tiny_course):
    # plain papermill (no runner pre-check): the setup() line stops the notebook before heavy work
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(tiny_course / "notebooks" / "00_tiny.ipynb"), str(tiny_course / "o.ipynb"),
                            parameters={"rows": -5}, progress_bar=False, kernel_name="python3")
    assert err.value.evalue == "rows must be an int ≥ 1, got -5"


def test_cli_exit_codes_and_messages(tiny_course, capsys):
    assert runner.main(["run", "07"]) == 2
    assert "unknown notebook '07'; the course has: 00_tiny, 01_fails" in capsys.readouterr().err
    assert runner.main(["run", "00", "-p", "epochs", "3"]) == 2
    assert "unknown parameter 'epochs' for 00_tiny; known: rows, seed" in capsys.readouterr().err
    assert runner.main(["run", "01", "-p", "fail", "True", "--no-html", "--out", str(tiny_course / "c")]) == 1
    assert "| 01_fails | failed |" in capsys.readouterr().out


def test_params_describes_defaults_profiles_allowed_values_and_meaning(tiny_course, capsys):
    assert runner.main(["params", "00"]) == 0
    out = capsys.readouterr().out
    assert "00_tiny: Tiny" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("rows"))
    assert line.split()[:4] == ["rows", "10", "2", "1000"] and "an int ≥ 1" in line and "how many rows" in line


def test_refresh_writes_back_only_a_clean_run(tiny_course):
    path = tiny_course / "notebooks" / "00_tiny.ipynb"
    results = runner.refresh(["00"])
    assert results[0].status == "ok"
    executed = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3]

    broken = tiny_course / "notebooks" / "01_fails.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("fail = False", "fail = True ")
    nbformat.write(nb, broken)
    before = broken.read_text()
    results = runner.refresh(["01"])
    assert results[0].status == "failed" and "asked to fail" in results[0].error
    assert broken.read_text() == before, "a failed refresh must leave the master as it was"
    assert (tiny_course / "build" / "refresh-failed" / "01_fails.ipynb").exists()
