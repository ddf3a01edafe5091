"""Notebook 02's preparation in DuckDB: the same rules as :mod:`dlcourse.prepare`, written in SQL, out of core.

:mod:`dlcourse.prepare` teaches each rule in pandas and runs them on Dask; this module runs the *same* rules
(same reasons, same repairs, same report, same feature set) on DuckDB, a single-node SQL engine that uses
every core, spills to disk above its memory limit and reads the raw lines straight from Arrow. Three steps:

1. every line of every file (read by :mod:`dlcourse.landing`, damage flagged) is split, typed, validated and
   repaired in one streaming pass, a chunk of files at a time, and staged as Parquet in one folder per
   *customer bucket* (the holder's number modulo the number of buckets, one per 256 MB of raw payments);
2. the ids alone, with a 64-bit hash of each line, tell which lines are exact or near duplicates (the first
   arrival is the record); each line's text is staged beside them, so a duplicate is quarantined as it was read
   even if its file changes or vanishes before the run ends;
3. bucket by bucket, the good rows get their per-customer features: one sort of a few narrow columns of each
   holder's payments and account events in time order, read in NumPy with pandas' own formulas (counts in a
   window by binary search, the previous payment by a shift, running sums, the last event of each kind by a
   running maximum), then joined back to the wide rows by position. A bucket's sort fits in memory, so the
   time grows with the data instead of with the spilling. (Window functions in SQL did the same 1.1-1.2x
   slower at 1 M lines: a wide sort costs more than a narrow one.)

``benchmarks/bench_prepare.py`` runs it beside pandas and Dask on the same landing zone and checks that the
outputs are identical (:func:`compare_outputs`).

Used in notebooks: 02, 12.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from dlcourse import bigdata, landing, prepare, stopwatch

CHUNK_BYTES = 64 << 20  # raw text handed to DuckDB at once (two chunks are in memory: this one and the next)
MEMORY_LIMIT = "1GB"  # DuckDB's own limit; with Python and the reference tables the process stays under 2 GiB
BUCKET_BYTES = 256 << 20  # raw transaction text per customer bucket: one bucket's features are sorted at once
MAX_PARTS = 1 << 16  # a line's position, part * 2^32 + line number, must stay under 2^48 (see _features_sql)


def _sql_text(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _one_of(expr: str, values) -> str:
    """`expr` is one of `values` (a CASE: DuckDB turns a long IN list into a join, slower for a handful)."""
    whens = " ".join(f"WHEN {_sql_text([v])} THEN true" for v in values)
    return f"coalesce(CASE {expr} {whens} ELSE false END, false)"


def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {expr} END"


def read_ahead(parts: list[landing.PartFile]) -> Iterator[pa.Table]:
    """The lines of `parts` (landing.LINES_SCHEMA, damage flagged), a chunk of files of about CHUNK_BYTES at a
    time. A second thread reads the next chunk (NumPy and Arrow let go of Python's lock) while the engine works
    on this one; delete your reference to a chunk before asking for the next, and two chunks are in memory."""
    chunks, size = [[]], 0
    for p in parts:
        if size > CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(p)
        size += p.size

    def read(chunk: list[landing.PartFile]) -> pa.Table:
        return pa.concat_tables([landing.LINES_SCHEMA.empty_table(), *(landing.read_part(p) for p in chunk)])

    with ThreadPoolExecutor(max_workers=1) as reader:
        next_chunk = reader.submit(read, chunks[0])
        for i in range(len(chunks)):
            lines = next_chunk.result()
            if i + 1 < len(chunks):
                next_chunk = reader.submit(read, chunks[i + 1])
            yield lines
            del lines


def _load(con, sql: str, parts: list[landing.PartFile], staged: Path) -> None:
    """Run `sql` over the lines of `parts` and stage the result as Parquet under `staged`, one folder per chunk of
    files and, inside it, one per customer bucket, while the next chunk is read (:func:`read_ahead`)."""
    staged.mkdir(parents=True, exist_ok=True)
    for i, lines in enumerate(read_ahead(parts)):
        con.register("raw_lines", lines)
        con.execute(f"COPY ({sql}) TO '{staged / f'chunk={i}'}' (FORMAT parquet, PARTITION_BY (bucket))")
        con.unregister("raw_lines")
        del lines
    if not any(staged.glob("*/*/*.parquet")):  # no line at all (every file empty or gone): an empty table
        con.register("raw_lines", landing.LINES_SCHEMA.empty_table())
        empty = staged / "chunk=0" / "bucket=0"
        empty.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT * EXCLUDE (bucket) FROM ({sql})) TO '{empty / 'none.parquet'}' (FORMAT parquet)")
        con.unregister("raw_lines")


def _staged_view(con, table: str, staged: Path) -> None:
    """`{table}_staged`: the staged Parquet of a table, its chunk and bucket read from the folder names."""
    con.execute(f"""CREATE VIEW {table}_staged AS SELECT * FROM read_parquet('{staged}/*/*/*.parquet',
                    hive_partitioning = true, hive_types = {{'chunk': INTEGER, 'bucket': INTEGER}})""")


# Every line's text is staged as it was read (only the quarantine reads it back: Parquet is columnar), with a
# 64-bit hash that is enough to tell an exact copy from a near one. Reading the duplicates' text again from their
# files at the end would cost as much (measured at 1 M lines) and give a wrong line, or none, for a file rewritten
# or gone since it was read.
_LINE_KEPT = "line, hash(line) AS line_hash"


def _transactions_sql(ref: prepare.Reference, buckets: int) -> str:
    """One pass over the raw lines: split, blank, type, validate and repair (everything but duplicates)."""
    known = sorted(set(ref.merchants["category"].dropna()) | set(bigdata.CATEGORIES))
    labels = _one_of("fraud_pattern", ["", *bigdata.FRAUD_PATTERNS])
    rates = " ".join(f"WHEN '{c}' THEN {float(r)!r}" for c, r in ref.rates.items())
    end = (ref.period_end + pd.Timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    norm = _case(r"regexp_replace(lower(trim(r.category_raw, ' \t\n\r')), '[\s\-]+', '_', 'g')",
                 prepare.CATEGORY_SYNONYMS)
    fields = ", ".join(f"nb(f[{i + 2}]) AS {name}" for i, name in enumerate(
        ("ts_text", "customer_id", "merchant_id", "amount_text", "currency", "category_raw", "channel_raw",
         "device_raw", "city_raw", "country_raw", "lat_raw", "lon_raw")))
    return f"""
    WITH s AS (
        SELECT part, line_no, line, part * 4294967296 + line_no AS position, string_split(line, ',') AS f,
               CASE WHEN reason IS NOT NULL THEN reason
                    WHEN line_no = 1 THEN 'first line is not the header'
                    WHEN line = '{prepare.HEADER}' THEN 'repeated header'
                    WHEN len(f) <> {len(prepare.TXN_COLUMNS)} THEN 'broken line: wrong number of fields' END
                   AS pre_reason
        FROM raw_lines WHERE NOT (line_no = 1 AND line = '{prepare.HEADER}')
    ), r AS (
        SELECT part, line_no, line, position, pre_reason, f[1] AS transaction_id, {fields},
               f[14] AS is_fraud_text, f[15] AS fraud_pattern
        FROM s
    ), t AS (
        SELECT r.*, m.category AS m_category, m.kind AS m_kind, m.city AS m_city, m.country AS m_country,
               m.lat AS m_lat, m.lon AS m_lon, m.merchant_id IS NOT NULL AS merchant_known,
               c.city AS c_city, c.country AS c_country, c.home_lat, c.home_lon,
               c.customer_id IS NOT NULL AS customer_known, c.cid,
               try_strptime(r.ts_text, '%Y-%m-%d %H:%M:%S') AS ts_standard,
               coalesce(ts_standard, try_strptime(r.ts_text, '%Y-%m-%dT%H:%M:%SZ'),
                        try_strptime(r.ts_text, '%d/%m/%Y %H:%M'),
                        CASE WHEN regexp_full_match(r.ts_text, '\\d{{9,11}}')
                             THEN make_timestamp(CAST(r.ts_text AS BIGINT) * 1000000) END) AS ts,
               TRY_CAST(r.amount_text AS DOUBLE) AS amount_num,
               r.amount_text IS NOT NULL AND NOT contains(r.amount_text, '.') AS in_cents,
               CASE WHEN in_cents THEN amount_num / 100 ELSE amount_num END AS amount,
               CASE r.currency {rates} END AS rate,
               round_even(amount / rate, 2) AS amount_eur,
               CASE WHEN r.category_raw IS NULL THEN NULL WHEN {_one_of('r.category_raw', known)}
                    THEN r.category_raw ELSE {norm} END AS category_norm,
               CASE WHEN {_one_of('category_norm', known)} THEN category_norm
                    ELSE m.category END AS category,
               coalesce(r.channel_raw IN ('pos', 'contactless', 'atm'), false) AS in_person_raw,
               coalesce(r.channel_raw, CASE m.kind WHEN 'online' THEN 'online' WHEN 'atm' THEN 'atm'
                                                   WHEN 'store' THEN 'pos' END) AS channel,
               in_person_raw OR channel IS DISTINCT FROM 'online' AS in_person,
               TRY_CAST(r.lat_raw AS DOUBLE) AS lat_num, TRY_CAST(r.lon_raw AS DOUBLE) AS lon_num
        FROM r LEFT JOIN merchants m ON m.merchant_id = r.merchant_id
               LEFT JOIN customers c ON c.customer_id = r.customer_id
    )
    SELECT part, line_no, position, pre_reason, transaction_id, customer_id, merchant_id, ts AS timestamp,
           amount_eur, category, channel, coalesce(device_raw, 'unknown') AS device_id,
           coalesce(city_raw, CASE WHEN in_person THEN m_city ELSE c_city END) AS city,
           coalesce(country_raw, CASE WHEN in_person THEN m_country ELSE c_country END) AS country,
           coalesce(lat_num, CASE WHEN in_person THEN m_lat ELSE home_lat END) AS lat,
           coalesce(lon_num, CASE WHEN in_person THEN m_lon ELSE home_lon END) AS lon,
           CAST(CASE WHEN is_fraud_text = '1' THEN 1 ELSE 0 END AS TINYINT) AS is_fraud, fraud_pattern,
           CASE WHEN NOT coalesce(is_fraud_text IN ('0', '1') AND {labels}, false)
                    THEN 'invalid label'
                WHEN ts IS NULL THEN 'unparsable timestamp'
                WHEN ts > TIMESTAMP '{end}' THEN 'timestamp in the future'
                WHEN customer_id IS NULL THEN 'missing customer_id'
                WHEN merchant_id IS NULL THEN 'missing merchant_id'
                WHEN amount_text IS NULL THEN 'missing amount'
                WHEN currency IS NULL THEN 'missing currency'
                WHEN rate IS NULL THEN 'unknown currency'
                WHEN NOT customer_known THEN 'unknown customer'
                WHEN NOT merchant_known THEN 'unknown merchant'
                WHEN amount IS NULL THEN 'unparsable amount'
                WHEN amount < 0 THEN 'negative amount'
                WHEN amount_eur > {prepare.OUTLIER_EUR} THEN 'outlier amount' END AS clean_reason,
           (ts_standard IS NULL AND ts IS NOT NULL) OR (in_cents AND amount IS NOT NULL)
           OR coalesce(currency <> 'EUR', false) OR channel_raw IS NULL OR device_raw IS NULL
           OR (category_raw IS NULL AND category IS NOT NULL)
           OR coalesce(category_raw IS NOT NULL AND category <> category_raw, false)
           OR city_raw IS NULL OR country_raw IS NULL OR lat_num IS NULL OR lon_num IS NULL AS repaired,
           {_LINE_KEPT}, coalesce(cid % {buckets}, {buckets}) AS bucket
    FROM t
    """


def _events_sql(buckets: int) -> str:
    """One pass over the event lines: parse the JSON once per line, type the time stamp."""
    return f"""
    WITH s AS (
        SELECT part, line_no, line, part * 4294967296 + line_no AS position,
               CASE WHEN reason IS NOT NULL THEN reason
                    WHEN NOT CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END
                        THEN 'unparsable JSON' END AS pre_reason
        FROM raw_lines
    ), j AS (
        SELECT *, CASE WHEN pre_reason IS NULL
                       THEN json_extract(line, ['$.event_id', '$.customer_id', '$.type', '$.ts']) END AS v,
               v[2] ->> '$' AS customer_id
        FROM s
    )
    SELECT part, line_no, position, pre_reason, v[1] ->> '$' AS event_id, j.customer_id,
           v[3] ->> '$' AS type, json_type(v[4]) AS ts_type,
           CASE WHEN ts_type = 'VARCHAR' THEN try_strptime(v[4] ->> '$', '%Y-%m-%dT%H:%M:%SZ')
                WHEN ts_type IN ('BIGINT', 'UBIGINT', 'DOUBLE')
                    THEN make_timestamp(CAST(round(CAST(v[4] ->> '$' AS DOUBLE) * 1000) AS BIGINT)) END AS ts,
           CASE WHEN ts IS NULL THEN 'unparsable timestamp' END AS clean_reason,
           ts_type IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND ts IS NOT NULL AS repaired,
           {_LINE_KEPT}, coalesce(c.cid % {buckets}, {buckets}) AS bucket
    FROM j LEFT JOIN customers c ON c.customer_id = j.customer_id
    """


def _dedupe_sql(table: str, key: str) -> str:
    """The first arrival of an id is the record; later copies with the same text are exact duplicates, with
    other text near duplicates (prepare.find_duplicates, in SQL). Only repeated ids are looked at, and only the
    ids, the line hashes and the positions are read. Then `{table}_final`: each line with its reason and outcome.
    """
    return f"""
    CREATE TABLE {table}_dups AS
    WITH rep AS (SELECT {key} FROM {table}_staged WHERE pre_reason IS NULL GROUP BY {key} HAVING count(*) > 1),
    c AS (SELECT {key}, line_hash, position FROM {table}_staged SEMI JOIN rep USING ({key})
          WHERE pre_reason IS NULL)
    SELECT position, CASE WHEN position = min(position) OVER (PARTITION BY {key}, line_hash)
                          THEN 'near duplicate' ELSE 'exact duplicate' END AS dup_reason
    FROM c QUALIFY position <> min(position) OVER (PARTITION BY {key});
    CREATE VIEW {table}_final AS
    SELECT t.*, coalesce(t.pre_reason, d.dup_reason, t.clean_reason) AS reason,
           CASE WHEN coalesce(t.pre_reason, d.dup_reason, t.clean_reason) IS NOT NULL THEN 'quarantined'
                WHEN t.repaired THEN 'repaired' ELSE 'kept' END AS outcome
    FROM {table}_staged t LEFT JOIN {table}_dups d USING (position)
    """


EVENT_KINDS = ("password_reset", "device_change", "failed_login")  # the account events the features read


def _stream_sql(bucket: int) -> str:
    """The narrow columns the history features need, for the card holders of one bucket (their number modulo the
    number of buckets): each holder's payments and account events in one time order (an event before a payment
    of the same instant, payments of the same instant in arrival order). One sort of a few columns."""
    kinds = _case("type", {kind: str(k) for k, kind in enumerate(EVENT_KINDS, 1)})
    return f"""
    SELECT c.cid, epoch_us(t.timestamp) AS us, 1::TINYINT AS is_payment, t.position, t.amount_eur, t.lat, t.lon,
           0::TINYINT AS kind
    FROM transactions_final t JOIN customers c ON c.customer_id = t.customer_id
    WHERE t.bucket = {bucket} AND t.outcome <> 'quarantined'
    UNION ALL
    SELECT c.cid, epoch_us(e.ts), 0, 0, NULL, NULL, NULL, ({kinds})::TINYINT
    FROM events_final e JOIN customers c ON c.customer_id = e.customer_id
    WHERE e.bucket = {bucket} AND e.outcome <> 'quarantined' AND e.ts IS NOT NULL
          AND e.type IN ({_sql_text(EVENT_KINDS)})
    ORDER BY cid, us, is_payment, position
    """


def _history_features(stream: pa.Table) -> pa.Table:
    """prepare.add_features' history columns, in NumPy, from :func:`_stream_sql`'s sorted rows: for each payment
    (by position) the payments of its holder in the last hour and day, the gap, distance and speed since the
    previous payment, the amount against the mean of the earlier ones, and the hours since the last of each
    account event. The same formulas, in the same order of operations, as pandas'."""
    columns = ["cid", "us", "is_payment", "position"]
    cid, us, pay, position = (stream[c].to_numpy() for c in columns)
    if not _is_sorted(cid, us, pay, position):  # ORDER BY should have done it; never trust, check (O(n))
        stream = stream.take(np.lexsort((position, pay, us, cid)))
        cid, us, pay, position = (stream[c].to_numpy() for c in columns)
    pay = pay.astype(bool)
    kind = stream["kind"].to_numpy()
    rows = np.flatnonzero(pay)
    p_cid, p_us = cid[rows], us[rows]
    secs = p_us // 1_000_000  # whole seconds, as pandas' datetime64[s]
    n = len(rows)
    order = np.arange(n)
    first = np.ones(n, dtype=bool)
    first[1:] = p_cid[1:] != p_cid[:-1]
    key = p_cid.astype(np.int64) * (1 << 36) + secs
    out = {"position": position[rows]}
    for name, window in (("txn_last_1h", 3600), ("txn_last_24h", 86_400)):
        out[name] = order - np.searchsorted(key, key - window, side="left")
    prev = np.maximum(order - 1, 0)
    gap = np.where(first, np.nan, (secs - secs[prev]).astype("float64"))
    out["seconds_since_prev"] = np.where(first, -1.0, gap)
    lat = stream["lat"].to_numpy(zero_copy_only=False)[rows]
    lon = stream["lon"].to_numpy(zero_copy_only=False)[rows]
    km = np.where(first, np.nan, bigdata.great_circle_km(lat, lon, lat[prev], lon[prev]))
    out["km_from_prev"] = np.where(np.isnan(km), 0.0, km)
    speed = km / np.maximum(gap / 3600, 1 / 60)
    out["speed_kmh"] = np.where(np.isnan(speed), 0.0, speed)
    amount = stream["amount_eur"].to_numpy(zero_copy_only=False)[rows]
    group = np.cumsum(first) - 1
    past_sum = pd.Series(amount).groupby(group).cumsum().to_numpy() - amount  # pandas' own running sum
    past_n = order - np.flatnonzero(first)[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = amount / (past_sum / past_n)
    out["amount_vs_past_mean"] = np.where((past_n > 0) & ~np.isnan(ratio), ratio, 1.0)
    everything = np.arange(len(cid))
    for k, name in enumerate(EVENT_KINDS, 1):
        last = np.maximum.accumulate(np.where(kind == k, everything, -1))[rows]
        seen = (last >= 0) & (cid[np.maximum(last, 0)] == p_cid)
        hours = (p_us - us[np.maximum(last, 0)]) / 1e6 / 3600
        out[f"hours_since_{name}"] = np.minimum(np.where(seen, hours, 24 * 365), 24 * 365)
    return pa.table(out)


def _is_sorted(*keys: np.ndarray) -> bool:
    """Whether rows are in ascending lexicographic order of `keys` (first key first)."""
    if len(keys[0]) < 2:
        return True
    ties = np.ones(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        step = np.diff(key.astype(np.int64))
        if (ties & (step < 0)).any():
            return False
        ties &= step == 0
    return True


def _features_sql(bucket: int) -> str:
    """The feature rows of one bucket: each payment's own columns, its holder's, and the history columns of
    :func:`_history_features` (registered as `history`), joined by position."""
    return f"""
    WITH g AS (
        SELECT t.*, epoch(t.timestamp)::BIGINT AS secs, c.cid, c.age, c.signup_date, c.segment, c.home_lat,
               c.home_lon
        FROM transactions_final t JOIN customers c ON c.customer_id = t.customer_id
        WHERE t.bucket = {bucket} AND t.outcome <> 'quarantined'
    ),
    firsts AS (SELECT cid, device_id, min(struct_pack(s := secs, p := position)).p AS first_position
               FROM g GROUP BY ALL)
    SELECT transaction_id, timestamp, customer_id, merchant_id, amount_eur, category, channel,
           device_id, city, country, lat, lon, is_fraud, fraud_pattern,
           h.txn_last_1h, h.txn_last_24h, h.seconds_since_prev, h.km_from_prev, h.speed_kmh, h.amount_vs_past_mean,
           CAST(g.position = f.first_position AND channel = 'online' AS TINYINT) AS new_device,
           {_haversine('lat', 'lon', 'home_lat', 'home_lon')} AS km_from_home,
           CAST(hour(timestamp) AS TINYINT) AS hour, CAST(hour(timestamp) < 5 AS TINYINT) AS is_night,
           age, epoch(timestamp - signup_date) / 86400 AS account_days, segment,
           {", ".join(f"h.hours_since_{kind}" for kind in EVENT_KINDS)}
    FROM g JOIN firsts f USING (cid, device_id) JOIN history h USING (position)
    """


def _haversine(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """bigdata.great_circle_km in SQL, operation for operation."""
    h = (f"(pow(sin((radians({lat2}) - radians({lat1})) / 2), 2) + cos(radians({lat1})) * cos(radians({lat2})) "
         f"* pow(sin((radians({lon2}) - radians({lon1})) / 2), 2))")
    # np.clip(h, 0, 1), keeping a missing value missing (GREATEST and LEAST would skip it)
    return f"2 * {bigdata.EARTH_RADIUS_KM} * asin(sqrt(CASE WHEN {h} < 0 THEN 0 WHEN {h} > 1 THEN 1 ELSE {h} END))"


def prepare_duckdb(landing_dir: str | Path, out_dir: str | Path, threads: int | None = None,
                   memory_limit: str = MEMORY_LIMIT) -> prepare.Prepared:
    """Clean, integrate and featurise the whole landing zone with DuckDB; the same outputs as
    :func:`dlcourse.prepare.prepare`: out_dir/features/ (Parquet), out_dir/quarantine/ (every quarantined line
    with its reason), out_dir/quality_report.csv and out_dir/problems.txt (one sentence per damaged file)."""
    import duckdb

    run = Run(landing_dir, out_dir)
    out, ref, done = run.out, run.ref, run.done
    txn_parts, ev_parts = run.parts["transactions"], run.parts["events"]
    con = duckdb.connect()  # in memory, spilling to out/work/spill above memory_limit
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'; SET temp_directory = '{out / 'work' / 'spill'}';"
                    "SET preserve_insertion_order = false; SET enable_progress_bar = false;")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("CREATE MACRO nb(x) AS CASE WHEN x IN ('', 'NA', 'null', 'N/A') THEN NULL ELSE x END")
        merchants, customers = run.reference_tables()
        con.register("merchants_df", merchants)
        con.register("customers_df", customers)
        con.execute("CREATE TABLE merchants AS SELECT * FROM merchants_df; "
                    "CREATE TABLE customers AS SELECT * FROM customers_df")
        done("reference tables")
        buckets = run.buckets(BUCKET_BYTES)
        for table, parts, sql in (("transactions", txn_parts, _transactions_sql(ref, buckets)),
                                  ("events", ev_parts, _events_sql(buckets))):
            # keep the joins as written: the lines probe, the small reference tables are the build side
            con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
            _load(con, sql, parts, out / "work" / table)
            con.execute("RESET disabled_optimizers")
            _staged_view(con, table, out / "work" / table)
            done(f"{table}: read, split, validate, repair")
            con.execute(_dedupe_sql(table, "transaction_id" if table == "transactions" else "event_id"))
            done(f"{table}: duplicates")
        for bucket in range(buckets):
            history = _history_features(con.sql(_stream_sql(bucket)).to_arrow_table())
            con.register("history", history)
            con.execute(f"COPY ({_features_sql(bucket)}) TO '{out / 'features' / f'part-{bucket:05d}.parquet'}' "
                        "(FORMAT parquet)")
            con.unregister("history")
        done("features: one sort, windows, write")
        con.execute(f"""COPY (SELECT 'transactions' AS "table", part, line_no, reason, line FROM transactions_final
                              WHERE outcome = 'quarantined'
                              UNION ALL
                              SELECT 'events', part, line_no, reason, line FROM events_final
                              WHERE outcome = 'quarantined')
                        TO '{out / 'quarantine' / 'lines.parquet'}' (FORMAT parquet)""")
        counts = [con.execute(f"""SELECT '{table}' AS "table", outcome, coalesce(reason, '') AS reason,
                                         count(*) AS rows FROM {table}_final GROUP BY ALL""").df()
                  for table in ("transactions", "events")]
        per_part = {table: dict(con.execute(f"SELECT part, count(*) FROM {table}_final GROUP BY part").fetchall())
                    for table in ("transactions", "events")}
        done("quarantine and report")
    finally:
        con.close()
    return run.finish(counts, per_part)


class Run:
    """What a single-node preparation (this module's, and :mod:`dlcourse.prepare_polars`') does around its
    engine's work: clear the output folders, read the reference tables and list the part files; time each step
    (:meth:`done`); at the end write the reference quarantine, the report and the problem sentences (:meth:`finish`)."""

    def __init__(self, landing_dir: str | Path, out_dir: str | Path):
        self.clock = stopwatch.Clock()
        self.steps: dict[str, float] = {}
        self._lap = self.clock.wall_s
        self.out = Path(out_dir)
        for folder in ("features", "quarantine", "work"):
            prepare._clear_dir(self.out / folder)
        self.ref, self.q_reference, self.c_reference = prepare.reference(landing_dir)
        self.parts = {table: landing.list_parts(landing_dir, table) for table in ("transactions", "events")}
        if max(len(p) for p in self.parts.values()) > MAX_PARTS:
            raise ValueError(f"landing_dir may hold at most {MAX_PARTS:,} files per table (a line's position must "
                             f"fit in 48 bits), got {len(self.parts['transactions']):,} transaction and "
                             f"{len(self.parts['events']):,} event files")

    def buckets(self, bucket_bytes: int) -> int:
        """How many customer buckets hold the raw payments at about `bucket_bytes` each (at least one)."""
        return max(1, -(-sum(p.size for p in self.parts["transactions"]) // bucket_bytes))

    def done(self, step: str) -> None:
        """Record the seconds since the last step as `step`'s."""
        self.steps[step] = self.clock.wall_s - self._lap
        self._lap = self.clock.wall_s

    def reference_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(merchants, customers) as flat frames for an engine; each customer numbered 0.. (`cid`, for buckets)."""
        merchants = self.ref.merchants.reset_index()[["merchant_id", "category", "kind", "city", "country", "lat",
                                                      "lon"]]
        customers = self.ref.customers.reset_index().rename_axis("cid").reset_index()[
            ["cid", "customer_id", "age", "signup_date", "segment", "city", "country", "home_lat", "home_lon"]]
        return merchants, customers

    def finish(self, counts: list[pd.DataFrame], per_part: dict[str, dict[int, int]]) -> prepare.Prepared:
        """`counts`: the transactions' and events' (table, outcome, reason, rows); `per_part`: lines per part file
        of each table. Writes the report, the problems and the reference quarantine; drops out/work."""
        out, ref, c_reference = self.out, self.ref, self.c_reference
        prepare.save_reference_quarantine(self.q_reference, out / "quarantine")
        lines = {"transactions": int(counts[0]["rows"].sum()), "events": int(counts[1]["rows"].sum()),
                 **prepare.reference_lines(c_reference)}
        report = prepare.quality_report([*counts, c_reference], lines)
        report.to_csv(out / "quality_report.csv", index=False)
        sentences = prepare.reference_problems(ref, c_reference) + [
            s for table in ("transactions", "events") for s in landing.problems(self.parts[table], per_part[table])]
        (out / "problems.txt").write_text("".join(s + "\n" for s in sentences))
        shutil.rmtree(out / "work")
        rows_out = int(report.query("table == 'transactions' and outcome != 'quarantined'")["rows"].sum())
        self.done("files")
        return prepare.Prepared(out / "features", out / "quarantine", report, lines["transactions"], rows_out,
                                self.clock.wall_s, sentences, self.steps)


def compare_outputs(a: str | Path, b: str | Path) -> str:
    """Compare two preparations written to folders `a` and `b` (by prepare, prepare_duckdb or the benchmark):
    "identical" when the report and quarantine match line for line and the feature sets row for row (text and
    integers equal, floats to 1e-9 relative: sums taken in another order), else what differs first."""
    a, b = Path(a), Path(b)
    report_a, report_b = (pd.read_csv(d / "quality_report.csv", keep_default_na=False) for d in (a, b))
    if not report_a.equals(report_b):
        return "report differs"
    key = ["table", "part", "line_no"]
    q_a, q_b = (pd.read_parquet(d / "quarantine", columns=[*key, "reason", "line"]).query("table != 'customers'")
                .sort_values(key).reset_index(drop=True).astype(str) for d in (a, b))
    if not q_a.equals(q_b):
        return "quarantine differs"
    f_a, f_b = (pd.read_parquet(d / "features").sort_values("transaction_id").reset_index(drop=True) for d in (a, b))
    if len(f_a) != len(f_b) or list(f_a.columns) != list(f_b.columns):
        return "feature rows or columns differ"
    for column in f_a.columns:
        x, y = f_a[column], f_b[column]
        if x.dtype.kind == "f":
            same = np.allclose(x.to_numpy(), y.to_numpy(dtype="float64"), rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = (x.isna() == y.isna()).all() and (x[x.notna()].astype(str) == y[x.notna()].astype(str)).all()
        if not same:
            return f"feature column {column} differs"
    return "identical"
