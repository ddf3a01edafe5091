"""The fraud model behind an HTTP endpoint, as taught in 13_capstone_fraud_detection.

A *bundle* is a folder that holds everything the server needs: ``bundle.json`` (the payment fields and their
types, the model's version, the batching limits) and ``scorer.joblib`` (the scorer, pickled). A scorer is any
object with ``score(frame) -> one float per row``; if it has ``bind(bundle_dir)``, the server calls it once
after loading, so a scorer can load files saved beside it (a Keras model, a tree ensemble).

    save_bundle("bundle", LinearScorer({"amount": 0.8, "hour": -0.1}), {"amount": "number", "hour": "integer"},
                version="2026-12-05")
    with ModelServer("bundle") as server:              # python -m dlcourse.serving --bundle bundle --port P
        httpx.post(server.url + "/score", json={"amount": 120.5, "hour": 3}).json()
        load_test(server.url, payloads, concurrency=8, requests=2000)   # requests/s and latency percentiles

**Why FastAPI and uvicorn.** The course's scorer is Python code: notebook 02's feature rules, a GRU and a tree
ensemble. TensorFlow Serving hosts TensorFlow graphs only, so it could serve the GRU but not the features or the
trees without writing them again in another language, and two copies of the feature code drift apart. FastAPI
(on Starlette) is a well-kept Python web framework and uvicorn the server that runs it: one process that runs
the very code the notebook trained, with asyncio to keep many connections open at once.

**Micro-batching.** One call of a Keras or tree ``predict`` costs a fixed few hundred microseconds to
milliseconds whatever its size, so scoring payments one at a time wastes most of the machine. The server
queues the payments of concurrent requests: a batch starts with the first request to arrive and takes
whatever else arrives within ``max_wait_ms`` (up to ``max_batch`` rows), the whole batch is scored with *one*
``scorer.score`` call in a worker thread (the event loop keeps accepting requests meanwhile), and each request
gets its own scores back. The trade: a request can wait up to ``max_wait_ms`` for company, a cost that buys
nothing when requests come one at a time (``max_batch=1`` turns batching off). Batches are scored one at a
time, in order of arrival, so a scorer may keep state between calls (each card's last payments) without locks.

**Bad requests** get a 4xx answer with one sentence that names the field and value and says what is allowed
(``{"error": "..."}``): a body that is not JSON (400), another content type (415), a body over
``max_body_bytes`` (413), a missing, unknown, mistyped or non-finite field, or a batch that is not a list of
1 to ``max_batch`` payments (422). When the scorer raises, the requests of that batch get a 500 and the server
keeps serving.

**What production would add**: several worker processes (or machines) behind a load balancer, since one
Python process uses one core for its requests; authentication and TLS; a model registry from which bundles
are deployed, versioned and rolled back; request logs and monitoring (the drift statistics of
:mod:`dlcourse.drift`).

Used in notebooks: 13.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request  # at module level: FastAPI reads the handlers' annotations here

__all__ = ["Bundle", "FailingScorer", "LinearScorer", "LoadResult", "ModelServer", "httpx_connection", "load_bundle",
           "load_test", "load_test_async", "make_app", "save_bundle"]

FIELD_TYPES = ("number", "string", "integer")
BUNDLE_FILE = "bundle.json"
SCORER_FILE = "scorer.joblib"
BATCH_KEY = "payments"  # {"payments": [...]} is a batch request, so no field may have this name
MIN_BODY_BYTES = 1024
INT64 = (-(2**63), 2**63 - 1)
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Scorers


class LinearScorer:
    """The sigmoid of a weighted sum of numeric fields: a tiny scorer for tests and benchmarks.

    ``score(frame) = 1 / (1 + exp(-(bias + sum of weight * frame[field])))``, one probability per row.
    """

    def __init__(self, weights: Mapping[str, float], bias: float = 0.0):
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError(f"weights must map at least one field name to a number, got {weights!r}")
        for name, weight in weights.items():
            if not isinstance(name, str) or not _is_number(weight) or not math.isfinite(weight):
                raise ValueError(f"weights must map field names to finite numbers, got {name!r}: {weight!r}")
        if not _is_number(bias) or not math.isfinite(bias):
            raise ValueError(f"bias must be a finite number, got {bias!r}")
        self.weights = {name: float(w) for name, w in weights.items()}
        self.bias = float(bias)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        z = np.full(len(frame), self.bias)
        for name, weight in self.weights.items():
            z += weight * frame[name].to_numpy(dtype=float)
        return 1.0 / (1.0 + np.exp(-z))


class FailingScorer(LinearScorer):
    """A test aid: a :class:`LinearScorer` that raises ``RuntimeError`` on every batch holding a payment whose
    `trigger` field is negative (on every batch when `trigger` is None), to check the server's 500 answer."""

    def __init__(self, weights: Mapping[str, float], bias: float = 0.0, trigger: str | None = None):
        super().__init__(weights, bias)
        self.trigger = trigger

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        if self.trigger is None or (frame[self.trigger].to_numpy(dtype=float) < 0).any():
            raise RuntimeError(f"FailingScorer fails on purpose (trigger field {self.trigger!r})")
        return super().score(frame)


# ---------------------------------------------------------------------------------------------
# Bundles


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the scorer (bound to its folder) and the settings of ``bundle.json``."""

    path: Path
    scorer: Any
    fields: dict[str, str]
    version: str
    max_batch: int
    max_wait_ms: float
    max_body_bytes: int


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_settings(fields, version, max_batch, max_wait_ms, max_body_bytes) -> None:
    allowed = ", ".join(repr(t) for t in FIELD_TYPES)
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError(f"fields must map at least one field name to one of {allowed}, got {fields!r}")
    for name, kind in fields.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"field names must be non-empty strings, got {name!r}")
        if name == BATCH_KEY:
            raise ValueError(f"the field name {BATCH_KEY!r} is reserved for batch requests; rename that field")
        if kind not in FIELD_TYPES:
            raise ValueError(f"fields[{name!r}] must be one of {allowed}, got {kind!r}")
    if not isinstance(version, str) or not version.strip():
        raise ValueError(f"version must be a non-empty string such as '2026-12-05', got {version!r}")
    if not _is_int(max_batch) or max_batch < 1:
        raise ValueError(f"max_batch must be an integer >= 1 (rows per scorer call), got {max_batch!r}")
    if not _is_number(max_wait_ms) or not 0 <= max_wait_ms <= 1000:
        raise ValueError(f"max_wait_ms must be a number of milliseconds between 0 and 1000, got {max_wait_ms!r}")
    if not _is_int(max_body_bytes) or max_body_bytes < MIN_BODY_BYTES:
        raise ValueError(f"max_body_bytes must be an integer >= {MIN_BODY_BYTES}, got {max_body_bytes!r}")


def save_bundle(out_dir: str | Path, scorer, fields: Mapping[str, str], version: str, max_batch: int = 256,
                max_wait_ms: float = 5.0, max_body_bytes: int = 64_000) -> Path:
    """Write a bundle to `out_dir` (created if needed; a bundle already there is removed first, with whatever
    was saved beside it): ``bundle.json`` and ``scorer.joblib``; returns the folder.

    `fields` maps each payment field, in the order of the scored frame's columns, to "number", "string" or
    "integer". The scorer's class must live in an importable module: the server is another process, and it
    cannot unpickle a class defined in a notebook cell (``__main__``).
    """
    import joblib

    if not callable(getattr(scorer, "score", None)):
        raise ValueError(f"scorer must have a score(frame) method, got a {type(scorer).__name__} without one")
    if type(scorer).__module__ == "__main__":
        raise ValueError(f"scorer's class {type(scorer).__name__} is defined in __main__ (a notebook or script), "
                         "which the server process cannot import; move the class into a .py module")
    _check_settings(fields, version, max_batch, max_wait_ms, max_body_bytes)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir must be a folder, got the file {out}")
    if (out / BUNDLE_FILE).exists():  # a bundle saved before: its files (a model beside it ...) must not linger
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        joblib.dump(scorer, out / SCORER_FILE)
    except Exception as exc:  # pickling errors come as several types
        raise ValueError(f"scorer could not be pickled ({type(exc).__name__}: {exc}); keep open files, "
                         "locks and models out of its attributes and load them in bind(bundle_dir)") from exc
    settings = {"version": version, "fields": dict(fields), "max_batch": max_batch,
                "max_wait_ms": float(max_wait_ms), "max_body_bytes": max_body_bytes}
    (out / BUNDLE_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return out


def load_bundle(bundle_dir: str | Path) -> Bundle:
    """Read a bundle written by :func:`save_bundle`: its settings and its scorer, bound to the folder."""
    import joblib

    path = Path(bundle_dir)
    if not (path / BUNDLE_FILE).is_file():
        raise FileNotFoundError(f"bundle_dir must hold {BUNDLE_FILE} (made by save_bundle), but {path} does not")
    settings = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
    keys = ("fields", "version", "max_batch", "max_wait_ms", "max_body_bytes")
    if missing := [k for k in keys if k not in settings]:
        raise ValueError(f"{path / BUNDLE_FILE} lacks {', '.join(missing)}: make the bundle again with save_bundle")
    _check_settings(*(settings[k] for k in keys))
    try:
        scorer = joblib.load(path / SCORER_FILE)
    except Exception as exc:  # a damaged file, a class the server cannot import, other package versions
        raise ValueError(f"{path / SCORER_FILE} could not be loaded ({type(exc).__name__}: {exc}); the scorer's "
                         "class must be importable here, with the package versions that saved it") from exc
    if callable(getattr(scorer, "bind", None)):
        scorer.bind(path)
    return Bundle(path, scorer, **{k: settings[k] for k in keys})


# ---------------------------------------------------------------------------------------------
# Requests: read, check, turn into rows


class RequestError(Exception):
    """A request the server answers with `status` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _shown(value) -> str:
    """A JSON value as a reader of the error message knows it."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return f"the string {value[:40] + '...' if len(value) > 40 else value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _a(kind: str) -> str:
    return {"number": "a number", "integer": "an integer", "string": "a string"}[kind]


def _check_payment(payment, fields: Mapping[str, str], who: str) -> tuple:
    """One payment as a tuple of values in the order of `fields`, or a RequestError naming what is wrong."""
    if not isinstance(payment, dict):
        raise RequestError(422, f"{who} must be a JSON object of payment fields, got {_shown(payment)}")
    for name, kind in fields.items():
        if name not in payment:
            raise RequestError(422, f"{who} has no field {name!r} ({_a(kind)}); every payment needs the fields "
                                    f"{', '.join(fields)}")
    if unknown := [k for k in payment if k not in fields]:
        raise RequestError(422, f"{who} has the unknown field {unknown[0]!r}; the allowed fields are "
                                f"{', '.join(fields)}")
    row = []
    for name, kind in fields.items():
        value = payment[name]
        if kind == "string":
            if not isinstance(value, str):
                raise RequestError(422, f"the field {name!r} of {who} must be a string, got {_shown(value)}")
            row.append(value)
            continue
        if not _is_number(value):
            raise RequestError(422, f"the field {name!r} of {who} must be {_a(kind)}, got {_shown(value)}")
        if not math.isfinite(value):
            raise RequestError(422, f"the field {name!r} of {who} must be a finite number, got {_shown(value)}")
        if kind == "number":
            row.append(float(value))
        elif isinstance(value, float) and not value.is_integer():
            raise RequestError(422, f"the field {name!r} of {who} must be an integer, got {_shown(value)}")
        elif not INT64[0] <= value <= INT64[1]:
            raise RequestError(422, f"the field {name!r} of {who} must be an integer between -2**63 and 2**63-1, "
                                    f"got {_shown(value)}")
        else:
            row.append(int(value))
    return tuple(row)


async def _read_body(request, limit: int) -> bytes:
    """The raw body, refused (413) when its Content-Length or its actual length passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"the Content-Length header must be a whole number of bytes, got {declared!r}")
        if int(declared) > limit:
            raise RequestError(413, f"the request body has {int(declared):,} bytes; this server accepts at most "
                                    f"{limit:,} bytes per request (send large batches in several requests)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body is longer than the {limit:,} bytes this server accepts "
                                    "per request (send large batches in several requests)")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_payments(request, bundle: Bundle) -> tuple[list[tuple], bool]:
    """The payments of a POST /score request as rows, and whether it was a single payment (not a batch)."""
    content_type = request.headers.get("content-type")
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        got = repr(content_type) if content_type else "none"
        raise RequestError(415, f"the Content-Type must be application/json, got {got}")
    body = await _read_body(request, bundle.max_body_bytes)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (f" ({exc.msg}: line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError)
                 else " (its bytes are not UTF-8)")
        raise RequestError(400, f"the request body is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise RequestError(422, "the request body must be a JSON object (one payment, or {\"payments\": [...]}), "
                                f"got {_shown(data)}")
    if BATCH_KEY not in data:
        return [_check_payment(data, bundle.fields, "the payment")], True
    if others := [k for k in data if k != BATCH_KEY]:
        raise RequestError(422, f"a batch request must have only the key {BATCH_KEY!r}, got also {others[0]!r}")
    payments = data[BATCH_KEY]
    if not isinstance(payments, list):
        raise RequestError(422, f"{BATCH_KEY!r} must be a list of payment objects, got {_shown(payments)}")
    if not 1 <= len(payments) <= bundle.max_batch:
        raise RequestError(422, f"{BATCH_KEY!r} must hold 1 to {bundle.max_batch} payments, got {len(payments)}")
    return [_check_payment(p, bundle.fields, f"payments[{i}]") for i, p in enumerate(payments)], False


def rows_to_frame(rows: Sequence[tuple], fields: Mapping[str, str]) -> pd.DataFrame:
    """Checked rows as the DataFrame the scorer gets: one column per field, in order, float64 / int64 / str."""
    columns = {}
    for i, (name, kind) in enumerate(fields.items()):
        values = [row[i] for row in rows]
        columns[name] = (pd.Series(values, dtype="str") if kind == "string"
                         else np.array(values, dtype="float64" if kind == "number" else "int64"))
    return pd.DataFrame(columns, copy=False)


# ---------------------------------------------------------------------------------------------
# Micro-batching


@dataclass
class Stats:
    """What the server has done since it started (GET /stats)."""

    requests: int = 0  # POST /score requests answered, errors included
    rows: int = 0  # payments scored
    batches: int = 0  # scorer.score calls that succeeded
    errors: int = 0  # requests answered with a 4xx or 5xx

    def as_dict(self) -> dict:
        mean = self.rows / self.batches if self.batches else 0.0
        return dataclasses.asdict(self) | {"mean_batch_rows": mean}


@dataclass
class _Waiting:
    rows: list[tuple]
    future: asyncio.Future
    arrived: float


class MicroBatcher:
    """Concatenate the rows of requests that arrive within `max_wait_ms` (up to `max_batch` rows) and score
    them with one ``scorer.score`` call in a worker thread; each request awaits its own slice of the scores."""

    def __init__(self, bundle: Bundle, stats: Stats):
        self.bundle, self.stats = bundle, stats
        self._waiting: deque[_Waiting] = deque()
        self._waiting_rows = 0
        self._task: asyncio.Task | None = None

    def _start(self) -> None:
        if self._task is None:  # on the first request, inside the server's event loop
            self._arrived, self._full = asyncio.Event(), asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def score(self, rows: list[tuple]) -> list[float]:
        self._start()
        loop = asyncio.get_running_loop()
        item = _Waiting(rows, loop.create_future(), loop.time())
        self._waiting.append(item)
        self._waiting_rows += len(rows)
        self._arrived.set()
        if self._waiting_rows >= self.bundle.max_batch:
            self._full.set()
        return await item.future

    def _take_batch(self) -> list[_Waiting]:
        batch, rows = [], 0
        while self._waiting and (not batch or rows + len(self._waiting[0].rows) <= self.bundle.max_batch):
            item = self._waiting.popleft()
            self._waiting_rows -= len(item.rows)
            if not item.future.done():  # a request whose client went away is dropped
                batch.append(item)
                rows += len(item.rows)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = self._waiting[0].arrived + self.bundle.max_wait_ms / 1000
            if self._waiting_rows < self.bundle.max_batch and deadline > loop.time():
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), deadline - loop.time())
            batch = self._take_batch()
            if batch:
                await self._score(batch)

    def _score_rows(self, rows: list[tuple]) -> np.ndarray:
        """In a worker thread: build the frame, score it, check the scores."""
        scores = np.asarray(self.bundle.scorer.score(rows_to_frame(rows, self.bundle.fields)), dtype=float)
        if scores.size != len(rows):
            raise ValueError(f"the scorer returned {scores.size} scores for {len(rows)} rows")
        if not np.isfinite(scores).all():
            raise ValueError("the scorer returned a score that is not a finite number")
        return scores.reshape(-1)

    async def _score(self, batch: list[_Waiting]) -> None:
        rows = [row for item in batch for row in item.rows]
        try:
            scores = await asyncio.to_thread(self._score_rows, rows)
        except Exception as exc:
            log.error("the model failed to score a batch of %d rows", len(rows), exc_info=exc)
            error = RequestError(500, f"the model failed to score this batch: {type(exc).__name__}")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self.stats.batches += 1
        self.stats.rows += len(rows)
        start = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result(scores[start:start + len(item.rows)].tolist())
            start += len(item.rows)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._waiting:
            item = self._waiting.popleft()
            if not item.future.done():
                item.future.set_exception(RequestError(503, "the server is shutting down; send the request again"))


# ---------------------------------------------------------------------------------------------
# The app and its command


def make_app(bundle_dir: str | Path):
    """The FastAPI app serving a bundle: POST /score, GET /health, GET /stats."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    bundle = load_bundle(bundle_dir)
    stats = Stats()
    batcher = MicroBatcher(bundle, stats)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await batcher.close()

    app = FastAPI(title="dlcourse fraud scorer", version=bundle.version, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/score")
    async def score(request: Request):
        stats.requests += 1
        try:
            rows, single = await read_payments(request, bundle)
            scores = await batcher.score(rows)
        except RequestError as exc:
            stats.errors += 1
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except Exception:
            stats.errors += 1  # answered by the handler of unexpected errors below
            raise
        if single:
            return {"score": scores[0], "version": bundle.version}
        return {"scores": scores, "version": bundle.version}

    @app.get("/health")
    async def health():
        return {"status": "ok", "version": bundle.version}

    @app.get("/stats")
    async def get_stats():
        return stats.as_dict() | {"version": bundle.version}

    @app.exception_handler(HTTPException)
    async def no_such_route(request: Request, exc: HTTPException):
        if exc.status_code in (404, 405):
            message = (f"{request.method} {request.url.path} is not served here; the routes are POST /score, "
                       "GET /health and GET /stats")
        else:
            message = str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"the server failed on this request: {type(exc).__name__}"}, status_code=500)

    app.state.bundle, app.state.stats = bundle, stats
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlcourse.serving --bundle DIR --port P [--host H]``: serve a bundle with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m dlcourse.serving", description="Serve a model bundle over HTTP.")
    parser.add_argument("--bundle", required=True, type=Path, help="a folder made by dlcourse.serving.save_bundle")
    parser.add_argument("--port", required=True, type=int, help="the TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: this machine only)")
    args = parser.parse_args(argv)
    try:
        app = make_app(args.bundle)
    except (OSError, ValueError) as exc:
        print(f"cannot serve the bundle {args.bundle}: {exc}", file=sys.stderr)
        return 1
    bundle = app.state.bundle
    print(f"serving {args.bundle.name} version {bundle.version} on http://{args.host}:{args.port} "
          f"(max_batch {bundle.max_batch}, max_wait_ms {bundle.max_wait_ms})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# ---------------------------------------------------------------------------------------------
# The server as a separate process


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ModelServer:
    """``python -m dlcourse.serving`` as a separate process, stopped on leaving the ``with`` block.

    The process writes its output to a log file (`log_path`, by default a temporary file removed by
    :meth:`stop`); the start waits until GET /health answers and raises, with the log's last lines, when the
    process dies or `start_timeout_s` passes first. Leaving the block -- also when it raised -- or
    :meth:`stop` sends SIGTERM, waits up to 10 s, then SIGKILL; an ``atexit`` hook does the same when the
    Python process (a notebook's kernel) ends with the server still running.

    >>> with ModelServer("bundle") as server:  # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()
    {'status': 'ok', 'version': '2026-12-05'}
    """

    STOP_GRACE_S = 10.0

    def __init__(self, bundle_dir: str | Path, port: int | None = None, host: str = "127.0.0.1",
                 start_timeout_s: float = 60.0, log_path: str | Path | None = None):
        self.bundle_dir = Path(bundle_dir)
        if not (self.bundle_dir / BUNDLE_FILE).is_file():
            raise FileNotFoundError(f"bundle_dir must hold {BUNDLE_FILE} (made by save_bundle), "
                                    f"but {self.bundle_dir} does not")
        if port is not None and (not _is_int(port) or not 1 <= port <= 65535):
            raise ValueError(f"port must be an integer between 1 and 65535, or None for a free one, got {port!r}")
        if not _is_number(start_timeout_s) or start_timeout_s <= 0:
            raise ValueError(f"start_timeout_s must be a number of seconds > 0, got {start_timeout_s!r}")
        self.port, self.host, self.start_timeout_s = port, host, float(start_timeout_s)
        self.log_path = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dlcourse.serving", "--bundle", str(self.bundle_dir.resolve()),
                "--port", str(self.port), "--host", self.host]

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the server's log."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) or "(the log is empty)"

    def start(self) -> ModelServer:
        import httpx

        if self.process is not None:
            raise RuntimeError(f"this server is already started (pid {self.pid}); stop() it first")
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="dlcourse-serving-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"the model server exited with code {code} before answering /health; "
                                   f"the last lines of its log:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise TimeoutError(f"the model server did not answer /health within start_timeout_s="
                                   f"{self.start_timeout_s:g} s; the last lines of its log:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the server (and its session), wait up to 10 s, then SIGKILL; close and remove its log."""
        atexit.unregister(self.stop)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
            if self._own_log and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self.process is None else \
            "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
        return f"ModelServer({self.bundle_dir.name!r}, {self.url}, pid {self.pid}, {state})"


# ---------------------------------------------------------------------------------------------
# Load tests


@dataclass
class LoadResult:
    """What :func:`load_test` measured: throughput, latency percentiles, and the server's mean batch."""

    requests: int  # requests answered (errors included)
    errors: int  # answers other than 200, and requests that failed on the way
    seconds: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_batch_rows: float  # rows per scorer call on the server during the test (from /stats)
    concurrency: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def row(self) -> dict:
        """The numbers rounded for a table."""
        return {"concurrency": self.concurrency, "requests": self.requests, "errors": self.errors,
                "requests/s": round(self.requests_per_s), "p50 ms": round(self.p50_ms, 1),
                "p95 ms": round(self.p95_ms, 1), "p99 ms": round(self.p99_ms, 1), "max ms": round(self.max_ms, 1),
                "mean batch rows": round(self.mean_batch_rows, 1)}


@contextlib.asynccontextmanager
async def httpx_connection(url: str, timeout_s: float):
    """One client of a load test: an ``httpx.AsyncClient`` with one keep-alive connection, opened by a
    GET /health; yields ``post(body) -> status`` for POST /score with a JSON body (bytes)."""
    import httpx

    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1),
                                 timeout=timeout_s) as client:
        (await client.get("/health")).raise_for_status()

        async def post(body: bytes) -> int:
            return (await client.post("/score", content=body, headers=headers)).status_code

        yield post


async def load_test_async(url: str, payloads: Sequence[dict], concurrency: int = 8, requests: int = 2000,
                          timeout_s: float = 60.0, connect=httpx_connection) -> LoadResult:
    """:func:`load_test` inside a running event loop (``await`` it). `connect(url, timeout_s)`: an async
    context manager yielding ``post(body) -> HTTP status`` for one client (default: :func:`httpx_connection`)."""
    import httpx

    _check_load(url, payloads, concurrency, requests, timeout_s)
    url = url.rstrip("/")
    bodies = [json.dumps(dict(p), allow_nan=True).encode() for p in itertools.islice(payloads, requests)]
    latencies: list[float] = []
    errors = connected = 0
    counter = itertools.count()
    all_connected = asyncio.Event()

    async def one_client() -> None:
        nonlocal errors, connected
        async with connect(url, timeout_s) as post:
            connected += 1
            if connected == concurrency:
                all_connected.set()
            await all_connected.wait()  # the clock starts when every client has its connection
            while (i := next(counter)) < requests:
                sent = time.perf_counter()
                try:
                    ok = await post(bodies[i % len(bodies)]) == 200
                except (OSError, httpx.HTTPError, asyncio.IncompleteReadError):
                    ok = False
                latencies.append(time.perf_counter() - sent)
                errors += not ok

    async with httpx.AsyncClient(base_url=url, timeout=timeout_s) as stats_client:
        before = (await stats_client.get("/stats")).json()
        tasks = [asyncio.create_task(one_client()) for _ in range(concurrency)]
        ready = asyncio.create_task(all_connected.wait())
        await asyncio.wait([ready, *tasks], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if not all_connected.is_set():
            for task in [ready, *tasks]:
                task.cancel()
            failed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
            await asyncio.gather(ready, *tasks, return_exceptions=True)
            why = f"{type(failed[0]).__name__}: {failed[0]}" if failed else f"not within timeout_s={timeout_s:g} s"
            raise RuntimeError(f"the load test's {concurrency} clients could not all connect to {url} ({why})")
        start = time.perf_counter()
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        for task in late:  # timeout_s passed: the requests still on their way are not counted
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        seconds = time.perf_counter() - start
        after = (await stats_client.get("/stats")).json()
    batches = after["batches"] - before["batches"]
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return LoadResult(requests=len(latencies), errors=errors, seconds=seconds,
                      requests_per_s=len(latencies) / seconds, p50_ms=float(p50), p95_ms=float(p95),
                      p99_ms=float(p99), max_ms=float(ms.max()),
                      mean_batch_rows=(after["rows"] - before["rows"]) / batches if batches else 0.0,
                      concurrency=concurrency)


def _check_load(url, payloads, concurrency, requests, timeout_s) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    if isinstance(payloads, Mapping) or not isinstance(payloads, Sequence) or not payloads \
            or not all(isinstance(p, Mapping) for p in payloads):
        raise ValueError(f"payloads must be a non-empty list of payment dicts, got {type(payloads).__name__}")
    if not _is_int(concurrency) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    if not _is_int(requests) or requests < 1:
        raise ValueError(f"requests must be an integer >= 1, got {requests!r}")
    if not _is_number(timeout_s) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a number of seconds > 0, got {timeout_s!r}")


def load_test(url: str, payloads: Sequence[dict], concurrency: int = 8, requests: int = 2000,
              timeout_s: float = 60.0) -> LoadResult:
    """Send `requests` POST /score requests from `concurrency` clients at once, cycling through `payloads`
    (single payments as dicts), and time each; stops after `timeout_s` with what has been answered by then.

    Each client is an ``httpx.AsyncClient`` with one keep-alive connection, like one caller. httpx costs a few
    milliseconds of CPU per request, more than the server spends on it: on a 2-core machine the load test's own
    process can be what limits the rate (benchmarks/results/serving.md). Works in a script and inside a running
    event loop (a Jupyter kernel's): there it runs in a worker thread; or ``await load_test_async(...)``.
    """
    _check_load(url, payloads, concurrency, requests, timeout_s)  # here, not in the thread
    job = load_test_async(url, payloads, concurrency, requests, float(timeout_s))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # a loop is running here (Jupyter): use a thread of our own
        return pool.submit(asyncio.run, job).result()


if __name__ == "__main__":
    from dlcourse.serving import main as _main  # the importable copy, so pickled scorers find one module

    raise SystemExit(_main())
