"""setup(): quiet start, one status line, seeds, parameter checks; publish()/collect() round trip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import locked_version

import dlcourse
from dlcourse import report, session


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_setup_prints_one_line_and_nothing_on_stderr():
    done = run_python("""
        import dlcourse
        dlcourse.setup("00_welcome_and_setup", {"seed": 3, "probe_network": False, "demo_rerun": False})
        import keras, numpy as np
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
        print(np.round(layer.get_weights()[0].sum(), 6))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"TensorFlow log noise leaked: {done.stderr[:300]!r}"
    lines = done.stdout.splitlines()
    tensorflow = ".".join(locked_version("tensorflow").split(".")[:2])
    assert lines[0].startswith("dlcourse ") and "seed 3" in lines[0] and f"TensorFlow {tensorflow}" in lines[0]
    assert "CPU cores" in lines[0]
    again = run_python(done.args[2])
    assert again.stdout == done.stdout, "the same seed must give the same weights"


@pytest.mark.parametrize(("preset", "expected"), [(None, "1 True"), ("0", "0 False")])
def test_import_turns_on_onednn_unless_the_reader_chose(preset, expected):
    """`import dlcourse` turns TensorFlow's oneDNN CPU kernels on (benchmarks/results/onednn.md) but keeps a
    TF_ENABLE_ONEDNN_OPTS the reader exported."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if preset is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = preset
    done = run_python("""
        import os
        import dlcourse
        from dlcourse.session import import_tensorflow
        import_tensorflow()
        from tensorflow.python.util import _pywrap_util_port
        print(os.environ["TF_ENABLE_ONEDNN_OPTS"], _pywrap_util_port.IsMklEnabled())
    """, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == expected


def test_setup_refuses_a_bad_parameter_in_one_sentence():
    with pytest.raises(ValueError, match=r"^seed must be an int ≥ 0, got -1$"):
        dlcourse.setup("00", {"seed": -1, "probe_network": True, "demo_rerun": True}, tensorflow=False)


def test_setup_asks_for_the_parameters_cell_first():
    with pytest.raises(ValueError, match="run the parameters cell first: probe_network, demo_rerun not defined"):
        dlcourse.setup("00", {"seed": 1}, tensorflow=False)


def test_setup_seeds_numpy(capsys):
    dlcourse.setup("00", {"seed": 5, "probe_network": True, "demo_rerun": True}, tensorflow=False)
    first = np.random.rand()
    dlcourse.setup("00", {"seed": 5, "probe_network": True, "demo_rerun": True}, tensorflow=False)
    assert np.random.rand() == first
    assert capsys.readouterr().out.count("seed 5") == 2


def test_versions_names_the_main_packages():
    found = session.versions()
    assert found["tensorflow"] == locked_version("tensorflow") and found["dlcourse"] == dlcourse.__version__


def test_publish_and_collect_round_trip(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    dlcourse.publish(test_accuracy=np.float32(0.9123), epochs=np.int64(6), note="ok")
    bundle = shown[0]
    assert bundle[report.MIMETYPE] == {"test_accuracy": 0.9123, "epochs": 6, "note": "ok"}
    nb = {"cells": [{"outputs": [{"output_type": "display_data", "data": bundle}]}]}
    assert report.collect(nb) == {"test_accuracy": 0.9123, "epochs": 6, "note": "ok"}


@pytest.mark.parametrize("bad, message", [
    ({"loss": float("nan")}, "a published metric must be finite, got nan"),
    ({"model": object()}, "a published metric must be a number, a bool or a str, got object"),
    ({}, "publish needs at least one metric"),
])
def test_publish_refuses_what_the_summary_cannot_hold(bad, message):
    with pytest.raises(ValueError, match=message):
        dlcourse.publish(**bad)
