"""How fast dlcourse.bigdata.generate_transactions writes its dirty landing zone: rows/s, MB/s and peak memory.

    python benchmarks/bench_generate.py                    # 1M and 10M transactions
    python benchmarks/bench_generate.py 1e6 1e7 1e8        # any sizes (1e8 writes about 19 GB)

Each size runs in a fresh child process, so that its peak resident memory is its own, and writes into a
temporary folder that is deleted afterwards. Arrow is limited to one thread: the numbers are for one core.
The table goes to benchmarks/results/generate.md.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "generate.md"
DEFAULT_SIZES = (1_000_000, 10_000_000)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_one(n_rows: int) -> dict:
    """Generate n_rows in this process and measure it (called in a child process)."""
    import pyarrow as pa

    from dlcourse import bigdata

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    imported_mb = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as out:
        cpu = time.process_time()
        manifest = bigdata.generate_transactions(out, n_rows, progress=False)
        cpu = time.process_time() - cpu
    timing = manifest.timing
    return {"n_rows": n_rows, "files": manifest.counts["transactions"]["files"],
            "lines": manifest.counts["transactions"]["lines"] + manifest.counts["events"]["lines"],
            "mb": timing["bytes_written"] / 1e6, "seconds": timing["seconds"], "cpu_seconds": round(cpu, 1),
            "rows_per_s": timing["rows_per_s"], "mb_per_s": timing["mb_per_s"],
            "rows_per_cpu_s": round(n_rows / cpu), "load": round(os.getloadavg()[0], 1),
            "peak_rss_mb": round(_rss_mb()), "rss_after_import_mb": round(imported_mb)}


def measure(n_rows: int) -> dict:
    """Run one size in a fresh Python process and return its measurements."""
    done = subprocess.run([sys.executable, __file__, "--one", str(n_rows)], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: list[dict]) -> str:
    import numpy
    import pyarrow

    lines = [
        "# `dlcourse.bigdata.generate_transactions`: speed and memory",
        "",
        "Made by `python benchmarks/bench_generate.py`. Each size ran in a fresh process with default",
        "parameters (default dirt, 0.5 % fraud, 1 000 000 transactions per file) and Arrow limited to one",
        "thread. *MB written* counts every file (transactions, events, customers, merchants); *rows/s*",
        "counts transactions.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"NumPy {numpy.__version__}, pyarrow {pyarrow.__version__}; {time.strftime('%Y-%m-%d')}.",
        "",
        "*rows/CPU s* divides by the CPU time of the generating process, which does not count the time the",
        "process waited for a busy machine (*load*: the 1-minute load average when it finished).",
        "",
        "| transactions | files | lines written | MB written | seconds | rows/s | MB/s | CPU seconds "
        "| rows/CPU s | load | peak RSS (MB) | RSS after imports (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['n_rows']:,} | {r['files']} | {r['lines']:,} | {r['mb']:,.0f} | {r['seconds']:.1f} "
                     f"| {r['rows_per_s']:,} | {r['mb_per_s']:.0f} | {r['cpu_seconds']:.1f} "
                     f"| {r['rows_per_cpu_s']:,} | {r['load']} | {r['peak_rss_mb']:,} | {r['rss_after_import_mb']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(int(argv[1]))))
        return 0
    sizes = [int(float(a)) for a in argv] or list(DEFAULT_SIZES)
    results = []
    for n in sizes:
        print(f"generating {n:,} transactions ...", flush=True)
        results.append(measure(n))
        r = results[-1]
        print(f"  {r['seconds']:.1f} s, {r['rows_per_s']:,} rows/s ({r['rows_per_cpu_s']:,} per CPU second), "
              f"{r['mb_per_s']:.0f} MB/s, peak RSS {r['peak_rss_mb']:,} MB", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(markdown(results))
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
