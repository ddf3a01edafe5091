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


HEADERS = {"transactions": prepare.HEADER, "customers": ",".join(prepare.CUSTOMER_COLUMNS),
           "merchants": ",".join(prepare.MERCHANT_COLUMNS)}


def records_in_file(path: Path, table: str) -> int:
    """The records in one file, counted from the bytes alone: every line, ended by a newline or cut off, less
    the header of a CSV file."""
    lines = path.read_bytes().split(b"\n")
    header = table in HEADERS and lines[0].rstrip(b"\r") == HEADERS[table].encode()
    return len(lines) - 1 + (lines[-1] != b"") - header


def lines_in_files(zone: Path, table: str) -> int:
    """The records in a table's files: its part files, or its one reference file (customers, merchants)."""
    if table in prepare.REFERENCE_TABLES:
        return records_in_file(zone / f"{table}.csv", table)
    return sum(records_in_file(path, table) for path in sorted((zone / table).glob("part-*")))


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


def read_quarantine(folder: Path, lines: str) -> pd.DataFrame:
    """Every quarantined line a pipeline wrote: `lines` (transactions and events) and one file per reference
    table."""
    files = [folder / lines, *(folder / f"{table}.parquet" for table in prepare.REFERENCE_TABLES)]
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def assert_same_quarantine(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    key = ["table", "part", "line_no"]
    ours, theirs = (q.sort_values(key).reset_index(drop=True)[[*key, "reason", "line"]] for q in (ours, theirs))
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def assert_same_features(features: pd.DataFrame, features_dir: Path) -> None:
    """The feature set written to `features_dir` is `features`, row for row (floats to 1e-9: sums taken in
    another order)."""
    ours = pd.read_parquet(features_dir).sort_values("transaction_id").reset_index(drop=True)
    theirs = features.sort_values("transaction_id").reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    assert len(ours) == len(theirs)
    for column in theirs.columns:
        a, b = theirs[column], ours[column]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=column)
        else:
            assert (a.isna() == b.isna()).all(), column
            assert (a[a.notna()].astype(str) == b[a.notna()].astype(str)).all(), column


def run_all_ways(zone: Path, tmp_path: Path):
    """The pandas and DuckDB pipelines on the same zone; their reports, quarantines and features must be equal,
    and the reports add up to the records in the files, table by table."""
    features, q_pandas, report = prepare.prepare_pandas(zone)
    duck = prepare_duckdb.prepare_duckdb(zone, tmp_path / "duck", threads=2)
    pd.testing.assert_frame_equal(report, duck.report)
    assert report.attrs["problems"] == duck.problems
    assert_same_quarantine(q_pandas, read_quarantine(duck.quarantine_dir, "lines.parquet"))
    assert_same_features(features, duck.features_dir)
    for table in ("transactions", "events", *prepare.REFERENCE_TABLES):
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


def merchant_fields(line: bytes, **values: bytes) -> bytes:
    """A merchants.csv line with some fields replaced (by column name)."""
    fields = line.split(b",")
    for name, value in values.items():
        fields[prepare.MERCHANT_COLUMNS.index(name)] = value
    return b",".join(fields)


def replace(change):
    """A damage that replaces line k of a file by change(that line, all lines); it returns the line's number."""
    def damage(lines: list[bytes], k: int) -> int:
        lines[k] = change(lines[k], lines)
        return k + 1
    return damage


def cut_last(lines: list[bytes], k: int) -> int:
    """A damage that moves line k to the end of the file and cuts it off 12 bytes in, without its newline."""
    lines.pop()  # the empty string after the last newline
    lines.append(lines.pop(k)[:12])
    return len(lines)


# (reason, damage) for merchants.csv: each damage changes line k (the line of a merchant with payments; lines[0]
# is the header, lines[1] the first merchant) and returns the damaged line's number. The cut goes last: it moves a
# line, and with it the lines after it.
MERCHANT_DAMAGE = {
    "not UTF-8": (landing.NOT_UTF8, replace(lambda line, _: line[:3] + b"\xff" + line[4:])),
    "NUL byte": (landing.NUL_BYTE, replace(lambda line, _: line[:3] + b"\x00" + line[3:])),
    "a field short": ("broken line: wrong number of fields", replace(lambda line, _: line.rsplit(b",", 1)[0])),
    "300 extra fields": ("broken line: wrong number of fields", replace(lambda line, _: line + b",x" * 300)),
    "repeated header": ("repeated header", replace(lambda _, lines: lines[0])),
    "no merchant_id": ("missing merchant_id", replace(lambda line, _: merchant_fields(line, merchant_id=b""))),
    "unparsable lat": ("unparsable lat/lon", replace(lambda line, _: merchant_fields(line, lat=b"52.5.1"))),
    "impossible lon": ("impossible lat/lon", replace(lambda line, _: merchant_fields(line, lon=b"213.4"))),
    "exact duplicate": ("exact duplicate", replace(lambda _, lines: lines[1])),
    "near duplicate": ("near duplicate", replace(
        lambda line, lines: merchant_fields(line, merchant_id=lines[1].split(b",")[0]))),
    "cut off": (landing.CUT_OFF, cut_last),
}


def payments_at(zone: Path, merchant_ids: set[str]) -> list[str]:
    """The text of every sound payment line (15 fields) at one of `merchant_ids`."""
    return [line for f in sorted((zone / "transactions").glob("part-*")) for line in f.read_text().splitlines()
            if line.count(",") == 14 and line.split(",")[3] in merchant_ids]


def busiest_merchant_line(zone: Path) -> int:
    """The index in merchants.csv's lines of the merchant with the most payments (not the first merchant)."""
    ids = [line.split(b",")[0].decode() for line in (zone / "merchants.csv").read_bytes().split(b"\n")]
    paid = pd.Series([line.split(",")[3] for f in sorted((zone / "transactions").glob("part-*"))
                      for line in f.read_text().splitlines() if line.count(",") == 14]).value_counts()
    return max(range(2, len(ids) - 1), key=lambda i: paid.get(ids[i], 0))


@pytest.mark.parametrize("kind", list(MERCHANT_DAMAGE))
def test_a_damaged_merchant_line_is_quarantined_and_its_payments_too(zone, tmp_path, kind):
    reason, damage = MERCHANT_DAMAGE[kind]
    path = zone / "merchants.csv"
    k = busiest_merchant_line(zone)
    lines = path.read_bytes().split(b"\n")
    merchant = lines[k].split(b",")[0].decode()
    line_no = damage(lines, k)
    path.write_bytes(b"\n".join(lines))
    assert merchant.encode() not in {line.split(b",")[0] for i, line in enumerate(lines) if i != line_no - 1}
    quarantined, report, _ = run_all_ways(zone, tmp_path)  # the report adds up to the lines of merchants.csv
    row = quarantined_line(quarantined, "merchants", 0, line_no)
    assert row["reason"] == reason
    assert row["line"] == lines[line_no - 1].decode("utf-8", errors="backslashreplace")  # every byte is still there
    merchants = report[report["table"] == "merchants"].set_index(["outcome", "reason"])["rows"]
    assert merchants.drop(("kept", "")).to_dict() == {("quarantined", reason): 1}
    payments = payments_at(zone, {merchant})
    of_lost = quarantined[(quarantined["table"] == "transactions") & quarantined["line"].isin(payments)]
    assert len(payments) > 0 and len(of_lost) == len(payments), "every payment of a lost merchant is quarantined"
    assert (of_lost["reason"] == "unknown merchant").any()


def test_a_merchant_whose_mcc_is_not_a_number_is_kept_with_it_blanked(zone):
    path = zone / "merchants.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = merchant_fields(lines[4], mcc=b"54x1")
    path.write_bytes(b"\n".join(lines))
    merchants, quarantined, counts = prepare.clean_merchants(path)
    assert quarantined.empty and len(merchants) == records_in_file(path, "merchants")
    assert pd.isna(merchants.loc[lines[4].split(b",")[0].decode(), "mcc"]) and merchants["mcc"].notna().sum() > 100
    assert counts.set_index("outcome")["rows"].to_dict() == {"kept": len(merchants) - 1, "repaired": 1}


@pytest.mark.parametrize("name", ["customers.csv", "merchants.csv"])
@pytest.mark.parametrize("damage, sentence", [
    pytest.param(lambda path: path.write_bytes(b""), "{name} is empty \\(0 bytes\\): every payment is checked "
                 "against it", id="empty"),
    pytest.param(lambda path: path.unlink(), "landing must hold {name} written by bigdata.generate_transactions, "
                 "found none", id="missing"),
])
def test_an_empty_or_missing_reference_table_is_one_sentence_naming_it(zone, tmp_path, name, damage, sentence):
    damage(zone / name)
    with pytest.raises(ValueError, match=sentence.format(name=name)):
        prepare.prepare_pandas(zone)
    with pytest.raises(ValueError, match=sentence.format(name=name)):
        prepare_duckdb.prepare_duckdb(zone, tmp_path / "duck", threads=2)


def test_a_customer_id_without_its_own_line_is_quarantined(zone, tmp_path):
    path = zone / "customers.csv"
    lines = path.read_bytes().split(b"\n")
    lines[5] = lines[1].split(b",")[0] + b"," + lines[5].split(b",", 1)[1]  # line 6: line 2's id, other text
    lines[7] = b"," + lines[7].split(b",", 1)[1]  # line 8: no customer_id
    path.write_bytes(b"\n".join(lines))
    quarantined, _, _ = run_all_ways(zone, tmp_path)
    assert quarantined_line(quarantined, "customers", 0, 6)["reason"] == "near duplicate"
    assert quarantined_line(quarantined, "customers", 0, 8)["reason"] == "missing customer_id"


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
    merchants = zone / "merchants.csv"
    lines = merchants.read_bytes().split(b"\n")
    lines_k = range(2, 2 + 5 * len(MERCHANT_DAMAGE), 5)  # the cut comes last, at the largest k
    damaged = {kind: damage(lines, k) for k, (kind, (_, damage)) in zip(lines_k, MERCHANT_DAMAGE.items(), strict=True)}
    merchants.write_bytes(b"\n".join(lines))
    features, q_pandas, report = prepare.prepare_pandas(zone)
    with dask.config.set(scheduler="synchronous"):
        result = prepare.prepare(zone, tmp_path / "dask", progress=False)
    pd.testing.assert_frame_equal(report, result.report, check_dtype=False)
    assert result.problems == report.attrs["problems"] == ["events/part-00002.jsonl is empty (0 bytes): "
                                                            "it holds no lines to read."]
    assert_same_quarantine(q_pandas, read_quarantine(result.quarantine_dir, "lines"))
    assert_same_features(features, result.features_dir)
    for kind, line_no in damaged.items():
        assert quarantined_line(q_pandas, "merchants", 0, line_no)["reason"] == MERCHANT_DAMAGE[kind][0], kind
    for table in ("transactions", "events", *prepare.REFERENCE_TABLES):
        assert report_lines(report, table) == lines_in_files(zone, table), table
    unknown = report.query("table == 'transactions' and reason == 'unknown merchant'")["rows"].sum()
    assert unknown > 0, "the payments at the damaged merchants are quarantined"
    assert (result.quarantine_dir.parent / "problems.txt").read_text().count("\n") == 1


def test_duckdb_gives_the_same_features_as_pandas(clean_zone, tmp_path):
    features, _, report = prepare.prepare_pandas(clean_zone)
    duck = prepare_duckdb.prepare_duckdb(clean_zone, tmp_path / "duck", threads=2)
    pd.testing.assert_frame_equal(report, duck.report)
    assert_same_features(features, duck.features_dir)


def test_a_listing_of_an_empty_folder_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="landing must hold transactions/part-\\*.csv files"):
        landing.list_parts(tmp_path, "transactions")
    with pytest.raises(ValueError, match="table must be one of"):
        landing.list_parts(tmp_path, "payments")
