"""Notebook 02's preparation: every input line accounted for, on data with known injected dirt."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest

from dlcourse import bigdata, prepare


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("landing")
    bigdata.generate_transactions(out, 40_000, seed=7, rows_per_file=15_000, progress=False)
    return out


@pytest.fixture(scope="module")
def pandas_run(landing):
    return prepare.prepare_pandas(landing)


def reason_rows(report: pd.DataFrame, table: str, reason: str) -> int:
    rows = report[(report["table"] == table) & (report["reason"] == reason)]["rows"]
    return int(rows.sum())


def test_every_line_is_kept_repaired_or_quarantined_exactly_once(landing, pandas_run):
    _, quarantined, report = pandas_run
    manifest = bigdata.read_manifest(landing)
    totals = report.groupby("table")["rows"].sum()
    for table in ("transactions", "events", "customers"):
        assert totals[table] == manifest.counts[table]["lines"], table
    by_outcome = report.groupby(["table", "outcome"])["rows"].sum()
    assert by_outcome["transactions", "quarantined"] == (quarantined["table"] == "transactions").sum()
    assert by_outcome["events", "quarantined"] == (quarantined["table"] == "events").sum()


def test_extra_lines_are_found_exactly(landing, pandas_run):
    report = pandas_run[2]
    injected = bigdata.read_manifest(landing).injected
    t = injected["transactions"]
    assert reason_rows(report, "transactions", "exact duplicate") == t["duplicate"]
    assert reason_rows(report, "transactions", "near duplicate") == t["near_duplicate"]
    assert reason_rows(report, "transactions", "repeated header") == t["broken_line"]["header_repeat"]
    assert reason_rows(report, "transactions", "broken line: wrong number of fields") == (
        t["broken_line"]["truncated"] + t["broken_line"]["extra_field"])
    e = injected["events"]
    assert reason_rows(report, "events", "exact duplicate") == e["duplicate"]
    assert reason_rows(report, "events", "unparsable JSON") == sum(e["broken_line"].values())
    assert reason_rows(report, "customers", "exact duplicate") == injected["customers"]["duplicate"]


def test_in_place_dirt_is_quarantined_or_repaired_and_nothing_else_is_lost(landing, pandas_run):
    features, _, report = pandas_run
    manifest = bigdata.read_manifest(landing)
    t = manifest.injected["transactions"]
    extra = t["duplicate"] + t["near_duplicate"] + sum(t["broken_line"].values())
    quarantined = report.query("table == 'transactions' and outcome == 'quarantined'")["rows"].sum()
    genuine_quarantined = int(quarantined) - extra
    assert len(features) == manifest.n_rows - genuine_quarantined
    # each in-place reason can only come from its injected dirt (a row may carry two kinds: <=)
    assert 0 < reason_rows(report, "transactions", "unparsable timestamp") <= t["timestamp_format"]["garbled"]
    assert 0 < reason_rows(report, "transactions", "timestamp in the future") <= t["future_timestamp"]
    assert 0 < reason_rows(report, "transactions", "negative amount") <= t["negative_amount"]
    assert 0 < reason_rows(report, "transactions", "outlier amount") <= t["outlier"]
    for key in ("customer_id", "merchant_id", "amount", "currency"):
        assert 0 < reason_rows(report, "transactions", f"missing {key}") <= t["missing"][key]
    in_place = ["unparsable timestamp", "timestamp in the future", "negative amount", "outlier amount",
                *(f"missing {k}" for k in ("customer_id", "merchant_id", "amount", "currency"))]
    assert sum(reason_rows(report, "transactions", r) for r in in_place) == genuine_quarantined


def test_clean_data_needs_no_quarantine(tmp_path):
    bigdata.generate_transactions(tmp_path, 5_000, seed=1, dirt=bigdata.Dirt.none(), progress=False)
    features, quarantined, report = prepare.prepare_pandas(tmp_path)
    assert quarantined.empty and len(features) == 5_000
    assert set(report["outcome"]) == {"kept"}


def test_features_use_only_the_past(pandas_run):
    features = pandas_run[0]
    first = features.sort_values(["customer_id", "timestamp"]).groupby("customer_id").head(1)
    assert (first["txn_last_24h"] == 0).all() and (first["seconds_since_prev"] == -1).all()
    assert (first["amount_vs_past_mean"] == 1.0).all()
    assert features["is_fraud"].sum() > 0 and features.columns.is_unique


def test_fraud_patterns_leave_traces_in_the_features(pandas_run):
    f = pandas_run[0]
    median = f.groupby("fraud_pattern").median(numeric_only=True)
    legit = median.loc[""]
    # card testing: small probes in a burst; the cloned card: far from home; takeover: days after a reset
    assert median.loc["card_testing", "amount_eur"] < 10 < legit["amount_eur"]
    assert median.loc["card_testing", "txn_last_1h"] > legit["txn_last_1h"]
    assert median.loc["card_cloned_abroad", "km_from_home"] > 500 > legit["km_from_home"]
    assert 24 < median.loc["account_takeover", "hours_since_password_reset"] < 8 * 24 < legit[
        "hours_since_password_reset"]
    assert median.loc["gift_card_scam", "amount_vs_past_mean"] > 2 > legit["amount_vs_past_mean"]
    assert f.groupby("fraud_pattern")["is_night"].mean()["night_high_risk"] == 1


def test_dask_pipeline_gives_the_same_report_and_features(landing, pandas_run, tmp_path):
    with dask.config.set(scheduler="sync"):
        result = prepare.prepare(landing, tmp_path, client=None, progress=False)
    expected = pandas_run[2].sort_values(["table", "outcome", "reason"]).reset_index(drop=True)
    got = result.report.sort_values(["table", "outcome", "reason"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    features = pd.read_parquet(result.features_dir).sort_values("transaction_id").reset_index(drop=True)
    want = pandas_run[0].sort_values("transaction_id").reset_index(drop=True)
    assert len(features) == len(want) == result.rows_out
    pd.testing.assert_series_equal(features["txn_last_24h"], want["txn_last_24h"], check_dtype=False)
    quarantined = pd.read_parquet(result.quarantine_dir / "lines")
    assert len(quarantined) == int(got.query("outcome == 'quarantined' and table != 'customers'")["rows"].sum())


def test_missing_landing_zone_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="landing must hold transactions/part-"):
        prepare.part_files(tmp_path, "transactions")


def test_window_features_match_a_brute_force_count(pandas_run):
    f = pandas_run[0].sort_values(["customer_id", "timestamp"]).reset_index(drop=True)
    busiest = f["customer_id"].value_counts().index[:5]
    for customer in busiest:
        rows = f[f["customer_id"] == customer]
        t = rows["timestamp"].to_numpy()
        for i, now in enumerate(t):
            past = t[:i]
            hour = int(((past >= now - np.timedelta64(3600, "s")) & (past < now)).sum())
            day = int(((past >= now - np.timedelta64(86_400, "s")) & (past < now)).sum())
            assert (rows["txn_last_1h"].iloc[i], rows["txn_last_24h"].iloc[i]) == (hour, day)
        gaps = np.diff(t).astype("timedelta64[s]").astype(float)
        assert np.allclose(rows["seconds_since_prev"].to_numpy()[1:], gaps)


def test_a_typical_customer_pays_a_few_times_a_day_not_dozens(pandas_run):
    assert pandas_run[0]["txn_last_24h"].mean() < 3
