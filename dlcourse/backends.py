"""The same Keras 3 model on another backend (JAX), as taught in 14_lightweight_explainable_private.

Keras 3 runs one model definition on TensorFlow, JAX or PyTorch; the backend is chosen by
``KERAS_BACKEND`` *before* Keras is first imported, so a notebook already running TensorFlow starts the
other backend in a child process: ``python -m dlcourse.backends`` loads a saved ``.keras`` model, scores
the given inputs, trains it for some epochs and reports what it measured as one JSON line.

Used in notebooks: 14.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dlcourse import stopwatch


def installed(backend: str) -> bool:
    """Whether the backend's library is importable here (jax, torch or tensorflow)."""
    return importlib.util.find_spec(backend) is not None


def run(backend: str, model_path: str | Path, data_path: str | Path, epochs: int, batch_size: int,
        timeout: float = 600) -> dict:
    """Score and train the saved model on `backend` in a child process. `data_path` is an .npz with x, y
    (training data) and x_eval (inputs to score). Returns the child's measurements (``load_s``, ``predict_s``,
    ``fit_s``; ``epoch_s``, each epoch's seconds, of which the first includes compiling the training step;
    ``loss`` per epoch) and its predictions."""
    if backend not in ("jax", "torch", "tensorflow"):
        raise ValueError(f"backend must be jax, torch or tensorflow, got {backend!r}")
    if not installed(backend):
        raise ValueError(f"backend {backend!r} is not installed here: pip install {backend}")
    out = Path(data_path).with_suffix(f".{backend}.npy")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    if backend == "jax" and _has_gpu():
        env.pop("JAX_PLATFORMS")
    done = subprocess.run([sys.executable, "-m", "dlcourse.backends", str(model_path), str(data_path), str(out),
                           str(epochs), str(batch_size)], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {backend} child process failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["predictions"] = np.load(out)
    out.unlink()
    return result


def _has_gpu() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def measure(model_path: str | Path, data_path: str | Path, epochs: int, batch_size: int,
            out: str | Path | None = None) -> dict:
    """Load the saved model on the backend Keras runs here, score `x_eval`, train it on `x`, `y` and return
    what :func:`run` returns (predictions included; also saved to `out` if given). The child process calls
    this; so does a notebook for the backend it already runs (TensorFlow), which saves a process start."""
    import keras

    keras.utils.set_random_seed(0)
    data = np.load(data_path)
    with stopwatch.timed() as load:
        model = keras.models.load_model(model_path)
    with stopwatch.timed() as predict:
        predictions = model.predict(data["x_eval"], batch_size=1024, verbose=0)
    if out is not None:
        np.save(out, predictions)
    epoch_s: list[float] = []

    class EpochTimes(keras.callbacks.Callback):  # the first epoch also compiles the training step
        def on_epoch_begin(self, epoch, logs=None):
            self.clock = stopwatch.Clock()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s.append(self.clock.wall_s)

    with stopwatch.timed() as fit:
        history = model.fit(data["x"], data["y"], epochs=epochs, batch_size=batch_size, verbose=0,
                            callbacks=[EpochTimes()])
    return {"backend": keras.backend.backend(), "keras": keras.__version__, "load_s": load.wall_s,
            "predict_s": predict.wall_s, "fit_s": fit.wall_s, "epoch_s": epoch_s,
            "loss": [float(v) for v in history.history["loss"]], "predictions": predictions}


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m dlcourse.backends")
    for name in ("model", "data", "out"):
        parser.add_argument(name)
    parser.add_argument("epochs", type=int)
    parser.add_argument("batch_size", type=int)
    args = parser.parse_args(argv)
    result = measure(args.model, args.data, args.epochs, args.batch_size, out=args.out)
    del result["predictions"]
    print(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1:])
