"""Big-data preparation of the card-payments landing zone, as taught in 02_big_data_preparation.

Every input line ends in exactly one of three outcomes, and the data-quality report adds them up:

* **kept** -- parsed and valid as it came;
* **repaired** -- valid after a documented fix (timestamp format, cents, currency, category spelling,
  a missing field filled from the merchant or customer table, an impossible age blanked);
* **quarantined** -- set aside with its reason and its raw text (written to Parquet, never lost):
  broken line, repeated header, exact or near duplicate, invalid label, unparsable or future timestamp,
  missing key field, unknown customer or merchant, negative amount, outlier amount, unparsable JSON;
  in the reference tables, a damaged line, a repeated id, a merchant without an id or a place on Earth.

The same functions clean a pandas sample (one partition) and the full data on Dask (one partition per
landing-zone file); :func:`prepare` runs the whole pipeline on a Dask cluster and writes the feature set
that notebooks 03 and 13 read. :mod:`dlcourse.prepare_duckdb` runs the same rules in SQL on one machine, with
the same outputs. Files are read by :mod:`dlcourse.landing`, which flags damaged lines (not UTF-8, a NUL byte,
cut off) so that they are quarantined too, and reports empty, vanished or changed files in one sentence each
(a reference table too, if it changes or vanishes after it was read). A reference table (customers.csv,
merchants.csv) that is missing or empty stops the run with one sentence naming it: every payment is checked
against both, so there would be nothing to prepare.

Used in notebooks: 02, 03, 12, 13, 14.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dlcourse import bigdata, landing, stopwatch

TXN_COLUMNS = bigdata.TRANSACTION_COLUMNS
CUSTOMER_COLUMNS = tuple(bigdata.SCHEMAS["customers"])
MERCHANT_COLUMNS = tuple(bigdata.SCHEMAS["merchants"])
REFERENCE_TABLES = ("customers", "merchants")  # one file each, <table>.csv; the report counts their lines too
HEADER = ",".join(TXN_COLUMNS)
BLANKS = bigdata.BLANKS
SHUFFLE_METHOD = "tasks"  # Dask shuffle by customer: "tasks" measured faster than "p2p" here (notebook 02)
OUTLIER_EUR = 25_000  # no genuine card payment of this world comes near it (notebook 02 shows the gap)
CATEGORY_SYNONYMS = {  # spellings seen in the raw data that plain normalisation does not fix
    "groceries": "grocery", "restaurant": "restaurants", "gas": "fuel", "pharmacy": "health",
    "transportation": "transport", "clothing": "fashion", "electronic": "electronics",
    "jewellery": "jewelry", "betting": "gambling", "cash_withdrawal": "cash",
}
QUARANTINE_SCHEMA = {"table": "str", "part": "int64", "line_no": "int64", "reason": "str", "line": "str"}


# ---------------------------------------------------------------------------------------------
# Reading raw lines


def read_lines(path: str | Path, part: int = 0) -> pd.DataFrame:
    """Every line of a text file as it is, with its file number, line number (1 = first line) and the reason
    the reader already knows it is damaged (not UTF-8, a NUL byte, cut off; see :mod:`dlcourse.landing`)."""
    return landing.read_part(path, part).to_pandas()


def head_lines(path: str | Path, n: int, part: int = 0) -> pd.DataFrame:
    """The first `n` lines of a file, like :func:`read_lines` (for a quick look, or Dask's metadata)."""
    with open(path, "rb") as f:
        data = b"".join(line for _, line in zip(range(n), f, strict=False))
    return landing.lines_table(data, part).to_pandas()


def part_files(landing_dir: str | Path, table: str) -> list[Path]:
    """The landing-zone files of `table` ("transactions" or "events"), in order."""
    return [p.path for p in landing.list_parts(landing_dir, table)]


# ---------------------------------------------------------------------------------------------
# Transactions: split, deduplicate, validate and repair


def split_transactions(raw: pd.DataFrame) -> pd.DataFrame:
    """Split raw CSV lines into the 15 columns (as text); lines that are not 15 fields get a reason.

    A file's first line is its header and is dropped here (it is not a record); a first line that is not the
    header is quarantined, and so is a header repeated further down. Lines the reader found damaged keep its
    reason.
    """
    out = split_csv_lines(raw, TXN_COLUMNS)
    out["position"] = out["part"] * (1 << 32) + out["line_no"]
    return out


def split_csv_lines(raw: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Split the lines of a CSV file (:func:`read_lines`) into `columns`, as text, at every comma; a line that is
    not one field per column, a first line that is not the header and a header repeated further down get a
    reason (a line the reader found damaged keeps the reader's), and a null in every column. A first line that
    is the header is dropped: it is not a record."""
    header = ",".join(columns)
    raw = raw[~((raw["line_no"] == 1) & (raw["line"] == header))].reset_index(drop=True)
    if "reason" not in raw:
        raw = raw.assign(reason=pd.Series(None, index=raw.index, dtype="str"))
    lines = pa.array(raw["line"], type=pa.string())
    fields = pc.split_pattern(lines, ",")
    n_fields = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    read_reason = raw["reason"].to_numpy(dtype=object)
    reason = np.select([raw["reason"].notna().to_numpy(), raw["line_no"].to_numpy() == 1,
                        raw["line"].to_numpy() == header, n_fields != len(columns)],
                       [read_reason, "first line is not the header", "repeated header",
                        "broken line: wrong number of fields"], default=None)
    good = reason == None  # noqa: E711 (element-wise on an object array)
    flat = pc.list_flatten(fields.filter(pa.array(good)))
    rows = np.full(len(raw), -1, dtype=np.int64)
    rows[good] = np.arange(int(good.sum()))
    where = pa.array(rows, mask=rows < 0)  # bad lines take a null in every column
    width = len(columns)
    out = raw.assign(reason=pd.Series(reason, dtype="str"))
    for i, name in enumerate(columns):
        out[name] = flat.take(pa.array(np.arange(i, len(flat), width))).take(where).to_pandas()
    return out


def find_duplicates(candidates: pd.DataFrame) -> pd.DataFrame:
    """Decide which copies of a repeated id are duplicates: the first arrival of an id is the record;
    a later line with the same text is an exact duplicate, one with other text a near duplicate.

    `candidates` holds (id, line, position) of every valid line whose id occurs more than once (small,
    even for big data). Returns (position, dup_reason) for each line to quarantine.
    """
    key = candidates.columns[0]
    first_of_id = candidates.groupby(key)["position"].transform("min")
    first_of_text = candidates.groupby([key, "line"])["position"].transform("min")
    pos = candidates["position"]
    verdict = pd.Series(np.where(pos == first_of_text, "near duplicate", "exact duplicate"), index=candidates.index)
    copies = pos != first_of_id
    return pd.DataFrame({"position": pos[copies].to_numpy(), "dup_reason": verdict[copies].to_numpy()})


def mark_duplicates(part: pd.DataFrame, duplicates: pd.DataFrame) -> pd.DataFrame:
    """Give the lines listed by :func:`find_duplicates` their reason (the rest are untouched)."""
    reasons = part[["position"]].merge(duplicates, on="position", how="left")["dup_reason"].to_numpy()
    part = part.copy()
    part["reason"] = part["reason"].where(part["reason"].notna(), pd.Series(reasons, index=part.index, dtype="str"))
    return part


@dataclass(frozen=True)
class Reference:
    """The clean reference tables a partition is validated and joined against."""

    merchants: pd.DataFrame  # cleaned merchants, indexed by merchant_id
    customers: pd.DataFrame  # cleaned customers, indexed by customer_id, with home_lat/home_lon
    period_end: pd.Timestamp  # timestamps after this (plus a day) are in the future
    rates: dict  # currency -> units per EUR
    files: tuple[landing.PartFile, ...] = ()  # customers.csv and merchants.csv as found before they were read


def _blank(s: pd.Series) -> pd.Series:
    return s.where(~s.isin(BLANKS))


def parse_timestamps(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse the timestamp formats of the landing zone; returns (timestamps, repaired: not the standard one).

    Standard 'YYYY-MM-DD HH:MM:SS'; also ISO 'YYYY-MM-DDTHH:MM:SSZ', day-first 'DD/MM/YYYY HH:MM' and epoch
    seconds. Anything else (garbled) becomes NaT.
    """
    standard = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    odd = text[standard.isna() & text.notna()]  # a few percent: the other formats are tried on these only
    iso = pd.to_datetime(odd, format="%Y-%m-%dT%H:%M:%SZ", errors="coerce")
    day_first = pd.to_datetime(odd, format="%d/%m/%Y %H:%M", errors="coerce")
    digits = odd.str.fullmatch(r"\d{9,11}").fillna(False).astype(bool)
    epoch = pd.to_datetime(pd.to_numeric(odd.where(digits), errors="coerce"), unit="s")
    parsed = standard.copy()
    parsed.loc[odd.index] = iso.fillna(day_first).fillna(epoch)
    return parsed, standard.isna() & parsed.notna()


def normalise_category(text: pd.Series) -> pd.Series:
    """' GROCERIES', 'Digital Goods', 'digital-goods' -> 'grocery', 'digital_goods', 'digital_goods'."""
    spellings = pd.Series(text.dropna().unique(), dtype="str")  # a few dozen: normalise each once
    clean = spellings.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True).replace(CATEGORY_SYNONYMS)
    return text.map(dict(zip(spellings, clean, strict=True)))


def clean_transactions(part: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    """Validate and repair one partition of split, de-duplicated transactions.

    Adds `outcome` (kept | repaired | quarantined), `reason`, `repairs` (what was fixed, ';'-separated)
    and the typed columns: timestamp, amount_eur, lat, lon, is_fraud, plus `arrived_late`.
    """
    df = part.copy()
    reason = df["reason"].copy()
    repairs = pd.Series("", index=df.index, dtype="str")

    def quarantine(mask: pd.Series, why: str) -> None:
        nonlocal reason
        reason = reason.where(reason.notna() | ~mask.fillna(False).astype(bool), why)

    def repaired(mask: pd.Series, what: str) -> None:
        nonlocal repairs
        mask = mask.fillna(False).astype(bool)
        repairs = repairs.where(~mask, repairs + what + ";")

    labels_ok = df["is_fraud"].isin(["0", "1"]) & df["fraud_pattern"].isin(["", *bigdata.FRAUD_PATTERNS])
    quarantine(~labels_ok, "invalid label")
    for name in TXN_COLUMNS[1:13]:
        df[name] = _blank(df[name])
    df["timestamp"], odd_format = parse_timestamps(df["timestamp"])
    quarantine(df["timestamp"].isna(), "unparsable timestamp")
    quarantine(df["timestamp"] > ref.period_end + pd.Timedelta(days=1), "timestamp in the future")
    repaired(odd_format, "timestamp format")
    for key in ("customer_id", "merchant_id", "amount", "currency"):
        quarantine(df[key].isna(), f"missing {key}")
    quarantine(df["currency"].notna() & ~df["currency"].isin(list(ref.rates)), "unknown currency")
    quarantine(df["customer_id"].notna() & ~df["customer_id"].isin(ref.customers.index), "unknown customer")
    quarantine(df["merchant_id"].notna() & ~df["merchant_id"].isin(ref.merchants.index), "unknown merchant")

    amount = pd.to_numeric(df["amount"], errors="coerce")
    in_cents = df["amount"].notna() & ~df["amount"].str.contains(".", regex=False).fillna(False).astype(bool)
    amount = amount.where(~in_cents, amount / 100)
    repaired(in_cents & amount.notna(), "amount in cents")
    quarantine(df["amount"].notna() & amount.isna(), "unparsable amount")
    quarantine(amount < 0, "negative amount")
    rate = df["currency"].map(ref.rates).astype("float64")  # float even in an empty partition (an empty file)
    df["amount_eur"] = (amount / rate).round(2)
    repaired(df["currency"].notna() & (df["currency"] != "EUR"), "currency converted")
    quarantine(df["amount_eur"] > OUTLIER_EUR, "outlier amount")

    merchant = ref.merchants.reindex(df["merchant_id"])
    merchant.index = df.index
    category = normalise_category(df["category"])
    known = category.isin(merchant["category"].dropna().unique()) | category.isin(bigdata.CATEGORIES)
    fixed = category.where(known & category.notna(), merchant["category"])
    raw = df["category"]
    repaired((raw.isna() & fixed.notna()) | (raw.notna() & fixed.notna() & (fixed != raw).fillna(False)), "category")
    df["category"] = fixed
    in_person = df["channel"].isin(["pos", "contactless", "atm"])
    guess = merchant["kind"].map({"online": "online", "atm": "atm", "store": "pos"})
    repaired(df["channel"].isna(), "channel from merchant")
    df["channel"] = df["channel"].fillna(guess)
    repaired(df["device_id"].isna(), "device unknown")
    df["device_id"] = df["device_id"].fillna("unknown")
    _fill_location(df, merchant, ref.customers, in_person | (df["channel"] != "online"), repaired)

    df["is_fraud"] = pd.to_numeric(df["is_fraud"], errors="coerce").fillna(0).astype("int8")
    ok = reason.isna()
    df["reason"] = reason
    df["repairs"] = repairs.str.rstrip(";")
    df["outcome"] = np.where(~ok, "quarantined", np.where(df["repairs"] != "", "repaired", "kept"))
    running_max = df["timestamp"].where(ok).cummax()
    df["arrived_late"] = ok & (df["timestamp"] < running_max - pd.Timedelta(days=1))
    return df


def _fill_location(df: pd.DataFrame, merchant: pd.DataFrame, customers: pd.DataFrame, in_person: pd.Series,
                   repaired) -> None:
    """Missing city/country/lat/lon: in person, the merchant's; online, the card holder's home city."""
    home = customers.reindex(df["customer_id"])
    home.index = df.index
    source = {"city": ("city", "city"), "country": ("country", "country"), "lat": ("lat", "home_lat"),
              "lon": ("lon", "home_lon")}
    missing = pd.Series(False, index=df.index)
    for column, (m_col, c_col) in source.items():
        value = df[column] if column in ("city", "country") else pd.to_numeric(df[column], errors="coerce")
        gap = value.isna()
        missing |= gap
        filled = value.where(~gap, merchant[m_col].where(in_person, home[c_col]))
        df[column] = filled
    repaired(missing, "location")


# ---------------------------------------------------------------------------------------------
# Reference tables: customers and merchants


def read_reference(path: str | Path) -> pd.DataFrame:
    """Every line of a reference table (customers.csv or merchants.csv), like :func:`read_lines`.

    Every payment is checked against both tables, so one that is missing or empty is a ValueError in one
    sentence naming it, not a run that quarantines every payment as unknown.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"landing must hold {path.name} written by bigdata.generate_transactions, "
                         f"found none in {path.parent}") from None
    if not data:
        raise ValueError(f"{path.name} is empty (0 bytes): every payment is checked against it, "
                         "so there is nothing to prepare")
    return landing.lines_table(data).to_pandas()


def clean_customers(path: str | Path, period_end: pd.Timestamp,
                    merchants: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """customers.csv -> (clean customers indexed by id, quarantined lines, accounting counts).

    Damaged lines (too few or too many fields, bytes that are not UTF-8, a NUL byte, a repeated header, a last
    line cut off), a line without a customer_id and a later line with an id already seen (exact or near
    duplicate, :func:`repeated_ids`) are quarantined; ages outside 16-110 and sign-ups in the future are blanked
    (repaired); the home city's coordinates come from the merchants there (integration).
    """
    raw = split_csv_lines(read_reference(path), CUSTOMER_COLUMNS)
    df = raw[list(CUSTOMER_COLUMNS)].copy()
    for column in df.columns:
        df[column] = _blank(df[column].fillna(""))
    reason = raw["reason"].where(raw["reason"].notna() | df["customer_id"].notna(), "missing customer_id")
    raw["reason"] = repeated_ids(raw, df["customer_id"], reason)
    dup = raw["reason"].notna()  # quarantined: damaged, without an id or a repeat
    age = pd.to_numeric(df["age"], errors="coerce")
    bad_age = age.notna() & ~age.between(16, 110)
    signup = pd.to_datetime(df["signup_date"], format="%Y-%m-%d", errors="coerce")
    future = signup > period_end
    df["age"] = age.where(~bad_age)
    df["signup_date"] = signup.where(~future)
    outcome = np.where(dup, "quarantined", np.where(bad_age | future, "repaired", "kept"))
    report = _count("customers", pd.DataFrame({"outcome": outcome, "reason": raw["reason"]}))
    quarantined = _quarantine_rows("customers", raw[dup])
    centres = merchants.groupby("city")[["lat", "lon"]].mean()
    clean = df[~dup].set_index("customer_id")
    clean["home_lat"] = clean["city"].map(centres["lat"]).astype("float64")  # float even with no customer left
    clean["home_lon"] = clean["city"].map(centres["lon"]).astype("float64")
    return clean, quarantined, report


def repeated_ids(raw: pd.DataFrame, ids: pd.Series, reason: pd.Series) -> pd.Series:
    """`reason` of each line of a reference table, with a later line of an id already seen on a sound line (one
    without a reason) marked an exact or a near duplicate: the first sound line of an id is the record, as in
    :func:`find_duplicates`. Two records with one id would make a payment join twice."""
    lines = pd.DataFrame({"id": ids, "line": raw["line"], "position": raw["line_no"]})[reason.isna()]
    dups = find_duplicates(lines[lines["id"].duplicated(keep=False)])
    return reason.fillna(raw["line_no"].map(pd.Series(dups["dup_reason"].to_numpy(), index=dups["position"])))


def clean_merchants(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """merchants.csv -> (clean merchants indexed by id, quarantined lines, accounting counts), as
    :func:`clean_customers` does for customers.csv.

    The generator writes merchants.csv clean, but a copy of it can arrive damaged like any file. Damaged lines
    (as for customers), a line without a merchant_id or whose lat/lon is not a place on Earth, and a later line
    with an id already seen (exact or near duplicate, :func:`repeated_ids`) are quarantined; an mcc that is not a
    whole number is blanked (repaired). The payments at a quarantined merchant are then quarantined as "unknown
    merchant" by :func:`clean_transactions`.
    """
    raw = split_csv_lines(read_reference(path), MERCHANT_COLUMNS)
    df = raw[list(MERCHANT_COLUMNS)].copy()
    for column in df.columns:
        df[column] = _blank(df[column].fillna(""))
    lat, lon = (pd.to_numeric(df[c], errors="coerce").astype("float64") for c in ("lat", "lon"))
    reason = np.select([raw["reason"].notna().to_numpy(), df["merchant_id"].isna().to_numpy(),
                        (lat.isna() | lon.isna()).to_numpy(), ~(lat.between(-90, 90) & lon.between(-180, 180))],
                       [raw["reason"].to_numpy(dtype=object), "missing merchant_id", "unparsable lat/lon",
                        "impossible lat/lon"], default=None)
    raw["reason"] = repeated_ids(raw, df["merchant_id"], pd.Series(reason, index=raw.index, dtype="str"))
    quarantined = raw["reason"].notna()
    mcc = pd.to_numeric(df["mcc"], errors="coerce")
    whole = mcc.notna() & (mcc == mcc.round())
    bad_mcc = df["mcc"].notna() & ~whole
    df["mcc"], df["lat"], df["lon"] = mcc.where(whole).astype("Int64"), lat, lon
    outcome = np.where(quarantined, "quarantined", np.where(bad_mcc, "repaired", "kept"))
    report = _count("merchants", pd.DataFrame({"outcome": outcome, "reason": raw["reason"]}))
    return df[~quarantined].set_index("merchant_id"), _quarantine_rows("merchants", raw[quarantined]), report


def reference(landing_dir: str | Path) -> tuple[Reference, pd.DataFrame, pd.DataFrame]:
    """The reference tables of a landing zone: (Reference, their quarantined lines, their accounting counts),
    the last two for customers.csv and merchants.csv together (column `table` tells which)."""
    landing_dir = Path(landing_dir)
    manifest = bigdata.read_manifest(landing_dir)
    end = pd.Timestamp(manifest.parameters["end"])
    # size and time before reading: a change from now on is one sentence (reference_problems)
    files = tuple(f for t in REFERENCE_TABLES if (f := landing.list_file(landing_dir / f"{t}.csv")) is not None)
    merchants, q_merchants, c_merchants = clean_merchants(landing_dir / "merchants.csv")
    customers, q_customers, c_customers = clean_customers(landing_dir / "customers.csv", end, merchants)
    quarantined = pd.concat([q_customers, q_merchants], ignore_index=True)
    counts = pd.concat([c_customers, c_merchants], ignore_index=True)
    ref = Reference(merchants, customers, end, dict(manifest.parameters["currency_rates"]), files)
    return ref, quarantined, counts


def reference_problems(ref: Reference, counts: pd.DataFrame) -> list[str]:
    """One sentence for each reference table that changed or disappeared after it was found, as
    :func:`landing.problems` says of part files: its lines are counted as they were when it was read."""
    lines = reference_lines(counts)
    return [s for f in ref.files for s in landing.problems([f], {f.part: lines[f.path.stem]})]


def reference_lines(counts: pd.DataFrame) -> dict[str, int]:
    """Lines read per reference table, from :func:`reference`'s counts (for :func:`quality_report`)."""
    return {table: int(counts.loc[counts["table"] == table, "rows"].sum()) for table in REFERENCE_TABLES}


def save_reference_quarantine(quarantined: pd.DataFrame, folder: Path) -> None:
    """The quarantined lines of the reference tables, one Parquet file per table: folder/customers.parquet and
    folder/merchants.parquet (:func:`prepare` and :func:`dlcourse.prepare_duckdb.prepare_duckdb`)."""
    for table in REFERENCE_TABLES:
        lines = quarantined[quarantined["table"] == table].reset_index(drop=True)
        lines.to_parquet(folder / f"{table}.parquet", index=False)


# ---------------------------------------------------------------------------------------------
# Events (JSON lines)


def parse_events(raw: pd.DataFrame) -> pd.DataFrame:
    """Parse JSON lines into flat columns; a line that is not one JSON object gets a reason (a line the reader
    found damaged keeps its reason)."""
    records, reasons = [], []
    read_reasons = raw["reason"].tolist() if "reason" in raw else [None] * len(raw)
    for line, read_reason in zip(raw["line"].tolist(), read_reasons, strict=True):
        try:
            obj = json.loads(line) if pd.isna(read_reason) else None
        except ValueError:
            obj = None
        ok = isinstance(obj, dict)
        records.append(obj if ok else {})
        reasons.append(None if ok else read_reason if not pd.isna(read_reason) else "unparsable JSON")
    out = raw.reset_index(drop=True).assign(reason=pd.Series(reasons, dtype="str"))
    for column in ("event_id", "customer_id", "type"):
        out[column] = pd.Series([r.get(column) for r in records], dtype="str")
    out["device_id"] = pd.Series([(r.get("device") or {}).get("id") for r in records], dtype="str")
    out["geo_city"] = pd.Series([(r.get("geo") or {}).get("city") for r in records], dtype="str")
    ts = [r.get("ts") for r in records]
    is_epoch = pd.Series([isinstance(v, int | float) and not isinstance(v, bool) for v in ts], dtype=bool)
    text = pd.Series([v if isinstance(v, str) else None for v in ts], dtype="str")
    iso = pd.to_datetime(text, format="%Y-%m-%dT%H:%M:%SZ", errors="coerce")
    epoch = pd.to_datetime(pd.Series([v if e else None for v, e in zip(ts, is_epoch, strict=True)],
                                     dtype="float64"), unit="ms")
    out["ts"] = iso.fillna(epoch)
    out["repairs"] = np.where(is_epoch & out["ts"].notna(), "timestamp format", "")
    out["position"] = out["part"] * (1 << 32) + out["line_no"]
    return out


def clean_events(part: pd.DataFrame) -> pd.DataFrame:
    """Outcome of each event line: quarantine unparsable or timeless ones, keep or repair the rest."""
    df = part.copy()
    reason = df["reason"].where(df["reason"].notna() | df["ts"].notna(), "unparsable timestamp")
    df["reason"] = reason
    repaired = df["repairs"].fillna("") != ""
    df["outcome"] = np.where(reason.notna(), "quarantined", np.where(repaired, "repaired", "kept"))
    return df


# ---------------------------------------------------------------------------------------------
# Features


def add_features(txn: pd.DataFrame, events: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Per-transaction features from the card holder's own history (only the past, no leakage).

    `txn` and `events` must hold all rows of the customers they contain (Dask: shuffled by customer).
    """
    t = txn.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    cust = t["customer_id"]
    secs = pd.Series(t["timestamp"].to_numpy().astype("datetime64[s]").astype("int64"), index=t.index)
    key = pd.factorize(cust)[0].astype(np.int64) * (1 << 36) + secs.to_numpy()
    order = np.arange(len(t))
    first = ~cust.duplicated()
    feats = pd.DataFrame(index=t.index)
    for name, window in (("txn_last_1h", 3600), ("txn_last_24h", 86_400)):
        feats[name] = order - np.searchsorted(key, key - window, side="left")
    prev_t = secs.shift().where(~first)
    feats["seconds_since_prev"] = (secs - prev_t).fillna(-1)
    km = pd.Series(bigdata.great_circle_km(t["lat"], t["lon"], t["lat"].shift(), t["lon"].shift())).where(~first)
    feats["km_from_prev"] = km.fillna(0)
    hours = ((secs - prev_t) / 3600).clip(lower=1 / 60)
    feats["speed_kmh"] = (km / hours).fillna(0)
    past_sum = t.groupby(cust, sort=False)["amount_eur"].cumsum() - t["amount_eur"]
    past_n = t.groupby(cust, sort=False).cumcount()
    feats["amount_vs_past_mean"] = (t["amount_eur"] / (past_sum / past_n)).where(past_n > 0).fillna(1.0)
    feats["new_device"] = (~t.duplicated(["customer_id", "device_id"]) & (t["channel"] == "online")).astype("int8")
    home = customers.reindex(cust)
    feats["km_from_home"] = pd.Series(bigdata.great_circle_km(t["lat"], t["lon"], home["home_lat"].to_numpy(),
                                                               home["home_lon"].to_numpy()))
    feats["hour"] = t["timestamp"].dt.hour.astype("int8")
    feats["is_night"] = (feats["hour"] < 5).astype("int8")
    feats["age"] = home["age"].to_numpy()
    signup = pd.to_datetime(home["signup_date"]).to_numpy()
    feats["account_days"] = (t["timestamp"].to_numpy() - signup) / np.timedelta64(1, "D")
    feats["segment"] = home["segment"].to_numpy()
    feats = feats.join(_event_features(t, events))
    keep = ["transaction_id", "timestamp", "customer_id", "merchant_id", "amount_eur", "category", "channel",
            "device_id", "city", "country", "lat", "lon", "is_fraud", "fraud_pattern"]
    return _tidy_types(pd.concat([t[keep], feats], axis=1))


TEXT_FEATURES = ("transaction_id", "customer_id", "merchant_id", "category", "channel", "device_id", "city",
                 "country", "fraud_pattern", "segment")


def _tidy_types(df: pd.DataFrame) -> pd.DataFrame:
    """One type per kind of column in the feature set: str, float64, small ints, datetime."""
    for column in df.columns:
        if column in TEXT_FEATURES:
            df[column] = df[column].astype("str")
        elif column == "timestamp":
            df[column] = df[column].astype("datetime64[us]")
        elif column not in ("is_fraud", "hour", "is_night", "new_device", "txn_last_1h", "txn_last_24h"):
            df[column] = pd.to_numeric(df[column], errors="coerce").astype("float64")
    return df


def _event_features(t: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Hours since the holder's last password reset / device change / failed login (from the event log)."""
    out = pd.DataFrame(index=t.index)
    left = pd.DataFrame({"customer_id": t["customer_id"].astype("str"), "ts": t["timestamp"], "row": t.index})
    left = left.sort_values("ts", kind="stable")
    for kind in ("password_reset", "device_change", "failed_login"):
        ev = events.loc[events["type"] == kind, ["customer_id", "ts"]].dropna()
        ev = ev.assign(customer_id=ev["customer_id"].astype("str"), event_ts=ev["ts"]).sort_values("ts")
        hit = pd.merge_asof(left, ev[["customer_id", "ts", "event_ts"]], on="ts", by="customer_id",
                            direction="backward")
        hours = (hit["ts"] - hit["event_ts"]).dt.total_seconds() / 3600
        out.loc[hit["row"].to_numpy(), f"hours_since_{kind}"] = hours.fillna(24 * 365).clip(upper=24 * 365).to_numpy()
    return out


# ---------------------------------------------------------------------------------------------
# Accounting


def _count(table: str, df: pd.DataFrame) -> pd.DataFrame:
    counts = df.groupby(["outcome", df["reason"].fillna("")], dropna=False).size().rename("rows").reset_index()
    return counts.assign(table=table)[["table", "outcome", "reason", "rows"]]


def _quarantine_rows(table: str, df: pd.DataFrame) -> pd.DataFrame:
    q = pd.DataFrame({"table": table, "part": df["part"], "line_no": df["line_no"], "reason": df["reason"],
                      "line": df["line"]})
    return q.astype(QUARANTINE_SCHEMA).reset_index(drop=True)


def quality_report(counts: Iterable[pd.DataFrame], lines_read: dict[str, int]) -> pd.DataFrame:
    """One row per (table, outcome, reason) with its number of lines, plus each table's total, checked:
    every input line is kept, repaired or quarantined exactly once."""
    report = pd.concat(list(counts)).groupby(["table", "outcome", "reason"], as_index=False)["rows"].sum()
    totals = report.groupby("table")["rows"].sum()
    for table, n in lines_read.items():
        if totals.get(table, 0) != n:
            raise AssertionError(f"{table}: {n} lines read but {totals.get(table, 0)} accounted for")
    return report.sort_values(["table", "outcome", "rows"], ascending=[True, True, False]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The pipelines: pandas (a sample, one partition) and Dask (all partitions)


@dataclass
class Prepared:
    """What :func:`prepare` produced."""

    features_dir: Path
    quarantine_dir: Path
    report: pd.DataFrame
    rows_in: int  # transaction lines read (headers excluded)
    rows_out: int  # feature rows written
    seconds: float
    problems: list[str] = field(default_factory=list)  # one sentence per damaged file (landing.problems)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, where the engine measures them

    @property
    def rows_per_s(self) -> float:
        return self.rows_in / self.seconds


def prepare_pandas(landing_dir: str | Path,
                   parts: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The whole pipeline in pandas on the first `parts` files: (features, quarantined lines, report).

    For a sample that fits in memory; :func:`prepare` is the same work on Dask. ``report.attrs["problems"]``
    holds one sentence per damaged file (empty, gone or changed; :func:`landing.problems`).
    """
    ref, q_reference, c_reference = reference(landing_dir)
    txn_parts = landing.list_parts(landing_dir, "transactions")[:parts]
    ev_parts = landing.list_parts(landing_dir, "events")[: len(txn_parts)]
    txn = split_transactions(pd.concat([landing.read_part(p).to_pandas() for p in txn_parts], ignore_index=True))
    txn = _dedupe_local(txn, "transaction_id")
    txn = clean_transactions(txn, ref)
    ev = parse_events(pd.concat([landing.read_part(p).to_pandas() for p in ev_parts], ignore_index=True))
    ev = clean_events(_dedupe_local(ev, "event_id"))
    features = add_features(txn[txn["outcome"] != "quarantined"], ev[ev["outcome"] != "quarantined"], ref.customers)
    quarantined = pd.concat([_quarantine_rows("transactions", txn[txn["outcome"] == "quarantined"]),
                             _quarantine_rows("events", ev[ev["outcome"] == "quarantined"]), q_reference])
    lines = {"transactions": len(txn), "events": len(ev), **reference_lines(c_reference)}
    report = quality_report([_count("transactions", txn), _count("events", ev), c_reference], lines)
    report.attrs["problems"] = reference_problems(ref, c_reference) + \
        landing.problems(txn_parts, txn["part"].value_counts().to_dict()) + \
        landing.problems(ev_parts, ev["part"].value_counts().to_dict())
    return features, quarantined.reset_index(drop=True), report


def _dedupe_local(df: pd.DataFrame, key: str) -> pd.DataFrame:
    valid = df[df["reason"].isna()]
    repeated = valid[valid[key].duplicated(keep=False)]
    return mark_duplicates(df, find_duplicates(repeated[[key, "line", "position"]]))


def prepare(landing_dir: str | Path, out_dir: str | Path, client=None, progress: bool = True,
            shuffle_method: str = SHUFFLE_METHOD) -> Prepared:
    """Clean, integrate and featurise the whole landing zone with Dask, out of core; return the report.

    Three passes, each streaming partition by partition so memory stays bounded whatever the size:

    1. raw lines -> split/parsed columns, staged as Parquet (out_dir/staging/);
    2. the ids alone (a columnar read) -> which lines are duplicates (a small table);
    3. staged rows -> duplicates marked, validated, repaired; good rows shuffled by customer -> features.

    Writes out_dir/features/ (one Parquet file per partition: the input of notebooks 03 and 13),
    out_dir/quarantine/ (every quarantined line with its reason: lines/ for transactions and events,
    customers.parquet and merchants.parquet for the reference tables), out_dir/quality_report.csv and
    out_dir/problems.txt (one sentence per damaged file: empty, gone or changed).
    `client`: a dask.distributed Client (None: Dask's default scheduler). `shuffle_method`: how rows move to
    their customer's partition, "tasks" (many small tasks) or "p2p" (each worker sends its shards straight to
    the others and buffers what it receives on disk; needs a distributed client).
    """
    import dask.dataframe as dd

    if shuffle_method not in ("tasks", "p2p"):
        raise ValueError(f"shuffle_method must be 'tasks' or 'p2p', got {shuffle_method!r}")

    clock = stopwatch.Clock()
    out = Path(out_dir)
    ref, q_reference, c_reference = reference(landing_dir)
    txn_parts, ev_parts = landing.list_parts(landing_dir, "transactions"), landing.list_parts(landing_dir, "events")
    # Dask needs each step's output columns (its "meta"): the same functions on the first lines tell it.
    head_t = split_transactions(_first_lines(txn_parts))
    head_e = parse_events(_first_lines(ev_parts))
    no_dups = pd.DataFrame({"position": pd.Series([], dtype="int64"), "dup_reason": pd.Series([], dtype="str")})
    meta_t = clean_transactions(mark_duplicates(head_t, no_dups), ref)
    meta_e = clean_events(mark_duplicates(head_e, no_dups))
    meta_f = add_features(meta_t[meta_t["outcome"] != "quarantined"], meta_e, ref.customers)

    for folder in ("staging", "features", "quarantine"):
        _clear_dir(out / folder)
    staged = [
        dd.from_map(_read_split, txn_parts, meta=head_t.iloc[:0], enforce_metadata=False)
        .to_parquet(out / "staging" / "transactions", write_index=False, compute=False),
        dd.from_map(_read_parse, ev_parts, meta=head_e.iloc[:0], enforce_metadata=False)
        .to_parquet(out / "staging" / "events", write_index=False, compute=False),
    ]
    _compute(client, staged, progress)
    txn = dd.read_parquet(out / "staging" / "transactions")
    ev = dd.read_parquet(out / "staging" / "events")
    txn_dups, ev_dups = _repeated(out / "staging" / "transactions", "transaction_id"), \
        _repeated(out / "staging" / "events", "event_id")
    txn = txn.map_partitions(mark_duplicates, find_duplicates(txn_dups), meta=head_t.iloc[:0])
    txn = txn.map_partitions(clean_transactions, ref, meta=meta_t.iloc[:0])
    ev = ev.map_partitions(mark_duplicates, find_duplicates(ev_dups), meta=head_e.iloc[:0])
    ev = ev.map_partitions(clean_events, meta=meta_e.iloc[:0])
    n_parts = txn.npartitions
    good_txn = txn[txn["outcome"] != "quarantined"]
    good_txn = good_txn.shuffle("customer_id", npartitions=n_parts, shuffle_method=shuffle_method)
    good_ev = ev[ev["outcome"] != "quarantined"][["customer_id", "type", "ts"]]
    good_ev = good_ev.shuffle("customer_id", npartitions=n_parts, shuffle_method=shuffle_method)
    features = good_txn.map_partitions(add_features, good_ev, ref.customers, align_dataframes=False,
                                       meta=meta_f.iloc[:0])
    q_meta = _quarantine_rows("transactions", meta_t.iloc[:0])
    quarantined = dd.concat([txn[txn["outcome"] == "quarantined"].map_partitions(_quarantine_rows_t, meta=q_meta),
                             ev[ev["outcome"] == "quarantined"].map_partitions(_quarantine_rows_e, meta=q_meta)])
    c_meta = _count("transactions", meta_t.iloc[:0])
    results = _compute(client, [
        features.to_parquet(out / "features", write_index=False, compute=False),
        quarantined.to_parquet(out / "quarantine" / "lines", write_index=False, compute=False),
        txn.map_partitions(_count_t, meta=c_meta), ev.map_partitions(_count_e, meta=c_meta),
    ], progress)
    t_counts, e_counts = results[-2], results[-1]
    save_reference_quarantine(q_reference, out / "quarantine")
    lines = {"transactions": int(t_counts["rows"].sum()), "events": int(e_counts["rows"].sum()),
             **reference_lines(c_reference)}
    report = quality_report([t_counts, e_counts, c_reference], lines)
    report.to_csv(out / "quality_report.csv", index=False)
    rows_out = int(report.query("table == 'transactions' and outcome != 'quarantined'")["rows"].sum())
    sentences = reference_problems(ref, c_reference)
    for table, parts in (("transactions", txn_parts), ("events", ev_parts)):
        per_part = dd.read_parquet(out / "staging" / table, columns=["part"])["part"].value_counts().compute()
        sentences += landing.problems(parts, per_part.to_dict())
    (out / "problems.txt").write_text("".join(s + "\n" for s in sentences))
    _clear_dir(out / "staging")
    return Prepared(out / "features", out / "quarantine", report, lines["transactions"], rows_out,
                    clock.wall_s, sentences)


def _compute(client, collections: list, progress: bool) -> list:
    """Compute Dask collections together (shared steps run once), with a progress bar of their tasks if asked."""
    import dask

    if client is None:
        return list(dask.compute(*collections))
    futures = client.compute(collections)
    if progress:
        from dlcourse import progress as progress_bars

        progress_bars.dask(futures)
    return client.gather(futures)


def _first_lines(parts: list[landing.PartFile], n: int = 2000) -> pd.DataFrame:
    """The first `n` lines of the first of `parts` that has any (one may be empty, or gone since it was listed),
    for Dask's metadata; no lines if none has."""
    for p in parts:
        try:
            head = head_lines(p.path, n, p.part)
        except OSError:
            continue
        if len(head):
            return head
    return landing.LINES_SCHEMA.empty_table().to_pandas()


def _repeated(staged: Path, key: str) -> pd.DataFrame:
    """(key, line, position) of the valid lines whose key occurs more than once: a small pandas frame.

    Two columnar passes over the staged Parquet: count the keys, then fetch the lines of repeated ones.
    """
    import dask.dataframe as dd

    ids = dd.read_parquet(staged, columns=[key, "reason"])
    counts = ids[ids["reason"].isna()][key].value_counts().compute()
    repeated = set(counts.index[counts > 1])
    rows = dd.read_parquet(staged, columns=[key, "line", "position", "reason"])
    rows = rows[rows[key].isin(repeated) & rows["reason"].isna()][[key, "line", "position"]]
    return rows.compute()


def _read_split(part: landing.PartFile) -> pd.DataFrame:
    return split_transactions(landing.read_part(part).to_pandas())


def _read_parse(part: landing.PartFile) -> pd.DataFrame:
    return parse_events(landing.read_part(part).to_pandas())


def _count_t(df: pd.DataFrame) -> pd.DataFrame:
    return _count("transactions", df)


def _count_e(df: pd.DataFrame) -> pd.DataFrame:
    return _count("events", df)


def _quarantine_rows_t(df: pd.DataFrame) -> pd.DataFrame:
    return _quarantine_rows("transactions", df)


def _quarantine_rows_e(df: pd.DataFrame) -> pd.DataFrame:
    return _quarantine_rows("events", df)


def _clear_dir(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def prepared_dir(n_rows: int, seed: int, partitions: int, data_dir: str | Path | None = None) -> Path:
    """Where :func:`prepare` writes for these landing-zone parameters (features/, quarantine/, report)."""
    from dlcourse import course

    base = Path(data_dir) if data_dir else course.generated_dir()
    return base / f"prepared_{n_rows}_seed{seed}_p{partitions}_g{bigdata.GENERATOR}"


def feature_set(n_rows: int, seed: int, partitions: int, data_dir: str | Path | None = None,
                client=None) -> Path:
    """The features/ folder of notebook 02 for these parameters, prepared now if it is not there yet
    (notebooks 03 and 13 call this, so each runs on its own)."""
    out = prepared_dir(n_rows, seed, partitions, data_dir)
    if (out / "quality_report.csv").exists() and any((out / "features").glob("*.parquet")):
        return out / "features"
    landing, _ = landing_zone(n_rows, seed, partitions, data_dir)
    if client is None:
        import dask

        with dask.config.set(scheduler="threads"):
            return prepare(landing, out, progress=False).features_dir
    return prepare(landing, out, client=client, progress=False).features_dir


def landing_zone(n_rows: int, seed: int, partitions: int, data_dir: str | Path | None = None,
                 progress: bool = False) -> tuple[Path, bigdata.Manifest]:
    """The landing zone for (n_rows, seed, partitions) under data_dir (default data/generated/): made by
    bigdata.generate_transactions the first time, re-used while its manifest matches. Returns (folder, manifest)."""
    from dlcourse import course

    base = Path(data_dir) if data_dir else course.generated_dir()
    folder = base / f"payments_{n_rows}_seed{seed}_p{partitions}_g{bigdata.GENERATOR}"
    try:
        manifest = bigdata.read_manifest(folder)
        if (manifest.n_rows, manifest.parameters["seed"], manifest.parameters["partitions"]) == (
                n_rows, seed, partitions):
            return folder, manifest
    except ValueError:
        pass
    return folder, bigdata.generate_transactions(folder, n_rows, seed=seed, partitions=partitions, progress=progress)
