"""Notebook 06's question at full size: the seeds' CNN vs the course's CNN at equal training-time budgets.

    python benchmarks/cnn.py                      # budgets of 30, 60 and 90 s, wall clock, + the steps at 90 s
    python benchmarks/cnn.py 30 90 --clock cpu    # budgets in CPU seconds / cores (a machine shared with others)
    python benchmarks/cnn.py 90 --no-steps        # only the seeds' CNN and ours

Both models train on Fashion-MNIST's 60,000 training images less a validation tenth (as in notebook 06) and are
scored once on the 10,000 test images.

* ``seeds``  -- ``cnn.seeds_cnn``, trained as in the Keras example: Adam at 0.001, batches of 128. Its learning
  rate is constant, so one run to the largest budget, scored on the test set each time it passes a budget
  (the scoring is not counted), gives the accuracy for every budget.
* ``course`` -- ``cnn.course_cnn`` with notebook 06's final settings: AdamW, batches of 128, and a one-cycle
  learning rate spread over the budget by ``cnn.TimeBudget`` -- so each budget is a run of its own.
* the steps in between, as in notebook 06's step-by-step table (``STEPS``), each trained for the largest
  budget: what every step buys when it gets the final model's training time, not a few seconds.

Every run is a fresh child process (so runs can go side by side; ``--jobs``); the table goes to
benchmarks/results/cnn.md with the machine and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cnn.md"
COURSE = dict(widths=(16, 32, 64), head="flatten", dense=128, dropout=0.3, pool_first=True, pooled_blocks=2,
              learning_rate=0.005, weight_decay=1e-4, batch_size=128)  # notebook 06's defaults for the final model
# Notebook 06's steps 2-6 (step 1 is ``seeds``; the final model is step 6 without augmentation): the
# course_cnn arguments, and whether the optimizer is AdamW with the one-cycle schedule (else Adam at 0.001).
TWO_BLOCKS = dict(widths=(32, 64), head="flatten")
STEPS = {
    "2 + batch norm": (dict(TWO_BLOCKS, dropout=0.0), False),
    "3 + dropout": (dict(TWO_BLOCKS, dropout=0.3), False),
    "4 + augmentation": (dict(TWO_BLOCKS, dropout=0.3, augment="fashion_mnist"), False),
    "5 + one-cycle (AdamW)": (dict(TWO_BLOCKS, dropout=0.3, augment="fashion_mnist"), True),
    "6 + final architecture": (dict({k: v for k, v in COURSE.items() if k not in ("learning_rate", "weight_decay",
                                                                                "batch_size")},
                                    augment="fashion_mnist"), True),
}


def run_one(model_name: str, budgets: list[float], clock: str, seed: int = 42) -> list[dict]:
    """Train one model in this (child) process; one result row per budget."""
    from dlcourse.session import import_tensorflow

    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(seed)
    from dlcourse import cnn, datasets

    data = datasets.load("fashion_mnist")
    x_train, y_train, x_val, y_val = cnn.split_validation(cnn.to_float(data.x_train), data.y_train, 0.1, seed)
    test = cnn.make_dataset(cnn.to_float(data.x_test), data.y_test, 1024)
    if model_name == "seeds":
        model, batch_size = cnn.seeds_cnn(x_train.shape[1:], 10), 128
        model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        budget = cnn.TimeBudget(10 * max(budgets), clock=clock)  # a clock only: the checkpoints stop it
        callbacks = [budget, checkpoints := _checkpoints(keras, budget, budgets, test)]
    else:
        c, batch_size = COURSE, COURSE["batch_size"]
        if model_name == "course":
            kwargs, schedule = {k: v for k, v in c.items() if k not in ("learning_rate", "weight_decay",
                                                                        "batch_size")}, True
        else:
            kwargs, schedule = STEPS[model_name]
        model = cnn.course_cnn(x_train.shape[1:], 10, seed=seed, **kwargs)
        optimizer = (keras.optimizers.AdamW(c["learning_rate"], weight_decay=c["weight_decay"]) if schedule
                     else keras.optimizers.Adam(0.001))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [budget := cnn.TimeBudget(budgets[0], learning_rate=c["learning_rate"] if schedule else None,
                                              clock=clock)]
    model.fit(cnn.make_dataset(x_train, y_train, batch_size, shuffle=True, seed=seed), epochs=1000,
              validation_data=cnn.make_dataset(x_val, y_val, 1024), callbacks=callbacks, verbose=0, shuffle=False)
    if model_name == "seeds":
        return checkpoints.rows
    return [{"budget": budgets[0], "test_accuracy": model.evaluate(test, verbose=0)[1], "wall": budget.seconds,
             "cpu": budget.cpu_seconds, "epochs": budget.epochs, "params": model.count_params()}]


def _checkpoints(keras, budget, budgets: list[float], test):
    """A callback that scores the test set whenever the budget's clock passes one of `budgets`, off the clock."""

    class Checkpoints(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.pending, self.rows, self.off_wall, self.off_cpu = sorted(budgets), [], 0.0, 0.0

        def on_train_batch_end(self, batch, logs=None):
            if self.pending and budget.elapsed() >= self.pending[0]:
                paused, wall, cpu = budget._now(), time.perf_counter(), time.process_time()
                self.rows.append({"budget": self.pending.pop(0), "test_accuracy": None, "epochs": budget.epochs,
                                  "wall": wall - budget._wall - self.off_wall,
                                  "cpu": cpu - budget._cpu - self.off_cpu, "params": self.model.count_params()})
                self.rows[-1]["test_accuracy"] = self.model.evaluate(test, verbose=0)[1]
                budget._start += budget._now() - paused  # scoring does not count against the budget
                self.off_wall += time.perf_counter() - wall
                self.off_cpu += time.process_time() - cpu
                self.model.stop_training = not self.pending

    return Checkpoints()


def measure(model_name: str, budgets: list[float], clock: str) -> list[dict]:
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); from cnn import run_one; "
            f"print(json.dumps(run_one({model_name!r}, {budgets!r}, {clock!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{model_name} {budgets} failed: {done.stderr[-2000:]}")
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    for r in rows:
        r.update(model=model_name, load=load)
        print(f"{model_name:<24} budget {r['budget']:>5g} s  test accuracy {r['test_accuracy']:.4f}  "
              f"wall {r['wall']:.0f} s, CPU {r['cpu']:.0f} s, {r['epochs']} epochs", flush=True)
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("budgets", nargs="*", type=float, default=[30.0, 60.0, 90.0])
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (use 1 for wall-clock timings)")
    parser.add_argument("--no-steps", dest="steps", action="store_false",
                        help="skip notebook 06's intermediate steps (trained at the largest budget)")
    args = parser.parse_args(argv)
    jobs = [("seeds", args.budgets)] + [("course", [b]) for b in args.budgets]
    if args.steps:
        jobs += [(name, [max(args.budgets)]) for name in STEPS]
    rows: list[dict] = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(measure, name, budgets, args.clock) for name, budgets in jobs]
        for future in as_completed(futures):  # the table is rewritten after each run: a partial one survives
            rows += future.result()
            write_table(rows, args, " ".join(["python benchmarks/cnn.py", *argv]))


def write_table(rows: list[dict], args, command: str) -> None:
    import keras
    import tensorflow as tf

    clock = ("wall-clock seconds" if args.clock == "wall" else
             "CPU seconds / CPU cores (what the wall time would be on an idle machine)")
    lines = [
        "# Notebook 06: the seeds' CNN vs the course's CNN at equal training budgets",
        "",
        f"Made by `{command}`. Fashion-MNIST, 54,000 training images (a tenth held out for validation, as",
        "in the notebook), test accuracy on the 10,000 test images. The budget is in "
        f"{clock}; it includes the validation passes. *seeds*: `cnn.seeds_cnn`, Adam 0.001, batches of 128",
        "(one run, scored when it passes each budget). *course*: `cnn.course_cnn` with "
        f"widths {COURSE['widths']}, {COURSE['head']} head, dense {COURSE['dense']},",
        f"dropout {COURSE['dropout']}, pooling before batch norm, {COURSE['pooled_blocks']} pooled blocks,",
        "AdamW at peak",
        f"{COURSE['learning_rate']} with a one-cycle schedule over the budget, batches of {COURSE['batch_size']}"
        " (a run per budget). The numbered rows are notebook 06's steps 2-6 (`STEPS` in the script), each trained"
        " for the largest budget in batches of 128: step 6 is the final model with augmentation."
        " *load*: the 1-minute load average when the run ended"
        f"{' -- with --jobs > 1 or a busy machine, runs competed for the cores' if args.jobs > 1 else ''}.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, oneDNN kernels "
        f"{'off' if os.environ.get('TF_ENABLE_ONEDNN_OPTS') == '0' else 'on'} (benchmarks/results/onednn.md); "
        f"{time.strftime('%Y-%m-%d')}; runs side by side: {args.jobs}.",
        "",
        "| budget (s) | model | test accuracy | epochs | wall s | CPU s | parameters | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = ["seeds", *STEPS, "course"]
    for r in sorted(rows, key=lambda r: (r["budget"], order.index(r["model"]))):
        lines.append(f"| {r['budget']:g} | {r['model']} | {r['test_accuracy']:.4f} | {r['epochs']} | "
                     f"{r['wall']:.0f} | {r['cpu']:.0f} | {r['params']:,} | {r['load']:.1f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
