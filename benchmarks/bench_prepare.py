"""How fast notebook 02's preparation runs on each engine, how much memory it needs, and whether the engines
agree: lines/s, peak RSS and an output check.

    python benchmarks/bench_prepare.py                 # 1M and 10M transactions
    python benchmarks/bench_prepare.py 1e6 3e6         # any sizes
    python benchmarks/bench_prepare.py 1e7 1e8 --modes duckdb --results benchmarks/results/prepare_scale.md
    python benchmarks/bench_prepare.py 1e6 --modes duckdb polars --results /tmp/polars.md   # two ways side by side

For each size the landing zone is generated once (250 000 transactions per file = one partition), then
prepared five ways, each in a fresh child process:

* ``pandas``  -- prepare.prepare_pandas: everything in one process and in memory (sizes up to 2M only);
* ``dask-threads`` -- prepare.prepare on Dask's threaded scheduler (one process, 2 threads);
* ``dask-cluster`` -- prepare.prepare on a LocalCluster of 2 worker processes, 1 thread each (notebook 02);
* ``duckdb`` -- prepare_duckdb.prepare_duckdb: the same rules in SQL, 2 threads, a 1 GB memory limit;
* ``polars`` -- prepare_polars.prepare_polars: the same rules as Polars expressions, 2 threads.

Peak RSS is sampled every 0.2 s over the child and all its descendants (the workers), added up. Each
way's report, quarantine and feature set are then compared with the first way's: the same report and
quarantine line for line, the same feature rows, text and integer columns equal, floats equal to 1e-9
relative (sums in another order). The table goes to benchmarks/results/prepare.md (or ``--results``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
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
    """Prepare `landing` one way, in this (child) process; the outputs go to `out` for the comparison."""
    import dask

    from dlcourse import cluster, prepare, prepare_duckdb, prepare_polars

    start = time.perf_counter()
    steps = {}
    if mode == "pandas":
        features, quarantined, report = prepare.prepare_pandas(landing)
        rows_in, rows_out = int(report.query("table == 'transactions'")["rows"].sum()), len(features)
        seconds = time.perf_counter() - start
        Path(out, "features").mkdir(parents=True, exist_ok=True)
        features.to_parquet(Path(out, "features", "all.parquet"), index=False)
        Path(out, "quarantine").mkdir(exist_ok=True)
        lines = quarantined[~quarantined["table"].isin(prepare.REFERENCE_TABLES)]
        lines.to_parquet(Path(out, "quarantine", "lines.parquet"))
        report.to_csv(Path(out, "quality_report.csv"), index=False)
    elif mode == "duckdb":
        result = prepare_duckdb.prepare_duckdb(landing, out, threads=2)
        rows_in, rows_out, seconds, steps = result.rows_in, result.rows_out, result.seconds, result.steps
    elif mode == "polars":
        result = prepare_polars.prepare_polars(landing, out, threads=2)  # a fresh process: the pool can be sized
        rows_in, rows_out, seconds, steps = result.rows_in, result.rows_out, result.seconds, result.steps
    else:
        if mode == "dask-cluster":
            with cluster.connect(n_workers=2) as client:
                result = prepare.prepare(landing, out, client=client, progress=False)
        else:
            with dask.config.set(scheduler="threads", num_workers=2):
                result = prepare.prepare(landing, out, client=None, progress=False)
        rows_in, rows_out, seconds = result.rows_in, result.rows_out, time.perf_counter() - start
    return {"seconds": seconds, "rows_in": rows_in, "rows_out": rows_out, "steps": steps}


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


MODES = ("duckdb", "pandas", "dask-threads", "dask-cluster", "polars")


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Notebook 02's preparation on several engines.")
    parser.add_argument("sizes", nargs="*", type=float, help="transactions per landing zone (default: 1e6 1e7)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="the ways to run (the first is the reference of the output check)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the table goes")
    args = parser.parse_args(argv)
    sizes = [int(a) for a in args.sizes] or list(DEFAULT_SIZES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        for n in sizes:
            from dlcourse import bigdata, prepare_duckdb

            landing = Path(tmp) / f"landing_{n}"
            bigdata.generate_transactions(landing, n, rows_per_file=ROWS_PER_FILE, progress=False)
            modes = [m for m in args.modes if m != "pandas" or n <= PANDAS_MAX]
            for mode in modes:
                out = Path(tmp) / f"out_{n}_{mode}"
                r = measure(mode, landing, out)
                reference = Path(tmp) / f"out_{n}_{modes[0]}"
                r["outputs"] = "reference" if mode == modes[0] else prepare_duckdb.compare_outputs(reference, out)
                rows.append(r | {"n_rows": n, "partitions": -(-n // ROWS_PER_FILE)})
                print(f"{n:>12,} {mode:<13} {r['seconds']:7.1f} s {r['rows_in'] / r['seconds']:>9,.0f} lines/s "
                      f"peak RSS {r['peak_rss_mb']:,.0f} MB, outputs {r['outputs']}", flush=True)
                if mode != modes[0]:
                    shutil.rmtree(out)
            shutil.rmtree(landing)
    write_table(rows, args.results)


STEPS = ("reference tables", "transactions: read, split, validate, repair", "transactions: duplicates",
         "events: read, split, validate, repair", "events: duplicates", "features: one sort, windows, write",
         "quarantine and report", "files")


def write_table(rows: list[dict], results: Path = RESULTS) -> None:
    import dask
    import duckdb
    import numpy
    import pandas
    import polars

    lines = [
        "# Notebook 02's preparation: speed, memory, and the same outputs on each engine",
        "",
        "Made by `python benchmarks/bench_prepare.py`. Each run in a fresh process on a generated landing zone",
        f"(default dirt, {ROWS_PER_FILE:,} transactions per file = per partition). *lines/s* counts transaction",
        "lines read (every line ends kept, repaired or quarantined); *peak RSS* adds up the process and its Dask",
        "workers, sampled every 0.2 s. *load*: the 1-minute load average when the run finished. *outputs*: the",
        "report, quarantine and feature set compared with the first way's (floats to 1e-9 relative).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"pandas {pandas.__version__}, NumPy {numpy.__version__}, Dask {dask.__version__}, "
        f"DuckDB {duckdb.__version__}, Polars {polars.__version__}; {time.strftime('%Y-%m-%d')}.",
        "",
        "| transactions | partitions | way | seconds | lines/s | feature rows | peak RSS (MB) | load | outputs |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['n_rows']:,} | {r['partitions']} | {r['mode']} | {r['seconds']:.1f} | "
                     f"{r['rows_in'] / r['seconds']:,.0f} | {r['rows_out']:,} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['load']:.1f} | {r['outputs']} |")
    lines += ["", "Where the time goes in DuckDB and Polars (seconds per step, the same steps in both):", "",
              "| transactions | way | " + " | ".join(STEPS) + " |", "|---:|---|" + "---:|" * len(STEPS)]
    for r in rows:
        if r["mode"] in ("duckdb", "polars"):
            lines.append(f"| {r['n_rows']:,} | {r['mode']} | "
                         + " | ".join(f"{r['steps'].get(s, 0):.1f}" for s in STEPS) + " |")
    results = results.resolve()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(lines) + "\n")
    print(f"wrote {results.relative_to(Path.cwd()) if results.is_relative_to(Path.cwd()) else results}")


if __name__ == "__main__":
    main(sys.argv[1:])
