"""Dirty card payments at any scale: the raw "landing zone" of notebooks 01, 02, 03 and 13.

:func:`generate_transactions` writes a seeded, deterministic and deliberately dirty data set of card payments,
from 10^4 to 10^9 transactions, in bounded memory: one block of 25 000 transactions at a time, about
25 MB, whatever the size. It makes about 400 000 transactions per second on one core, events included
(``benchmarks/bench_generate.py`` measures it)::

    manifest = generate_transactions("data/generated/payments_1m", 1_000_000)
    manifest.injected["transactions"]["duplicate"]    # how many duplicate lines notebook 02 must find
    manifest.fraud["by_pattern"]["card_testing"]       # rows, episodes: what notebook 13 can learn

What lands in ``out_dir``::

    customers.csv                 one row per card holder (with dirt)
    merchants.csv                 one row per merchant: the clean reference table
    transactions/part-00000.csv   the fact table in arrival order, a header in every file
    events/part-00000.jsonl       nested JSON lines: logins, password resets, device changes...
    manifest.json                 parameters, exact counts of every dirt item and fraud, timings

Part k of ``transactions/`` and of ``events/`` covers the same stretch of time, so they can be joined
part by part (notebook 02 does it with Dask). :func:`transaction_schema` explains every column.

**Fraud patterns** (``is_fraud`` = 1; ``fraud_pattern`` names the pattern; notebook 13 learns them).
About ``fraud_rate`` (default 0.2 %) of all transactions are fraud, shared 30/20/20/15/15 % between:

* ``card_testing`` -- a stolen card number is tested: 2-6 online payments of 1-5 EUR at different online
  shops, 2-20 minutes apart, then 15-120 minutes later the cash-out, one purchase of 5-15 times the
  holder's usual amount at a high-risk online shop (electronics, travel, digital goods, gambling); all from
  one unknown device, the IP in a city far from the holder's home.
* ``account_takeover`` -- slow: the events log shows 0-2 failed logins, a ``password_reset``, a
  ``device_change`` to an unknown device and a ``login``; 1-4 days later come 2-4 online purchases 6-30
  hours apart at high-risk shops, each twice the one before (from 1.5-3 times the holder's usual amount),
  from that device; the IP is the holder's own city half of the time (a proxy), else a far city.
* ``card_cloned_abroad`` -- a cloned card used in person in a city at least 1000 km from home, 1-3 times
  10-90 minutes apart, for 2-5 times what the holder would spend there, while the holder goes on paying at
  home. Genuine travellers pay far away too: TRIP_RATE trips per payment take a holder to a far city for
  2-7 days, and most were booked with the card (an online travel payment in the 5 days before leaving).
* ``night_high_risk`` -- a stolen card used in person between 00:00 and 04:59 (UTC; most holders live
  in Europe) at an electronics or jewelry store in the holder's city, for 3-10 times their usual amount.
* ``gift_card_scam`` -- **drift**: a new pattern that begins at DRIFT_START (65 %) of the period and does
  not exist before it. A phone scammer talks the holder into buying gift cards: 1-3 online payments of
  100-500 EUR at digital-goods shops, 10-60 minutes apart, from the holder's own device and home city.
* **A group difference** (documented, for notebook 14): the scam targets older people. A holder aged 65 or
  more is 8 times as likely to be its victim as a younger holder who pays as often; the other patterns
  pick holders by how often they pay, whatever their age.

Legitimate look-alikes exist on purpose: people travel (and book trips online), reset passwords, change
phones, buy at night, buy digital goods. An episode lies inside one block of rows (BLOCK_ROWS), so where a
block spans less time than the episode it is squeezed to fit: above about a million rows a year the slow
takeover's days shrink (at 10 million to under a day), above about 50 million card testing's hours.

**Dirt** (rates in :class:`Dirt`; notebook 02 finds, repairs or quarantines each item; manifest.json
counts every one, so a data-quality report can account for every input line):

* exact duplicates (the same line re-sent later), near duplicates (the same transaction re-sent with its
  timestamp 1-120 s later and its amount written with three decimals: ``12.340``);
* missing values, spelled ``""``, ``NA``, ``null`` or ``N/A``;
* timestamps in other formats (``2025-01-31T13:45:00Z``, ``31/01/2025 13:45``, epoch seconds) or garbled
  (``##########``, ``0000-00-00 00:00:00``, ``31/02/2025 25:61``);
* late arrivals (a timestamp 2-30 days earlier than the rows around it);
* amounts in USD or GBP (converted with :data:`CURRENCY_RATES`) or in cents (no decimal point);
* category spellings (``Grocery``, ``grocery ``, ``GROCERIES``, ``groceries``...);
* impossible values (negative amounts, timestamps up to 5 years after the data's end; ages 0 or 150,
  sign-ups after the data's end) and outliers (50 000 - 1 000 000 EUR: a slipped decimal point);
* broken lines: truncated lines, an unquoted comma (one field too many), a header repeated mid-file;
  in the events, truncated JSON, single quotes, two objects on one line.

Each line of dirt comes *with* a genuine record: dropping the dirt leaves exactly ``n_rows`` transactions.
The first occurrence of a ``transaction_id`` is always the genuine record; copies arrive after it. Dirt
falls on fraud rows too; the labels themselves (``is_fraud``, ``fraud_pattern``) are never dirty.

**Determinism**: the same parameters and seed give byte-identical files (manifest.json differs only in
its ``timing``). Rows are made block by block from their own seeded random streams, so the concatenated
parts do not depend on ``rows_per_file``, ``partitions`` or ``progress``.

Used in notebooks: 01, 02.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dlcourse import stopwatch

GENERATOR = 2  # bump when the same parameters make other data: cached landing zones are then made anew
BLOCK_ROWS = 25_000  # transactions made at once: memory is bounded by one block, whatever n_rows
START = "2025-01-01"  # the first day of the data; timestamps are UTC
CURRENCY_RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.85}  # units of each currency per 1 EUR
EVENTS_PER_TRANSACTION = 0.3  # background account events per transaction
TRAVEL_SHARE = 0.03  # in-person payments made in another city than home
FAR_KM = 1000  # "far": impossible to travel in under an hour
TRIP_RATE = 0.004  # trips to a far city started per payment (legitimate payments abroad, see _trips)
TRIP_BOOKED = 0.7  # share of trips booked online with the card in the 5 days before leaving
DRIFT_START = 0.65  # share of the period after which gift_card_scam appears (a new pattern: drift)
SCAM_MIN_AGE, SCAM_AGE_WEIGHT = 65, 8  # gift_card_scam picks holders this old this many times as often
EARTH_RADIUS_KM = 6371  # the mean radius of the haversine formula
NIGHT_HOURS = 5  # night is 00:00-04:59 UTC
N_FRAUD_DEVICES = 1000  # the fraudsters' own phones and laptops

# name, country, latitude, longitude, share of card holders living there
CITIES = (
    ("Berlin", "DE", 52.52, 13.405, 8), ("Hamburg", "DE", 53.551, 9.994, 4), ("Munich", "DE", 48.137, 11.575, 4),
    ("Paris", "FR", 48.857, 2.352, 8), ("Lyon", "FR", 45.764, 4.836, 3), ("Madrid", "ES", 40.417, -3.704, 6),
    ("Barcelona", "ES", 41.385, 2.173, 4), ("Rome", "IT", 41.903, 12.496, 5), ("Milan", "IT", 45.464, 9.19, 4),
    ("Amsterdam", "NL", 52.368, 4.904, 4), ("Brussels", "BE", 50.85, 4.352, 3), ("Vienna", "AT", 48.208, 16.373, 3),
    ("Zurich", "CH", 47.377, 8.541, 2), ("Warsaw", "PL", 52.23, 21.012, 4), ("Prague", "CZ", 50.076, 14.438, 2),
    ("Lisbon", "PT", 38.722, -9.139, 3), ("Dublin", "IE", 53.35, -6.26, 2), ("Stockholm", "SE", 59.329, 18.069, 2),
    ("Copenhagen", "DK", 55.676, 12.568, 2), ("Helsinki", "FI", 60.17, 24.938, 1), ("London", "GB", 51.507, -0.128, 6),
    ("Manchester", "GB", 53.481, -2.243, 2), ("New York", "US", 40.713, -74.006, 2),
    ("Chicago", "US", 41.878, -87.63, 1), ("San Francisco", "US", 37.775, -122.419, 1),
    ("Toronto", "CA", 43.653, -79.383, 1), ("São Paulo", "BR", -23.551, -46.633, 1), ("Lagos", "NG", 6.524, 3.379, 1),
    ("Dubai", "AE", 25.205, 55.271, 1), ("Singapore", "SG", 1.352, 103.82, 1), ("Tokyo", "JP", 35.676, 139.65, 1),
    ("Sydney", "AU", -33.869, 151.209, 1), ("Mumbai", "IN", 19.076, 72.878, 1),
)

# category: (merchant category code, spend relative to the holder's usual amount)
CATEGORIES = {
    "grocery": (5411, 1.0), "restaurants": (5812, 0.9), "fuel": (5541, 1.6), "health": (5912, 0.8),
    "transport": (4111, 0.4), "fashion": (5651, 2.0), "electronics": (5732, 4.0), "jewelry": (5944, 5.0),
    "entertainment": (7832, 0.8), "digital_goods": (5815, 0.5), "travel": (4722, 8.0), "gambling": (7995, 1.5),
    "cash": (6011, 2.0),
}
STORE_CATEGORIES = {"grocery": 30, "restaurants": 22, "fuel": 10, "health": 8, "transport": 8, "fashion": 10,
                    "electronics": 6, "jewelry": 3, "entertainment": 3}
ONLINE_CATEGORIES = {"digital_goods": 25, "fashion": 20, "electronics": 15, "travel": 15, "entertainment": 15,
                     "gambling": 10}
NIGHT_CATEGORIES = ("electronics", "jewelry")  # night_high_risk buys here, in person
TAKEOVER_CATEGORIES = ("electronics", "travel", "digital_goods", "gambling")  # account_takeover buys here, online
CATEGORY_SPELLINGS = {
    "grocery": ("Grocery", "grocery ", "GROCERIES", "groceries"),
    "restaurants": ("Restaurants", "restaurant", "RESTAURANTS", " restaurants"),
    "fuel": ("Fuel", "FUEL", "fuel ", "gas"),
    "health": ("Health", "HEALTH", "pharmacy"),
    "transport": ("Transport", "TRANSPORT", "transportation"),
    "fashion": ("Fashion", "FASHION", "fashion ", "clothing"),
    "electronics": ("Electronics", "ELECTRONICS", "electronic"),
    "jewelry": ("Jewelry", "jewellery", "JEWELRY"),
    "entertainment": ("Entertainment", "ENTERTAINMENT", "entertainment "),
    "digital_goods": ("Digital Goods", "digital goods", "DIGITAL_GOODS", "digital-goods"),
    "travel": ("Travel", "TRAVEL", "travel "),
    "gambling": ("Gambling", "GAMBLING", "betting"),
    "cash": ("Cash", "CASH", "cash withdrawal"),
}
CHANNELS = ("online", "pos", "contactless", "atm")
MERCHANT_KINDS = ("online", "store", "atm")
KIND_WEIGHTS = (0.30, 0.63, 0.07)  # share of payments online, in a store, at an ATM
SEGMENTS = ("student", "standard", "premium", "business")
SEGMENT_WEIGHTS, SEGMENT_SPEND = (0.15, 0.60, 0.15, 0.10), (0.6, 1.0, 2.5, 3.0)
# card payments per hour of the day (UTC), relative
HOURLY_WEIGHTS = (0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 2.0, 2.2,
                  2.5, 2.2, 2.0, 2.0, 2.1, 2.4, 2.6, 2.4, 2.0, 1.5, 1.0, 0.6)

# pattern: (share of fraud rows, fewest and most fraud rows per episode)
FRAUD_PATTERNS = {
    "card_testing": (0.30, 3, 7),
    "account_takeover": (0.20, 2, 4),
    "card_cloned_abroad": (0.20, 1, 3),
    "night_high_risk": (0.15, 1, 1),
    "gift_card_scam": (0.15, 1, 3),  # all after DRIFT_START, at share / (1 - DRIFT_START) there
}
EVENT_TYPES = {  # type: (share of background events, possible "details")
    "login": (0.64, ('{"success":true,"method":"password"}', '{"success":true,"method":"biometric"}')),
    "failed_login": (0.12, ('{"success":false,"reason":"bad_password"}', '{"success":false,"reason":"locked"}')),
    "two_factor": (0.08, ('{"channel":"sms"}', '{"channel":"app"}')),
    "profile_update": (0.08, ('{"field":"email"}', '{"field":"phone"}', '{"field":"address"}')),
    "password_reset": (0.04, ('{"channel":"email"}', '{"channel":"sms"}')),
    "device_change": (0.04, ('{"previous_device":null}',)),  # filled in with the previous device's id
}
DEVICE_OS = ("android", "ios", "windows", "macos")
BLANKS = ("", "NA", "null", "N/A")  # how the sources spell a missing value
GARBLED_TIMESTAMPS = ("##########", "0000-00-00 00:00:00", "31/02/2025 25:61")
TIMESTAMP_FORMATS = ("iso_t", "day_first", "epoch", "garbled")  # the non-standard ones
MISSING_COLUMNS = ("customer_id", "merchant_id", "amount", "currency", "category", "channel", "device_id",
                   "city", "country", "lat", "lon")
CUSTOMER_MISSING_COLUMNS = ("signup_date", "age", "segment", "city", "country")

SCHEMAS = {
    "transactions": {
        "transaction_id": "T + 10 digits; unique per transaction and increasing with time (copies repeat it)",
        "timestamp": "when the card was used, UTC, 'YYYY-MM-DD HH:MM:SS' (dirt: other formats, late, after the end)",
        "customer_id": "the card holder (C + 7 digits); joins customers.csv",
        "merchant_id": "M + 5 digits; joins merchants.csv",
        "amount": "in `currency`, with a decimal point: 12.30 (dirt: cents without a point, negative, outliers)",
        "currency": "EUR (dirt: USD or GBP, see CURRENCY_RATES)",
        "category": "the merchant's category, lower_snake_case (dirt: other spellings; merchants.csv is clean)",
        "channel": "online | pos | contactless | atm",
        "device_id": "online: the buyer's device (D + 8 digits); in person: the terminal (POS- or ATM- + 5 digits)",
        "city": "where the card was used: the merchant's city in person, the buyer's (IP) city online",
        "country": "ISO 3166 two-letter code of city",
        "lat": "latitude of the merchant (in person) or of the buyer's city (online), degrees",
        "lon": "longitude, degrees",
        "is_fraud": "the label: 1 = confirmed fraud, 0 = legitimate (never dirty)",
        "fraud_pattern": "which documented pattern a fraud follows; empty when legitimate (never dirty)",
    },
    "events": {
        "event_id": "E + 10 digits, unique (exact duplicates repeat it)",
        "ts": "UTC, 'YYYY-MM-DDTHH:MM:SSZ' (dirt: epoch milliseconds as a number)",
        "customer_id": "the account's card holder; joins customers.csv",
        "type": "login | failed_login | two_factor | profile_update | password_reset | device_change",
        "device": "{id, os}: the device used (dirt: id null)",
        "geo": "{city, country, lat, lon} of the IP address (dirt: key missing)",
        "details": "depends on type, e.g. {success, method} for a login, {previous_device} for a device change",
    },
    "customers": {
        "customer_id": "C + 7 digits (dirt: exact duplicate lines)",
        "signup_date": "YYYY-MM-DD, before the first transaction (dirt: missing, in the future)",
        "age": "years (dirt: missing, 0 or 150)",
        "segment": "student | standard | premium | business (dirt: missing)",
        "card_type": "debit | credit",
        "city": "home city (dirt: missing)",
        "country": "ISO 3166 two-letter code of the home city (dirt: missing)",
    },
    "merchants": {
        "merchant_id": "M + 5 digits",
        "name": "shop name (not unique)",
        "category": "lower_snake_case: the clean spelling",
        "mcc": "ISO 18245 merchant category code",
        "kind": "online | store | atm",
        "city": "where the merchant is (online: where it is registered)",
        "country": "ISO 3166 two-letter code",
        "lat": "latitude, degrees",
        "lon": "longitude, degrees",
    },
}
TRANSACTION_COLUMNS = tuple(SCHEMAS["transactions"])
_HEADER = ",".join(TRANSACTION_COLUMNS)


def transaction_schema() -> dict[str, str]:
    """The columns of transactions/part-*.csv and what each means (notebook 01 shows it as a table)."""
    return dict(SCHEMAS["transactions"])


def schema(table: str = "transactions") -> pd.DataFrame:
    """Column -> meaning of one table: transactions | events | customers | merchants."""
    if table not in SCHEMAS:
        raise ValueError(f"table must be one of {' | '.join(SCHEMAS)}, got {table!r}")
    return pd.DataFrame({"meaning": SCHEMAS[table]}).rename_axis("column")


# ---------------------------------------------------------------------------------------------
# Parameters: the dirt rates and the manifest


@dataclass(frozen=True)
class Dirt:
    """How dirty the landing zone is: each rate is a share of genuine records, ≥ 0 and < 1.

    Notebook 02 finds each kind; :class:`Manifest` counts exactly how many were injected.
    """

    duplicate: float = 0.01  # exact copy of a line, arriving up to 300 lines later (also events, customers)
    near_duplicate: float = 0.005  # the transaction re-sent: timestamp 1-120 s later, amount "12.340"
    missing: float = 0.02  # blank fields ("", NA, null, N/A), spread evenly over MISSING_COLUMNS
    timestamp_format: float = 0.01  # a non-standard timestamp, evenly ISO "T..Z" | day-first | epoch | garbled
    late: float = 0.005  # timestamp 2-30 days earlier than where the line arrives
    currency: float = 0.03  # amount in USD or GBP (converted with CURRENCY_RATES) instead of EUR
    cents: float = 0.005  # amount in cents, without a decimal point: "1234" for 12.34 EUR
    category_spelling: float = 0.05  # category spelled otherwise ("Grocery", "grocery ", "GROCERIES")
    impossible: float = 0.002  # half negative amounts, half timestamps after the end (customers: ages, sign-ups)
    outlier: float = 0.001  # amount of 50 000 - 1 000 000 EUR
    unparsable: float = 0.001  # extra broken lines in the CSV and JSON-lines files

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"Dirt.{f.name} must be a number ≥ 0 and < 1, got {value!r}")

    @classmethod
    def none(cls) -> Dirt:
        """Clean data: every rate 0 (the reference notebooks compare against)."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Manifest:
    """What :func:`generate_transactions` wrote, as stored in manifest.json (read it back with :func:`read_manifest`).

    The counts are exact: notebook 02's data-quality report checks that every input line is accounted for.
    """

    parameters: dict  # n_rows, seed, fraud_rate, days, start, end, rows_per_file, partitions, dirt, currency_rates
    counts: dict  # table -> {"genuine": records, "lines": data lines written (no headers), "files": files}
    injected: dict  # table -> kind of dirt -> exact count (per column, format or kind where there are several)
    fraud: dict  # "rows", "rate" (share of n_rows), "by_pattern": pattern -> {"rows", "episodes", "events"}
    files: dict  # path relative to out_dir -> {"lines": data lines, "bytes": size}
    timing: dict  # seconds, rows_per_s, mb_per_s, bytes_written (the only part that differs between reruns)
    version: int = 1

    @property
    def n_rows(self) -> int:
        return self.parameters["n_rows"]

    def dirt_table(self) -> pd.DataFrame:
        """Every injected count as one row per (table, kind, detail): the ground truth of notebook 02."""
        rows = []
        for table, kinds in self.injected.items():
            for kind, value in kinds.items():
                details = value if isinstance(value, dict) else {"": value}
                rows += [(table, kind, detail, count) for detail, count in details.items()]
        return pd.DataFrame(rows, columns=["table", "kind", "detail", "count"])

    def save(self, out_dir: Path) -> None:
        (Path(out_dir) / "manifest.json").write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


def read_manifest(out_dir: str | Path) -> Manifest:
    """The manifest of a folder written by :func:`generate_transactions`."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise ValueError(f"out_dir must hold a manifest.json written by generate_transactions(), "
                         f"found none in {out_dir}")
    return Manifest(**json.loads(path.read_text()))


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
        raise ValueError(f"{name} must be an int ≥ {low} and ≤ {high}, got {value!r}")


def _check_parameters(out_dir, n_rows, seed, partitions, rows_per_file, fraud_rate, days, dirt) -> None:
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"out_dir must be a folder, got a file: {out_dir}")
    _check_int("n_rows", n_rows, 1_000, 10**10 - 1)
    _check_int("seed", seed, 0, 2**32 - 1)
    if partitions is not None:
        _check_int("partitions", partitions, 1, n_rows // 100)
    _check_int("rows_per_file", rows_per_file, 100, 10**10)
    _check_int("days", days, 1, 3650)
    if isinstance(fraud_rate, bool) or not isinstance(fraud_rate, int | float) or not 0 <= fraud_rate <= 0.1:
        raise ValueError(f"fraud_rate must be a number ≥ 0 and ≤ 0.1, got {fraud_rate!r}")
    if not isinstance(dirt, Dirt):
        raise ValueError(f"dirt must be a Dirt(...), got {type(dirt).__name__}")


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for one purpose, e.g. ``_rng(seed, "dirt", block)``."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng([seed, *words])


def _pick(rng: np.random.Generator, free: np.ndarray, rate: float) -> np.ndarray:
    """Rows hit by one kind of dirt: each still-free row with probability `rate`; hit rows stop being free.

    Draws one random number per row whatever the rate, so changing one rate leaves the random numbers
    of every other kind as they were.
    """
    hit = (rng.random(free.size) < rate) & free
    free &= ~hit
    return hit


def _stochastic_round(x: float, rng: np.random.Generator) -> int:
    """floor(x) or floor(x) + 1, with the mean x: expected counts stay exact in small blocks."""
    return int(math.floor(x) + (rng.random() < x - math.floor(x)))


def _cumsum_within(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each episode (episodes of `sizes` consecutive values)."""
    total = np.cumsum(values)
    first = np.cumsum(sizes) - sizes
    return total - np.repeat(total[first] - values[first], sizes)


def _join(*parts, sep: str = "") -> pa.Array:
    """Element-wise string concatenation of arrays and constant strings (Arrow does it in C++)."""
    return pc.binary_join_element_wise(*parts, sep)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'C0000042'-style ids: prefix + zero-padded numbers."""
    return _join(prefix, pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0"))


def _replace(values: pa.Array, mask: np.ndarray, new: pa.Array | list[str]) -> pa.Array:
    """`values` with the rows of `mask` replaced, in order, by `new` (one entry per True)."""
    if not mask.any():
        return values
    return pc.replace_with_mask(values, pa.array(mask), pa.array(new, pa.string()))


def _text(lines: pa.Array) -> pa.Buffer:
    """The characters of a string array back to back (each line already ends in a newline), no copy."""
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return lines.buffers()[2][int(offsets[0]):int(offsets[-1])]


def _arrival_order(n: int, sources: np.ndarray, delays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where extra lines (copies, broken lines) go: `delays` lines after the record they come from.

    Lines are numbered [the n records, then the extras]. Returns the order to write them in and, for
    each written line, the record it arrives with (a copy never precedes its original).
    """
    arrival = np.concatenate([np.arange(n), np.minimum(sources + delays, n - 1)])
    is_extra = np.concatenate([np.zeros(n, np.int8), np.ones(len(sources), np.int8)])
    order = np.lexsort((is_extra, arrival))
    return order, arrival[order]


@dataclass
class _Groups:
    """Members grouped by a key, to draw a random member of each row's group in one vectorised step."""

    members: np.ndarray
    start: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, n_keys: int, where: np.ndarray | None = None,
           values: np.ndarray | None = None) -> _Groups:
        idx = np.flatnonzero(np.ones(len(keys), bool) if where is None else where)
        idx = idx[np.argsort(keys[idx], kind="stable")]
        count = np.bincount(keys[idx], minlength=n_keys)
        members = idx if values is None else values[idx]
        return cls(members, np.cumsum(count) - count, count)

    def draw(self, rng: np.random.Generator, keys: np.ndarray) -> np.ndarray:
        offset = (rng.random(len(keys)) * self.count[keys]).astype(np.int64)
        return self.members[self.start[keys] + offset]


# ---------------------------------------------------------------------------------------------
# The world: customers, merchants, cities, and a clock


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (the haversine formula), element-wise with
    NumPy broadcasting: between all pairs of cities here, from one payment to the next in notebook 02's features."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype="float64")) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


class _World:
    """Everything shared by all blocks: customers, merchants, cities, string pools and the clock."""

    def __init__(self, n_rows: int, seed: int, days: int, fraud_rate: float, dirt: Dirt):
        self.n_rows, self.seed, self.days, self.fraud_rate, self.dirt = n_rows, seed, days, fraud_rate, dirt
        self.n_blocks = -(-n_rows // BLOCK_ROWS)
        self.start_s = int(np.datetime64(START, "s").astype(np.int64))
        cum = np.concatenate([[0.0], np.cumsum(HOURLY_WEIGHTS)])
        self.day_cdf = cum / cum[-1]
        self.night_share = self.day_cdf[NIGHT_HOURS]
        self._make_cities()
        self._make_customers(int(np.clip(n_rows // 50, 200, 1_000_000)))
        self._make_merchants(int(np.clip(3 * math.isqrt(n_rows), 300, 5_000)))
        self._make_pools()

    def rows(self, block: int) -> tuple[int, int]:
        """The genuine rows [r0, r1) of a block."""
        return block * self.n_rows // self.n_blocks, (block + 1) * self.n_rows // self.n_blocks

    def clock(self, share: np.ndarray | float) -> np.ndarray:
        """Unix seconds at a share of the stream (0 = start, 1 = end), busier by day than by night."""
        day, frac = np.divmod(np.asarray(share, float) * self.days, 1.0)
        seconds = np.interp(frac, self.day_cdf, np.arange(25) * 3600.0)
        return self.start_s + day.astype(np.int64) * 86_400 + seconds.astype(np.int64)

    def _make_cities(self) -> None:
        self.city_name = np.array([c[0] for c in CITIES])
        self.city_country = np.array([c[1] for c in CITIES])
        self.city_lat, self.city_lon = np.array([c[2] for c in CITIES]), np.array([c[3] for c in CITIES])
        weights = np.array([c[4] for c in CITIES], float)
        self.city_weights = weights / weights.sum()
        n = len(CITIES)
        lat, lon = self.city_lat, self.city_lon
        far_i, far_j = np.nonzero(great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) > FAR_KM)
        self.far_cities = _Groups.of(far_i, n, values=far_j)

    def _make_customers(self, n: int) -> None:
        rng = _rng(self.seed, "customers")
        self.n_customers = n
        self.cust_city = rng.choice(len(CITIES), size=n, p=self.city_weights)
        self.cust_segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_WEIGHTS)
        student = self.cust_segment == 0
        self.cust_age = np.where(student, rng.integers(18, 26, n), np.clip(rng.normal(46, 15, n), 18, 90)).astype(int)
        self.cust_signup_days = rng.integers(1, 8 * 365, n)  # days before START
        self.cust_credit = rng.random(n) < 0.4
        self.cust_spend = rng.lognormal(np.log(25), 0.5, n) * np.take(SEGMENT_SPEND, self.cust_segment)
        activity = np.cumsum(rng.lognormal(0, 1, n))  # some customers pay much more often than others
        self.cust_activity = activity / activity[-1]
        weight = np.diff(activity, prepend=0.0) * np.where(self.cust_age >= SCAM_MIN_AGE, SCAM_AGE_WEIGHT, 1)
        self.scam_cdf = np.cumsum(weight) / weight.sum()

    def draw_customers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cust_activity, rng.random(n)), self.n_customers - 1)

    def _merchant_plan(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Kind and category of each merchant: every city gets a grocery, an ATM and a night-risk store,
        every online category an online shop; the rest is drawn at random."""
        cat = list(CATEGORIES)
        kinds, cats = [], []
        for c in range(len(CITIES)):
            kinds += [1, 2, 1]
            cats += [cat.index("grocery"), cat.index("cash"), cat.index(NIGHT_CATEGORIES[c % 2])]
        for name in ONLINE_CATEGORIES:
            kinds.append(0)
            cats.append(cat.index(name))
        rest = n - len(kinds)
        kind = np.concatenate([kinds, rng.choice(3, size=rest, p=[0.35, 0.6, 0.05])]).astype(int)
        category = np.concatenate([cats, np.full(rest, cat.index("cash"))]).astype(int)
        for k, table in ((0, ONLINE_CATEGORIES), (1, STORE_CATEGORIES)):
            drawn = np.flatnonzero((kind == k) & (np.arange(n) >= len(kinds)))
            weights = np.array(list(table.values()), float)
            names = rng.choice(list(table), size=len(drawn), p=weights / weights.sum())
            category[drawn] = [cat.index(c) for c in names]
        return kind, category

    def _make_merchants(self, n: int) -> None:
        rng = _rng(self.seed, "merchants")
        self.n_merchants = n
        self.merch_kind, self.merch_cat = self._merchant_plan(n, rng)
        city = rng.choice(len(CITIES), size=n, p=self.city_weights)
        city[: 3 * len(CITIES)] = np.repeat(np.arange(len(CITIES)), 3)
        self.merch_city = city
        self.merch_lat = np.round(self.city_lat[city] + rng.normal(0, 0.03, n), 4)
        self.merch_lon = np.round(self.city_lon[city] + rng.normal(0, 0.03, n), 4)
        cats = np.array(list(CATEGORIES))
        kind, in_city = self.merch_kind, self.merch_city
        self.stores = _Groups.of(in_city, len(CITIES), where=kind == 1)
        self.atms = _Groups.of(in_city, len(CITIES), where=kind == 2)
        self.night_stores = _Groups.of(in_city, len(CITIES), where=(kind == 1) & np.isin(cats[self.merch_cat],
                                                                                         NIGHT_CATEGORIES))
        zeros = np.zeros(n, int)
        self.online = _Groups.of(zeros, 1, where=kind == 0)
        self.takeover_shops = _Groups.of(zeros, 1, where=(kind == 0) & np.isin(cats[self.merch_cat],
                                                                                TAKEOVER_CATEGORIES))
        self.travel_shops = _Groups.of(zeros, 1, where=(kind == 0) & (cats[self.merch_cat] == "travel"))
        self.gift_shops = _Groups.of(zeros, 1, where=(kind == 0) & (cats[self.merch_cat] == "digital_goods"))
        self.merch_names = self._merchant_names(rng)

    def _merchant_names(self, rng: np.random.Generator) -> list[str]:
        first = ("Blue", "Golden", "Old", "Little", "Royal", "Green", "Silver", "Happy", "North", "Urban", "Corner")
        second = ("Harbor", "Oak", "Star", "River", "Lane", "Market", "Bridge", "Garden", "Square", "Hill")
        suffix = {"grocery": "Market", "restaurants": "Bistro", "fuel": "Fuel", "health": "Pharmacy",
                  "transport": "Transit", "fashion": "Boutique", "electronics": "Electronics", "jewelry": "Jewels",
                  "entertainment": "Cinema", "digital_goods": "Games", "travel": "Travel", "gambling": "Casino",
                  "cash": "Bank ATM"}
        a, b = rng.integers(0, len(first), self.n_merchants), rng.integers(0, len(second), self.n_merchants)
        cats = list(CATEGORIES)
        return [f"{first[i]} {second[j]} {suffix[cats[c]]}" for i, j, c in zip(a, b, self.merch_cat, strict=True)]

    def _make_pools(self) -> None:
        """Strings made once and picked by index in every block (Arrow `take`)."""
        self.customer_ids = _ids("C", np.arange(self.n_customers), 7)
        self.merchant_ids = _ids("M", np.arange(self.n_merchants), 5)
        self.terminals = _join(pa.array(np.where(self.merch_kind == 2, "ATM-", "POS-")),
                               pc.utf8_lpad(pc.cast(pa.array(np.arange(self.n_merchants)), pa.string()), 5, "0"))
        # a location is a merchant (in person) or a city centre (online): index = merchant, or n_merchants + city
        self.loc_city = pa.array(np.concatenate([self.city_name[self.merch_city], self.city_name]).tolist())
        self.loc_country = pa.array(np.concatenate([self.city_country[self.merch_city], self.city_country]).tolist())
        lat = np.concatenate([self.merch_lat, self.city_lat])
        lon = np.concatenate([self.merch_lon, self.city_lon])
        self.loc_lat, self.loc_lon = pa.array([f"{x:.4f}" for x in lat]), pa.array([f"{x:.4f}" for x in lon])
        self.city_geo = pa.array([f',"geo":{{"city":"{c[0]}","country":"{c[1]}","lat":{c[2]},"lon":{c[3]}}}'
                                  for c in CITIES])
        self.times = pa.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])
        self.two_digits = pa.array([f"{i:02d}" for i in range(100)])
        self.categories = pa.array(list(CATEGORIES))
        spelled = [(i, s) for i, c in enumerate(CATEGORIES) for s in CATEGORY_SPELLINGS[c]]
        self.spellings = pa.array([s for _, s in spelled])
        self.spelling_groups = _Groups.of(np.array([i for i, _ in spelled]), len(CATEGORIES))
        details = [(i, d) for i, (_, ds) in enumerate(EVENT_TYPES.values()) for d in ds]
        self.details = pa.array([d for _, d in details])
        self.detail_groups = _Groups.of(np.array([i for i, _ in details]), len(EVENT_TYPES))

    def dates(self, seconds: np.ndarray) -> pa.Array:
        """'YYYY-MM-DD' of unix seconds (each day of the range formatted once)."""
        if len(seconds) == 0:
            return pa.array([], pa.string())
        days = seconds // 86_400
        first = days.min()
        names = np.datetime_as_string(np.arange(first, days.max() + 1).astype("datetime64[D]"))
        return pa.array(names.tolist()).take(pa.array(days - first))

    def timestamps(self, seconds: np.ndarray, iso: bool = False) -> pa.Array:
        """'YYYY-MM-DD HH:MM:SS', or with iso=True 'YYYY-MM-DDTHH:MM:SSZ'."""
        clock = self.times.take(pa.array(seconds % 86_400))
        if iso:
            return _join(self.dates(seconds), "T", clock, "Z")
        return _join(self.dates(seconds), " ", clock)

    def amounts(self, cents: np.ndarray) -> pa.Array:
        """'12.30' from 1230 cents (non-negative)."""
        return _join(pc.cast(pa.array(cents // 100), pa.string()), ".", self.two_digits.take(pa.array(cents % 100)))


# ---------------------------------------------------------------------------------------------
# Legitimate payments, then fraud, one block at a time


def _legit_amounts(world: _World, rng: np.random.Generator, cust: np.ndarray, merchant: np.ndarray) -> np.ndarray:
    """Cents: the holder's usual amount x the category's factor x noise, 1 to 10 000 EUR; ATMs give 20s."""
    factor = np.array([f for _, f in CATEGORIES.values()])[world.merch_cat[merchant]]
    eur = world.cust_spend[cust] * factor * rng.lognormal(0, 0.6, len(cust))
    eur = np.where(world.merch_kind[merchant] == 2, np.maximum(20, np.round(eur / 20) * 20), eur)
    return np.clip(np.round(eur * 100), 100, 1_000_000).astype(np.int64)


def _legit_block(world: _World, block: int) -> dict[str, np.ndarray]:
    """Legitimate payments of one block, in time order: columns as integer codes (and under "keep" the rows
    fraud must not overwrite: the trips' bookings)."""
    r0, r1 = world.rows(block)
    n = r1 - r0
    rng = _rng(world.seed, "legit", block)
    t = world.clock((r0 + np.sort(rng.random(n)) * n) / world.n_rows)
    cust = world.draw_customers(rng, n)
    kind = rng.choice(3, size=n, p=KIND_WEIGHTS)
    home = world.cust_city[cust]
    city = np.where(rng.random(n) < TRAVEL_SHARE, rng.choice(len(CITIES), n, p=world.city_weights), home)
    away, dest, booking = _trips(world, rng, t, cust)
    city = np.where(away, dest, city)
    merchant = np.select([kind == 0, kind == 1], [world.online.draw(rng, np.zeros(n, int)),
                                                  world.stores.draw(rng, city)], world.atms.draw(rng, city))
    merchant[booking] = world.travel_shops.draw(rng, np.zeros(len(booking), int))
    kind[booking] = 0
    cents = _legit_amounts(world, rng, cust, merchant)
    contactless = (kind == 1) & (cents < 5000) & (rng.random(n) < 0.7)
    channel = np.select([kind == 0, contactless, kind == 1], [0, 2, 1], 3)
    device = 2 * cust + (rng.random(n) < 0.2)  # each holder has two devices, the first used most
    loc = np.where(kind == 0, world.n_merchants + np.where(away, dest, home), merchant)
    return {"t": t, "cust": cust, "merchant": merchant, "cents": cents, "channel": channel, "device": device,
            "loc": loc, "pattern": np.zeros(n, np.int8), "keep": booking}


def _trips(world: _World, rng: np.random.Generator, t: np.ndarray,
           cust: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holders who fly to a far city for 2-7 days (TRIP_RATE trips per payment): every payment they make
    there is in that city, online ones from an IP there. Most (TRIP_BOOKED) booked the trip online with the
    card 1 hour to 5 days before leaving: that row, otherwise one of theirs, becomes the booking.

    Returns (row is abroad, the trip's city, the rows that are bookings)."""
    n = len(t)
    travellers = np.unique(world.draw_customers(rng, _stochastic_round(n * TRIP_RATE, rng)))
    dest = world.far_cities.draw(rng, world.cust_city[travellers])
    leave = rng.uniform(t[0], t[-1], len(travellers))
    back = leave + rng.integers(2, 8, len(travellers)) * 86_400
    booked = rng.random(len(travellers)) < TRIP_BOOKED
    if len(travellers) == 0:
        return np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(0, np.int64)
    trip = np.minimum(np.searchsorted(travellers, cust), len(travellers) - 1)
    mine = travellers[trip] == cust
    away = mine & (t >= leave[trip]) & (t < back[trip])
    went = np.zeros(len(travellers), bool)
    went[trip[away]] = True  # the trips with a payment abroad
    before = np.flatnonzero(mine & (t < leave[trip]) & (t >= leave[trip] - 5 * 86_400) & booked[trip] & went[trip])
    latest_first = before[::-1]  # rows are in time order: the first of each trip here is its last before leaving
    return away, dest[trip], latest_first[np.unique(trip[latest_first], return_index=True)[1]]


def _fraud_device(world: _World, rng: np.random.Generator, n: int) -> np.ndarray:
    return 2 * world.n_customers + rng.integers(0, N_FRAUD_DEVICES, n)


def _episodes(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the rows of episodes of `sizes` rows: each row's episode and its place in the episode (0, 1, ...)."""
    ep = np.repeat(np.arange(len(sizes)), sizes)
    return ep, np.arange(len(ep)) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _place(gaps: np.ndarray, sizes: np.ndarray, start: np.ndarray, lo: int, hi: int,
           lead: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Times of the rows of episodes: `gaps` seconds after the row before (a first row's gap is ignored),
    `lead` seconds after the episode begins at `start` (time for the events that come first). An episode
    that would end after `hi` begins earlier; one longer than [lo, hi] is squeezed to fit (only at very large
    n_rows, where a block spans less than a day). Returns (row times, episode begin times)."""
    ep, within = _episodes(sizes)
    lead = np.zeros(len(sizes)) if lead is None else lead.astype(float)
    offsets = _cumsum_within(np.where(within == 0, 0, gaps).astype(float), sizes)
    length = lead + offsets[np.cumsum(sizes) - 1]
    span = max(hi - lo, 1)
    squeeze = np.minimum(1.0, 0.9 * span / np.maximum(length, 1.0))
    begin = np.clip(start, lo, hi - length * squeeze)
    t = begin[ep] + (lead[ep] + offsets) * squeeze[ep]
    return np.clip(t, lo, hi).astype(np.int64), begin.astype(np.int64)


def _card_testing(world, rng, rows, slots, sizes, start, lo, hi) -> None:
    """2-6 probes of 1-5 EUR at different online shops, 2-20 minutes apart, then 15-120 minutes later the
    cash-out: one purchase of 5-15 times the holder's usual amount at a high-risk online shop; all from one
    unknown device, the IP in a far city."""
    ep, within = _episodes(sizes)
    last = within == sizes[ep] - 1
    cust = world.draw_customers(rng, len(sizes))
    far = world.far_cities.draw(rng, world.cust_city[cust])
    gaps = np.where(last, rng.integers(900, 7201, len(ep)), rng.integers(120, 1201, len(ep)))
    rows["t"][slots], _ = _place(gaps, sizes, start, lo, hi)
    rows["cust"][slots] = cust[ep]
    shops = world.online.members  # consecutive shops from a random first one: all different
    probe_shop = shops[(rng.integers(0, len(shops), len(sizes))[ep] + within) % len(shops)]
    rows["merchant"][slots] = np.where(last, world.takeover_shops.draw(rng, np.zeros(len(ep), int)), probe_shop)
    cash_out = np.clip(world.cust_spend[cust[ep]] * rng.uniform(5, 15, len(ep)), 30, 5_000)
    rows["cents"][slots] = np.where(last, np.round(cash_out * 100), rng.integers(100, 501, len(ep))).astype(np.int64)
    rows["channel"][slots] = 0
    rows["device"][slots] = _fraud_device(world, rng, len(sizes))[ep]
    rows["loc"][slots] = world.n_merchants + far[ep]


def _account_takeover(world, rng, rows, slots, sizes, start, lo, hi) -> dict[str, np.ndarray]:
    """The slow takeover: 1-4 days after the log-in with a new device, 2-4 online purchases 6-30 hours apart,
    each twice the one before (from 1.5-3 times the holder's usual amount), at high-risk online shops; the IP
    is the holder's own city half of the time (a proxy), else a far city.

    Returns the events the takeover leaves in the log (failed logins, reset, device change, login)."""
    ep, within = _episodes(sizes)
    cust = world.draw_customers(rng, len(sizes))
    home = world.cust_city[cust]
    city = np.where(rng.random(len(sizes)) < 0.5, home, world.far_cities.draw(rng, home))
    device = _fraud_device(world, rng, len(sizes))
    lead = rng.integers(86_400, 4 * 86_400 + 1, len(sizes))
    rows["t"][slots], login = _place(rng.integers(6 * 3600, 30 * 3600 + 1, len(ep)), sizes, start, lo, hi, lead)
    rows["cust"][slots] = cust[ep]
    rows["merchant"][slots] = world.takeover_shops.draw(rng, np.zeros(len(ep), int))
    eur = np.clip(world.cust_spend[cust[ep]] * rng.uniform(1.5, 3, len(sizes))[ep] * 2.0 ** within, 20, 8_000)
    rows["cents"][slots] = np.round(eur * 100).astype(np.int64)
    rows["channel"][slots], rows["device"][slots], rows["loc"][slots] = 0, device[ep], world.n_merchants + city[ep]
    return _takeover_events(world, rng, cust, device, city, login + 1800, lo, hi)


def _takeover_events(world, rng, cust, device, city, login, lo, hi) -> dict[str, np.ndarray]:
    """Per episode: 0-2 failed logins, a password reset, a device change, then the fraudster's login."""
    n = len(cust)
    reset = login - rng.integers(600, 1801, n)
    failed = np.repeat(np.arange(n), rng.integers(0, 3, n))  # the episode of each failed login
    ep = np.concatenate([failed, np.arange(n), np.arange(n), np.arange(n)])
    t = np.concatenate([reset[failed] - rng.integers(30, 600, len(failed)), reset,
                        login - rng.integers(60, 301, n), login])
    names = ["failed_login"] * len(failed) + ["password_reset"] * n + ["device_change"] * n + ["login"] * n
    kind = np.array([list(EVENT_TYPES).index(name) for name in names], dtype=np.int64)
    return {"t": np.clip(t, lo, hi), "cust": cust[ep], "type": kind, "device": device[ep],
            "previous": 2 * cust[ep], "city": city[ep], "detail": world.detail_groups.start[kind]}


def _card_cloned_abroad(world, rng, rows, slots, sizes, start, lo, hi) -> None:
    """A cloned card used in person in a far city, 1-3 times 10-90 minutes apart, for 2-5 times what the
    holder would spend at that store, while the holder goes on paying at home. Holders on a trip pay far
    away too (see _legit_block): a single payment abroad looks like travel."""
    ep, _ = _episodes(sizes)
    cust = world.draw_customers(rng, len(sizes))
    far = world.far_cities.draw(rng, world.cust_city[cust])
    rows["t"][slots], _ = _place(rng.integers(600, 5401, len(ep)), sizes, start, lo, hi)
    merchant = world.stores.draw(rng, far[ep])
    rows["cust"][slots], rows["merchant"][slots], rows["loc"][slots] = cust[ep], merchant, merchant
    rows["cents"][slots] = _legit_amounts(world, rng, cust[ep], merchant) * rng.integers(2, 6, len(ep))
    rows["channel"][slots] = 1


def _night_high_risk(world, rng, rows, slots) -> None:
    """Night payments turned into large in-person buys at electronics and jewelry stores."""
    cust = rows["cust"][slots]
    merchant = world.night_stores.draw(rng, world.cust_city[cust])
    factor = np.array([f for _, f in CATEGORIES.values()])[world.merch_cat[merchant]]
    eur = np.clip(world.cust_spend[cust] * factor * rng.uniform(3, 10, len(slots)), 100, 9_000)
    rows["merchant"][slots], rows["loc"][slots], rows["channel"][slots] = merchant, merchant, 1
    rows["cents"][slots] = np.round(eur * 100).astype(np.int64)


def _gift_card_scam(world, rng, rows, slots, sizes, start, lo, hi) -> None:
    """A phone scam that begins at DRIFT_START of the period: the holder is talked into buying gift cards,
    1-3 online payments of 100-500 EUR at digital-goods shops 10-60 minutes apart, from their own usual
    device and home city. It targets older people: a holder of SCAM_MIN_AGE or more is SCAM_AGE_WEIGHT
    times as likely to be chosen as a younger one who pays as often."""
    ep, _ = _episodes(sizes)
    cust = np.minimum(np.searchsorted(world.scam_cdf, rng.random(len(sizes))), world.n_customers - 1)
    rows["t"][slots], _ = _place(rng.integers(600, 3601, len(ep)), sizes, start, lo, hi)
    rows["cust"][slots] = cust[ep]
    rows["merchant"][slots] = world.gift_shops.draw(rng, np.zeros(len(ep), int))
    rows["cents"][slots] = rng.integers(100, 501, len(ep)) * 100
    rows["channel"][slots], rows["device"][slots] = 0, 2 * cust[ep]
    rows["loc"][slots] = world.n_merchants + world.cust_city[cust[ep]]


def _add_fraud(world: _World, block: int, rows: dict) -> tuple[dict, dict]:
    """Overwrite some payments of a block with fraud episodes; returns (events left behind, counts)."""
    rng = _rng(world.seed, "fraud", block)
    r0, r1 = world.rows(block)
    n = r1 - r0
    lo, hi = int(world.clock(r0 / world.n_rows)), int(world.clock(r1 / world.n_rows)) - 1
    counts = {name: {"rows": 0, "episodes": 0, "events": 0} for name in FRAUD_PATTERNS}
    # night_high_risk converts payments that already happen at night
    night = np.flatnonzero(rows["t"] % 86_400 < NIGHT_HOURS * 3600)
    share = FRAUD_PATTERNS["night_high_risk"][0]
    chosen = night[rng.random(len(night)) < min(1.0, world.fraud_rate * share / world.night_share)]
    _night_high_risk(world, rng, rows, chosen)
    rows["pattern"][chosen] = list(FRAUD_PATTERNS).index("night_high_risk") + 1
    counts["night_high_risk"] |= {"rows": len(chosen), "episodes": len(chosen)}
    # the other patterns overwrite randomly chosen other rows, episode by episode
    free = rng.permutation(np.setdiff1d(np.arange(n), np.concatenate([chosen, rows["keep"]])))
    used, events = 0, {}
    drift_row = DRIFT_START * world.n_rows
    makers = {"card_testing": _card_testing, "account_takeover": _account_takeover,
              "card_cloned_abroad": _card_cloned_abroad, "gift_card_scam": _gift_card_scam}
    for code, (name, (share, low, high)) in enumerate(FRAUD_PATTERNS.items(), start=1):
        if name == "night_high_risk":
            continue
        first = r0 if name != "gift_card_scam" else min(max(r0, drift_row), r1)  # the scam starts late
        rate = share if name != "gift_card_scam" else share / (1 - DRIFT_START)  # ... at a higher rate
        episodes = _stochastic_round(world.fraud_rate * rate * (r1 - first) / ((low + high) / 2), rng)
        sizes = rng.integers(low, high + 1, episodes)
        keep = np.cumsum(sizes) <= len(free) - used  # a tiny block may not fit them all
        sizes = sizes[keep]
        slots = free[used:used + sizes.sum()]
        used += sizes.sum()
        start = world.clock(rng.uniform(first, r1, len(sizes)) / world.n_rows)
        rows["pattern"][slots] = code
        made = makers[name](world, rng, rows, slots, sizes, start, lo, hi)
        if name == "account_takeover":
            events = made
        counts[name] |= {"rows": int(sizes.sum()), "episodes": len(sizes)}
    counts["account_takeover"]["events"] = len(events.get("t", []))
    return events, counts


def _transactions_block(world: _World, block: int) -> tuple[dict, dict, dict]:
    """One block of payments with fraud, sorted by time; plus the takeover events and fraud counts."""
    rows = _legit_block(world, block)
    events, counts = _add_fraud(world, block, rows)
    del rows["keep"]
    order = np.argsort(rows["t"], kind="stable")
    return {k: v[order] for k, v in rows.items()}, events, counts


# ---------------------------------------------------------------------------------------------
# Dirt and text: transactions


def _odd_timestamps(kind: str, seconds: np.ndarray, garble: np.ndarray) -> list[str]:
    """Timestamps of one non-standard format (only for the few rows that need it)."""
    if kind == "epoch":
        return [str(s) for s in seconds]
    if kind == "garbled":
        return [GARBLED_TIMESTAMPS[g] for g in garble]
    pattern = "%Y-%m-%dT%H:%M:%SZ" if kind == "iso_t" else "%d/%m/%Y %H:%M"
    return [time.strftime(pattern, time.gmtime(s)) for s in seconds]


def _dirty_timestamps(world, rng, t, r0, count) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Timestamp strings with late, future and non-standard ones; also the seconds and a 'standard' mask."""
    d, n = world.dirt, len(t)
    free = np.ones(n, bool)
    free[0] = r0 > 0  # the data's very first row stays clean: a late row needs rows before it
    late = _pick(rng, free, d.late)
    future = _pick(rng, free, d.impossible / 2)
    t = np.where(late, t - rng.integers(2 * 86_400, 30 * 86_400, n), t)
    t = np.where(future, world.start_s + world.days * 86_400 + rng.integers(86_400, 5 * 365 * 86_400, n), t)
    text, garble = world.timestamps(t), rng.integers(0, len(GARBLED_TIMESTAMPS), n)
    standard = np.ones(n, bool)
    for kind in TIMESTAMP_FORMATS:
        hit = _pick(rng, free, d.timestamp_format / len(TIMESTAMP_FORMATS))
        text = _replace(text, hit, _odd_timestamps(kind, t[hit], garble[hit]))
        standard &= ~hit
        count["timestamp_format"][kind] += int(hit.sum())
    count["late"] += int(late.sum())
    count["future_timestamp"] += int(future.sum())
    return text, t, standard


def _dirty_amounts(world, rng, cents, missing, count) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Amount and currency strings with negative, outlier, cents and foreign-currency rows.

    Also returns which rows hold a plain decimal amount (near duplicates reformat those).
    """
    d, n = world.dirt, len(cents)
    free = ~missing["amount"]
    negative = _pick(rng, free, d.impossible / 2)
    outlier = _pick(rng, free, d.outlier)
    in_cents = _pick(rng, free, d.cents)
    foreign = _pick(rng, free & ~missing["currency"], d.currency)  # a blank currency hides no conversion
    currency = np.where(foreign, 1 + (rng.random(n) < 0.5), 0)  # 0 EUR, 1 USD, 2 GBP
    rates = np.array(list(CURRENCY_RATES.values()))
    cents = np.where(outlier, rng.integers(5_000_000, 100_000_000, n), np.round(cents * rates[currency]))
    cents = cents.astype(np.int64)
    text = _replace(world.amounts(cents), negative, _join("-", world.amounts(cents[negative])))
    text = _replace(text, in_cents, pc.cast(pa.array(cents[in_cents]), pa.string()))
    for name, hit in (("negative_amount", negative), ("outlier", outlier), ("cents", in_cents)):
        count[name] += int(hit.sum())
    for code, name in enumerate(CURRENCY_RATES):
        if code:
            count["currency"][name] += int((currency == code).sum())
    return text, pa.array(list(CURRENCY_RATES)).take(pa.array(currency)), ~missing["amount"] & ~in_cents


def _transaction_columns(world, rows, r0, rng, count) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray]:
    """The 15 columns as strings, with every per-field kind of dirt; returns (columns, seconds, standard ts)."""
    d, n = world.dirt, len(rows["t"])
    missing = {c: _pick(rng, np.ones(n, bool), d.missing / len(MISSING_COLUMNS)) for c in MISSING_COLUMNS}
    blank = pa.array(BLANKS).take(pa.array(rng.integers(0, len(BLANKS), n)))
    ts, t, standard = _dirty_timestamps(world, rng, rows["t"], r0, count)
    amount, currency, plain_amount = _dirty_amounts(world, rng, rows["cents"], missing, count)
    category = world.merch_cat[rows["merchant"]]
    respelled = _pick(rng, ~missing["category"], d.category_spelling)
    spelling = world.spellings.take(pa.array(world.spelling_groups.draw(rng, category)))
    online = rows["channel"] == 0
    cols = {
        "transaction_id": _ids("T", np.arange(r0, r0 + n), 10),
        "timestamp": ts,
        "customer_id": world.customer_ids.take(pa.array(rows["cust"])),
        "merchant_id": world.merchant_ids.take(pa.array(rows["merchant"])),
        "amount": amount,
        "currency": currency,
        "category": pc.if_else(pa.array(respelled), spelling, world.categories.take(pa.array(category))),
        "channel": pa.array(CHANNELS).take(pa.array(rows["channel"])),
        "device_id": _replace(world.terminals.take(pa.array(rows["merchant"])), online,
                              _ids("D", rows["device"][online], 8)),
        "city": world.loc_city.take(pa.array(rows["loc"])),
        "country": world.loc_country.take(pa.array(rows["loc"])),
        "lat": world.loc_lat.take(pa.array(rows["loc"])),
        "lon": world.loc_lon.take(pa.array(rows["loc"])),
        "is_fraud": pa.array(["0", "1"]).take(pa.array((rows["pattern"] > 0).astype(np.int8))),
        # the last column carries the end of the line
        "fraud_pattern": pa.array([f"{p}\n" for p in ("", *FRAUD_PATTERNS)]).take(pa.array(rows["pattern"])),
    }
    for column, hit in missing.items():
        cols[column] = pc.if_else(pa.array(hit), blank, cols[column])
        count["missing"][column] += int(hit.sum())
    count["category_spelling"] += int(respelled.sum())
    return cols, t, standard & plain_amount


def _near_duplicates(world, rng, cols, t, standard, count) -> tuple[np.ndarray, pa.Array]:
    """Re-sent transactions: timestamp 1-120 s later, amount with three decimals ('12.340').

    Only rows with a standard timestamp and a plain decimal amount are re-sent, so a copy always differs.
    """
    hit = (rng.random(len(t)) < world.dirt.near_duplicate) & standard
    src = np.flatnonzero(hit)
    copy = {name: col.take(pa.array(src)) for name, col in cols.items()}
    copy["timestamp"] = world.timestamps(t[src] + rng.integers(1, 121, len(t))[src])
    copy["amount"] = _join(copy["amount"], "0")
    count["near_duplicate"] += len(src)
    return src, _join(*copy.values(), sep=",")


def _broken_csv_lines(rng, lines: pa.Array, n: int, rate: float, count) -> tuple[np.ndarray, list[str]]:
    """Extra lines that do not parse as 15 fields: truncated, an unquoted comma, a repeated header."""
    kind = rng.integers(0, 3, n)
    cut = rng.random(n)
    src = np.flatnonzero(rng.random(n) < rate)
    out = []
    for i in src:
        line = lines[int(i)].as_py()
        if kind[i] == 0:  # truncated: cut somewhere before the last comma, so at least one field is lost
            out.append(line[: 1 + int(cut[i] * (line.rfind(",") - 1))] + "\n")
        elif kind[i] == 1:  # a category with an unquoted comma: one field too many
            parts = line.split(",")
            parts[TRANSACTION_COLUMNS.index("category")] = "food, drinks"
            out.append(",".join(parts))
        else:
            out.append(_HEADER + "\n")
        count["broken_line"][("truncated", "extra_field", "header_repeat")[kind[i]]] += 1
    return src, out


def _transaction_lines(world: _World, block: int, rows: dict, count: dict) -> tuple[pa.Array, np.ndarray]:
    """The lines of one block in arrival order (newline-terminated), and the genuine row each arrives with."""
    rng = _rng(world.seed, "dirt", block)
    r0 = world.rows(block)[0]
    n = len(rows["t"])
    cols, t, standard = _transaction_columns(world, rows, r0, rng, count)
    lines = _join(*cols.values(), sep=",")
    near_src, near = _near_duplicates(world, rng, cols, t, standard, count)
    dup_src = np.flatnonzero(rng.random(n) < world.dirt.duplicate)
    count["duplicate"] += len(dup_src)
    broken_src, broken = _broken_csv_lines(rng, lines, n, world.dirt.unparsable, count)
    delay = rng.integers(1, 301, n)
    sources = np.concatenate([near_src, dup_src, broken_src])
    order, arrival = _arrival_order(n, sources, delay[sources])
    every = pa.concat_arrays([lines, near, lines.take(pa.array(dup_src)), pa.array(broken, pa.string())])
    return every.take(pa.array(order)), r0 + arrival


# ---------------------------------------------------------------------------------------------
# Events


def _background_events(world: _World, rng: np.random.Generator, block: int) -> dict[str, np.ndarray]:
    """Ordinary account activity at about EVENTS_PER_TRANSACTION events per payment."""
    r0, r1 = world.rows(block)
    m = _stochastic_round((r1 - r0) * EVENTS_PER_TRANSACTION, rng)
    cust = world.draw_customers(rng, m)
    weights = np.array([w for w, _ in EVENT_TYPES.values()])
    kind = rng.choice(len(EVENT_TYPES), size=m, p=weights / weights.sum())
    second = rng.random(m) < 0.2
    return {"t": world.clock(rng.uniform(r0, r1, m) / world.n_rows), "cust": cust, "type": kind,
            "device": 2 * cust + second, "previous": 2 * cust + ~second, "city": world.cust_city[cust],
            "detail": world.detail_groups.draw(rng, kind)}


def _event_lines(world: _World, block: int, takeover: dict, first_id: int, txn_t: np.ndarray,
                 count: dict) -> tuple[pa.Array, np.ndarray, int]:
    """One block of events as JSON lines (with dirt), the genuine transaction row each line arrives with,
    and the number of genuine events."""
    rng = _rng(world.seed, "events", block)
    ev = _background_events(world, rng, block)
    if takeover:
        ev = {k: np.concatenate([ev[k], takeover[k]]) for k in ev}
    order = np.argsort(ev["t"], kind="stable")
    ev = {k: v[order] for k, v in ev.items()}
    m, d = len(ev["t"]), world.dirt
    lines = _event_json(world, rng, ev, first_id, count)
    dup_src = np.flatnonzero(rng.random(m) < d.duplicate)
    broken_src, broken = _broken_json_lines(rng, lines, d.unparsable, count)
    count["duplicate"] += len(dup_src)
    sources = np.concatenate([dup_src, broken_src])
    order, arrival = _arrival_order(m, sources, rng.integers(1, 21, m)[sources])
    every = pa.concat_arrays([lines, lines.take(pa.array(dup_src)), pa.array(broken, pa.string())])
    r0 = world.rows(block)[0]
    rows = r0 + np.clip(np.searchsorted(txn_t, ev["t"][arrival], side="right") - 1, 0, len(txn_t) - 1)
    return every.take(pa.array(order)), rows, m


def _event_json(world, rng, ev, first_id, count) -> pa.Array:
    """JSON objects built from string pieces (fast, and every value is known to need no escaping)."""
    m, d = len(ev["t"]), world.dirt
    free = np.ones(m, bool)
    no_geo, no_device = _pick(rng, free, d.missing / 2), _pick(rng, free, d.missing / 2)
    epoch = _pick(rng, np.ones(m, bool), d.timestamp_format)
    ts = _replace(_join('"', world.timestamps(ev["t"], iso=True), '"'), epoch,
                  [str(s * 1000) for s in ev["t"][epoch]])
    device = _join('"', _ids("D", ev["device"], 8), '"')
    device = _replace(device, no_device, ["null"] * int(no_device.sum()))
    os = pa.array(DEVICE_OS).take(pa.array(ev["device"] * 7919 % len(DEVICE_OS)))
    geo = pc.if_else(pa.array(no_geo), "", world.city_geo.take(pa.array(ev["city"])))
    changed = ev["type"] == list(EVENT_TYPES).index("device_change")
    details = world.details.take(pa.array(ev["detail"]))
    details = pc.if_else(pa.array(changed), _join('{"previous_device":"', _ids("D", ev["previous"], 8), '"}'), details)
    count["missing"]["geo"] += int(no_geo.sum())
    count["missing"]["device.id"] += int(no_device.sum())
    count["timestamp_format"]["epoch_ms"] += int(epoch.sum())
    return _join('{"event_id":"', _ids("E", np.arange(first_id, first_id + m), 10), '","ts":', ts,
                 ',"customer_id":"', world.customer_ids.take(pa.array(ev["cust"])), '","type":"',
                 pa.array(list(EVENT_TYPES)).take(pa.array(ev["type"])), '","device":{"id":', device, ',"os":"', os,
                 '"}', geo, ',"details":', details, "}\n")


def _broken_json_lines(rng, lines: pa.Array, rate: float, count) -> tuple[np.ndarray, list[str]]:
    """Extra lines that are not valid JSON: truncated, single quotes, or two objects on one line."""
    m = len(lines)
    kind, cut = rng.integers(0, 3, m), rng.random(m)
    src = np.flatnonzero(rng.random(m) < rate)
    out = []
    for i in src:
        line = lines[int(i)].as_py()
        if kind[i] == 0:  # cut before the closing brace
            out.append(line[: 1 + int(cut[i] * (len(line) - 3))] + "\n")
        elif kind[i] == 1:
            out.append(line.replace('"', "'"))
        else:
            out.append(line.rstrip("\n") + lines[int(min(i + 1, m - 1))].as_py())
        count["broken_line"][("truncated", "single_quotes", "two_on_one_line")[kind[i]]] += 1
    return src, out


# ---------------------------------------------------------------------------------------------
# Customers and merchants


def _customers_table(world: _World, count: dict) -> pa.Table:
    """customers.csv, with missing values, impossible ages, future sign-ups and duplicate lines."""
    rng, d, n = _rng(world.seed, "customer dirt"), world.dirt, world.n_customers
    bad_age, future = _pick(rng, np.ones(n, bool), d.impossible / 2), _pick(rng, np.ones(n, bool), d.impossible / 2)
    age = np.where(bad_age, np.where(rng.random(n) < 0.5, 0, 150), world.cust_age)
    signup = np.datetime64(START, "D") - world.cust_signup_days
    signup = np.where(future, np.datetime64(START, "D") + world.days + rng.integers(30, 2000, n), signup)
    columns = {
        "customer_id": world.customer_ids,
        "signup_date": pa.array(np.datetime_as_string(signup)),
        "age": pc.cast(pa.array(age), pa.string()),
        "segment": pa.array(SEGMENTS).take(pa.array(world.cust_segment)),
        "card_type": pa.array(["debit", "credit"]).take(pa.array(world.cust_credit.astype(np.int8))),
        "city": pa.array(world.city_name).take(pa.array(world.cust_city)),
        "country": pa.array(world.city_country).take(pa.array(world.cust_city)),
    }
    blank = pa.array(BLANKS).take(pa.array(rng.integers(0, len(BLANKS), n)))
    dirty_already = {"age": bad_age, "signup_date": future}
    for column in CUSTOMER_MISSING_COLUMNS:
        hit = _pick(rng, ~dirty_already.get(column, np.zeros(n, bool)), d.missing / len(CUSTOMER_MISSING_COLUMNS))
        columns[column] = pc.if_else(pa.array(hit), blank, columns[column])
        count["missing"][column] = int(hit.sum())
    dup = np.flatnonzero(rng.random(n) < d.duplicate)
    order, _ = _arrival_order(n, dup, rng.integers(1, 301, n)[dup])
    count.update(duplicate=len(dup), impossible_age=int(bad_age.sum()), future_signup=int(future.sum()))
    return pa.table(columns).take(pa.array(np.concatenate([np.arange(n), dup])[order]))


def _merchants_table(world: _World) -> pa.Table:
    """merchants.csv: the clean reference table."""
    cats = np.array(list(CATEGORIES))[world.merch_cat]
    return pa.table({
        "merchant_id": world.merchant_ids, "name": world.merch_names, "category": cats,
        "mcc": [str(CATEGORIES[c][0]) for c in cats], "kind": np.array(MERCHANT_KINDS)[world.merch_kind],
        "city": world.city_name[world.merch_city], "country": world.city_country[world.merch_city],
        "lat": [f"{x:.4f}" for x in world.merch_lat], "lon": [f"{x:.4f}" for x in world.merch_lon],
    })


def _write_csv(table: pa.Table, path: Path) -> None:
    """Plain CSV (no quotes: no value holds a comma or a quote; Arrow raises if one ever does)."""
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))


# ---------------------------------------------------------------------------------------------
# Writing


class _PartWriter:
    """Writes lines to folder/part-00000<suffix>, part-00001...: part k holds the lines that arrive
    with genuine transactions [k * rows_per_file, (k + 1) * rows_per_file), so parts follow time."""

    def __init__(self, folder: Path, suffix: str, rows_per_file: int, header: str | None = None):
        self.folder, self.suffix, self.rows_per_file, self.header = folder, suffix, rows_per_file, header
        folder.mkdir(parents=True, exist_ok=True)
        self.lines: list[int] = []
        self._file = None

    def _open(self, part: int) -> None:
        while len(self.lines) <= part:  # parts without lines are still written (events of a quiet hour)
            if self._file:
                self._file.close()
            self._file = open(self.folder / f"part-{len(self.lines):05d}{self.suffix}", "wb")  # noqa: SIM115
            if self.header is not None:
                self._file.write(self.header.encode() + b"\n")
            self.lines.append(0)

    def write(self, lines: pa.Array, rows: np.ndarray) -> None:
        parts = rows // self.rows_per_file
        cuts = np.flatnonzero(np.diff(parts)) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(lines)], strict=True):
            if b > a:
                self._open(int(parts[a]))
                self._file.write(_text(lines.slice(a, b - a)))
                self.lines[-1] += int(b - a)

    def close(self, n_parts: int) -> dict[str, dict]:
        self._open(n_parts - 1)
        self._file.close()
        return {f"{self.folder.name}/part-{k:05d}{self.suffix}": {
            "lines": lines, "bytes": (self.folder / f"part-{k:05d}{self.suffix}").stat().st_size}
            for k, lines in enumerate(self.lines)}


def _clear(out: Path) -> None:
    """Remove a previous run's files (only the ones generate_transactions() writes)."""
    for pattern in ("customers.csv", "merchants.csv", "manifest.json", "transactions/part-*.csv",
                    "events/part-*.jsonl"):
        for path in out.glob(pattern):
            path.unlink()


def _empty_counts() -> dict:
    return {
        "transactions": {"duplicate": 0, "near_duplicate": 0, "missing": dict.fromkeys(MISSING_COLUMNS, 0),
                         "timestamp_format": dict.fromkeys(TIMESTAMP_FORMATS, 0), "late": 0, "future_timestamp": 0,
                         "negative_amount": 0, "outlier": 0, "cents": 0, "currency": {"USD": 0, "GBP": 0},
                         "category_spelling": 0,
                         "broken_line": dict.fromkeys(("truncated", "extra_field", "header_repeat"), 0)},
        "events": {"duplicate": 0, "missing": {"geo": 0, "device.id": 0}, "timestamp_format": {"epoch_ms": 0},
                   "broken_line": dict.fromkeys(("truncated", "single_quotes", "two_on_one_line"), 0)},
        "customers": {"duplicate": 0, "missing": {}, "impossible_age": 0, "future_signup": 0},
        "merchants": {},
    }


def generate_transactions(out_dir: str | Path, n_rows: int, *, seed: int = 42, partitions: int | None = None,
             rows_per_file: int = 1_000_000, fraud_rate: float = 0.002, days: int = 365, dirt: Dirt | None = None,
             progress: bool = True) -> Manifest:
    """Write a dirty card-payments landing zone of `n_rows` transactions to `out_dir` (see the module doc).

    partitions: the number of transaction (and event) files; None: one per `rows_per_file` transactions.
    fraud_rate: share of transactions that are fraud, 0 to 0.1. days: the time span, from START.
    dirt: the rates of each kind of dirt (default ``Dirt()``; ``Dirt.none()`` for clean data).
    A previous run's files in `out_dir` are replaced; other files there are left alone.
    """
    dirt = Dirt() if dirt is None else dirt
    _check_parameters(out_dir, n_rows, seed, partitions, rows_per_file, fraud_rate, days, dirt)
    n_rows, seed, days = int(n_rows), int(seed), int(days)
    rows_per_file = int(rows_per_file) if partitions is None else -(-n_rows // int(partitions))
    clock = stopwatch.Clock()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    world = _World(n_rows, seed, days, fraud_rate, dirt)
    injected = _empty_counts()
    _write_csv(_customers_table(world, injected["customers"]), out / "customers.csv")
    _write_csv(_merchants_table(world), out / "merchants.csv")
    fraud, files, n_events = _write_blocks(world, out, rows_per_file, injected, progress)
    files |= {name: {"lines": lines, "bytes": (out / name).stat().st_size}
              for name, lines in (("customers.csv", world.n_customers + injected["customers"]["duplicate"]),
                                  ("merchants.csv", world.n_merchants))}
    return _finish(out, world, rows_per_file, injected, fraud, files, n_events, clock.wall_s)


def _write_blocks(world: _World, out: Path, rows_per_file: int, injected: dict,
                  progress: bool) -> tuple[dict, dict, int]:
    """Make and write every block of transactions and events.

    Returns the fraud counts per pattern, the files written, and the number of genuine events.
    """
    from dlcourse import progress as progress_bars

    txn = _PartWriter(out / "transactions", ".csv", rows_per_file, header=_HEADER)
    events = _PartWriter(out / "events", ".jsonl", rows_per_file)
    fraud = {name: {"rows": 0, "episodes": 0, "events": 0} for name in FRAUD_PATTERNS}
    n_events = 0
    with progress_bars.bar(total=world.n_rows, unit="rows", unit_scale=True, desc="transactions",
                           disable=not progress) as bar:
        for block in range(world.n_blocks):
            rows, takeover, counts = _transactions_block(world, block)
            txn.write(*_transaction_lines(world, block, rows, injected["transactions"]))
            lines, arrive, genuine = _event_lines(world, block, takeover, n_events, rows["t"], injected["events"])
            events.write(lines, arrive)
            n_events += genuine
            for name, c in counts.items():
                fraud[name] = {k: fraud[name][k] + c[k] for k in c}
            bar.update(len(rows["t"]))
    n_parts = -(-world.n_rows // rows_per_file)
    return fraud, txn.close(n_parts) | events.close(n_parts), n_events


def _finish(out: Path, world: _World, rows_per_file: int, injected: dict, fraud: dict, files: dict,
            n_events: int, seconds: float) -> Manifest:
    """Count what was written, save manifest.json and return it."""
    lines = {table: sum(f["lines"] for name, f in files.items() if name.startswith(table))
             for table in ("transactions", "events", "customers", "merchants")}
    genuine = {"transactions": world.n_rows, "events": n_events, "customers": world.n_customers,
               "merchants": world.n_merchants}
    n_parts = -(-world.n_rows // rows_per_file)
    counts = {table: {"genuine": genuine[table], "lines": lines[table],
                      "files": n_parts if table in ("transactions", "events") else 1} for table in genuine}
    fraud_rows = sum(p["rows"] for p in fraud.values())
    fraud = {"rows": fraud_rows, "rate": round(fraud_rows / world.n_rows, 6), "by_pattern": fraud}
    parameters = {
        "n_rows": world.n_rows, "seed": world.seed, "fraud_rate": world.fraud_rate, "days": world.days,
        "start": START, "end": str(np.datetime64(START, "D") + world.days), "rows_per_file": rows_per_file,
        "partitions": n_parts, "block_rows": BLOCK_ROWS, "dirt": world.dirt.as_dict(),
        "currency_rates": dict(CURRENCY_RATES),
    }
    size = sum(f["bytes"] for f in files.values())
    timing = {"seconds": round(seconds, 3), "rows_per_s": round(world.n_rows / seconds),
              "mb_per_s": round(size / 1e6 / seconds, 1), "bytes_written": size}
    manifest = Manifest(parameters, counts, injected, fraud, dict(sorted(files.items())), timing)
    manifest.save(out)
    return manifest
