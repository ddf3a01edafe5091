"""Damaged landing zones: every kind of damage is quarantined with a reason or reported in one sentence naming the
file, nothing crashes, and the report still adds up to every line in the files -- in pandas, on Dask and in
DuckDB, which must also agree with each other line for line."""

from __future__ import annotations

import shutil
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

from dlcourse import bigdata, landing, prepare, prepare_duckdb

TXN = "transactions/part-00001.csv"
EV = "events/part-00001.jsonl"


@pytest.fixture(scope="module")
def clean_zone(tmp_path_factory):
    out = tmp_path_factory.mktemp("landing")
    bigdata.generate_transactions(out, 12_000, seed=11, rows_per_file=4_000, progress=False)
    return out


@pytest.fixture
def zone(clean_zone, tmp_path):
    """A fresh copy of the clean landing zone for one test to damage."""
    return Path(shutil.copytree(clean_zone, tmp_path / "zone"))


def lines_in_files(zone: Path, table: str) -> int:
    """The records in a table's files, counted from the bytes alone: every line, ended by a newline or cut
    off, less each file's header."""
    total = 0
    for path in sorted((zone / table).glob("part-*")):
        data = path.read_bytes()
        lines = data.split(b"\n")
        n = len(lines) - 1 + (lines[-1] != b"")
        header = table == "transactions" and lines[0].rstrip(b"\r") == prepare.HEADER.encode()
        total += n - header
    return total


def report_lines(report: pd.DataFrame, table: str) -> int:
    return int(report.loc[report["table"] == table, "rows"].sum())


def damage_line(path: Path, line_no: int, change) -> bytes:
    """Replace line `line_no` (1-based) of a file by change(old line bytes); returns the new line."""
    lines = path.read_bytes().split(b"\n")
    lines[line_no - 1] = change(lines[line_no - 1])
    path.write_bytes(b"\n".join(lines))
    return lines[line_no - 1]


def quarantined_line(quarantined: pd.DataFrame, table: str, part: int, line_no: int) -> pd.Series:
    hit = quarantined[(quarantined["table"] == table) & (quarantined["part"] == part)
                      & (quarantined["line_no"] == line_no)]
    assert len(hit) == 1, f"{table} part {part} line {line_no} is not in the quarantine"
    return hit.iloc[0]


def run_all_ways(zone: Path, tmp_path: Path):
    """The pandas and DuckDB pipelines on the same zone; their reports must be equal and add up."""
    _, q_pandas, report = prepare.prepare_pandas(zone)
    duck = prepare_duckdb.prepare_duckdb(zone, tmp_path / "duck", threads=2)
    pd.testing.assert_frame_equal(report, duck.report)
    assert report.attrs["problems"] == duck.problems
    q_duck = pd.read_parquet(duck.quarantine_dir / "lines.parquet")
    key = ["table", "part", "line_no"]
    left = q_pandas[q_pandas["table"] != "customers"].sort_values(key).reset_index(drop=True)
    right = q_duck.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left[[*key, "reason", "line"]], right[[*key, "reason", "line"]],
                                  check_dtype=False)
    for table in ("transactions", "events"):
        assert report_lines(report, table) == lines_in_files(zone, table), table
    return q_pandas, report, duck


@pytest.mark.parametrize("damage, reason", [
    (lambda line: line[:20] + b"\xff\xfe" + line[22:], landing.NOT_UTF8),
    (lambda line: line[:10] + b"\x00" + line[10:], landing.NUL_BYTE),
    (lambda line: line + b"".join(b",x%d" % i for i in range(300)), "broken line: wrong number of fields"),
    (lambda line: prepare.HEADER.encode(), "repeated header"),
])
def test_a_damaged_transaction_line_is_quarantined_with_its_reason(zone, tmp_path, damage, reason):
    new = damage_line(zone / TXN, 500, damage)
    quarantined, _, _ = run_all_ways(zone, tmp_path)
    row = quarantined_line(quarantined, "transactions", 1, 500)
    assert row["reason"] == reason
    if reason == landing.NOT_UTF8:
        assert row["line"] == new.decode("utf-8", errors="backslashreplace")  # every byte is still there
        assert "\\xff\\xfe" in row["line"]
    else:
        assert row["line"] == new.decode()


@pytest.mark.parametrize("damage, reason", [
    (lambda line: line[: len(line) // 2], "unparsable JSON"),
    (lambda line: b"\xc3" + line, landing.NOT_UTF8),
    (lambda line: line.replace(b"{", b"{\x00", 1), landing.NUL_BYTE),
])
def test_a_damaged_event_line_is_quarantined_with_its_reason(zone, tmp_path, damage, reason):
    damage_line(zone / EV, 100, damage)
    quarantined, _, _ = run_all_ways(zone, tmp_path)
    assert quarantined_line(quarantined, "events", 1, 100)["reason"] == reason


def test_damaged_customer_lines_are_quarantined_and_their_payments_too(zone, tmp_path):
    path = zone / "customers.csv"
    lines = path.read_bytes().split(b"\n")
    damaged = {3: lines[3][:5] + b"\xff" + lines[3][6:], 4: lines[4] + b",extra,fields",
               5: lines[5].replace(b",", b",\x00", 1), 6: lines[0]}  # line numbers are these indexes + 1
    ids = {lines[i].split(b",")[0] for i in damaged}
    for i, line in damaged.items():
        lines[i] = line
    path.write_bytes(b"\n".join(lines))
    lost = {i.decode() for i in ids - {line.split(b",")[0] for line in lines}}  # not on another line either
    assert lost
    quarantined, report, _ = run_all_ways(zone, tmp_path)
    customers = quarantined[quarantined["table"] == "customers"].set_index("line_no")["reason"]
    assert customers.loc[4] == landing.NOT_UTF8 and customers.loc[6] == landing.NUL_BYTE
    assert customers.loc[5] == "broken line: wrong number of fields" and customers.loc[7] == "repeated header"
    counted = len(path.read_bytes().rstrip(b"\n").split(b"\n")) - 1  # every line but the header
    assert report_lines(report, "customers") == counted
    payments = [line for f in sorted((zone / "transactions").glob("part-*")) for line in f.read_text().splitlines()
                if line.count(",") == 14 and line.split(",")[2] in lost]
    of_lost = quarantined[(quarantined["table"] == "transactions") & quarantined["line"].isin(payments)]
    assert len(payments) > 0 and len(of_lost) == len(payments), "every payment of a lost customer is quarantined"
    assert (of_lost["reason"] == "unknown customer").any()


def test_a_file_cut_mid_line_quarantines_its_last_line(zone, tmp_path):
    path = zone / TXN
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) // 2) + 40])  # 40 bytes into a line
    n = len(path.read_bytes().split(b"\n"))
    quarantined, _, _ = run_all_ways(zone, tmp_path)
    assert quarantined_line(quarantined, "transactions", 1, n)["reason"] == landing.CUT_OFF


def test_an_empty_file_is_one_sentence_and_the_rest_is_prepared(zone, tmp_path):
    (zone / TXN).write_bytes(b"")
    (zone / EV).write_bytes(b"")
    _, report, duck = run_all_ways(zone, tmp_path)
    assert duck.problems == [f"{TXN} is empty (0 bytes): it holds no lines to read.",
                             f"{EV} is empty (0 bytes): it holds no lines to read."]
    assert report_lines(report, "transactions") > 7_000


def test_a_file_without_its_header_quarantines_only_its_first_line(zone, tmp_path):
    path = zone / TXN
    path.write_bytes(path.read_bytes().split(b"\n", 1)[1])
    quarantined, report, _ = run_all_ways(zone, tmp_path)
    assert quarantined_line(quarantined, "transactions", 1, 1)["reason"] == "first line is not the header"


def test_windows_line_ends_give_the_same_result(zone, tmp_path):
    _, before, _ = run_all_ways(zone, tmp_path / "a")
    path = zone / TXN
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    _, after, _ = run_all_ways(zone, tmp_path / "b")
    pd.testing.assert_frame_equal(before, after)


def test_a_file_that_vanishes_before_it_is_read_is_one_sentence(clean_zone, tmp_path, monkeypatch):
    read = landing.read_part

    def vanish_first(part, number=0):
        if isinstance(part, landing.PartFile) and part.name == TXN:
            part.path.unlink(missing_ok=True)
        return read(part, number)

    monkeypatch.setattr(landing, "read_part", vanish_first)
    zones = [Path(shutil.copytree(clean_zone, tmp_path / name)) for name in ("a", "b")]
    _, _, report = prepare.prepare_pandas(zones[0])
    duck = prepare_duckdb.prepare_duckdb(zones[1], tmp_path / "duck", threads=2)
    pd.testing.assert_frame_equal(report, duck.report)
    assert report.attrs["problems"] == duck.problems
    assert len(duck.problems) == 1
    assert duck.problems[0].startswith(f"{TXN} disappeared after it was listed (")
    assert duck.problems[0].endswith("it could not be read, so its lines are not in this report.")
    assert report_lines(report, "transactions") == lines_in_files(zones[0], "transactions")


def test_a_file_that_changes_while_it_is_read_is_one_sentence_and_counted_as_read(zone, tmp_path, monkeypatch):
    read = landing.read_part
    appended = []

    def grow_first(part, number=0):
        if isinstance(part, landing.PartFile) and part.name == TXN and not appended:
            with open(part.path, "ab") as f:
                f.write(b"a late line\n")
            appended.append(True)
        return read(part, number)

    monkeypatch.setattr(landing, "read_part", grow_first)
    _, q_pandas, report = prepare.prepare_pandas(zone)
    assert len(report.attrs["problems"]) == 1 and report.attrs["problems"][0].startswith(f"{TXN} changed while")
    assert report_lines(report, "transactions") == lines_in_files(zone, "transactions")
    assert (q_pandas["line"] == "a late line").sum() == 1


def test_every_damage_at_once_on_dask_too(zone, tmp_path):
    damage_line(zone / TXN, 500, lambda line: line[:20] + b"\xff" + line[21:])
    damage_line(zone / TXN, 600, lambda line: line + b",x" * 200)
    damage_line(zone / EV, 100, lambda line: line[:10])
    (zone / "events" / "part-00002.jsonl").write_bytes(b"")
    path = zone / "transactions" / "part-00002.csv"
    path.write_bytes(path.read_bytes()[:-30])
    _, q_pandas, report = prepare.prepare_pandas(zone)
    with dask.config.set(scheduler="synchronous"):
        result = prepare.prepare(zone, tmp_path / "dask", progress=False)
    pd.testing.assert_frame_equal(report, result.report, check_dtype=False)
    assert result.problems == report.attrs["problems"] == ["events/part-00002.jsonl is empty (0 bytes): "
                                                            "it holds no lines to read."]
    q_dask = pd.read_parquet(result.quarantine_dir / "lines")
    assert len(q_dask) == (q_pandas["table"] != "customers").sum()
    assert (result.quarantine_dir.parent / "problems.txt").read_text().count("\n") == 1


def test_duckdb_gives_the_same_features_as_pandas(clean_zone, tmp_path):
    features, _, report = prepare.prepare_pandas(clean_zone)
    duck = prepare_duckdb.prepare_duckdb(clean_zone, tmp_path / "duck", threads=2)
    pd.testing.assert_frame_equal(report, duck.report)
    ours = pd.read_parquet(duck.features_dir).sort_values("transaction_id").reset_index(drop=True)
    theirs = features.sort_values("transaction_id").reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    for column in theirs.columns:
        a, b = theirs[column], ours[column]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=column)
        else:
            assert (a.isna() == b.isna()).all(), column
            assert (a[a.notna()].astype(str) == b[a.notna()].astype(str)).all(), column


def test_a_listing_of_an_empty_folder_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="landing must hold transactions/part-\\*.csv files"):
        landing.list_parts(tmp_path, "transactions")
    with pytest.raises(ValueError, match="table must be one of"):
        landing.list_parts(tmp_path, "payments")
