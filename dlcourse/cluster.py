"""Dask clusters for notebooks 02, 12 and 13: a LocalCluster started quietly, or an existing one by address.

Used in notebooks: 02.
"""

from __future__ import annotations

import logging


def quiet_dask_logs() -> None:
    """Keep Dask's informational log lines (shuffle start/stop, worker start) out of notebook outputs."""
    import dask

    dask.config.set({"distributed.admin.system-monitor.gil.enabled": False})
    for name in ("distributed", "distributed.shuffle", "distributed.scheduler", "distributed.worker",
                 "distributed.nanny", "distributed.core", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def connect(scheduler_address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1,
            memory_limit: str = "4GiB"):
    """A dask.distributed Client: to `scheduler_address` if given, else to a new LocalCluster.

    The LocalCluster uses worker processes on free ports and a dashboard on a free port.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be ≥ 1, got {n_workers}")
    quiet_dask_logs()
    from dask.distributed import Client, LocalCluster

    if scheduler_address:
        return Client(scheduler_address)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                           memory_limit=memory_limit, dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster)


def describe(client) -> str:
    """One line: workers, threads, memory and the dashboard address (port only: no machine names)."""
    info = client.scheduler_info()
    workers = info["workers"].values()
    memory = sum(w["memory_limit"] for w in workers) / 2**30
    threads = sum(w["nthreads"] for w in workers)
    port = client.dashboard_link.rsplit(":", 1)[-1].split("/")[0]
    return (f"Dask cluster: {len(workers)} workers, {threads} threads, {memory:.1f} GiB memory limit; "
            f"dashboard on port {port}")
