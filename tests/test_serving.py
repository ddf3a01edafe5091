"""dlcourse.serving: a real server process, its micro-batches, its answers to bad requests, its load test."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest

from dlcourse import serving

FIELDS = {"amount": "number", "hour": "integer", "channel": "string"}
SCORER = serving.LinearScorer({"amount": 0.002, "hour": -0.05}, bias=-1.0)
GOOD = {"amount": 120.5, "hour": 3, "channel": "web"}
MAX_BATCH = 64


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    bundle = serving.save_bundle(tmp_path_factory.mktemp("bundle"), SCORER, FIELDS, version="test-1",
                                 max_batch=MAX_BATCH, max_wait_ms=20.0)
    with serving.ModelServer(bundle) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def failing_bundle(tmp_path_factory):
    scorer = serving.FailingScorer({"amount": 0.002}, trigger="amount")  # fails on a negative amount
    return serving.save_bundle(tmp_path_factory.mktemp("failing"), scorer, FIELDS, version="fails-1")


def offline(payments: list[dict]) -> np.ndarray:
    return SCORER.score(pd.DataFrame(payments, columns=list(FIELDS)))


def test_health_answers_with_the_version(client):
    assert client.get("/health").json() == {"status": "ok", "version": "test-1"}


def test_one_payment_scores_as_the_scorer_does_offline(client):
    answer = client.post("/score", json=GOOD)
    assert answer.status_code == 200
    assert answer.json()["version"] == "test-1"
    assert abs(answer.json()["score"] - offline([GOOD])[0]) < 1e-9


def test_a_batch_of_payments_gets_one_score_each(client):
    payments = [{"amount": float(a), "hour": h, "channel": c} for a, h, c in
                zip([5.0, 900.0, 42.25, 0.0, 3100.0], [0, 23, 12, 5, 2], ["web", "pos", "atm", "web", "pos"],
                    strict=True)]
    answer = client.post("/score", json={"payments": payments})
    assert answer.status_code == 200
    assert np.allclose(answer.json()["scores"], offline(payments), rtol=0, atol=1e-9)


def test_concurrent_requests_are_scored_in_micro_batches(server):
    payloads = [GOOD, {"amount": 7.0, "hour": 22, "channel": "pos"}]
    result = serving.load_test(server.url, payloads, concurrency=32, requests=320)
    assert result.errors == 0 and result.requests == 320
    assert result.mean_batch_rows > 1, result


def test_a_load_test_returns_sane_numbers(server):
    result = serving.load_test(server.url, [GOOD], concurrency=4, requests=200)
    assert (result.requests, result.errors, result.concurrency) == (200, 0, 4)
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms <= result.max_ms < 10_000
    assert result.requests_per_s == pytest.approx(200 / result.seconds)
    assert 1 <= result.mean_batch_rows <= 4
    assert result.row()["requests"] == 200 and result.as_dict()["concurrency"] == 4


def test_a_load_test_runs_inside_a_running_event_loop_as_in_jupyter(server):
    async def in_a_notebook_cell():
        return serving.load_test(server.url, [GOOD], concurrency=2, requests=20)

    assert asyncio.run(in_a_notebook_cell()).requests == 20


JSON = {"content-type": "application/json"}
PAYMENT = json.dumps(GOOD)
BAD_REQUESTS = {
    "missing field": (json.dumps({"amount": 1.0, "hour": 3}), JSON, 422, ["'channel'", "no field"]),
    "unknown field": (json.dumps(GOOD | {"amout": 1.0}), JSON, 422, ["'amout'", "unknown", "amount, hour, channel"]),
    "string for a number": (json.dumps(GOOD | {"amount": "12.5"}), JSON, 422, ["'amount'", "'12.5'", "a number"]),
    "bool for a number": (json.dumps(GOOD | {"amount": True}), JSON, 422, ["'amount'", "true", "a number"]),
    "fraction for an integer": (json.dumps(GOOD | {"hour": 3.5}), JSON, 422, ["'hour'", "3.5", "an integer"]),
    "number for a string": (json.dumps(GOOD | {"channel": 7}), JSON, 422, ["'channel'", "7", "a string"]),
    "NaN": (PAYMENT.replace("120.5", "NaN"), JSON, 422, ["'amount'", "NaN", "finite"]),
    "Infinity": (PAYMENT.replace("120.5", "-Infinity"), JSON, 422, ["'amount'", "-Infinity", "finite"]),
    "not JSON": ('{"amount": 1.0, "hour": ', JSON, 400, ["not valid JSON", "line 1"]),
    "JSON but not an object": ("[1, 2]", JSON, 422, ["JSON object", "a list"]),
    "wrong content type": (PAYMENT, {"content-type": "text/plain"}, 415, ["application/json", "'text/plain'"]),
    "no content type": (PAYMENT, {"content-type": ""}, 415, ["application/json", "none"]),
    "oversized body": (" " * 70_000 + PAYMENT, JSON, 413, ["70,", "64,000 bytes"]),
    "empty payments": ('{"payments": []}', JSON, 422, ["'payments'", "1 to 64", "got 0"]),
    "too many payments": (json.dumps({"payments": [GOOD] * (MAX_BATCH + 1)}), JSON, 422,
                          ["'payments'", "1 to 64", "got 65"]),
    "payments not a list": (json.dumps({"payments": GOOD}), JSON, 422, ["'payments'", "a list", "an object"]),
    "a bad payment in a batch": (json.dumps({"payments": [GOOD, GOOD | {"hour": "3"}]}), JSON, 422,
                                 ["payments[1]", "'hour'", "'3'"]),
    "batch with another key": (json.dumps({"payments": [GOOD], "x": 1}), JSON, 422, ["only the key", "'x'"]),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_sentence_naming_the_problem_and_the_server_keeps_serving(client, case):
    body, headers, status, words = BAD_REQUESTS[case]
    answer = client.post("/score", content=body.encode(), headers=headers)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert all(w in error for w in words), error
    assert client.post("/score", json=GOOD).status_code == 200


def test_a_body_over_the_limit_is_refused_without_a_content_length(client):
    chunks = iter([b" " * 40_000, b" " * 40_000, PAYMENT.encode()])  # sent chunked: no Content-Length
    answer = client.post("/score", content=chunks, headers=JSON)
    assert answer.status_code == 413 and "64,000 bytes" in answer.json()["error"]


def test_an_unknown_route_gets_a_json_sentence(client):
    answer = client.get("/scores")
    assert answer.status_code == 404 and "POST /score" in answer.json()["error"]


def test_stats_count_requests_rows_batches_and_errors(client):
    before = client.get("/stats").json()
    client.post("/score", json={"payments": [GOOD] * 3})
    client.post("/score", json={"amount": 1.0})
    after = client.get("/stats").json()
    assert after["requests"] - before["requests"] == 2
    assert after["rows"] - before["rows"] == 3 and after["batches"] - before["batches"] == 1
    assert after["errors"] - before["errors"] == 1
    assert after["mean_batch_rows"] == pytest.approx(after["rows"] / after["batches"])


def test_a_model_that_raises_gives_500_and_the_server_keeps_serving(failing_bundle):
    with serving.ModelServer(failing_bundle) as server, httpx.Client(base_url=server.url) as c:
        answer = c.post("/score", json=GOOD | {"amount": -1.0})
        assert answer.status_code == 500
        assert answer.json() == {"error": "the model failed to score this batch: RuntimeError"}
        assert c.get("/health").json()["status"] == "ok"
        assert c.post("/score", json=GOOD).status_code == 200
        assert c.get("/stats").json()["errors"] == 1


def test_the_server_process_stops_when_the_with_block_raises(failing_bundle):
    with pytest.raises(RuntimeError, match="the notebook cell failed"), serving.ModelServer(failing_bundle) as server:
        pid = server.pid
        assert psutil.pid_exists(pid)
        raise RuntimeError("the notebook cell failed")
    assert not psutil.pid_exists(pid)
    server.stop()  # a second stop is harmless


def test_a_server_that_cannot_load_its_bundle_fails_to_start_with_its_log(tmp_path):
    bundle = serving.save_bundle(tmp_path, SCORER, FIELDS, version="broken")
    (bundle / serving.SCORER_FILE).write_bytes(b"not a pickle")
    with pytest.raises(RuntimeError, match=r"exited with code 1 before answering /health(.|\n)*could not be loaded"):
        serving.ModelServer(bundle, start_timeout_s=30).start()


def test_model_server_arguments_are_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="bundle_dir must hold bundle.json"):
        serving.ModelServer(tmp_path)
    bundle = serving.save_bundle(tmp_path, SCORER, FIELDS, version="v")
    with pytest.raises(ValueError, match="port must be an integer between 1 and 65535"):
        serving.ModelServer(bundle, port=70_000)


class NoScore:
    pass


@pytest.mark.parametrize("changes, message", [
    ({"scorer": NoScore()}, "scorer must have a score"),
    ({"fields": {}}, "fields must map at least one field"),
    ({"fields": {"amount": "float"}}, "fields['amount'] must be one of 'number', 'string', 'integer', got 'float'"),
    ({"fields": {"payments": "number"}}, "'payments' is reserved"),
    ({"version": ""}, "version must be a non-empty string"),
    ({"max_batch": 0}, "max_batch must be an integer >= 1"),
    ({"max_batch": True}, "max_batch must be an integer >= 1"),
    ({"max_wait_ms": -1}, "max_wait_ms must be a number of milliseconds between 0 and 1000, got -1"),
    ({"max_body_bytes": 10}, "max_body_bytes must be an integer >= 1024, got 10"),
])
def test_save_bundle_refuses_bad_arguments_with_one_sentence(tmp_path, changes, message):
    arguments = {"scorer": SCORER, "fields": FIELDS, "version": "v"} | changes
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        serving.save_bundle(tmp_path, **arguments)


def test_a_bundle_round_trips(tmp_path):
    serving.save_bundle(tmp_path, SCORER, FIELDS, version="v7", max_batch=8, max_wait_ms=2.5)
    bundle = serving.load_bundle(tmp_path)
    assert (bundle.version, bundle.fields, bundle.max_batch, bundle.max_wait_ms) == ("v7", FIELDS, 8, 2.5)
    assert bundle.scorer.weights == SCORER.weights


@pytest.mark.parametrize("changes, message", [
    ({"url": "localhost:8000"}, "url must start with http://"),
    ({"payloads": []}, "payloads must be a non-empty list"),
    ({"concurrency": 0}, "concurrency must be an integer >= 1, got 0"),
    ({"requests": 0}, "requests must be an integer >= 1, got 0"),
])
def test_load_test_refuses_bad_arguments(changes, message):
    arguments = {"url": "http://127.0.0.1:1", "payloads": [GOOD]} | changes
    with pytest.raises(ValueError, match=message):
        serving.load_test(**arguments)
