"""dlcourse.distributed (notebook 12): ports, TF_CONFIG, batches per replica, and clean-up that always happens."""

from __future__ import annotations

import json
import socket
import sys
import time

import numpy as np
import pytest

from dlcourse import distributed

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


# -- ports and TF_CONFIG --------------------------------------------------------------------------

def test_free_ports_are_distinct_and_free():
    ports = distributed.free_ports(5)
    assert len(set(ports)) == 5
    assert all(distributed.port_is_free(p) for p in ports)


def test_a_listening_port_is_not_free():
    with socket.socket() as s:
        s.bind((distributed.HOST, 0))
        s.listen()
        assert not distributed.port_is_free(s.getsockname()[1])


def test_free_ports_needs_at_least_one():
    with pytest.raises(ValueError, match="n must be ≥ 1, got 0"):
        distributed.free_ports(0)


def test_tf_config_names_the_cluster_and_the_task():
    config = distributed.tf_config(["a:1", "b:2"], 1)
    assert config == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize("workers, index", [([], 0), (["a:1"], 1), (["a:1"], -1)])
def test_tf_config_rejects_a_task_outside_the_cluster(workers, index):
    with pytest.raises(ValueError):
        distributed.tf_config(workers, index)


# -- global and per-replica batches ----------------------------------------------------------------

def test_replica_batches_split_each_global_batch_in_order():
    x = np.arange(26)  # 3 global batches of 8 (2 rows dropped), 4 replicas of 2
    assert distributed.replica_batches(x, 8, 4, [1]).tolist() == [[2, 3], [10, 11], [18, 19]]
    both = distributed.replica_batches(x, 8, 4, [0, 3])
    assert both.tolist() == [[0, 1], [6, 7], [8, 9], [14, 15], [16, 17], [22, 23]]


def test_all_replicas_together_see_every_global_batch_once():
    x = np.random.default_rng(0).normal(size=(100, 3))
    parts = [distributed.replica_batches(x, 20, 2, [r]) for r in range(2)]
    rebuilt = np.concatenate([np.concatenate([parts[0][s], parts[1][s]]) for s in range(5)])
    assert np.array_equal(rebuilt, x)


def test_replica_batches_refuse_an_uneven_split():
    with pytest.raises(ValueError, match="multiple of the 3 replicas"):
        distributed.replica_batches(np.arange(10), 4, 3, [0])
    with pytest.raises(ValueError, match="≤ 10"):
        distributed.replica_batches(np.arange(10), 20, 2, [0])


# -- processes and folders are cleaned up, even when the block fails -------------------------------

def test_worker_group_stops_every_process_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with distributed.WorkerGroup([SLEEPER, SLEEPER], tmp_path / "logs") as group:
            pids = group.pids
            assert all(distributed.process_alive(p) for p in pids)
            raise RuntimeError("boom")
    assert not any(distributed.process_alive(p) for p in pids)
    assert group.returncodes() == [-15, -15]  # SIGTERM
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["worker0.log", "worker1.log"]


def test_worker_group_kills_a_process_that_ignores_sigterm(tmp_path):
    stubborn = [sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                "time.sleep(60)"]
    with distributed.WorkerGroup([stubborn], tmp_path) as group:
        deadline = time.monotonic() + 30
        while "ready" not in group.log_path(0).read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    group.stop(grace_s=0.5)
    assert group.returncodes() == [-9]
    assert not distributed.process_alive(group.pids[0])


def test_worker_group_wait_returns_when_one_worker_fails(tmp_path):
    failing = [sys.executable, "-c", "import os; print(os.environ['WHO']); raise SystemExit(3)"]
    start = time.monotonic()
    with distributed.WorkerGroup([SLEEPER, failing], tmp_path, env={"WHO": "everyone"},
                                 envs=[{}, {"WHO": "worker one"}]) as group:
        codes = group.wait(timeout=30)
    assert codes == [None, 3], "the sleeper still ran when the failure was seen"
    assert time.monotonic() - start < 20
    assert group.returncodes()[0] is not None, "leaving the block stopped the sleeper"
    assert group.log_path(1).read_text().strip() == "worker one", "output goes to the log, with the worker's env"


def test_worker_group_wait_times_out_with_running_processes(tmp_path):
    with distributed.WorkerGroup([SLEEPER], tmp_path) as group:
        assert group.wait(timeout=0.3) == [None]
    assert group.returncodes() == [-15]


def test_scratch_dir_is_removed_even_when_the_block_raises(tmp_path):
    with pytest.raises(KeyError):
        with distributed.scratch_dir("x-", parent=tmp_path) as d:
            (d / "file.txt").write_text("data")
            raise KeyError("fail")
    assert not d.exists()
    assert list(tmp_path.iterdir()) == []


def test_worker_command_passes_every_setting(tmp_path):
    cmd = distributed.worker_command(tmp_path / "d.npz", tmp_path, 3, 64, 0.01, 32, 7, tmp_path / "b", 2, 0)
    assert cmd[1:4] == ["-m", "dlcourse.distributed", "worker"]
    text = " ".join(cmd)
    for part in ("--epochs 3", "--batch-size 64", "--learning-rate 0.01", "--hidden-units 32", "--seed 7",
                 "--crash-after-epoch 2", "--crash-task 0"):
        assert part in text


# -- Dask ------------------------------------------------------------------------------------------

def test_worker_metrics_come_from_each_worker_process():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
            Client(local) as client:
        (peak,) = distributed.peak_memory(client).values()
        (cpu,) = distributed.worker_cpu_seconds(client).values()
    assert peak > 20 * 2**20 and cpu > 0


# -- the multi-worker run, crashed and resumed ------------------------------------------------------

@pytest.mark.slow
def test_a_crashed_multi_worker_run_resumes_where_an_uninterrupted_one_ends(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((400, 784), dtype=np.float32), rng.integers(0, 10, 400)
    data = distributed.save_arrays(tmp_path / "data.npz", x, y)
    settings = {"epochs": 2, "batch_size": 100, "hidden_units": 8, "gpus": 0, "timeout_s": 240}
    crashed = distributed.train_multi_worker(data, tmp_path / "crashed", tmp_path / "logs_c", backup_dir=tmp_path / "b",
                                             crash_after_epoch=1, **settings)
    assert crashed.returncodes[1] == -9 and crashed.returncodes[0] in (-15, -9)
    assert [len(p) for p in crashed.progress] == [1, 1]
    resumed = distributed.train_multi_worker(data, tmp_path / "resumed", tmp_path / "logs_r", backup_dir=tmp_path / "b",
                                             **settings)
    assert resumed.ok and resumed.result["first_epoch"] == 2 and len(resumed.result["losses"]) == 1
    assert not any(distributed.process_alive(p) for p in crashed.pids + resumed.pids)
    assert all(distributed.port_is_free(p) for p in crashed.ports + resumed.ports)

    from dlcourse.session import import_tensorflow

    tf, _ = import_tensorflow()
    tf.config.experimental.enable_op_determinism()
    model = distributed.make_model(8, 1e-3, 42)
    history = model.fit(distributed.global_batches(x, y, 100), epochs=2, verbose=0, shuffle=False)
    assert np.allclose(history.history["loss"][-1], resumed.result["losses"][-1], atol=distributed.TOLERANCE)
    for a, b in zip(model.get_weights(), resumed.weights, strict=True):
        assert np.allclose(a, b, atol=distributed.TOLERANCE)
