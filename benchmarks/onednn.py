"""TensorFlow's oneDNN CPU kernels on and off: the time of one training step of the course's models.

    python benchmarks/onednn.py               # 3 rounds, 150 steps each
    python benchmarks/onednn.py --rounds 5    # more rounds for a noisy machine

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; `dlcourse`
turns them on everywhere (`TF_ENABLE_ONEDNN_OPTS=1`, set when `dlcourse` is imported, before TensorFlow
loads). This script is why: every model is timed in a fresh child process with the variable at 0 and at 1,
the two settings alternating round by round so that a slow minute of a shared machine hits both. A round
traces the step, runs 20 steps to warm up, then times `steps` steps of `model.fit` (random inputs of the
right shape: the time of a step does not depend on the values). The table keeps each setting's median
round; CPU time is the process's user + system time, which a busy neighbour inflates less than wall time.
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
RESULTS = ROOT / "benchmarks" / "results" / "onednn.md"
MODELS = {
    "cnn": "06's final CNN (16-32-64, pool first, dense 128), batches of 128",
    "seeds_cnn": "06's seeds' CNN (32-64, flatten), batches of 128",
    "discriminator": "10's DCGAN discriminator as a classifier, batches of 128",
    "lstm": "an LSTM(64) on 48 steps of 4 features (08's shape), batches of 64",
    "mlp": "a 784-256-256-10 MLP (04's shape), batches of 128",
}


def build(name: str):
    """(model, x, y, loss) for `name` (a key of MODELS)."""
    import numpy as np

    from dlcourse.session import import_tensorflow

    _, keras = import_tensorflow()
    from keras import layers

    from dlcourse import cnn, gan

    rng = np.random.default_rng(0)
    images = rng.random((128 * 40, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, len(images))
    if name == "cnn":
        model = cnn.course_cnn((28, 28, 1), 10, widths=(16, 32, 64), head="flatten", dense=128, dropout=0.3,
                               pool_first=True, pooled_blocks=2)
        return model, images, labels, "sparse_categorical_crossentropy"
    if name == "seeds_cnn":
        return cnn.seeds_cnn((28, 28, 1), 10), images, labels, "sparse_categorical_crossentropy"
    if name == "discriminator":
        model = gan.build_discriminator((28, 28, 1), dropout=0.0)
        return model, images, (labels > 4).astype("float32"), keras.losses.BinaryCrossentropy(from_logits=True)
    if name == "lstm":
        model = keras.Sequential([keras.Input((48, 4)), layers.LSTM(64), layers.Dense(1)])
        return model, rng.random((64 * 40, 48, 4), dtype=np.float32), rng.random((64 * 40, 1)), "mse"
    if name == "mlp":
        model = keras.Sequential([keras.Input((784,)), layers.Dense(256, activation="relu"),
                                  layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
        return model, images.reshape(len(images), -1), labels, "sparse_categorical_crossentropy"
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {name!r}")


def child(name: str, steps: int) -> dict:
    """Time `steps` training steps of `name` in this process (TF_ENABLE_ONEDNN_OPTS as the parent set it)."""
    from dlcourse.session import import_tensorflow

    tf, keras = import_tensorflow()
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()  # as in the notebooks (dlcourse.setup)
    model, x, y, loss = build(name)
    batch = 64 if name == "lstm" else 128
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(2)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=loss)
    model.fit(data, steps_per_epoch=20, epochs=1, verbose=0)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_ms": 1000 * wall / steps, "cpu_ms": 1000 * cpu / steps}


def measure(name: str, onednn: bool, steps: int) -> dict:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0")
    out = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(steps)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per model and setting, >= 1")
    parser.add_argument("--steps", type=int, default=150, help="timed training steps per round, >= 10")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help=f"some of: {', '.join(MODELS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.steps < 10:
        parser.error(f"--steps must be >= 10, got {args.steps}")
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"--models must be some of {', '.join(MODELS)}, got {', '.join(unknown)}")
    if args.child:
        print(json.dumps(child(args.child, args.steps)))
        return

    rows = []
    for name in args.models:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for onednn in (False, True):
                runs[onednn].append(measure(name, onednn, args.steps))
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("wall_ms", "cpu_ms")} for k, v in runs.items()}
        rows.append((name, med))
        print(f"{name:14s} off {med[False]['wall_ms']:6.1f} ms wall {med[False]['cpu_ms']:6.1f} ms CPU · "
              f"on {med[True]['wall_ms']:6.1f} ms wall {med[True]['cpu_ms']:6.1f} ms CPU", flush=True)

    from importlib.metadata import version

    lines = [
        "# TensorFlow's oneDNN CPU kernels, off and on",
        "",
        f"Made by `python benchmarks/onednn.py --rounds {args.rounds} --steps {args.steps}`. One training step "
        "(forward, backward, AdamW update) of each model, timed in fresh child processes with "
        "`TF_ENABLE_ONEDNN_OPTS=0` and `=1`, the two alternating; the median of "
        f"{args.rounds} rounds of {args.steps} steps each. Op determinism on, as in the notebooks. "
        "*ratio*: off / on (above 1: oneDNN is faster).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {version('tensorflow')}, Keras {version('keras')}; {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average at the end: {os.getloadavg()[0]:.1f}.",
        "",
        "| model | off: wall ms | off: CPU ms | on: wall ms | on: CPU ms | ratio, wall | ratio, CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, med in rows:
        off, on = med[False], med[True]
        ratios = f"{off['wall_ms'] / on['wall_ms']:.2f} | {off['cpu_ms'] / on['cpu_ms']:.2f}"
        lines.append(f"| {MODELS[name]} | {off['wall_ms']:.1f} | {off['cpu_ms']:.1f} | {on['wall_ms']:.1f} | "
                     f"{on['cpu_ms']:.1f} | {ratios} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"table: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
