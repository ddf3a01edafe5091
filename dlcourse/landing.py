"""Reading a landing zone's raw files, as notebook 02 does: every line, with its file and line number,
whatever the damage.

A real landing zone is written by many hands and copied by many tools, so its files arrive damaged in a few
familiar ways. The reader keeps every line it can see and gives a reason to each damaged one; the pipeline
then quarantines it with that reason instead of stopping:

* bytes that are not valid UTF-8 -- the line is kept with each bad byte written ``\\xNN`` (nothing lost);
* a NUL byte (``\\x00``: a disk block that was never written, a binary file in the wrong folder);
* a file cut mid-line -- its last line has no newline and is quarantined, whatever it looks like;
* an empty file, or one that disappears or changes between listing and reading -- no lines to count, so
  these are reported as one sentence naming the file (:func:`problems`), never a crash.

Windows line ends (``\\r\\n``) are read as line ends. Lines are split on ``\\n`` with NumPy and handed over
as Arrow arrays without copying the text line by line: about 1 ms per MB on one core.

Used in notebooks: 02.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NOT_UTF8 = "bytes that are not UTF-8"
NUL_BYTE = "NUL byte in line"
CUT_OFF = "line cut off: the file does not end with a newline"
READ_REASONS = (NOT_UTF8, NUL_BYTE, CUT_OFF)
SUFFIXES = {"transactions": "csv", "events": "jsonl"}
LINES_SCHEMA = pa.schema([("part", pa.int64()), ("line_no", pa.int64()), ("line", pa.string()),
                          ("reason", pa.string())])


@dataclass(frozen=True)
class PartFile:
    """One landing-zone file as it was listed: its path, number (partition) and size and time then."""

    path: Path
    part: int
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        """The file named the way a sentence about it should: a part file by its table's folder and its name, a
        reference table (customers.csv) by its name."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.parent.name in SUFFIXES else self.path.name


def list_file(path: str | Path, part: int = 0) -> PartFile | None:
    """One file as listed now, with its size and modification time (so a later change can be noticed, see
    :func:`problems`); None if it is not there."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return None
    return PartFile(Path(path), part, st.st_size, st.st_mtime_ns)


def list_parts(landing: str | Path, table: str) -> list[PartFile]:
    """The files of `table` ("transactions" or "events") in a landing zone, in order, with their size and
    modification time as listed now (so a later change can be noticed, see :func:`problems`)."""
    if table not in SUFFIXES:
        raise ValueError(f"table must be one of {sorted(SUFFIXES)}, got {table!r}")
    suffix = SUFFIXES[table]
    found = []
    for path in sorted((Path(landing) / table).glob(f"part-*.{suffix}")):
        part = list_file(path, len(found))
        if part is not None:  # None: gone between the listing and its stat, nothing of it to read
            found.append(part)
    if not found:
        raise ValueError(f"landing must hold {table}/part-*.{suffix} files written by bigdata.generate_transactions, "
                         f"found none in {landing}")
    return found


def read_part(part: PartFile | str | Path, number: int = 0) -> pa.Table:
    """Every line of one file: columns part, line_no (1 = first line), line (text, without its line end) and
    reason (why the reader already knows the line is damaged; null for a sound line).

    A file that is empty, has disappeared or cannot be opened gives no lines (:func:`problems` says why).
    """
    path = part.path if isinstance(part, PartFile) else Path(part)
    number = part.part if isinstance(part, PartFile) else number
    try:
        data = path.read_bytes()
    except OSError:
        return LINES_SCHEMA.empty_table()
    return lines_table(data, number)


def lines_table(data: bytes, part: int = 0) -> pa.Table:
    """The lines of the bytes of one file, as :func:`read_part` returns them."""
    if not data:
        return LINES_SCHEMA.empty_table()
    cut = not data.endswith(b"\n")
    if cut:
        data += b"\n"
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == 10)  # the position of each line's "\n"
    n = len(ends)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0], offsets[1:] = 0, ends + 1
    with_newline = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    lines = pc.binary_slice(with_newline, 0, -1)  # one copy of the text, in C++, without the "\n"
    reasons: dict[int, str] = {}  # line index -> why it is damaged (the first reason found wins)
    try:
        text = lines.cast(pa.large_string())  # checks that every byte sequence is valid UTF-8 at once
    except pa.ArrowInvalid:
        text, bad = _decode_each(lines)
        reasons.update(dict.fromkeys(np.flatnonzero(bad).tolist(), NOT_UTF8))
    nul = np.flatnonzero(raw == 0)
    for i in np.unique(np.searchsorted(ends, nul)).tolist():
        reasons.setdefault(i, NUL_BYTE)
    if cut:
        reasons.setdefault(n - 1, CUT_OFF)
    if b"\r" in data:
        text = pc.utf8_rtrim(text, characters="\r")  # Windows line ends
    if reasons:
        reason = np.full(n, None, dtype=object)
        reason[list(reasons)] = list(reasons.values())
        reason = pa.array(reason, type=pa.string())
    else:
        reason = pa.nulls(n, pa.string())
    return pa.table([pa.array(np.full(n, part, dtype=np.int64)), pa.array(np.arange(1, n + 1, dtype=np.int64)),
                     text.cast(pa.string()), reason], schema=LINES_SCHEMA)


def _decode_each(lines: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The slow path, for a file with bytes that are not UTF-8: decode line by line, writing each bad byte as
    ``\\xNN`` so the quarantined line keeps everything that was there. Returns (text, which lines were bad)."""
    text, bad = [], []
    for value in lines.to_pylist():
        try:
            text.append(value.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            text.append(value.decode("utf-8", errors="backslashreplace"))
            bad.append(True)
    return pa.array(text, type=pa.large_string()), np.array(bad)


def problems(parts: list[PartFile], records: dict[int, int]) -> list[str]:
    """One sentence for each listed file whose lines could not all be counted: empty when listed, gone before it
    was read, or changed since it was listed. `records`: lines read per part number (as the report counts them).
    """
    sentences = []
    for p in parts:
        if p.size == 0:
            sentences.append(f"{p.name} is empty (0 bytes): it holds no lines to read.")
            continue
        try:
            st = os.stat(p.path)
        except FileNotFoundError:
            n = records.get(p.part, 0)
            sentences.append(f"{p.name} disappeared after it was listed ({p.size:,} bytes then): " + (
                f"it was read first, and its {n:,} lines are in this report." if n else
                "it could not be read, so its lines are not in this report."))
            continue
        if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
            sentences.append(f"{p.name} changed while it was being prepared ({p.size:,} bytes when listed, "
                             f"{st.st_size:,} now): its lines are counted as they were when it was read.")
    return sentences
