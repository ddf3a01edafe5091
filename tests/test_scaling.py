"""Notebook 12's Dask half: a cluster of `dask scheduler` and `dask worker` processes started from the command
line, runs measured on it, a worker killed mid-run whose work is redone with an identical result, and the model
of the run time with its projection to N machines."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse import bigdata, cluster, distributed, prepare_duckdb, scaling


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    out = tmp_path_factory.mktemp("landing")
    manifest = bigdata.generate_transactions(out, 20_000, seed=5, rows_per_file=5_000, progress=False)
    return out, manifest.counts["transactions"]["lines"]


def test_a_command_line_cluster_survives_a_lost_worker_with_the_same_output(zone, tmp_path):
    zone, lines = zone
    with cluster.CommandLineCluster(tmp_path / "logs", tmp_path / "spill", memory_limit="1GiB",
                                    preload=("dlcourse.prepare",)) as dask_cluster:
        assert dask_cluster.add_workers(3) == ["worker1", "worker2", "worker3"]
        pids, port = dask_cluster.pids, dask_cluster.port
        assert len(pids) == 4 and all(distributed.process_alive(p) for p in pids)
        assert dask_cluster.shown(dask_cluster.worker_command("worker1")).startswith(
            f"dask worker tcp://127.0.0.1:{port} --name worker1")
        row = scaling.measured_prepare(dask_cluster.client, zone, tmp_path / "whole", repeat=1)
        lost = scaling.prepare_losing_a_worker(dask_cluster, "worker2", zone, tmp_path / "lost")
        with pytest.raises(ValueError, match="victim must be a running worker .*'worker2'"):
            scaling.prepare_losing_a_worker(dask_cluster, "worker2", zone, tmp_path / "again")
    assert not any(distributed.process_alive(p) for p in pids), "every process stops with the block"
    assert distributed.port_is_free(port)
    assert (tmp_path / "logs" / "scheduler.log").exists() and (tmp_path / "logs" / "worker3.log").exists()

    assert row["repeat"] == 1 and row["workers"] == 3 and row["lines"] == lines and row["rows_out"] > 0
    assert row["disk_write_MB"] >= row["shuffled_MB"] > 0, "the P2P shuffle buffers every shard on disk"
    assert row["peak_MiB"] > 50 and row["worker_cpu_s"] > 0
    assert lost.killed_after_s is not None and lost.keys_lost >= 1
    assert lost.survivors == ["worker1", "worker3"]
    assert lost.tasks_twice > 0 and lost.tasks_run > lost.tasks_twice
    assert lost.result.report.equals(row["report"])
    assert prepare_duckdb.compare_outputs(tmp_path / "whole", tmp_path / "lost") == "identical"


def test_a_command_line_cluster_stops_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="the block fails"):  # noqa: PT012 - the failure is inside the block
        with cluster.CommandLineCluster(tmp_path / "logs", tmp_path / "spill") as dask_cluster:
            dask_cluster.add_workers(1)
            pids = dask_cluster.pids
            raise RuntimeError("the block fails")
    assert not any(distributed.process_alive(p) for p in pids)


def test_the_time_model_recovers_its_parts_and_uses_no_more_cores_than_there_are():
    truth = scaling.TimeModel(fixed_s=1.5, serial_s_per_line=2e-6, parallel_s_per_line=3e-5)
    lines = np.array([50_000, 200_000, 50_000, 200_000])
    workers = np.array([1, 1, 2, 2])
    seconds = scaling.predict_seconds(truth, lines, workers, cores=2)
    model = scaling.fit_time_model(lines, workers, seconds, cores=2)
    assert model.fixed_s == pytest.approx(1.5) and model.serial_s_per_line == pytest.approx(2e-6)
    assert model.lines_per_s_per_core == pytest.approx(1 / 3e-5)
    assert scaling.predict_seconds(model, 200_000, 3, cores=2) == pytest.approx(seconds[-1]), \
        "a third worker on two cores adds no core"
    assert scaling.predict_seconds(model, 200_000, 3, cores=3) < seconds[-1]
    with pytest.raises(ValueError, match="at least 3 different"):
        scaling.fit_time_model([1, 2], [1, 1], [1.0, 2.0], cores=2)
    with pytest.raises(ValueError, match="cores must be ≥ 1, got 0"):
        scaling.fit_time_model(lines, workers, seconds, cores=0)


def test_machines_table_splits_the_time_and_stops_at_the_serial_ceiling():
    model = scaling.TimeModel(fixed_s=2.0, serial_s_per_line=1e-7, parallel_s_per_line=2e-5)
    table = scaling.machines_table(model, 10**8, [1, 2, 4, 1024], cores_per_machine=8, shuffled_bytes_per_line=400,
                                   network_gbit_s=10)
    assert table.loc[1, "network_s"] == 0, "one machine sends nothing over the network"
    assert table.loc[2, "network_s"] == pytest.approx(1e8 * 400 / 4 / 1.25e9)
    assert np.allclose(table["seconds"], table["serial_s"] + table["parallel_s"] + table["network_s"])
    assert table["speedup"].is_monotonic_increasing and table.loc[1, "speedup"] == 1
    ceiling = table.loc[1, "seconds"] / table.loc[1, "serial_s"]
    assert table.loc[1024, "speedup"] < ceiling
    with pytest.raises(ValueError, match="network_gbit_s > 0, got 8 and 0"):
        scaling.machines_table(model, 10, [1], cores_per_machine=8, shuffled_bytes_per_line=1, network_gbit_s=0)
    with pytest.raises(ValueError, match="machines must all be ≥ 1, got 0"):
        scaling.machines_table(model, 10, [0], cores_per_machine=8, shuffled_bytes_per_line=1, network_gbit_s=1)
