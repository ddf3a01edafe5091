"""tf.data's autotuning and the stalls at the start of an epoch: notebook 06's training, autotuning on and off.

    python benchmarks/tfdata_stall.py                  # 3 rounds of 60 s per setting
    python benchmarks/tfdata_stall.py --seconds 87     # the notebook's budget

Keras makes a new iterator over a tf.data dataset for every epoch and drops the last one. With tf.data's
autotuning on (its default), every iterator runs a tuning thread, and destroying the iterator waits for that
thread to wake up. With TensorFlow 2.21 on the course's CPU this wait is seconds long, with no CPU used: a
debugger attached during one such pause showed the main thread in `RootDataset::Iterator::~Iterator` waiting
for the tuning thread (`Model::OptimizeLoop`). `dlcourse.cnn.make_dataset` therefore turns autotuning off;
this script is the evidence. Each round trains notebook 06's final model (16-32-64, pool first, dense 128,
batches of 128, AdamW one-cycle, `TimeBudget` of `seconds` wall-clock seconds) on Fashion-MNIST in a fresh
child process, once with `make_dataset(..., autotune=True)` and once with the default, the two alternating.
A *pause* is the time from the start of an epoch (or a validation pass) to its first batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "tfdata_stall.md"


def child(autotune: bool, seconds: float) -> dict:
    """Train 06's final model for `seconds` with the pipeline's autotuning on or off; the pauses it saw."""
    import numpy as np

    import dlcourse  # noqa: F401  (TensorFlow's settings, as in the notebooks)
    from dlcourse import cnn, datasets
    from dlcourse.session import import_tensorflow

    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()
    data = datasets.load("fashion_mnist")
    x_train, y_train, x_val, y_val = cnn.split_validation(cnn.to_float(data.x_train), data.y_train, 0.1, 42)

    class Pauses(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.validations, self._start, self._test = [], [], None, None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            if self._start is not None:
                self.epochs.append(time.perf_counter() - self._start)
                self._start = None

        def on_test_begin(self, logs=None):
            self._test = time.perf_counter()

        def on_test_batch_begin(self, batch, logs=None):
            if self._test is not None:
                self.validations.append(time.perf_counter() - self._test)
                self._test = None

    model = cnn.course_cnn((28, 28, 1), 10, widths=(16, 32, 64), head="flatten", dense=128, dropout=0.3,
                           pool_first=True, pooled_blocks=2, seed=42)
    model.compile(optimizer=keras.optimizers.AdamW(0.005, weight_decay=1e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    budget, pauses = cnn.TimeBudget(seconds, learning_rate=0.005), Pauses()
    model.fit(cnn.make_dataset(x_train, y_train, 128, shuffle=True, seed=42, autotune=autotune),
              validation_data=cnn.make_dataset(x_val, y_val, 1024, autotune=autotune), epochs=1000,
              callbacks=[budget, pauses], verbose=0, shuffle=False)
    probs = model.predict(cnn.to_float(data.x_test), batch_size=1024, verbose=0)
    return {"seconds": budget.seconds, "cpu_seconds": budget.cpu_seconds, "epochs": budget.epochs,
            "images": budget.batches * 128, "test": float(np.mean(probs.argmax(axis=1) == data.y_test)),
            "epoch_pauses": pauses.epochs[1:], "validation_pauses": pauses.validations[1:]}


def measure(autotune: bool, seconds: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", "on" if autotune else "off", "--seconds",
                          str(seconds)], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per setting, >= 1")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget of each run, >= 20")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.seconds < 20:
        parser.error(f"--seconds must be >= 20 (a few epochs), got {args.seconds}")
    if args.child:
        print(json.dumps(child(args.child == "on", args.seconds)))
        return

    runs: dict[bool, list[dict]] = {True: [], False: []}
    for i in range(args.rounds):
        for autotune in (True, False):
            run = measure(autotune, args.seconds)
            runs[autotune].append(run)
            print(f"round {i + 1} autotune {'on ' if autotune else 'off'}: {run['epochs']} epochs, "
                  f"{run['images']:,} images, test {run['test']:.4f}, epoch pauses "
                  f"{[round(p, 2) for p in run['epoch_pauses']]}", flush=True)

    from importlib.metadata import version

    lines = [
        "# tf.data's autotuning: pauses at the start of an epoch (notebook 06's training)",
        "",
        f"Made by `python benchmarks/tfdata_stall.py --rounds {args.rounds} --seconds {args.seconds:g}`. Notebook "
        f"06's final model trained for {args.seconds:g} s of wall-clock time (`TimeBudget`) in a fresh child "
        "process per run, with `cnn.make_dataset(..., autotune=True)` (tf.data's defaults: autotuning on, "
        "`prefetch(AUTOTUNE)`) and with the default `autotune=False` (autotuning off, `prefetch(2)`), the two "
        "alternating. *Pauses*: from the start of each epoch after the first (or validation pass after the "
        "first) to its first batch; *lost*: their sum, seconds the budget paid for without training.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {version('tensorflow')}, Keras {version('keras')}; {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average at the end: {os.getloadavg()[0]:.1f}.",
        "",
        "| autotuning | round | epochs | images | test accuracy | epoch pauses, s | validation pauses, s | lost, s |",
        "|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for autotune in (True, False):
        for i, run in enumerate(runs[autotune], 1):
            lost = sum(run["epoch_pauses"]) + sum(run["validation_pauses"])
            lines.append(f"| {'on' if autotune else 'off'} | {i} | {run['epochs']} | {run['images']:,} | "
                         f"{run['test']:.4f} | {', '.join(f'{p:.2f}' for p in run['epoch_pauses'])} | "
                         f"{', '.join(f'{p:.2f}' for p in run['validation_pauses'])} | {lost:.1f} |")
    lines += ["", "| autotuning | median images | median test accuracy | median lost, s |", "|---|---:|---:|---:|"]
    for autotune in (True, False):
        r = runs[autotune]
        lost = [sum(x["epoch_pauses"]) + sum(x["validation_pauses"]) for x in r]
        lines.append(f"| {'on' if autotune else 'off'} | {statistics.median(x['images'] for x in r):,.0f} | "
                     f"{statistics.median(x['test'] for x in r):.4f} | {statistics.median(lost):.1f} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"table: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
