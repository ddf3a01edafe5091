"""Every notebook end to end with papermill at its smoke parameters (nbval reruns the defaults)."""

from __future__ import annotations

import nbformat
import pytest
from conftest import COURSE

from dlcourse import claims, report
from dlcourse.tools import lint, runner

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("nb", COURSE, ids=[nb.id for nb in COURSE])
def test_smoke_run_is_clean(nb, tmp_path):
    result = runner.run_one(nb, runner.resolve_parameters(nb, "smoke", []), tmp_path, html=False,
                            progress=False)
    assert result.status == "ok", f"{nb.id}: {result.error}"
    executed = nbformat.read(result.output, as_version=4)
    problems = lint.output_problems(executed, f"{nb.id} (smoke run)")
    assert not problems, "\n".join(problems)
    metrics = report.collect(executed)
    assert metrics, f"{nb.id} publishes no metrics (dlcourse.publish)"
    smoke_bounds = {name: bound for name, bound in nb.headline.items() if "smoke" in bound}
    missing = sorted(set(smoke_bounds) - set(metrics))
    assert not missing, f"{nb.id}: headline metrics with a smoke bound not published: {missing}"
    assert claims.check_headline(metrics, smoke_bounds, "smoke") == []
