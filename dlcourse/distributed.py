"""Scaling out on one machine, as taught in 12_scaling_out.

* Ports and TF_CONFIG: :func:`free_ports` (distinct free localhost ports), :func:`tf_config` (the JSON a
  MultiWorkerMirroredStrategy worker reads from the ``TF_CONFIG`` environment variable).
* Processes that always stop: :class:`WorkerGroup` starts worker subprocesses with their own environment
  and log file and kills every one of them on leaving its ``with`` block, even when the block raised;
  :func:`scratch_dir` is a temporary folder removed the same way.
* Devices: :func:`replica_devices` splits this machine into two replicas for MirroredStrategy (two logical
  CPU devices, or the real GPUs where there are some) before TensorFlow initialises its devices.
* One deterministic model and input pipeline (:func:`make_model`, :func:`global_batches`; per worker
  :func:`distributed_dataset`, built on :func:`replica_batches`) shared by the single-device, MirroredStrategy
  and multi-worker runs, so their losses can be compared number for number.
* The worker entry point: ``python -m dlcourse.distributed worker --data ... --out ...`` trains with
  MultiWorkerMirroredStrategy and ``keras.callbacks.BackupAndRestore``, writes one JSON line per epoch and
  can crash itself (SIGKILL) after a given epoch; :func:`train_multi_worker` runs a whole cluster of them.
  :func:`patch_keras_for_multi_worker` works around a Keras 3 bug in those workers.
* Dask workers: :func:`peak_memory` and :func:`worker_cpu_seconds`, read in each worker process (the
  command-line cluster is :class:`dlcourse.cluster.CommandLineCluster`, the measured runs :mod:`dlcourse.scaling`).

Used in notebooks: 12.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcourse import stopwatch

HOST = "localhost"
# Largest |difference| we accept between float32 losses or weights of runs that do the same arithmetic with
# the sums in another order (one device vs replicas, one process vs workers, resumed vs uninterrupted).
TOLERANCE = 1e-4


# ---------------------------------------------------------------------------------------------
# Ports, TF_CONFIG, temporary folders


def free_ports(n: int, host: str = HOST) -> list[int]:
    """`n` distinct ports free on `host` right now (the OS picks them: bind to port 0, read, close).

    All sockets are held open together, so the ports differ. Another program could still take one before
    our worker binds it; a worker that fails to bind exits with an error in its log.
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on `port` (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tf_config(workers: Sequence[str], index: int, task_type: str = "worker") -> dict:
    """The TF_CONFIG of task `index` in a cluster of `workers` ("host:port" each); worker 0 is the chief.

    >>> tf_config(["localhost:1234", "localhost:1235"], 1)
    {'cluster': {'worker': ['localhost:1234', 'localhost:1235']}, 'task': {'type': 'worker', 'index': 1}}
    """
    if not workers:
        raise ValueError("workers must list at least one 'host:port'")
    if not 0 <= index < len(workers):
        raise ValueError(f"index must be ≥ 0 and < {len(workers)} (the number of workers), got {index}")
    return {"cluster": {task_type: list(workers)}, "task": {"type": task_type, "index": index}}


def work_dir() -> Path:
    """data/generated/12_scaling_out/: logs and scratch folders of notebook 12."""
    from dlcourse import course

    path = course.generated_dir() / "12_scaling_out"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def scratch_dir(prefix: str = "scratch-", parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh folder (under data/generated/12_scaling_out/ by default) removed on exit, even after an exception."""
    base = Path(parent) if parent else work_dir()
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Worker processes that always stop


@dataclass
class WorkerGroup:
    """Start one subprocess per command; stop them all on leaving the ``with`` block (even on an error).

    Each process gets `env` (added to a copy of ours; `envs[i]` for process i on top), runs in its own
    session (so a stray child is stopped with it) and writes stdout and stderr to ``log_dir/<name>.log``:
    nothing reaches the notebook's own streams.
    """

    commands: Sequence[Sequence[str]]
    log_dir: Path
    names: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    envs: Sequence[Mapping[str, str]] | None = None
    processes: list[subprocess.Popen] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.log_dir = Path(self.log_dir)
        self.names = list(self.names or [f"worker{i}" for i in range(len(self.commands))])
        if len(self.names) != len(self.commands):
            raise ValueError(f"one name per command: {len(self.names)} names, {len(self.commands)} commands")
        self._logs: list = []

    def log_path(self, i: int) -> Path:
        return self.log_dir / f"{self.names[i]}.log"

    def __enter__(self) -> WorkerGroup:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i, command in enumerate(self.commands):
                env = {**os.environ, **self.env, **(self.envs[i] if self.envs else {})}
                log = open(self.log_path(i), "w")  # noqa: SIM115 - closed in stop()
                self._logs.append(log)
                self.processes.append(subprocess.Popen(
                    list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def returncodes(self) -> list[int | None]:
        """Each process's exit status (None while it runs; -9 when it was killed by SIGKILL)."""
        return [p.poll() for p in self.processes]

    def wait(self, timeout: float, poll_s: float = 0.2) -> list[int | None]:
        """Wait until every process has exited, or one has failed (non-zero), or `timeout` s have passed.

        Returns the exit statuses (None: still running). A supervisor (Kubernetes, a job scheduler) would
        now restart the job; :meth:`stop` ends the survivors.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = self.returncodes()
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                return codes
            time.sleep(poll_s)
        return self.returncodes()

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM every running process (and its session), wait up to `grace_s`, then SIGKILL; close logs."""
        for p in self.processes:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in self.processes:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for p in self.processes:  # children that outlived their parent in its session
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._logs = []


def process_alive(pid: int) -> bool:
    """True while a process with this id exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the OS
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


# ---------------------------------------------------------------------------------------------
# Devices, model and data shared by every run


def replica_devices(n: int = 2) -> list[str]:
    """Device names for a MirroredStrategy with `n` replicas on this machine.

    GPUs when there are some (≥ n real GPUs: the first n; one GPU: split into n logical GPUs), else the CPU
    split into n logical devices. Must run before TensorFlow initialises its devices (before the first
    tensor or model); afterwards the configuration cannot change and the existing devices are returned.
    With GPUs it also turns TF32 off, so that GPU and CPU runs can be compared within :data:`TOLERANCE`.
    """
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    kind = "GPU" if gpus else "CPU"
    physical = gpus[0] if gpus else tf.config.list_physical_devices("CPU")[0]
    if gpus:  # GPUs multiply float32 in TF32 by default: ~1e-3 off the CPU's sums, more than TOLERANCE
        tf.config.experimental.enable_tensor_float_32_execution(False)
    if len(gpus) < n:
        config = [tf.config.LogicalDeviceConfiguration(memory_limit=2048 if gpus else None) for _ in range(n)]
        with contextlib.suppress(RuntimeError):  # devices already initialised: keep what exists
            tf.config.set_logical_device_configuration(physical, config)
    return [d.name for d in tf.config.list_logical_devices(kind)][:n]


def make_model(hidden_units: int = 64, learning_rate: float = 1e-3, seed: int = 42):
    """The classifier every run of notebook 12 trains: 784 → `hidden_units` ReLU → 10 logits, Adam.

    Built and compiled inside the current strategy scope; the seed fixes the initial weights.
    """
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(hidden_units, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def global_batches(x: np.ndarray, y: np.ndarray, global_batch_size: int):
    """Batches of `global_batch_size` in a fixed order (no shuffle: every run sees the same batches),
    the last partial batch dropped (so every replica gets exactly global / replicas examples), sharded by
    data when several workers read it."""
    import tensorflow as tf
    if global_batch_size < 1 or global_batch_size > len(x):
        raise ValueError(f"global_batch_size must be ≥ 1 and ≤ {len(x)} (the examples), got {global_batch_size}")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch_size, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def replica_batches(x: np.ndarray, global_batch_size: int, n_replicas: int, replicas: Sequence[int]) -> np.ndarray:
    """The per-replica batches that `replicas` (global replica ids) see, step by step.

    Step s's global batch is rows s·B … s·B + B − 1 (B = `global_batch_size`, remainder dropped); replica r
    gets its r-th slice of b = B / `n_replicas` rows. Returned in the order one input pipeline feeds its
    local replicas: step 0 replica replicas[0], step 0 replicas[1], …, step 1 …; shape (steps·len(replicas), b, …).
    """
    if global_batch_size % n_replicas:
        raise ValueError(f"global_batch_size must be a multiple of the {n_replicas} replicas, got {global_batch_size}")
    b, steps = global_batch_size // n_replicas, len(x) // global_batch_size
    if steps < 1:
        raise ValueError(f"global_batch_size must be ≤ {len(x)} (the examples), got {global_batch_size}")
    grid = x[:steps * global_batch_size].reshape(steps, n_replicas, b, *x.shape[1:])
    return grid[:, list(replicas)].reshape(steps * len(replicas), b, *x.shape[1:])


def distributed_dataset(strategy, x: np.ndarray, y: np.ndarray, global_batch_size: int):
    """The same global batches as :func:`global_batches`, split explicitly for a multi-worker strategy with one
    replica per worker: worker i's input pipeline builds only the i-th slice of every global batch
    (``strategy.distribute_datasets_from_function``), so the workers together see exactly what one device sees.
    Repeated without end: pass ``steps_per_epoch=len(x) // global_batch_size`` to `fit` (Keras 3 reads the
    length of a distributed dataset per worker and would stop each epoch half way).
    """
    import tensorflow as tf

    def dataset_fn(context):
        n = context.num_replicas_in_sync
        if n != context.num_input_pipelines:
            raise ValueError(f"one replica per worker expected, got {n} replicas on "
                             f"{context.num_input_pipelines} workers")
        mine = [context.input_pipeline_id]
        return tf.data.Dataset.from_tensor_slices((replica_batches(x, global_batch_size, n, mine),
                                                   replica_batches(y, global_batch_size, n, mine))).repeat()

    return strategy.distribute_datasets_from_function(dataset_fn)


def fashion_subset(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """`n` Fashion-MNIST training images as float32 rows of 784 pixels in [0, 1], in a seeded random order."""
    from dlcourse import datasets

    data = datasets.load("fashion_mnist")
    order = np.random.default_rng(seed).permutation(len(data.x_train))[:n]
    x = data.x_train[order].reshape(n, -1).astype("float32") / 255
    return x, data.y_train[order].astype("int64")


# ---------------------------------------------------------------------------------------------
# The multi-worker training run


@dataclass
class MultiWorkerRun:
    """What a cluster of :func:`worker_main` processes left behind."""

    returncodes: list[int | None]  # per worker: 0 finished, -9 killed by SIGKILL, -15 stopped by the supervisor
    progress: list[list[dict]]  # per worker: one dict per finished epoch (epoch, loss, accuracy, first_epoch)
    result: dict | None  # the chief's final record (losses of the epochs it ran, first epoch) or None
    weights: list[np.ndarray] | None  # the chief's final weights, or None
    log_paths: list[Path]
    pids: list[int]
    ports: list[int]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c == 0 for c in self.returncodes)


def worker_command(data: Path, out: Path, epochs: int, batch_size: int, learning_rate: float, hidden_units: int,
                   seed: int, backup_dir: Path | None = None, crash_after_epoch: int | None = None,
                   crash_task: int = 1) -> list[str]:
    """The command line of one worker (the same for every worker; TF_CONFIG tells them apart)."""
    cmd = [sys.executable, "-m", "dlcourse.distributed", "worker", "--data", str(data), "--out", str(out),
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--learning-rate", str(learning_rate),
           "--hidden-units", str(hidden_units), "--seed", str(seed)]
    if backup_dir is not None:
        cmd += ["--backup-dir", str(backup_dir)]
    if crash_after_epoch is not None:
        cmd += ["--crash-after-epoch", str(crash_after_epoch), "--crash-task", str(crash_task)]
    return cmd


def train_multi_worker(data: Path, run_dir: Path, log_dir: Path, n_workers: int = 2, epochs: int = 3,
                       batch_size: int = 200, learning_rate: float = 1e-3, hidden_units: int = 64, seed: int = 42,
                       backup_dir: Path | None = None, crash_after_epoch: int | None = None, crash_task: int = 1,
                       timeout_s: float = 300, gpus: int | None = None) -> MultiWorkerRun:
    """Start `n_workers` training processes on free localhost ports, wait, stop them all, read their output.

    `data` is an .npz with x and y (:func:`save_arrays`); `run_dir` receives progress and weights,
    `log_dir` one log per worker. With `crash_after_epoch`, worker `crash_task` kills itself right after
    that epoch's checkpoint; the survivors are then stopped, as a cluster manager would. `gpus`: GPUs on
    this machine (None: ask TensorFlow); each worker gets its own GPU when there are enough, else the CPU.
    """
    ports = free_ports(n_workers)
    addresses = [f"{HOST}:{p}" for p in ports]
    command = worker_command(data, run_dir, epochs, batch_size, learning_rate, hidden_units, seed, backup_dir,
                             crash_after_epoch, crash_task)
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    # one GPU per worker where there are enough (NCCL cannot put two workers on one GPU), else CPUs only
    devices = [str(i) if gpus >= n_workers else "" for i in range(n_workers)]
    envs = [{"TF_CONFIG": json.dumps(tf_config(addresses, i)), "CUDA_VISIBLE_DEVICES": devices[i]}
            for i in range(n_workers)]
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in [*run_dir.glob("progress*.jsonl"), *run_dir.glob("result*.json"), *run_dir.glob("weights*.npz")]:
        old.unlink()
    clock = stopwatch.Clock()
    with WorkerGroup([command] * n_workers, log_dir, env=_WORKER_ENV, envs=envs) as group:
        group.wait(timeout_s)
        group.stop()
        codes = group.returncodes()  # 0: finished; -9: killed (SIGKILL); -15: stopped by us (SIGTERM)
    progress = [_read_jsonl(run_dir / f"progress{i}.jsonl") for i in range(n_workers)]
    result_path, weights_path = run_dir / "result0.json", run_dir / "weights0.npz"
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    weights = None
    if weights_path.exists():
        with np.load(weights_path) as w:
            weights = [w[f"w{i}"] for i in range(len(w.files))]
    return MultiWorkerRun(codes, progress, result, weights, [group.log_path(i) for i in range(n_workers)],
                          group.pids, ports, clock.wall_s)


_WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1",
               "TF_ENABLE_ONEDNN_OPTS": "0"}


def save_arrays(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Write the training data the workers read (.npz with x and y)."""
    np.savez(path, x=x, y=y)
    return path


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def worker_main(argv: Sequence[str] | None = None) -> None:
    """One MultiWorkerMirroredStrategy worker: its task comes from TF_CONFIG, its work from the arguments."""
    parser = argparse.ArgumentParser(prog="python -m dlcourse.distributed worker")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden-units", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backup-dir", type=Path, default=None)
    parser.add_argument("--crash-after-epoch", type=int, default=None)
    parser.add_argument("--crash-task", type=int, default=1)
    args = parser.parse_args(argv)

    from dlcourse.session import import_tensorflow

    tf, keras = import_tensorflow()
    for gpu in tf.config.list_physical_devices("GPU"):  # several workers may share one GPU
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.experimental.enable_op_determinism()
    keras.config.disable_traceback_filtering()  # full tracebacks in the worker's log
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    patch_keras_for_multi_worker(tf)
    print(f"worker {index}: {strategy.num_replicas_in_sync} replicas in sync", flush=True)
    with np.load(args.data) as d:
        x, y = d["x"], d["y"]
    dataset = distributed_dataset(strategy, x, y, args.batch_size)
    with strategy.scope():
        model = make_model(args.hidden_units, args.learning_rate, args.seed)
    callbacks = []
    if args.backup_dir is not None:  # each worker its own folder: they never write the same file
        callbacks.append(keras.callbacks.BackupAndRestore(str(args.backup_dir / f"worker{index}")))
    callbacks.append(epoch_log_callback(args.out / f"progress{index}.jsonl"))
    if args.crash_after_epoch is not None and index == args.crash_task:
        callbacks.append(crash_callback(args.crash_after_epoch))
    history = model.fit(dataset, epochs=args.epochs, steps_per_epoch=len(x) // args.batch_size, verbose=2,
                        shuffle=False, callbacks=callbacks)
    losses = [float(v) for v in history.history.get("loss", [])]
    result = {"worker": index, "replicas": strategy.num_replicas_in_sync, "losses": losses,
              "first_epoch": args.epochs - len(losses) + 1, "epochs": args.epochs}
    np.savez(args.out / f"weights{index}.npz", **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    (args.out / f"result{index}.json").write_text(json.dumps(result))
    print(f"worker {index}: done", flush=True)


def patch_keras_for_multi_worker(tf) -> None:
    """Work around keras-team/keras#20585: Keras 3 `fit` fails under MultiWorkerMirroredStrategy. Two places
    reduce across workers what MirroredStrategy reduces on one machine:

    1. before the first step, one input batch is averaged across replicas to build the model symbolically
       (ValueError: Attempt to convert a value (PerReplica...)): the batch is only needed for its shapes, so
       we build from the first local replica's batch;
    2. after each step the scalar loss and metrics are averaged with ``axis=0`` (ValueError: Invalid
       reduction dimension 0 for input with 0 dimensions): a scalar is averaged with ``axis=None``.

    Called in the worker processes only; single-machine strategies take Keras's own code paths.
    """
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_dlcourse_patched", False):
        return
    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._dlcourse_patched = True


def epoch_log_callback(path: Path):
    """A Keras callback appending {"epoch", "loss", "accuracy", "time"} per finished epoch to a JSON-lines
    file, flushed to disk at once (it survives a crash right after)."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            record = {"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)),
                      "accuracy": float(logs.get("accuracy", np.nan)), "time": time.time()}
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())

    return EpochLog()


def crash_callback(k: int):
    """A Keras callback that kills its own process with SIGKILL at the end of epoch `k`, after the callbacks
    listed before it (the checkpoint): a hard crash, no clean-up, no goodbye."""
    import keras

    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == k:
                print(f"crashing after epoch {k}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    return CrashAfter()


# ---------------------------------------------------------------------------------------------
# Dask worker metrics


def _peak_rss() -> int:
    try:  # the high-water mark of this process image (ru_maxrss would include the parent it was forked from)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_memory(client) -> dict[str, int]:
    """Peak resident memory (bytes) of each Dask worker process since it started, or since
    :func:`dlcourse.scaling.reset_peak_memory` (VmHWM on Linux)."""
    return client.run(_peak_rss)


def _cpu_seconds() -> float:
    return time.process_time()


def worker_cpu_seconds(client) -> dict[str, float]:
    """CPU seconds each Dask worker process has used so far (all its threads)."""
    return client.run(_cpu_seconds)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "worker":
        raise SystemExit("usage: python -m dlcourse.distributed worker --data X.npz --out DIR [options]")
    worker_main(argv[1:])


if __name__ == "__main__":
    main()
