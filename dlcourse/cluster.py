"""Dask clusters for notebooks 02, 12 and 13: a LocalCluster started quietly, or an existing one by address.

:class:`CommandLineCluster` starts a cluster the way it is started on several machines: a ``dask scheduler``
process and ``dask worker`` processes, from the command line.

Used in notebooks: 02, 12.
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


class CommandLineCluster:
    """A Dask cluster of separate processes started with the ``dask`` command line, as on several machines.

    ``dask scheduler`` runs in one process; each ``dask worker`` (a nanny and its worker process, with a
    memory limit and its own folder for spilled data) in another, as it would on its own machine; the
    notebook's client reaches the scheduler by its address, like any client of a real cluster. Every
    process runs in its own session and writes its log to ``log_dir/<name>.log``. Leaving the ``with``
    block closes the client and stops every process that is still running, even when the block raised.

    >>> with CommandLineCluster(log_dir, spill_dir, memory_limit="1GiB") as cluster:  # doctest: +SKIP
    ...     cluster.add_workers(2)
    ...     cluster.client.submit(sum, [1, 2]).result()
    """

    def __init__(self, log_dir, spill_dir, memory_limit: str = "1GiB", threads_per_worker: int = 1,
                 preload: tuple[str, ...] = (), host: str = "127.0.0.1", start_timeout_s: float = 60.0):
        from pathlib import Path

        if threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be ≥ 1, got {threads_per_worker}")
        self.log_dir, self.spill_dir = Path(log_dir), Path(spill_dir)
        self.memory_limit, self.threads_per_worker, self.host = memory_limit, threads_per_worker, host
        self.preload, self.start_timeout_s = tuple(preload), start_timeout_s
        self.port = None
        self.address = None
        self.client = None
        self.workers: dict = {}  # name -> the WorkerGroup running `dask worker` for it
        self._scheduler = None

    @staticmethod
    def _dask(*args: str) -> list[str]:
        import sys

        return [sys.executable, "-m", "dask", *args]  # the `dask` command of this Python environment

    def scheduler_command(self) -> list[str]:
        return self._dask("scheduler", "--host", self.host, "--port", str(self.port), "--no-dashboard")

    def worker_command(self, name: str) -> list[str]:
        return self._dask("worker", self.address, "--name", name, "--host", self.host, "--nworkers", "1",
                          "--nthreads", str(self.threads_per_worker), "--memory-limit", self.memory_limit,
                          "--local-directory", str(self.spill_dir / name), "--no-dashboard",
                          *[word for module in self.preload for word in ("--preload", module)])

    @staticmethod
    def shown(command: list[str]) -> str:
        """A command as one would type it on a machine: ``dask worker ...`` (no interpreter or folder paths)."""
        from pathlib import Path

        words = ["dask", *command[3:]]
        return " ".join(Path(w).name if "/" in w and not w.startswith("tcp://") else w for w in words)

    def __enter__(self) -> CommandLineCluster:
        from dask.distributed import Client

        from dlcourse import distributed

        quiet_dask_logs()
        self.port = distributed.free_ports(1, self.host)[0]
        self.address = f"tcp://{self.host}:{self.port}"
        self._scheduler = distributed.WorkerGroup([self.scheduler_command()], self.log_dir, names=["scheduler"])
        try:
            self._scheduler.__enter__()
            self.client = Client(self.address, timeout=f"{self.start_timeout_s}s")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_workers(self, n: int) -> list[str]:
        """Start `n` more ``dask worker`` processes and wait until the scheduler has them all; their names."""
        from dlcourse import distributed

        if n < 1:
            raise ValueError(f"n must be ≥ 1, got {n}")
        names = [f"worker{len(self.workers) + i + 1}" for i in range(n)]
        for name in names:
            group = distributed.WorkerGroup([self.worker_command(name)], self.log_dir, names=[name])
            self.workers[name] = group.__enter__()
        self.client.wait_for_workers(len(self.running()), timeout=self.start_timeout_s)
        return names

    def running(self) -> list[str]:
        """Names of the worker processes still running."""
        return [name for name, group in self.workers.items() if group.returncodes()[0] is None]

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker's nanny and worker process at once, as when its machine dies: no goodbye to anyone."""
        import contextlib
        import os
        import signal

        group = self.workers[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.pids[0], signal.SIGKILL)
        group.processes[0].wait()

    def worker_address(self, name: str) -> str | None:
        """The address the scheduler knows worker `name` by (None when it has none)."""
        for address, info in self.client.scheduler_info(n_workers=-1)["workers"].items():
            if info.get("name") == name:
                return address
        return None

    def close(self) -> None:
        """Close the client, then stop the workers and the scheduler (SIGTERM, then SIGKILL after 3 s)."""
        if self.client is not None:
            self.client.close()
            self.client = None
        for group in self.workers.values():
            group.stop()
        if self._scheduler is not None:
            self._scheduler.stop()

    @property
    def pids(self) -> list[int]:
        groups = [*([self._scheduler] if self._scheduler else []), *self.workers.values()]
        return [pid for group in groups for pid in group.pids]
