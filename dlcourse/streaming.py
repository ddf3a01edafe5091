"""Micro-batch streaming with event-time windows and a watermark, as taught in 01_big_data_and_deep_learning.

A stream is replayed in arrival order, a micro-batch (a DataFrame) at a time; :class:`TumblingWindows`
keeps per-window counts and sums, and :class:`StreamStats` measures throughput and per-batch latency.
Notebook 13 reuses :func:`replay`, :func:`parse_payments` and :class:`StreamStats` to score a live stream.

    windows = TumblingWindows(size="1h", lateness="1h", by="channel", sums=("amount",))
    stats = StreamStats()
    for raw in replay(table, batch_rows=5_000):        # a pyarrow Table or DataFrame, in arrival order
        with stats.measure(len(raw)):
            windows.update(parse_payments(raw))
    windows.result()     # one row per (window, key): count, sums, and how many of them arrived late
    windows.ledger       # every row accounted for: on_time, late, unparsable_time, future

**Semantics** (those of Spark Structured Streaming's micro-batches). Each row falls in the window
``[floor(t, size), floor(t, size) + size)`` of its event time ``t``. After each batch the *watermark*
moves to ``max(event time seen) - lateness``, and every open window that ends at or before it is
*closed* (emitted, final). A row whose window was closed before its batch arrived is **late**: it is
added to its window as a correction and counted in the ``late`` column -- never silently dropped. A row
without a readable event time is counted as ``unparsable_time``. A row stamped more than ``max_ahead``
after the median event time of the ``NEIGHBOURS`` rows that arrived around it is a broken clock, not the
future: it would drag the watermark ahead and make every later row late, so it is counted as ``future``
and kept out of the windows.

Used in notebooks: 01.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from dlcourse import bigdata, stopwatch

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the landing zone's standard timestamp (dlcourse.bigdata)
CHANNELS = bigdata.CHANNELS
NEIGHBOURS = 101  # rows around each row whose median event time says what "now" was when it arrived


def read_raw(path: str | Path, columns: Sequence[str] | None = None) -> tuple[pa.Table, int]:
    """One landing-zone transactions file as text, in arrival order: (table of strings, damaged lines skipped).

    Every field stays a string exactly as it arrived ("NA" and "" included). The file is read by notebook 02's
    readers (:func:`dlcourse.landing.read_part`, :func:`dlcourse.prepare.split_transactions`), so a damaged
    file never stops it: a line with too few or too many fields, bytes that are not UTF-8, a NUL byte, a repeated
    header or a last line cut off is skipped and counted. `columns`: the columns to keep (default: all 15).
    """
    from dlcourse import landing, prepare

    names = list(prepare.TXN_COLUMNS if columns is None else columns)
    unknown = [c for c in names if c not in prepare.TXN_COLUMNS]
    if unknown:
        raise ValueError(f"columns must be transaction columns ({', '.join(prepare.TXN_COLUMNS)}), got {unknown}")
    split = prepare.split_transactions(landing.read_part(path).to_pandas())
    good = split["reason"].isna()
    table = pa.Table.from_pandas(split.loc[good, names], preserve_index=False)
    return table.cast(pa.schema([(name, pa.string()) for name in names])), int((~good).sum())


def replay(source, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of `source` (a pyarrow Table or a pandas DataFrame) in order, `batch_rows` at a time.

    Each micro-batch is a fresh DataFrame, as if it had just been received and decoded.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int | np.integer) or batch_rows < 1:
        raise ValueError(f"batch_rows must be an int ≥ 1, got {batch_rows!r}")
    n = source.num_rows if hasattr(source, "num_rows") else len(source)
    for start in range(0, n, batch_rows):
        if hasattr(source, "num_rows"):
            yield source.slice(start, batch_rows).to_pandas()
        else:
            yield source.iloc[start:start + batch_rows].reset_index(drop=True)


def parse_payments(raw: pd.DataFrame) -> pd.DataFrame:
    """The fields a payments stream aggregates, from raw landing-zone strings (no repairs; that is 02's job).

    timestamp: datetime64 (NaT unless in the standard format); channel: one of CHANNELS or "unknown";
    amount: float as written (NaN when unreadable); is_fraud: 0/1. Other columns are passed through.
    """
    out = raw.copy()
    out["timestamp"] = pd.to_datetime(raw["timestamp"], format=TIME_FORMAT, errors="coerce")
    if "channel" in raw:
        out["channel"] = raw["channel"].where(raw["channel"].isin(CHANNELS), "unknown")
    if "amount" in raw:
        out["amount"] = pd.to_numeric(raw["amount"], errors="coerce")
    if "is_fraud" in raw:
        out["is_fraud"] = (raw["is_fraud"] == "1").astype("int64")
    return out


@dataclass
class StreamStats:
    """Rows and wall-clock seconds of every micro-batch: throughput and latency percentiles."""

    rows: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @contextlib.contextmanager
    def measure(self, n_rows: int) -> Iterator[None]:
        """Time the body of a `with` block as the processing of one micro-batch of `n_rows` rows."""
        with stopwatch.timed() as clock:
            yield
        self.seconds.append(clock.wall_s)
        self.rows.append(int(n_rows))

    def batches(self) -> pd.DataFrame:
        """One row per micro-batch: rows, latency_ms, rows_per_s."""
        seconds = np.asarray(self.seconds)
        return pd.DataFrame({"rows": self.rows, "latency_ms": seconds * 1e3,
                             "rows_per_s": np.asarray(self.rows) / np.maximum(seconds, 1e-9)})

    def summary(self) -> dict[str, float]:
        """batches, rows, seconds (busy time), rows_per_s, p50_ms, p95_ms, max_ms."""
        if not self.seconds:
            raise ValueError("no micro-batch measured yet: wrap each batch in `with stats.measure(n):`")
        ms = np.asarray(self.seconds) * 1e3
        busy = float(np.sum(self.seconds))
        return {"batches": len(ms), "rows": int(np.sum(self.rows)), "seconds": busy,
                "rows_per_s": float(np.sum(self.rows) / busy), "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}


def _local_median(ns: np.ndarray) -> np.ndarray:
    """For each row, the median of the NEIGHBOURS rows centred on it (fewer at the edges), in ns."""
    rolling = pd.Series(ns, dtype="float64").rolling(NEIGHBOURS, center=True, min_periods=1)
    return rolling.median().to_numpy()


class TumblingWindows:
    """Event-time tumbling windows with a watermark: counts and sums per (window, key); see the module doc.

    size, lateness, max_ahead: pandas time spans ("1h", "10min", "30D"); max_ahead=None turns the
    future-timestamp guard off. time: the datetime64 column; by: a key column or None; sums: numeric
    columns summed per window (NaN counts as 0, as in pandas' sum).
    """

    def __init__(self, size: str = "1h", lateness: str = "1h", *, max_ahead: str | None = "1D",
                 time: str = "timestamp", by: str | None = None, sums: Sequence[str] = ()):
        self.size, self.lateness = pd.Timedelta(size), pd.Timedelta(lateness)
        if self.size <= pd.Timedelta(0):
            raise ValueError(f"size must be a positive time span, got {size!r}")
        if self.lateness < pd.Timedelta(0):
            raise ValueError(f"lateness must be a time span ≥ 0, got {lateness!r}")
        self.max_ahead = None if max_ahead is None else pd.Timedelta(max_ahead)
        self.time, self.by, self.sums = time, by, tuple(sums)
        self.columns = ("count", *self.sums, "late")
        self.ledger = {"rows": 0, "on_time": 0, "late": 0, "unparsable_time": 0, "future": 0}
        self._size = self.size.value  # nanoseconds
        self._newest: int | None = None  # the newest valid event time seen, ns
        self._open: dict[tuple[int, object], np.ndarray] = {}  # (window number, key) -> count, sums..., late
        self._closed: dict[tuple[int, object], np.ndarray] = {}

    @property
    def watermark(self) -> pd.Timestamp | None:
        """Event time up to which every window is final: the newest event time seen minus `lateness`."""
        return None if self._newest is None else pd.Timestamp(self._newest) - self.lateness

    @property
    def open_windows(self) -> int:
        return len(self._open)

    def update(self, batch: pd.DataFrame) -> int:
        """Add one micro-batch; returns how many windows it closed (their counts are final)."""
        t = batch[self.time]
        if not pd.api.types.is_datetime64_any_dtype(t):
            raise ValueError(f"column {self.time!r} must hold datetimes (see parse_payments), got {t.dtype}")
        ns = t.to_numpy("datetime64[ns]").view("int64")
        readable = ~np.isnat(t.to_numpy("datetime64[ns]"))
        future = np.zeros(len(ns), bool)
        if self.max_ahead is not None and readable.any():
            future[readable] = ns[readable] > _local_median(ns[readable]) + self.max_ahead.value
        valid = readable & ~future
        window = ns // self._size
        late = np.zeros(len(ns), bool)
        if self._newest is not None:
            late = valid & ((window + 1) * self._size <= self._newest - self.lateness.value)
        on_time = valid & ~late
        for name, n in (("rows", len(ns)), ("on_time", on_time.sum()), ("late", late.sum()),
                        ("unparsable_time", (~readable).sum()), ("future", future.sum())):
            self.ledger[name] += int(n)
        keys = batch[self.by].to_numpy() if self.by else np.full(len(ns), "all", dtype=object)
        values = [np.nan_to_num(batch[s].to_numpy(dtype="float64")) for s in self.sums]
        self._add(self._open, window, keys, values, on_time, late=False)
        self._add(self._closed, window, keys, values, late, late=True)  # a correction to a final window
        if valid.any():
            newest = int(ns[valid].max())
            self._newest = newest if self._newest is None else max(self._newest, newest)
        return self._close()

    def _add(self, state: dict, window: np.ndarray, keys: np.ndarray, values: list[np.ndarray],
             rows: np.ndarray, late: bool) -> None:
        if not rows.any():
            return
        codes, uniques = pd.factorize(keys[rows])
        groups, inverse = np.unique(window[rows] * len(uniques) + codes, return_inverse=True)
        count = np.bincount(inverse)
        table = np.column_stack([count, *(np.bincount(inverse, weights=v[rows]) for v in values),
                                 count if late else np.zeros_like(count)]).astype("float64")
        for group, row in zip(groups.tolist(), table, strict=True):
            key = (group // len(uniques), uniques[group % len(uniques)])
            if key in state:
                state[key] += row
            else:
                state[key] = row.copy()

    def _close(self) -> int:
        if self._newest is None:
            return 0
        edge = self._newest - self.lateness.value
        done = [k for k in self._open if (k[0] + 1) * self._size <= edge]
        for k in done:
            row = self._open.pop(k)
            if k in self._closed:  # late rows reached it before the watermark closed it
                row = row + self._closed[k]
            self._closed[k] = row
        return len(done)

    def result(self) -> pd.DataFrame:
        """Every window so far (closed, late corrections included, then still open), sorted by window and key."""
        merged = dict(self._closed)
        for k, row in self._open.items():
            merged[k] = merged[k] + row if k in merged else row
        index = pd.MultiIndex.from_tuples(
            [(pd.Timestamp(w * self._size), key) for w, key in merged] or [],
            names=["window", self.by or "key"])
        frame = pd.DataFrame(np.array(list(merged.values())).reshape(-1, len(self.columns)),
                             index=index, columns=list(self.columns))
        return frame.sort_index().astype({"count": "int64", "late": "int64"})
