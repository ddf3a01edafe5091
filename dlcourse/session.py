"""`setup()`: the one line after every parameters cell.

It checks the notebook's parameters against the allowed values written in its parameters cell,
seeds Python, NumPy and Keras, turns on op determinism, quiets TensorFlow, absl and library
warnings and turns on TensorFlow's oneDNN CPU kernels before TensorFlow is imported, sets the plot
style and reports the hardware in one line.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import warnings
from collections.abc import Iterator, Mapping

import numpy as np

from dlcourse import claims, course, params

# Set at import so that any TensorFlow imported after `import dlcourse` starts quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's oneDNN kernels for the CPU. TensorFlow turns them on by itself only on CPUs with AVX-512
# VNNI/BF16 or AMX; on the course's 2-core AVX2 machine a training step of 06's CNN takes 1.7 times less CPU
# time with them (benchmarks/results/onednn.md). Export TF_ENABLE_ONEDNN_OPTS=0 before starting Jupyter to compare.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

PLOT_STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "image.cmap": "viridis",
    "legend.frameon": False,
}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send the C-level stderr (file descriptor 2) to /dev/null while TensorFlow loads its libraries.

    TensorFlow prints CUDA and CPU-feature lines from C++ before its log level can take effect.
    Python exceptions still propagate; only those log lines are lost.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded kernels): nothing to quiet
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Import TensorFlow and Keras quietly; returns (tf, keras)."""
    with _quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    return tf, keras


def _quiet_warnings() -> None:
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)


def hardware() -> str:
    """One line: CPU cores and GPUs as TensorFlow sees them."""
    tf, _ = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    cores = os.cpu_count() or 1
    gpu_text = f"{len(gpus)} GPU ({', '.join(_gpu_name(tf, g) for g in gpus)})" if gpus else "no GPU"
    return f"{cores} CPU cores ({platform.machine()}), {gpu_text}"


def _gpu_name(tf, gpu) -> str:
    try:
        return tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
    except (ValueError, RuntimeError):
        return gpu.name


def check_parameters(notebook: str, namespace: Mapping[str, object]) -> dict[str, object]:
    """Validate the values in `namespace` of the parameters declared by `notebook`'s parameters cell."""
    path = course.find(notebook).path
    spec = params.read(path)
    missing = [name for name in spec if name not in namespace]
    if missing:
        raise ValueError(f"run the parameters cell first: {', '.join(missing)} not defined")
    return params.validate(spec, {name: namespace[name] for name in spec})


def profile_of(notebook: str, values: Mapping[str, object]) -> str:
    """'default' when `values` are the notebook's own defaults, 'smoke' when they are its smoke profile,
    else 'custom' (what dlcourse.claims enforces depends on it)."""
    nb = course.find(notebook)
    defaults = {name: p.default for name, p in params.read(nb.path).items()}
    if dict(values) == defaults:
        return "default"
    if dict(values) == {**defaults, **nb.smoke}:
        return "smoke"
    return "custom"


def setup(notebook: str, namespace: Mapping[str, object], *, deterministic: bool = True,
          tensorflow: bool = True) -> None:
    """Check parameters, seed everything, quiet the logs, style plots, print one status line.

    `notebook` is the notebook's id (e.g. "06_cnn_in_keras"), `namespace` its `globals()`. The seed
    is the notebook's `seed` parameter (42 if it has none). Records the profile the notebook runs at
    (default, smoke or custom parameters) for the notebook's claims (dlcourse.claims).
    """
    values = check_parameters(notebook, namespace)
    claims.set_context(course.find(notebook).id, profile_of(notebook, values))
    seed = int(values.get("seed", 42))
    _quiet_warnings()
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)

    import matplotlib.pyplot as plt

    plt.rcParams.update(PLOT_STYLE)
    from dlcourse import __version__

    line = f"dlcourse {__version__} · {notebook} · seed {seed}"
    if tensorflow:
        tf, keras = import_tensorflow()
        keras.utils.set_random_seed(seed)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):  # only possible before the GPU is first used
                tf.config.experimental.set_memory_growth(gpu, True)
        line += f" · TensorFlow {tf.__version__}, Keras {keras.__version__} · {hardware()}"
    print(line)


VERSIONED = ("python", "dlcourse", "tensorflow", "keras", "numpy", "pandas", "pyarrow", "dask",
             "scikit-learn", "matplotlib", "jupyterlab", "papermill", "nbgrader")


def versions() -> dict[str, str]:
    """Installed versions of the course's main packages ('missing' where one is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in VERSIONED:
        if name == "python":
            found[name] = platform.python_version()
            continue
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found
