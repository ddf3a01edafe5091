"""The harness itself: offline, inside the repository, bounded, and Ctrl-C safe (each check can fail)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import HARNESS, TEST_ENV, make_notebook

from dlcourse import course
from dlcourse.tools import kernel, runner

pytestmark = pytest.mark.slow

DIAL_OUT = """
import socket
for target in [("192.0.2.1", 53), ("example.org", 443)]:
    try:
        socket.create_connection(target, timeout=2)
        print("connected", target)
    except OSError as exc:
        print(type(exc).__name__, exc)
"""


def loopback_round_trip() -> bytes:
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            with peer:
                return peer.recv(4)


def test_every_process_of_the_suite_is_offline_and_inside_build(tmp_path):
    env = dict(os.environ, DLCOURSE_NETWORK_LOG=str(tmp_path / "refused.log"))
    done = subprocess.run([sys.executable, "-c", DIAL_OUT], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.count("ConnectionRefusedError the test harness allows no network") == 2, done.stdout
    assert "connected" not in done.stdout
    refused = (tmp_path / "refused.log").read_text()
    assert "connection to ('192.0.2.1', 53)" in refused and "name lookup of 'example.org'" in refused
    assert loopback_round_trip() == b"ping", "the loopback must keep working (kernels, Dask, multi-worker)"
    assert Path.home() == TEST_ENV / "home" and os.environ["DLCOURSE_OFFLINE"] == "1"
    assert Path(os.environ["TMPDIR"]).is_relative_to(course.root() / "build" / "test-env")


def test_a_notebook_kernel_gets_the_same_guard_and_home(tmp_path):
    log = tmp_path / "refused.log"
    nb = nbformat.read(make_notebook(tmp_path / "00_net.ipynb", "seed = 0  # ≥ 0", [
        DIAL_OUT,
        "from pathlib import Path\nimport keras.src.backend.config as c\nprint(Path.home(), c.keras_home())"]),
        as_version=4)
    old = os.environ["DLCOURSE_NETWORK_LOG"]
    os.environ["DLCOURSE_NETWORK_LOG"] = str(log)
    try:
        kernel.execute(nb, tmp_path)
    finally:
        os.environ["DLCOURSE_NETWORK_LOG"] = old
    dialled, homes = (nb.cells[i].outputs[0]["text"] for i in (2, 3))
    assert dialled.count("ConnectionRefusedError") == 2 and log.read_text().count("\n") == 2
    assert homes.split() == [str(TEST_ENV / "home"), str(TEST_ENV / "home" / ".keras")]


def test_the_guard_is_what_the_suite_starts_with():
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(HARNESS)
    assert getattr(socket, "dlcourse_guard", False), "the pytest process itself must be guarded too"


def test_a_hung_cell_fails_within_its_limit(tmp_path):
    nb = nbformat.read(make_notebook(tmp_path / "00_hang.ipynb", "seed = 0  # ≥ 0",
                                     ["import time\ntime.sleep(600)", "print('never')"]), as_version=4)
    start = time.perf_counter()
    with pytest.raises(kernel.CellTimeout, match="a cell ran past its time limit of 3 s"):
        kernel.execute(nb, tmp_path, timeout=3)
    assert time.perf_counter() - start < 60


def test_a_hung_notebook_fails_the_run_with_a_message_and_the_run_carries_on(tiny_course):
    nb = course.find("01")
    start = time.perf_counter()
    result = runner.run_one(nb, runner.resolve_parameters(nb, "default", [("wait", "600")]), tiny_course,
                            html=False, progress=False, timeout=3)
    assert result.status == "failed" and "time limit of 3 s" in result.error, result.error
    assert time.perf_counter() - start < 60


def test_ctrl_c_keeps_the_finished_notebooks_summary(tiny_course):
    out = tiny_course / "runs"
    command = [sys.executable, "-m", "dlcourse", "run", "00", "01", "-p", "wait", "600", "--no-html",
               "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, DLCOURSE_ROOT=str(tiny_course)))
    deadline = time.monotonic() + 120
    while not (out / "01_fails.ipynb").exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # 00 has finished; 01 has started (papermill saves its output as it goes)
    time.sleep(6)  # past the kernel's start: Ctrl-C during a start-up is not what this test is about
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    summary = (out / "summary.md").read_text()
    assert "| 00_tiny | ok |" in summary and "| 01_fails | interrupted |" in summary, summary
    assert "Traceback" not in stderr, stderr[-2000:]


def test_the_summary_shows_seconds_against_the_budget_and_flags_overruns(tiny_course):
    results = runner.run(["00"], profile="smoke", out_dir=tiny_course / "r", progress=False)
    table = runner.write_summary(results, tiny_course / "r", "smoke")
    assert f"| 00_tiny | ok | {results[0].seconds:.1f} / {runner.SMOKE_BUDGET_S} |" in table
    slow = [runner.Result("00_tiny", "ok", 45.0, 30.0)]
    table = runner.write_summary(slow, tiny_course / "r", "smoke")
    assert "45.0 / 30 **over budget**" in table and "Over budget at the smoke profile: 00_tiny." in table
