"""Notebook 02's preparation in Polars: the same rules as :mod:`dlcourse.prepare`, written as DataFrame expressions.

:mod:`dlcourse.prepare` teaches each rule in pandas and runs them on Dask; :mod:`dlcourse.prepare_duckdb` writes
them in SQL; this module writes the *same* rules (same reasons, same repairs, same report, same feature set) as
Polars expressions, step for step as prepare_duckdb does, so the two read side by side:

1. every line of every file (read by :mod:`dlcourse.landing`, damage flagged) is split, typed, validated and
   repaired in one pass over a chunk of files at a time, and staged as Parquet in one folder per *customer
   bucket* (the holder's number modulo the number of buckets, one per 128 MB of raw payments: BUCKET_BYTES_POLARS);
2. the ids alone, with a 64-bit hash of each line, tell which lines are exact or near duplicates (the first
   arrival is the record); each line's text is staged beside them, so a duplicate is quarantined as it was read;
3. bucket by bucket, the good rows get their per-customer features: one sort of a few narrow columns of each
   holder's payments and account events, read in NumPy by prepare_duckdb's own function (pandas' formulas),
   joined back to the wide rows by position.

Why a reader would pick Polars: a DataFrame API instead of SQL strings (each rule is a Python expression that an
editor checks and a debugger steps into), lazy plans that read only the columns a step needs from the staged
Parquet, and every core without a server or a cluster. Unlike DuckDB it has no memory limit of its own: a chunk
of lines and one bucket's payments must fit in memory, which the chunks and buckets see to.

Threads: Polars sizes its thread pool once, from POLARS_MAX_THREADS, when it is first imported. ``threads`` sets
that variable if Polars is not imported yet (so it also holds for the rest of the process); if Polars is already
running with another pool size, ``threads`` cannot be honoured and is a ValueError (run in a fresh process).

``benchmarks/bench_prepare.py`` runs it beside DuckDB, pandas and Dask on the same landing zone and checks that the
outputs are identical (:func:`dlcourse.prepare_duckdb.compare_outputs`).

Used in notebooks: 02.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dlcourse import bigdata, landing, prepare
from dlcourse.prepare_duckdb import BUCKET_BYTES, EVENT_KINDS, Run, _history_features, read_ahead

__all__ = ["prepare_polars"]

# Half of DuckDB's raw text per customer bucket. Polars has no memory limit of its own, and its feature step holds
# a bucket's wide rows at about twice DuckDB's size: with DuckDB's buckets it peaked over 2 GiB at 10 million
# lines, with these under (benchmarks/results/prepare_single_node.md), in about the same time.
BUCKET_BYTES_POLARS = BUCKET_BYTES // 2
TS_STANDARD = "%Y-%m-%d %H:%M:%S"
TS_ISO = "%Y-%m-%dT%H:%M:%SZ"
TS_DAY_FIRST = "%d/%m/%Y %H:%M"
# Rust's \s and \d are Unicode-wide; DuckDB's (RE2) are ASCII. Spelt out, the classes match what DuckDB matches.
SPACE_OR_DASH = r"[\t\n\f\r \-]+"
EPOCH_SECONDS = r"^[0-9]{9,11}$"
JSON_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"  # a number as Polars' JSON path writes it back


def _polars(threads: int | None):
    """The polars module, its thread pool sized by `threads` if it is imported here for the first time."""
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if "polars" not in sys.modules:
            os.environ["POLARS_MAX_THREADS"] = str(int(threads))
    import polars as pl

    if threads is not None and pl.thread_pool_size() != int(threads):
        raise ValueError(f"threads={threads} cannot be honoured: Polars was already imported with a pool of "
                         f"{pl.thread_pool_size()} threads (set POLARS_MAX_THREADS before polars is first imported, "
                         "or run in a fresh process)")
    return pl


def _blank(expr):
    """prepare_duckdb's nb(): a field spelt like a missing value ('', 'NA', 'null', 'N/A') is missing."""
    import polars as pl

    return pl.when(expr.is_in(prepare.BLANKS)).then(None).otherwise(expr)


def _transactions(lines, merchants, customers, ref: prepare.Reference, buckets: int):
    """One pass over the raw lines: split, blank, type, validate and repair (everything but duplicates)."""
    import polars as pl

    col, lit = pl.col, pl.lit
    known = sorted(set(ref.merchants["category"].dropna()) | set(bigdata.CATEGORIES))
    end = (ref.period_end + pd.Timedelta(days=1)).to_pydatetime()
    names = ("ts_text", "customer_id", "merchant_id", "amount_text", "currency", "category_raw", "channel_raw",
             "device_raw", "city_raw", "country_raw", "lat_raw", "lon_raw")
    s = lines.filter(~((col("line_no") == 1) & (col("line") == prepare.HEADER))).with_columns(
        position=col("part") * (1 << 32) + col("line_no"), f=col("line").str.split(","))
    s = s.with_columns(
        pre_reason=pl.when(col("reason").is_not_null()).then(col("reason"))
        .when(col("line_no") == 1).then(lit("first line is not the header"))
        .when(col("line") == prepare.HEADER).then(lit("repeated header"))
        .when(col("f").list.len() != len(prepare.TXN_COLUMNS)).then(lit("broken line: wrong number of fields")),
        transaction_id=col("f").list.get(0, null_on_oob=True),
        **{name: _blank(col("f").list.get(i + 1, null_on_oob=True)) for i, name in enumerate(names)},
        is_fraud_text=col("f").list.get(13, null_on_oob=True), fraud_pattern=col("f").list.get(14, null_on_oob=True),
    ).drop("f", "reason")
    m = merchants.select("merchant_id", m_category="category", m_kind="kind", m_city="city", m_country="country",
                         m_lat="lat", m_lon="lon", merchant_known=lit(True))
    c = customers.select("customer_id", "cid", "home_lat", "home_lon", c_city="city", c_country="country",
                         customer_known=lit(True))
    t = s.join(m.lazy(), on="merchant_id", how="left").join(c.lazy(), on="customer_id", how="left")

    def parsed(fmt: str):  # DuckDB's strptime lets spaces around a time stamp pass; Polars' only before it
        return col("ts_text").str.strip_chars().str.strptime(pl.Datetime("us"), fmt, strict=False)

    def number(text: str):  # DuckDB's TRY_CAST (and pandas' to_numeric) read " 12.5" as 12.5; Polars' cast does not
        return col(text).str.strip_chars().cast(pl.Float64, strict=False)

    epoch = pl.when(col("ts_text").str.contains(EPOCH_SECONDS)).then(
        col("ts_text").cast(pl.Int64, strict=False) * 1_000_000).cast(pl.Datetime("us"))
    normalised = (col("category_raw").str.strip_chars(" \t\n\r").str.to_lowercase()
                  .str.replace_all(SPACE_OR_DASH, "_").replace(prepare.CATEGORY_SYNONYMS))
    t = t.with_columns(
        merchant_known=col("merchant_known").fill_null(False), customer_known=col("customer_known").fill_null(False),
        ts_standard=parsed(TS_STANDARD),
        amount_num=number("amount_text"),
        in_cents=col("amount_text").is_not_null() & ~col("amount_text").str.contains(".", literal=True),
        rate=col("currency").replace_strict(ref.rates, default=None, return_dtype=pl.Float64),
        category_norm=pl.when(col("category_raw").is_null()).then(None)
        .when(col("category_raw").is_in(known)).then(col("category_raw")).otherwise(normalised),
        in_person_raw=col("channel_raw").is_in(["pos", "contactless", "atm"]).fill_null(False),
        channel=pl.coalesce(col("channel_raw"), col("m_kind").replace_strict(
            {"online": "online", "atm": "atm", "store": "pos"}, default=None, return_dtype=pl.String)),
        lat_num=number("lat_raw"), lon_num=number("lon_raw"),
    ).with_columns(
        ts=pl.coalesce(col("ts_standard"), parsed(TS_ISO), parsed(TS_DAY_FIRST), epoch),
        amount=pl.when(col("in_cents")).then(col("amount_num") / 100).otherwise(col("amount_num")),
        category=pl.when(col("category_norm").is_in(known)).then(col("category_norm")).otherwise(col("m_category")),
        in_person=col("in_person_raw") | col("channel").ne_missing("online"),
    ).with_columns(amount_eur=(col("amount") / col("rate")).round(2, mode="half_to_even"))

    def place(raw: str, merchant: str, home: str):
        return pl.coalesce(raw, pl.when(col("in_person")).then(col(merchant)).otherwise(col(home)))

    labels_ok = (col("is_fraud_text").is_in(["0", "1"])
                 & col("fraud_pattern").is_in(["", *bigdata.FRAUD_PATTERNS])).fill_null(False)
    checks = [  # (quarantined when, reason): the first that holds is the reason, as prepare.clean_transactions
        (~labels_ok, "invalid label"), (col("ts").is_null(), "unparsable timestamp"),
        (col("ts") > end, "timestamp in the future"), (col("customer_id").is_null(), "missing customer_id"),
        (col("merchant_id").is_null(), "missing merchant_id"), (col("amount_text").is_null(), "missing amount"),
        (col("currency").is_null(), "missing currency"), (col("rate").is_null(), "unknown currency"),
        (~col("customer_known"), "unknown customer"), (~col("merchant_known"), "unknown merchant"),
        (col("amount").is_null(), "unparsable amount"), (col("amount") < 0, "negative amount"),
        (col("amount_eur") > prepare.OUTLIER_EUR, "outlier amount")]
    clean_reason = pl.when(checks[0][0]).then(lit(checks[0][1]))
    for when, why in checks[1:]:
        clean_reason = clean_reason.when(when).then(lit(why))
    repaired = pl.any_horizontal(
        col("ts_standard").is_null() & col("ts").is_not_null(), col("in_cents") & col("amount").is_not_null(),
        (col("currency") != "EUR").fill_null(False), col("channel_raw").is_null(), col("device_raw").is_null(),
        col("category_raw").is_null() & col("category").is_not_null(),
        (col("category_raw").is_not_null() & (col("category") != col("category_raw"))).fill_null(False),
        *(col(name).is_null() for name in ("city_raw", "country_raw", "lat_num", "lon_num")))
    return t.select(
        "part", "line_no", "position", "pre_reason", "transaction_id", "customer_id", "merchant_id",
        col("ts").alias("timestamp"), "amount_eur", "category", "channel",
        col("device_raw").fill_null("unknown").alias("device_id"),
        place("city_raw", "m_city", "c_city").alias("city"),
        place("country_raw", "m_country", "c_country").alias("country"),
        place("lat_num", "m_lat", "home_lat").alias("lat"), place("lon_num", "m_lon", "home_lon").alias("lon"),
        (col("is_fraud_text") == "1").fill_null(False).cast(pl.Int8).alias("is_fraud"), "fraud_pattern",
        clean_reason.alias("clean_reason"), repaired.alias("repaired"), *_line_kept(),
        (col("cid") % buckets).fill_null(buckets).alias("bucket"))


def _line_kept():
    """Every line's text is staged as it was read (only the quarantine reads it back), with a 64-bit hash that is
    enough to tell an exact copy from a near one (see prepare_duckdb._LINE_KEPT)."""
    import polars as pl

    return pl.col("line"), pl.col("line").hash().alias("line_hash")


def _events(lines, customers, buckets: int):
    """One pass over the event lines: check each is one JSON object, pick its fields, type the time stamp.

    Polars' JSON path gives null for a line that is not JSON (never an error, unlike its json_decode, which
    stops at the first bad line), and a value as text: a string without its quotes, a number as JSON writes it.
    A top-level "ts" that looks like a number is one unless the object holds it in quotes (a "ts" key nested
    deeper with the same text in quotes would fool this; the generator writes none). A key written twice in one
    object gives its last value, as pandas' json.loads does (DuckDB takes the first)."""
    import polars as pl

    col, lit = pl.col, pl.lit
    whole = col("line").str.json_path_match("$")
    is_object = whole.is_not_null() & col("line").str.strip_chars_start(" \t\r\n").str.starts_with("{")
    s = lines.with_columns(
        position=col("part") * (1 << 32) + col("line_no"),
        pre_reason=pl.when(col("reason").is_not_null()).then(col("reason"))
        .when(~is_object).then(lit("unparsable JSON")),
        whole=whole)

    def field(name: str):
        return pl.when(col("pre_reason").is_null()).then(col("line").str.json_path_match(f"$.{name}"))

    j = s.with_columns(event_id=field("event_id"), customer_id=field("customer_id"), type=field("type"),
                       ts_text=field("ts"))
    quoted = pl.concat_str(lit('"ts":"'), col("ts_text"), lit('"'))
    is_number = col("ts_text").str.contains(JSON_NUMBER) & ~col("whole").str.contains(quoted, literal=True)
    from_ms = ((col("ts_text").cast(pl.Float64, strict=False) * 1000).round(0, mode="half_away_from_zero")
               .cast(pl.Int64, strict=False).cast(pl.Datetime("us")))
    j = j.with_columns(ts_is_number=is_number.fill_null(False)).with_columns(
        ts=pl.when(col("ts_is_number")).then(from_ms)
        .otherwise(col("ts_text").str.strptime(pl.Datetime("us"), TS_ISO, strict=False)))
    c = customers.select("customer_id", "cid").lazy()
    return j.join(c, on="customer_id", how="left").select(
        "part", "line_no", "position", "pre_reason", "event_id", "customer_id", "type", "ts",
        pl.when(col("ts").is_null()).then(lit("unparsable timestamp")).alias("clean_reason"),
        (col("ts_is_number") & col("ts").is_not_null()).alias("repaired"), *_line_kept(),
        (col("cid") % buckets).fill_null(buckets).alias("bucket"))


def _load(step, parts: list[landing.PartFile], staged: Path) -> None:
    """Run `step` (lines -> rows) over the lines of `parts` and stage the result as Parquet under `staged`, one
    folder per customer bucket and, inside it, one file per chunk of files, while the next chunk is read
    (prepare_duckdb.read_ahead)."""
    import polars as pl

    staged.mkdir(parents=True, exist_ok=True)
    written = False
    for i, lines in enumerate(read_ahead(parts)):
        rows = step(pl.from_arrow(lines).lazy()).collect()
        del lines
        for (bucket,), part in rows.partition_by("bucket", as_dict=True).items():
            folder = staged / f"bucket={bucket}"
            folder.mkdir(exist_ok=True)
            part.drop("bucket").write_parquet(folder / f"chunk-{i}.parquet")
            written = True
    if not written:  # no line at all (every file empty or gone): an empty table
        (staged / "bucket=0").mkdir(exist_ok=True)
        empty = step(pl.from_arrow(landing.LINES_SCHEMA.empty_table()).lazy()).collect()
        empty.drop("bucket").write_parquet(staged / "bucket=0" / "none.parquet")


def _duplicates(staged: Path, key: str):
    """The first arrival of an id is the record; later copies with the same text are exact duplicates, with other
    text near duplicates (prepare.find_duplicates). Only the ids, the line hashes and the positions are read, and
    only repeated ids are looked at. Returns (position, dup_reason) for each line to quarantine: a small table."""
    import polars as pl

    col = pl.col
    valid = _scan(staged).filter(col("pre_reason").is_null()).select(key, "line_hash", "position")
    repeated = valid.group_by(key).len().filter(col("len") > 1).select(key)
    copies = valid.join(repeated, on=key, how="semi")  # a null id matches nothing, as in SQL
    first_of_id, first_of_text = col("position").min().over(key), col("position").min().over(key, "line_hash")
    return copies.select("position", first_of_id.alias("first_of_id"), dup_reason=pl.when(
        col("position") == first_of_text).then(pl.lit("near duplicate")).otherwise(pl.lit("exact duplicate"))
    ).filter(col("position") != col("first_of_id")).drop("first_of_id").collect()


def _scan(staged: Path):
    import polars as pl

    return pl.scan_parquet(staged, hive_partitioning=True, hive_schema={"bucket": pl.Int64})


def _final(staged: Path, duplicates):
    """Each staged line with its reason (read, duplicate, or validation, in that order) and its outcome."""
    import polars as pl

    col = pl.col
    reason = pl.coalesce("pre_reason", "dup_reason", "clean_reason")
    return _scan(staged).join(duplicates.lazy(), on="position", how="left").with_columns(
        reason=reason, outcome=pl.when(reason.is_not_null()).then(pl.lit("quarantined"))
        .when(col("repaired")).then(pl.lit("repaired")).otherwise(pl.lit("kept")))


def _stream(payments, events, customers, bucket: int) -> pa.Table:
    """The narrow columns the history features need, for the card holders of one bucket: each holder's payments
    and account events in one time order (an event before a payment of the same instant, payments of the same
    instant in arrival order), as prepare_duckdb._stream_sql. One sort of a few columns."""
    import polars as pl

    col = pl.col
    cid = customers.select("customer_id", "cid").lazy()
    paid = payments.select("cid", us=col("timestamp").dt.epoch("us"), is_payment=pl.lit(1, pl.Int8),
                           position="position", amount_eur="amount_eur", lat="lat", lon="lon", kind=pl.lit(0, pl.Int8))
    kinds = {kind: k for k, kind in enumerate(EVENT_KINDS, 1)}
    happened = events.filter((col("bucket") == bucket) & (col("outcome") != "quarantined") & col("ts").is_not_null()
                             & col("type").is_in(EVENT_KINDS)).join(cid, on="customer_id").select(
        "cid", us=col("ts").dt.epoch("us"), is_payment=pl.lit(0, pl.Int8), position=pl.lit(0, pl.Int64),
        amount_eur=pl.lit(None, pl.Float64), lat=pl.lit(None, pl.Float64), lon=pl.lit(None, pl.Float64),
        kind=col("type").replace_strict(kinds, return_dtype=pl.Int8))
    stream = pl.concat([paid, happened]).sort("cid", "us", "is_payment", "position")
    return stream.collect().to_arrow()


def _features(transactions, events, customers, bucket: int):
    """The feature rows of one bucket: each payment's own columns, its holder's, and the history columns of
    prepare_duckdb._history_features, joined by position (as prepare_duckdb._features_sql)."""
    import polars as pl

    col = pl.col
    holders = customers.select("customer_id", "cid", "age", "signup_date", "segment", "home_lat", "home_lon").lazy()
    g = transactions.filter((col("bucket") == bucket) & (col("outcome") != "quarantined")).join(
        holders, on="customer_id").with_columns(secs=col("timestamp").dt.epoch("s"))
    history = pl.from_arrow(_history_features(_stream(g, events, customers, bucket))).lazy()
    first = col("position").sort_by("secs", "position").first().over("cid", "device_id")  # its first payment
    rows = g.join(history, on="position").select(
        "transaction_id", "timestamp", "customer_id", "merchant_id", "amount_eur", "category", "channel",
        "device_id", "city", "country", "lat", "lon", "is_fraud", "fraud_pattern", "txn_last_1h", "txn_last_24h",
        "seconds_since_prev", "km_from_prev", "speed_kmh", "amount_vs_past_mean",
        ((col("position") == first) & (col("channel") == "online")).fill_null(False).cast(pl.Int8).alias("new_device"),
        "home_lat", "home_lon",
        col("timestamp").dt.hour().cast(pl.Int8).alias("hour"), (col("timestamp").dt.hour() < 5).cast(pl.Int8)
        .alias("is_night"), "age",
        ((col("timestamp") - col("signup_date")).dt.total_microseconds() / 1e6 / 86400).alias("account_days"),
        "segment", *(f"hours_since_{kind}" for kind in EVENT_KINDS)).collect()
    # bigdata.great_circle_km itself, the formula pandas uses; a missing place stays missing (null, not NaN)
    km = bigdata.great_circle_km(*(rows[c].to_numpy() for c in ("lat", "lon", "home_lat", "home_lon")))
    return rows.insert_column(rows.columns.index("home_lat"), pl.Series("km_from_home", km).fill_nan(None)).drop(
        "home_lat", "home_lon")


def _write_features(features, path: Path) -> None:
    """Write one bucket's feature rows with the column types of the other engines' feature sets: text as Arrow's
    string (Polars hands over large_string, which pandas would read the same, but a schema check would not)."""
    table = features.to_arrow()
    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
                        else f for f in table.schema])
    pq.write_table(table.cast(schema), path)


def prepare_polars(landing_dir: str | Path, out_dir: str | Path, threads: int | None = None) -> prepare.Prepared:
    """Clean, integrate and featurise the whole landing zone with Polars; the same outputs as
    :func:`dlcourse.prepare.prepare` and :func:`dlcourse.prepare_duckdb.prepare_duckdb`: out_dir/features/
    (Parquet), out_dir/quarantine/ (every quarantined line with its reason), out_dir/quality_report.csv and
    out_dir/problems.txt (one sentence per damaged file). `threads`: the size of Polars' thread pool (None: one per
    core); see the module's docstring for when it can be set."""
    pl = _polars(threads)
    run = Run(landing_dir, out_dir)
    out, ref, done = run.out, run.ref, run.done
    txn_parts, ev_parts = run.parts["transactions"], run.parts["events"]
    merchants, customers = (pl.from_pandas(frame) for frame in run.reference_tables())
    customers = customers.with_columns(pl.col("cid").cast(pl.Int64), pl.col("signup_date").cast(pl.Datetime("us")))
    done("reference tables")
    buckets = run.buckets(BUCKET_BYTES_POLARS)
    final = {}
    for table, parts, key in (("transactions", txn_parts, "transaction_id"), ("events", ev_parts, "event_id")):
        if table == "transactions":
            def step(lines):
                return _transactions(lines, merchants, customers, ref, buckets)
        else:
            def step(lines):
                return _events(lines, customers, buckets)
        _load(step, parts, out / "work" / table)
        done(f"{table}: read, split, validate, repair")
        final[table] = _final(out / "work" / table, _duplicates(out / "work" / table, key))
        done(f"{table}: duplicates")
    for bucket in range(buckets):
        features = _features(final["transactions"], final["events"], customers, bucket)
        _write_features(features, out / "features" / f"part-{bucket:05d}.parquet")
    done("features: one sort, windows, write")
    pl.concat([final[table].filter(pl.col("outcome") == "quarantined").select(
        pl.lit(table).alias("table"), "part", "line_no", "reason", "line") for table in final]).sink_parquet(
        out / "quarantine" / "lines.parquet")
    counts = [final[table].group_by("outcome", pl.col("reason").fill_null("")).agg(rows=pl.len().cast(pl.Int64))
              .select(pl.lit(table).alias("table"), "outcome", "reason", "rows").collect().to_pandas()
              for table in final]
    per_part = {table: dict(final[table].group_by("part").len().collect().iter_rows()) for table in final}
    done("quarantine and report")
    return run.finish(counts, per_part)
