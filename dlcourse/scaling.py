"""Scaling a Dask preparation out, as taught in 12_scaling_out: measured runs, a worker killed mid-run, and a
model of what N machines would buy.

* :func:`measured_prepare` runs notebook 02's :func:`dlcourse.prepare.prepare` on a cluster with the
  peer-to-peer shuffle and returns one row of the scaling table: seconds, lines/s, the workers' CPU seconds
  and peak memory, and the bytes the shuffle cut into shards, sent and buffered on disk.
* :func:`prepare_losing_a_worker` runs it while a watcher SIGKILLs one worker as soon as that worker holds
  shuffle output; the scheduler's task stream tells which tasks ran twice.
* :func:`fit_time_model`, :func:`predict_seconds` and :func:`machines_table`: the run time as a fixed part, a
  serial part per line and a parallel part per line shared by the cores in use, fitted to the measured runs
  (non-negative least squares), checked on runs it was not fitted to, and projected to N machines with the
  shuffle crossing a network.

Used in notebooks: 12.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlcourse import distributed, prepare

# What a P2P shuffle reports in each worker's metrics (distributed.shuffle): (where, label, unit) -> our name.
P2P_METRICS = {("foreground", "shards", "bytes"): "shuffled_bytes",  # rows cut into shards for the workers
               ("background-comms", "process", "bytes"): "sent_bytes",  # shards sent to their workers
               ("background-disk", "disk-write", "bytes"): "disk_write_bytes"}  # shards received, buffered on disk


def _p2p_totals(dask_worker) -> dict[str, float]:
    totals = dict.fromkeys(P2P_METRICS.values(), 0.0)
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and len(key) >= 5 and key[0] == "p2p" and key[2:] in P2P_METRICS:
            totals[P2P_METRICS[key[2:]]] += value
    return totals


def p2p_totals(client) -> dict[str, float]:
    """Bytes the running workers have shuffled, sent and written to disk in P2P shuffles so far, summed."""
    totals = dict.fromkeys(P2P_METRICS.values(), 0.0)
    for worker in client.run(_p2p_totals).values():
        for name, value in worker.items():
            totals[name] += value
    return totals


def _reset_peak_rss() -> bool:
    try:  # Linux: writing 5 to clear_refs resets this process's peak resident memory (VmHWM) to its size now
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def reset_peak_memory(client) -> bool:
    """Restart each worker's peak-memory count, so :func:`dlcourse.distributed.peak_memory` covers what runs
    next. True when every worker could (Linux); elsewhere the peaks stay those of each process's life."""
    return all(client.run(_reset_peak_rss).values())


def measured_prepare(client, landing_dir: str | Path, out_dir: str | Path, **labels) -> dict:
    """Run :func:`dlcourse.prepare.prepare` on `client`'s cluster with the P2P shuffle; one row of a scaling
    table: `labels` (such as workers=2, repeat=1), then lines, seconds, lines_per_s, rows_out, the workers'
    CPU seconds, the largest worker's peak memory (MiB) and the P2P shuffle's MB, all for this run alone.
    The report itself is under "report"."""
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    cpu_before = sum(distributed.worker_cpu_seconds(client).values())
    p2p_before = p2p_totals(client)
    reset_peak_memory(client)
    result = prepare.prepare(landing_dir, out_dir, client=client, progress=False, shuffle_method="p2p")
    p2p_after = p2p_totals(client)
    return {**labels, "workers": workers, "lines": result.rows_in, "seconds": result.seconds,
            "lines_per_s": result.rows_per_s, "rows_out": result.rows_out,
            "worker_cpu_s": sum(distributed.worker_cpu_seconds(client).values()) - cpu_before,
            "peak_MiB": max(distributed.peak_memory(client).values()) / 2**20,
            **{name.replace("_bytes", "_MB"): (p2p_after[name] - p2p_before[name]) / 1e6 for name in p2p_after},
            "report": result.report}


@dataclass
class LostWorkerRun:
    """What :func:`prepare_losing_a_worker` saw."""

    result: prepare.Prepared
    victim: str
    killed_after_s: float | None  # seconds into the run when the worker was killed (None: it never was)
    keys_lost: int  # results the victim held in memory when it died
    tasks_run: int  # task completions the scheduler recorded during the run
    tasks_twice: int  # distinct tasks that completed more than once (the lost worker's work, redone)
    survivors: list[str]


def prepare_losing_a_worker(cluster, victim: str, landing_dir: str | Path, out_dir: str | Path,
                            poll_s: float = 0.01) -> LostWorkerRun:
    """Prepare the landing zone on `cluster` (a :class:`dlcourse.cluster.CommandLineCluster`) and SIGKILL its
    worker `victim` as soon as it holds output of the P2P shuffle: mid-run, with work only it had."""
    from dask.distributed import get_task_stream

    client = cluster.client
    address = cluster.worker_address(victim)
    if address is None:
        raise ValueError(f"victim must be a running worker of the cluster ({', '.join(cluster.running())}), "
                         f"got {victim!r}")
    seen: dict = {}
    done = threading.Event()
    start = time.perf_counter()

    def watch() -> None:
        while not done.is_set():
            keys = client.has_what().get(address, ())
            if any("shuffle" in str(key) for key in keys):
                seen.update(keys=len(keys), after_s=time.perf_counter() - start)
                cluster.kill_worker(victim)
                return
            time.sleep(poll_s)

    watcher = threading.Thread(target=watch, daemon=True)
    with get_task_stream(client) as stream:
        watcher.start()
        try:
            result = prepare.prepare(landing_dir, out_dir, client=client, progress=False, shuffle_method="p2p")
        finally:
            done.set()
            watcher.join()
    runs = Counter(str(task["key"]) for task in stream.data)
    return LostWorkerRun(result, victim, seen.get("after_s"), seen.get("keys", 0), sum(runs.values()),
                         sum(n > 1 for n in runs.values()), cluster.running())


# ---------------------------------------------------------------------------------------------
# A model of the run time


def cores_here() -> int:
    """CPU cores this process may use (what the local workers share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class TimeModel:
    """seconds = fixed_s + lines * (serial_s_per_line + parallel_s_per_line / cores in use)."""

    fixed_s: float
    serial_s_per_line: float
    parallel_s_per_line: float

    @property
    def lines_per_s_per_core(self) -> float:
        """Throughput of one core on the parallel part of the work."""
        return 1 / self.parallel_s_per_line if self.parallel_s_per_line > 0 else float("inf")


def fit_time_model(lines, workers, seconds, cores: int) -> TimeModel:
    """Fit :class:`TimeModel` to runs of `lines` lines on `workers` workers that took `seconds`, when the
    workers share `cores` cores (so n workers use min(n, cores) of them); non-negative least squares."""
    from scipy.optimize import nnls

    lines, workers, seconds = (np.asarray(v, dtype=float) for v in (lines, workers, seconds))
    if cores < 1:
        raise ValueError(f"cores must be ≥ 1, got {cores}")
    if len({(a, b) for a, b in zip(lines, np.minimum(workers, cores), strict=True)}) < 3:
        raise ValueError("fit_time_model needs runs of at least 3 different (lines, cores in use) pairs, "
                         f"got {len(lines)} runs")
    design = np.column_stack([np.ones_like(lines), lines, lines / np.minimum(workers, cores)])
    coefficients, _ = nnls(design, seconds)
    return TimeModel(*map(float, coefficients))


def predict_seconds(model: TimeModel, lines, workers, cores: int):
    """The model's run time for `lines` lines on `workers` workers sharing `cores` cores."""
    lines, workers = np.asarray(lines, dtype=float), np.asarray(workers, dtype=float)
    return model.fixed_s + lines * (model.serial_s_per_line + model.parallel_s_per_line / np.minimum(workers, cores))


def machines_table(model: TimeModel, lines: int, machines, cores_per_machine: int, shuffled_bytes_per_line: float,
                   network_gbit_s: float) -> pd.DataFrame:
    """What N machines of `cores_per_machine` cores (one single-threaded worker per core) would take for
    `lines` lines, by the model: the fixed and serial parts stay, the parallel part is shared by every core,
    and of the shuffled bytes the share (N-1)/N bound for other machines crosses each machine's network link
    of `network_gbit_s` at the same time (the time is added: a pessimistic bound, no overlap with the work)."""
    if cores_per_machine < 1 or network_gbit_s <= 0:
        raise ValueError(f"cores_per_machine must be ≥ 1 and network_gbit_s > 0, got {cores_per_machine} and "
                         f"{network_gbit_s}")
    rows = []
    for n in machines:
        if n < 1:
            raise ValueError(f"machines must all be ≥ 1, got {n}")
        serial = model.fixed_s + lines * model.serial_s_per_line
        parallel = lines * model.parallel_s_per_line / (n * cores_per_machine)
        network = lines * shuffled_bytes_per_line * (n - 1) / n / n / (network_gbit_s * 1e9 / 8)
        total = serial + parallel + network
        rows.append({"machines": n, "cores": n * cores_per_machine, "seconds": total, "serial_s": serial,
                     "parallel_s": parallel, "network_s": network, "lines_per_s": lines / total})
    table = pd.DataFrame(rows).set_index("machines")
    table["speedup"] = table["seconds"].iloc[0] / table["seconds"]
    return table
