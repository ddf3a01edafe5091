"""Input throughput of notebook 03's pipelines: samples/s of each way to stream the Parquet feature set.

    python benchmarks/bench_pipelines.py                  # the 1M-transaction feature set, 1M samples each
    python benchmarks/bench_pipelines.py 1e6 --samples 2e5

The feature set comes from notebook 02 (prepared on the fly if missing, under data/generated/). Each
pipeline streams the same standardised rows in batches of 1024, without a model. The table goes to
benchmarks/results/pipelines.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "pipelines.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n_rows", nargs="?", type=float, default=1e6)
    parser.add_argument("--samples", type=float, default=1e6, help="samples each pipeline streams")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    n_rows, samples = int(args.n_rows), int(args.samples)

    import dlcourse

    dlcourse.session.import_tensorflow()
    import tensorflow as tf

    from dlcourse import pipelines, prepare

    files = pipelines.feature_files(prepare.feature_set(n_rows, 42, args.partitions))
    cut = pipelines.time_cutoff(files)
    scaler = pipelines.Scaler.fit(pipelines.record_batches(files, before=cut))
    naive_limit = min(samples, 100_000)  # the per-example generator is slow: time it on fewer rows
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_pipelines_") as tmp:
        start = time.perf_counter()
        shards = pipelines.write_tfrecords(files, scaler, tmp)
        write_s = time.perf_counter() - start
        ways = [
            ("Python generator, per example", pipelines.naive_dataset(files, scaler, 1024, naive_limit),
             naive_limit, 1),
            ("tf.data over Parquet record batches", pipelines.arrow_dataset(files, scaler, 1024), samples, 1),
            ("TFRecord, sequential", pipelines.tfrecord_dataset(shards, 1024, parallel=False), samples, 1),
            ("TFRecord, interleave + parallel map + prefetch", pipelines.tfrecord_dataset(shards, 1024), samples, 1),
            ("TFRecord, ... + cache (second pass)", pipelines.tfrecord_dataset(shards, 1024, cache=True), 10**12, 2),
            ("TFRecord, shuffle buffer 50,000", pipelines.tfrecord_dataset(shards, 1024, shuffle_buffer=50_000),
             samples, 1),
        ]
        for name, dataset, limit, repeats in ways:
            rate = pipelines.throughput(dataset, limit, repeats=repeats)
            rows.append((name, rate))
            print(f"{name:<48} {rate:>12,.0f} samples/s", flush=True)
    naive = rows[0][1]
    lines = [
        "# Notebook 03's input pipelines: samples per second",
        "",
        "Made by `python benchmarks/bench_pipelines.py`: each pipeline streams standardised rows of notebook 02's",
        f"feature set ({n_rows:,} transactions, {len(files)} Parquet files) in batches of 1024, with no model;",
        f"{samples:,} samples each ({naive_limit:,} for the per-example generator; the cached pipeline is timed on",
        f"its second full pass). TFRecord shards were written once in {write_s:.1f} s.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}; "
        f"{time.strftime('%Y-%m-%d')}; load {os.getloadavg()[0]:.1f}.",
        "",
        "| pipeline | samples/s | x naive |",
        "|---|---:|---:|",
        *(f"| {name} | {rate:,.0f} | {rate / naive:.1f} |" for name, rate in rows),
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
