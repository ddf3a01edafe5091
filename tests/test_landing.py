"""Damaged landing zones: every kind of damage is quarantined with a reason or reported in one sentence naming the
file, nothing crashes, and the report still adds up to every line in the files -- in pandas, on Dask, in DuckDB
and in Polars, which must also agree with each other line for line."""

from __future__ import annotations

import shutil
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

from dlcourse import bigdata, landing, prepare, prepare_duckdb, prepare_polars

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


def run_all_ways(zone: Path, tmp_path: Path, on_dask: bool = False, copies: bool = False,
                 lines_read: dict[str, int] | None = None):
    """The pandas, DuckDB and Polars pipelines (and Dask's too, `on_dask`) on the same zone -- or each on its own
    copy of it, `copies`, for damage done during a run; their reports, problems, quarantines and features must be equal,
    and the reports add up to the records in the files, table by table (or to `lines_read` of a table whose files
    changed or vanished after they were read)."""
    zones = {engine: Path(shutil.copytree(zone, tmp_path / f"zone-{engine}")) if copies else zone
             for engine in ("pandas", "duckdb", "polars", "dask")[: 4 if on_dask else 3]}
    features, q_pandas, report = prepare.prepare_pandas(zones["pandas"])
    duck = prepare_duckdb.prepare_duckdb(zones["duckdb"], tmp_path / "duck", threads=2)
    polars = prepare_polars.prepare_polars(zones["polars"], tmp_path / "polars", threads=2)
    for result in (duck, polars):
        pd.testing.assert_frame_equal(report, result.report)
        assert report.attrs["problems"] == result.problems
        assert_same_quarantine(q_pandas, read_quarantine(result.quarantine_dir, "lines.parquet"))
        assert_same_features(features, result.features_dir)
    if on_dask:
        with dask.config.set(scheduler="synchronous"):
            result = prepare.prepare(zones["dask"], tmp_path / "dask", progress=False)
        pd.testing.assert_frame_equal(report, result.report, check_dtype=False)
        assert result.problems == report.attrs["problems"]
        assert_same_quarantine(q_pandas, read_quarantine(result.quarantine_dir, "lines"))
        assert_same_features(features, result.features_dir)
    for table in ("transactions", "events", *prepare.REFERENCE_TABLES):
        expected = (lines_read or {}).get(table)
        expected = lines_in_files(zones["pandas"], table) if expected is None else expected
        assert report_lines(report, table) == expected, table
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


# (reason, damage) for customers.csv, as MERCHANT_DAMAGE for merchants.csv (the cut goes last there too).
CUSTOMER_DAMAGE = {
    "300 extra fields": ("broken line: wrong number of fields", replace(lambda line, _: line + b",x" * 300)),
    "cut off": (landing.CUT_OFF, cut_last),
}
PAYMENT_FIELD = {"customers": 2, "merchants": 3}  # the field of a payment line that holds the table's id


def payments_at(zone: Path, table: str, ids: set[str]) -> list[str]:
    """The text of every sound payment line (15 fields) of one of `ids` (customers or merchants)."""
    field = PAYMENT_FIELD[table]
    return [line for f in sorted((zone / "transactions").glob("part-*")) for line in f.read_text().splitlines()
            if line.count(",") == 14 and line.split(",")[field] in ids]


def busiest_line(zone: Path, table: str) -> int:
    """The index in <table>.csv's lines of the customer or merchant with the most payments, of those on one line
    only (not the first: a cut line moves, and the lines after it with it)."""
    ids = [line.split(b",")[0].decode() for line in (zone / f"{table}.csv").read_bytes().split(b"\n")]
    field = PAYMENT_FIELD[table]
    paid = pd.Series([line.split(",")[field] for f in sorted((zone / "transactions").glob("part-*"))
                      for line in f.read_text().splitlines() if line.count(",") == 14]).value_counts()
    once = pd.Series(ids).value_counts()
    return max((i for i in range(2, len(ids) - 1) if once[ids[i]] == 1), key=lambda i: paid.get(ids[i], 0))


def quarantined_reasons(report: pd.DataFrame, table: str) -> dict[str, int]:
    rows = report[(report["table"] == table) & (report["outcome"] == "quarantined")]
    return dict(zip(rows["reason"], rows["rows"], strict=True))


def damage_reference_line(zone: Path, tmp_path: Path, table: str, reason: str, damage, on_dask: bool) -> None:
    """Damage the line of <table>.csv's busiest customer or merchant: it is quarantined with `reason` and every
    byte of it, nothing else of the table is, and every payment of that customer or merchant is quarantined too,
    by pandas and DuckDB (and Dask, `on_dask`) alike."""
    before = quarantined_reasons(prepare.reference(zone)[2], table)
    path = zone / f"{table}.csv"
    k = busiest_line(zone, table)
    lines = path.read_bytes().split(b"\n")
    key = lines[k].split(b",")[0].decode()
    line_no = damage(lines, k)
    path.write_bytes(b"\n".join(lines))
    assert key.encode() not in {line.split(b",")[0] for i, line in enumerate(lines) if i != line_no - 1}
    quarantined, report, _ = run_all_ways(zone, tmp_path, on_dask=on_dask)  # the report adds up to the file's lines
    row = quarantined_line(quarantined, table, 0, line_no)
    assert row["reason"] == reason
    assert row["line"] == lines[line_no - 1].decode("utf-8", errors="backslashreplace")  # every byte is still there
    assert quarantined_reasons(report, table) == {**before, reason: before.get(reason, 0) + 1}
    payments = payments_at(zone, table, {key})
    of_lost = quarantined[(quarantined["table"] == "transactions") & quarantined["line"].isin(payments)]
    assert len(payments) > 0 and len(of_lost) == len(payments), f"every payment of a lost {table[:-1]} is quarantined"
    assert (of_lost["reason"] == f"unknown {table[:-1]}").any()


@pytest.mark.parametrize("kind", list(CUSTOMER_DAMAGE))
def test_a_damaged_customer_line_is_quarantined_and_its_payments_too(zone, tmp_path, kind):
    damage_reference_line(zone, tmp_path, "customers", *CUSTOMER_DAMAGE[kind], on_dask=True)


@pytest.mark.parametrize("kind", list(MERCHANT_DAMAGE))
def test_a_damaged_merchant_line_is_quarantined_and_its_payments_too(zone, tmp_path, kind):
    damage_reference_line(zone, tmp_path, "merchants", *MERCHANT_DAMAGE[kind], on_dask=False)


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
    with pytest.raises(ValueError, match=sentence.format(name=name)):
        prepare_polars.prepare_polars(zone, tmp_path / "polars", threads=2)


def test_a_customer_id_without_its_own_line_is_quarantined(zone, tmp_path):
    path = zone / "customers.csv"
    lines = path.read_bytes().split(b"\n")
    lines[5] = lines[1].split(b",")[0] + b"," + lines[5].split(b",", 1)[1]  # line 6: line 2's id, other text
    lines[7] = b"," + lines[7].split(b",", 1)[1]  # line 8: no customer_id
    path.write_bytes(b"\n".join(lines))
    quarantined, _, _ = run_all_ways(zone, tmp_path)
    assert quarantined_line(quarantined, "customers", 0, 6)["reason"] == "near duplicate"
    assert quarantined_line(quarantined, "customers", 0, 8)["reason"] == "missing customer_id"


@pytest.mark.parametrize("name, table", [(TXN, "transactions"), (EV, "events")])
def test_a_file_cut_mid_line_quarantines_its_last_line(zone, tmp_path, name, table):
    path = zone / name
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) // 2) + 1 + 40])  # 40 bytes into a line
    lines = path.read_bytes().split(b"\n")
    quarantined, _, _ = run_all_ways(zone, tmp_path, on_dask=True)
    row = quarantined_line(quarantined, table, 1, len(lines))
    assert row["reason"] == landing.CUT_OFF and row["line"] == lines[-1].decode() and len(row["line"]) == 40


@pytest.mark.parametrize("number", ["00000", "00001"])  # the first file too: Dask reads its types from it
def test_an_empty_file_is_one_sentence_and_the_rest_is_prepared(zone, tmp_path, number):
    names = [f"transactions/part-{number}.csv", f"events/part-{number}.jsonl"]
    for name in names:
        (zone / name).write_bytes(b"")
    _, report, duck = run_all_ways(zone, tmp_path, on_dask=True)
    assert duck.problems == [f"{name} is empty (0 bytes): it holds no lines to read." for name in names]
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


def path_of(part, *_) -> Path:
    """The path landing.read_part (or prepare.read_reference) is asked to read."""
    return part.path if isinstance(part, landing.PartFile) else Path(part)


def then(read, damage, first: bool = False):
    """`read` (landing.read_part or prepare.read_reference), then `damage`(the path it read) -- or `first` the
    damage, then the read."""
    def damage_and_read(*args):
        if first:
            damage(path_of(*args))
        lines = read(*args)
        if not first:
            damage(path_of(*args))
        return lines
    return damage_and_read


@pytest.mark.parametrize("name, when", [
    *((name, when) for name in ("transactions/part-00000.csv", TXN, "events/part-00000.jsonl", EV)
      for when in ("after it is listed", "after it is read")),
    # a reference table gone before it is read is missing: one sentence that stops the run (tested above)
    ("customers.csv", "after it is read"), ("merchants.csv", "after it is read")])
def test_a_file_that_vanishes_is_one_sentence(zone, tmp_path, monkeypatch, name, when):
    table = name.split("/")[0].removesuffix(".csv")

    def vanish(path: Path) -> None:
        if path.as_posix().endswith(f"/{name}"):
            path.unlink(missing_ok=True)

    if when == "after it is listed":
        listed = landing.list_parts

        def list_then_vanish(landing_dir, t):
            parts = listed(landing_dir, t)
            if t == table:
                vanish(Path(landing_dir) / name)
            return parts

        monkeypatch.setattr(landing, "list_parts", list_then_vanish)
        end = "it could not be read, so its lines are not in this report."
        lines_read = None
    else:
        module, reader = (prepare, "read_reference") if "/" not in name else (landing, "read_part")
        monkeypatch.setattr(module, reader, then(getattr(module, reader), vanish))
        end = f"it was read first, and its {records_in_file(zone / name, table):,} lines are in this report."
        lines_read = {table: lines_in_files(zone, table)}
    size = (zone / name).stat().st_size
    _, _, duck = run_all_ways(zone, tmp_path, on_dask=True, copies=True, lines_read=lines_read)  # each sees it go
    assert duck.problems == [f"{name} disappeared after it was listed ({size:,} bytes then): {end}"]


@pytest.mark.parametrize("name, table", [(TXN, "transactions"), (EV, "events")])
def test_a_file_rewritten_after_it_is_read_is_prepared_as_it_was_read(zone, tmp_path, monkeypatch, name, table):
    """The file's first record is taken out once it is read: every line after it moves up. The quarantine still
    holds each duplicate's text as it was read (read again from the file, it would be its neighbour's)."""
    rewritten = set()

    def take_out_first_record(path: Path) -> None:
        if path.as_posix().endswith(f"/{name}") and path not in rewritten:
            lines = path.read_bytes().split(b"\n")
            path.write_bytes(b"\n".join(lines[:1] + lines[2:]))
            rewritten.add(path)

    monkeypatch.setattr(landing, "read_part", then(landing.read_part, take_out_first_record))
    size, lines_read = (zone / name).stat().st_size, {table: lines_in_files(zone, table)}
    quarantined, _, duck = run_all_ways(zone, tmp_path, on_dask=True, copies=True, lines_read=lines_read)
    first = len((zone / name).read_bytes().split(b"\n", 2)[1]) + 1
    assert duck.problems == [f"{name} changed while it was being prepared ({size:,} bytes when listed, "
                             f"{size - first:,} now): its lines are counted as they were when it was read."]
    copies = quarantined[(quarantined["table"] == table) & (quarantined["part"] == 1)
                         & quarantined["reason"].str.endswith(" duplicate")]
    lines = (zone / name).read_text().split("\n")  # the file as it was read (this copy was not rewritten)
    assert len(copies) > 0 and (copies["line"] == [lines[i - 1] for i in copies["line_no"]]).all()


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("name", [TXN, EV, "customers.csv", "merchants.csv"])
def test_a_file_that_changes_while_it_is_read_is_one_sentence_and_counted_as_read(zone, tmp_path, monkeypatch,
                                                                                  name, when):
    """A late line is written to the file `when` it is read, once in each engine's copy of the zone: before,
    the line is read (and quarantined: it is no record); after, it is not. Either way one sentence says so."""
    late = b"a late line\n"
    size = (zone / name).stat().st_size
    grown = set()

    def grow(path: Path) -> None:
        if path.as_posix().endswith(f"/{name}") and path not in grown:
            with open(path, "ab") as f:
                f.write(late)
            grown.add(path)

    module, reader = (prepare, "read_reference") if "/" not in name else (landing, "read_part")  # reference: once
    monkeypatch.setattr(module, reader, then(getattr(module, reader), grow, first=when == "before"))
    table = name.split("/")[0].removesuffix(".csv")
    lines_read = {table: lines_in_files(zone, table) + (when == "before")}  # before: the late line is read too
    quarantined, report, duck = run_all_ways(zone, tmp_path, on_dask=True, copies=True, lines_read=lines_read)
    assert duck.problems == [f"{name} changed while it was being prepared ({size:,} bytes when listed, "
                             f"{size + len(late):,} now): its lines are counted as they were when it was read."]
    assert (quarantined["line"] == "a late line").sum() == (when == "before")


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


def test_duckdb_and_polars_give_the_same_outputs_as_pandas(clean_zone, tmp_path):
    features, _, report = prepare.prepare_pandas(clean_zone)
    duck = prepare_duckdb.prepare_duckdb(clean_zone, tmp_path / "duck", threads=2)
    polars = prepare_polars.prepare_polars(clean_zone, tmp_path / "polars", threads=2)
    for result in (duck, polars):
        pd.testing.assert_frame_equal(report, result.report)
        assert_same_features(features, result.features_dir)
    assert prepare_duckdb.compare_outputs(tmp_path / "duck", tmp_path / "polars") == "identical"


def test_a_listing_of_an_empty_folder_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="landing must hold transactions/part-\\*.csv files"):
        landing.list_parts(tmp_path, "transactions")
    with pytest.raises(ValueError, match="table must be one of"):
        landing.list_parts(tmp_path, "payments")
