"""dlcourse.streaming: micro-batches, tumbling windows, the watermark, late and future rows, stream statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dlcourse import bigdata, streaming


def events(times: list[str], keys: list[str] | None = None, amounts: list[float] | None = None) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"timestamp": pd.to_datetime(times), "channel": keys or ["pos"] * n,
                         "amount": amounts if amounts is not None else [1.0] * n})


def run(windows: streaming.TumblingWindows, frame: pd.DataFrame, batch_rows: int) -> pd.DataFrame:
    for batch in streaming.replay(frame, batch_rows):
        windows.update(batch)
    return windows.result()


# ---------------------------------------------------------------------------------------------
# Windows and the watermark


def test_windows_of_an_ordered_stream_equal_a_groupby():
    rng = np.random.default_rng(0)
    t = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 3 * 86_400, 2_000)), unit="s")
    frame = pd.DataFrame({"timestamp": t, "channel": rng.choice(["atm", "pos", "online"], len(t)),
                          "amount": rng.random(len(t)).round(2)})
    result = run(streaming.TumblingWindows("1h", "10min", by="channel", sums=("amount",)), frame, 137)
    expected = frame.groupby([frame["timestamp"].dt.floor("1h").rename("window"), "channel"]).agg(
        count=("amount", "size"), amount=("amount", "sum"))
    assert result.index.equals(expected.index)
    assert (result["count"] == expected["count"]).all()
    assert np.allclose(result["amount"], expected["amount"])
    assert (result["late"] == 0).all()


def test_a_window_closes_when_the_watermark_passes_its_end():
    windows = streaming.TumblingWindows("1h", "15min")
    assert windows.update(events(["2025-01-01 00:10", "2025-01-01 01:10"])) == 0  # watermark 00:55
    assert windows.watermark == pd.Timestamp("2025-01-01 00:55")
    assert windows.open_windows == 2
    assert windows.update(events(["2025-01-01 01:20"])) == 1  # watermark 01:05 closes [00:00, 01:00)
    assert windows.open_windows == 1


def test_a_late_row_is_counted_in_its_window_not_dropped():
    windows = streaming.TumblingWindows("1h", "0min", max_ahead=None)
    windows.update(events(["2025-01-01 00:10", "2025-01-01 03:00"]))  # the watermark (03:00) closes 00:00-01:00
    windows.update(events(["2025-01-01 00:30"], amounts=[5.0]))  # its window is closed: late
    result = windows.result()
    first = result.loc[(pd.Timestamp("2025-01-01 00:00"), "all")]
    assert first["count"] == 2 and first["late"] == 1
    assert windows.ledger == {"rows": 3, "on_time": 2, "late": 1, "unparsable_time": 0, "future": 0}


def test_a_row_within_the_lateness_is_on_time():
    windows = streaming.TumblingWindows("1h", "2h")
    windows.update(events(["2025-01-01 03:00"]))  # watermark 01:00
    windows.update(events(["2025-01-01 01:30"]))  # window 01:00-02:00 still open
    assert windows.ledger["late"] == 0
    assert windows.result()["late"].sum() == 0


def test_a_future_timestamp_does_not_drag_the_watermark():
    times = [f"2025-01-01 {h:02d}:00" for h in range(6)]
    stream = events([*times[:3], "2029-06-01 00:00", *times[3:]])
    guarded = streaming.TumblingWindows("1h", "1h")
    run(guarded, stream, 2)
    assert guarded.ledger["future"] == 1 and guarded.ledger["late"] == 0
    assert guarded.watermark == pd.Timestamp("2025-01-01 04:00")
    naive = streaming.TumblingWindows("1h", "1h", max_ahead=None)
    run(naive, stream, 2)
    assert naive.ledger["late"] == 3, "without the guard, every row after the future one is late"


def test_unreadable_timestamps_are_counted():
    stream = events(["2025-01-01 00:00", "2025-01-01 00:01"])
    stream.loc[1, "timestamp"] = pd.NaT
    windows = streaming.TumblingWindows("1h", "0min")
    windows.update(stream)
    assert windows.ledger["unparsable_time"] == 1
    assert windows.result()["count"].sum() == 1


def test_bad_arguments_raise_one_sentence():
    with pytest.raises(ValueError, match="size must be a positive"):
        streaming.TumblingWindows("0min")
    with pytest.raises(ValueError, match="lateness must be"):
        streaming.TumblingWindows("1h", "-5min")
    with pytest.raises(ValueError, match="must hold datetimes"):
        streaming.TumblingWindows().update(pd.DataFrame({"timestamp": ["2025-01-01 00:00:00"]}))
    with pytest.raises(ValueError, match="batch_rows must be an int ≥ 1"):
        next(streaming.replay(pd.DataFrame({"a": [1]}), 0))


# ---------------------------------------------------------------------------------------------
# Replay, parsing and statistics


def test_replay_yields_every_row_in_order_from_a_table_or_a_frame():
    frame = pd.DataFrame({"x": np.arange(10)})
    for source in (frame, pa.Table.from_pandas(frame)):
        batches = list(streaming.replay(source, 4))
        assert [len(b) for b in batches] == [4, 4, 2]
        assert pd.concat(batches)["x"].tolist() == list(range(10))


def test_parse_payments_keeps_dirt_visible():
    raw = pd.DataFrame({"timestamp": ["2025-01-31 13:45:00", "31/01/2025 13:45", "##########"],
                        "channel": ["pos", "POS", "NA"], "amount": ["12.30", "NA", "1234"],
                        "is_fraud": ["0", "1", "0"]})
    parsed = streaming.parse_payments(raw)
    assert parsed["timestamp"].isna().tolist() == [False, True, True]
    assert parsed["channel"].tolist() == ["pos", "unknown", "unknown"]
    assert np.isnan(parsed["amount"][1]) and parsed["amount"][2] == 1234
    assert parsed["is_fraud"].tolist() == [0, 1, 0]


def test_stream_stats():
    stats = streaming.StreamStats()
    with pytest.raises(ValueError, match="no micro-batch"):
        stats.summary()
    for n in (100, 200):
        with stats.measure(n):
            pass
    summary = stats.summary()
    assert summary["batches"] == 2 and summary["rows"] == 300
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["max_ms"]
    assert list(stats.batches().columns) == ["rows", "latency_ms", "rows_per_s"]


# ---------------------------------------------------------------------------------------------
# On the real landing zone: what notebook 01 shows


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("landing")
    return out, bigdata.generate_transactions(out, 20_000, seed=7, progress=False)


def test_read_raw_accounts_for_every_line(landing):
    out, manifest = landing
    table, skipped = streaming.read_raw(out / "transactions" / "part-00000.csv")
    assert table.column_names == list(bigdata.TRANSACTION_COLUMNS)
    assert skipped > 0, "the default dirt includes broken lines"
    assert table.num_rows + skipped == manifest.files["transactions/part-00000.csv"]["lines"]
    assert table.column(0).type == pa.string()


def test_read_raw_skips_and_counts_damaged_bytes_instead_of_failing(landing, tmp_path):
    out, manifest = landing
    lines = (out / "transactions" / "part-00000.csv").read_bytes().split(b"\n")
    sound = [i for i, line in enumerate(lines[1:-2], 1) if line.count(b",") == 14 and line != lines[0]]
    assert lines[-2].count(b",") == 14, "the last line is sound before it is cut off"
    lines[sound[0]] = lines[sound[0]].replace(b",", b",\xff", 1)  # not UTF-8
    lines[sound[1]] = lines[sound[1]] + b"\x00"  # a NUL byte
    damaged = tmp_path / "part-00000.csv"
    damaged.write_bytes(b"\n".join(lines)[:-1])  # and cut off in the middle of the last line
    table, skipped = streaming.read_raw(damaged, ["channel", "amount"])
    _, skipped_before = streaming.read_raw(out / "transactions" / "part-00000.csv")
    assert table.column_names == ["channel", "amount"]
    assert skipped == skipped_before + 3
    assert table.num_rows + skipped == manifest.files["transactions/part-00000.csv"]["lines"]
    with pytest.raises(ValueError, match=r"columns must be transaction columns .* got \['colour'\]"):
        streaming.read_raw(damaged, ["amount", "colour"])


def test_the_stream_equals_the_batch_groupby_on_dirty_payments(landing):
    out, manifest = landing
    table, _ = streaming.read_raw(out / "transactions" / "part-00000.csv", ["timestamp", "channel", "amount"])
    windows = streaming.TumblingWindows("1h", "1h", by="channel", sums=("amount",))
    for raw in streaming.replay(table, 500):
        windows.update(streaming.parse_payments(raw))
    every = streaming.parse_payments(table.to_pandas())
    end = pd.Timestamp(manifest.parameters["end"])
    kept = every[every["timestamp"].notna() & (every["timestamp"] < end)]
    expected = kept.groupby([kept["timestamp"].dt.floor("1h").rename("window"), "channel"]).agg(
        count=("amount", "size"), amount=("amount", "sum"))
    result = windows.result()
    assert result.index.equals(expected.index)
    assert (result["count"] == expected["count"]).all()
    assert np.allclose(result["amount"], expected["amount"])
    assert windows.ledger["future"] == int((every["timestamp"] >= end).sum()), "the guard finds every future row"
    assert windows.ledger["late"] >= manifest.injected["transactions"]["late"] * 0.5
    assert sum(v for k, v in windows.ledger.items() if k != "rows") == windows.ledger["rows"] == table.num_rows
