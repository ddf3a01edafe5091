"""Post-training quantisation with TensorFlow Lite / LiteRT, as taught in 14_lightweight_explainable_private.

:func:`convert` turns a Keras model into a ``.tflite`` flat buffer in one of four modes; :class:`LiteModel`
runs one with LiteRT's interpreter (``ai_edge_litert``, TensorFlow Lite's successor) and handles the
int8 scaling of inputs and outputs, so that a quantised model is used exactly like the Keras one.

Used in notebooks: 14.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from dlcourse import stopwatch
from dlcourse.session import _quiet_stderr

MODES = ("float32", "float16", "dynamic_range", "int8")


def convert(model, mode: str, representative: np.ndarray | None = None) -> bytes:
    """The model as a TFLite flat buffer. Modes: float32 (no quantisation), float16 (weights stored as
    float16), dynamic_range (weights int8, activations quantised on the fly), int8 (weights and activations
    int8, uint8 input and output; needs `representative` inputs to calibrate the activation ranges)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "int8" and (representative is None or len(representative) == 0):
        raise ValueError("mode 'int8' needs representative inputs (a few hundred training examples), got none")
    with tempfile.TemporaryDirectory() as folder, _quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            converter.representative_dataset = _calibration(representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        return converter.convert()


def _calibration(x: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def batches():
        for i in range(len(x)):
            yield [x[i:i + 1].astype("float32")]
    return batches


class LiteModel:
    """A .tflite model behind a `predict(x)` like Keras' (float inputs in, float outputs out)."""

    def __init__(self, content: bytes, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        with _quiet_stderr():
            self.interpreter = Interpreter(model_content=content, num_threads=threads)
            self.interpreter.allocate_tensors()
        self.size_bytes = len(content)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]

    def _run(self, x: np.ndarray) -> np.ndarray:
        scale, zero = self._in["quantization"]
        if scale:  # quantised input: real = scale * (q - zero)
            x = np.clip(np.round(x / scale + zero), 0, 255)
        self.interpreter.resize_tensor_input(self._in["index"], x.shape)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self._in["index"], x.astype(self._in["dtype"]))
        with _quiet_stderr():
            self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        scale, zero = self._out["quantization"]
        return scale * (y.astype("float32") - zero) if scale else y

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return np.concatenate([self._run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def latency_ms(self, example: np.ndarray, runs: int = 200) -> float:
        """Median milliseconds to score one example (batch of 1), after one warm-up run."""
        return _median_ms(lambda: self._run(example[None]), runs)


def keras_latency_ms(model, example: np.ndarray, runs: int = 200) -> float:
    """Median milliseconds for a Keras model to score one example with `predict_on_batch` (the compiled
    predict function, after one warm-up call that compiles it)."""
    return _median_ms(lambda: model.predict_on_batch(example[None]), runs)


def _median_ms(call: Callable[[], object], runs: int) -> float:
    """Median wall-clock milliseconds of `call()` over `runs` calls, after one warm-up call."""
    walls, _ = stopwatch.time_calls(call, runs, warmup=1)
    return float(np.median(walls) * 1e3)
