"""How fast notebook 02's preparation runs, and how much memory it needs: lines/s and peak RSS.

    python benchmarks/bench_prepare.py                 # 1M and 10M transactions
    python benchmarks/bench_prepare.py 1e6 3e6         # any sizes

For each size the landing zone is generated once (250 000 transactions per file = one partition), then
prepared three ways, each in a fresh child process:

* ``pandas``  -- prepare.prepare_pandas: everything in one process and in memory (sizes up to 2M only);
* ``dask-threads`` -- prepare.prepare on Dask's threaded scheduler (one process, 2 threads);
* ``dask-cluster`` -- prepare.prepare on a LocalCluster of 2 worker processes, 1 thread each (notebook 02).

Peak RSS is sampled every 0.2 s over the child and all its descendants (the workers), added up.
The table goes to benchmarks/results/prepare.md.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "prepare.md"
DEFAULT_SIZES = (1_000_000, 10_000_000)
ROWS_PER_FILE = 250_000
PANDAS_MAX = 2_000_000


def run_one(mode: str, landing: str, out: str) -> dict:
    """Prepare `landing` one way, in this (child) process."""
    import dask

    from dlcourse import cluster, prepare

    start = time.perf_counter()
    if mode == "pandas":
        features, _, report = prepare.prepare_pandas(landing)
        rows_in, rows_out = int(report.query("table == 'transactions'")["rows"].sum()), len(features)
    else:
        if mode == "dask-cluster":
            with cluster.connect(n_workers=2) as client:
                result = prepare.prepare(landing, out, client=client, progress=False)
        else:
            with dask.config.set(scheduler="threads", num_workers=2):
                result = prepare.prepare(landing, out, client=None, progress=False)
        rows_in, rows_out = result.rows_in, result.rows_out
    return {"seconds": time.perf_counter() - start, "rows_in": rows_in, "rows_out": rows_out}


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


def measure(mode: str, landing: Path, out: Path) -> dict:
    """Run one mode in a child process while sampling the memory of its whole process tree."""
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); from bench_prepare import run_one; "
            f"print(json.dumps(run_one({mode!r}, {str(landing)!r}, {str(out)!r})))")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while child.poll() is None:
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{mode} failed with exit code {child.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return result | {"mode": mode, "peak_rss_mb": peak / 2**20, "load": os.getloadavg()[0]}


def main(argv: list[str]) -> None:
    sizes = [int(float(a)) for a in argv] or list(DEFAULT_SIZES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        for n in sizes:
            from dlcourse import bigdata

            landing = Path(tmp) / f"landing_{n}"
            bigdata.generate_transactions(landing, n, rows_per_file=ROWS_PER_FILE, progress=False)
            modes = ["pandas"] * (n <= PANDAS_MAX) + ["dask-threads", "dask-cluster"]
            for mode in modes:
                r = measure(mode, landing, Path(tmp) / f"out_{n}_{mode}")
                rows.append(r | {"n_rows": n, "partitions": -(-n // ROWS_PER_FILE)})
                print(f"{n:>12,} {mode:<13} {r['seconds']:7.1f} s {r['rows_in'] / r['seconds']:>9,.0f} lines/s "
                      f"peak RSS {r['peak_rss_mb']:,.0f} MB", flush=True)
    write_table(rows)


def write_table(rows: list[dict]) -> None:
    import numpy
    import pandas

    lines = [
        "# Notebook 02's preparation (`dlcourse.prepare`): speed and memory",
        "",
        "Made by `python benchmarks/bench_prepare.py`. Each run in a fresh process on a generated landing zone",
        f"(default dirt, {ROWS_PER_FILE:,} transactions per file = per partition). *lines/s* counts transaction",
        "lines read (every line ends kept, repaired or quarantined); *peak RSS* adds up the process and its Dask",
        "workers, sampled every 0.2 s. *load*: the 1-minute load average when the run finished.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"pandas {pandas.__version__}, NumPy {numpy.__version__}; {time.strftime('%Y-%m-%d')}.",
        "",
        "| transactions | partitions | way | seconds | lines/s | feature rows | peak RSS (MB) | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['n_rows']:,} | {r['partitions']} | {r['mode']} | {r['seconds']:.1f} | "
                     f"{r['rows_in'] / r['seconds']:,.0f} | {r['rows_out']:,} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['load']:.1f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
