"""How many payments a second notebook 13's model server answers, how fast, and what micro-batching buys.

    python benchmarks/bench_serving.py                           # a LinearScorer over 12 numeric fields
    python benchmarks/bench_serving.py --scorer path/to/bundle   # a saved bundle (random values of its fields)
    python benchmarks/bench_serving.py --scorer B --payloads payments.json --requests 1000

The server is ``python -m dlcourse.serving`` in its own process (:class:`dlcourse.serving.ModelServer`), with
the bundle's max_wait_ms (5 ms by default) and max_batch 256, then a copy of the bundle with max_batch 1
(no micro-batching). After a warm-up, each configuration is loaded from this process by two clients:

* ``httpx`` -- :func:`dlcourse.serving.load_test`, what notebook 13 uses: one ``httpx.AsyncClient`` per
  simulated caller;
* ``sockets`` -- the same load test with each caller a bare asyncio socket that writes the HTTP/1.1 request
  bytes and reads the answer, about ten times cheaper per request than httpx. On a 2-core machine the client
  shares the CPU with the server, so the cheap client shows what the server itself can do.

Each row: `--requests` POST /score requests of one payment each, from `concurrency` callers at once; the
latency of each request as its caller saw it; the server's rows per ``scorer.score`` call (from GET /stats);
the CPU seconds of the server process and of this (client) process per request. The table goes to
benchmarks/results/serving.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from dlcourse import serving

RESULTS = Path(__file__).resolve().parent / "results" / "serving.md"
FIELDS = ("amount", "hour", "weekday", "account_age_days", "payments_1h", "payments_24h", "amount_mean_7d",
          "amount_std_7d", "distance_km", "merchant_risk", "device_age_days", "seconds_since_last")
RUNS = ((256, 1), (256, 8), (256, 32), (1, 32))  # (max_batch, concurrency)
CLIENTS = ("httpx", "sockets")


@contextlib.asynccontextmanager
async def socket_connection(url: str, timeout_s: float):
    """One caller as a bare keep-alive socket: ``post(body) -> status``, HTTP/1.1 written and read by hand."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    head = f"POST /score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: "

    async def post(body: bytes) -> int:
        writer.write(f"{head}{len(body)}\r\n\r\n".encode() + body)
        answer = await reader.readuntil(b"\r\n\r\n")
        lines = answer.decode("latin-1").split("\r\n")
        length = next(int(ln.split(":", 1)[1]) for ln in lines if ln.lower().startswith("content-length:"))
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    try:
        yield post
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def linear_bundle(folder: Path) -> Path:
    """The default bundle: a LinearScorer over the 12 numeric FIELDS."""
    rng = np.random.default_rng(0)
    weights = {name: float(w) for name, w in zip(FIELDS, rng.normal(0, 0.1, len(FIELDS)), strict=True)}
    return serving.save_bundle(folder, serving.LinearScorer(weights, bias=-3.0), dict.fromkeys(FIELDS, "number"),
                               version="bench-linear-12")


def random_payloads(fields: dict[str, str], n: int = 1000, seed: int = 0) -> list[dict]:
    """`n` payments with random values of the bundle's fields (numbers ~ N(0, 100), integers 0-23, 3 strings)."""
    rng = np.random.default_rng(seed)
    make = {"number": lambda: round(float(rng.normal(0, 100)), 2), "integer": lambda: int(rng.integers(0, 24)),
            "string": lambda: str(rng.choice(["web", "pos", "atm"]))}
    return [{name: make[kind]() for name, kind in fields.items()} for _ in range(n)]


def with_max_batch(bundle: Path, max_batch: int, folder: Path) -> Path:
    """A copy of `bundle` in `folder` whose bundle.json says `max_batch`."""
    shutil.copytree(bundle, folder)
    settings = json.loads((folder / serving.BUNDLE_FILE).read_text())
    (folder / serving.BUNDLE_FILE).write_text(json.dumps(settings | {"max_batch": max_batch}, indent=2) + "\n")
    return folder


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def machine_cpu_s() -> tuple[float, float]:
    """CPU seconds of the whole machine so far, all cores together: (busy, busy + idle)."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + t.irq + t.softirq + t.steal  # guest time is already in user
    return busy, busy + t.idle + t.iowait


def measure(server: serving.ModelServer, payloads: list[dict], client: str, concurrency: int,
            requests: int) -> dict:
    """One load test, with the CPU seconds the server and this process spent on it."""
    server_process, me = psutil.Process(server.pid), psutil.Process()
    before = cpu_s(server_process), cpu_s(me)
    if client == "httpx":
        result = serving.load_test(server.url, payloads, concurrency=concurrency, requests=requests, timeout_s=300)
    else:
        result = asyncio.run(serving.load_test_async(server.url, payloads, concurrency=concurrency,
                                                     requests=requests, timeout_s=300, connect=socket_connection))
    server_ms = (cpu_s(server_process) - before[0]) * 1000 / max(result.requests, 1)
    client_ms = (cpu_s(me) - before[1]) * 1000 / max(result.requests, 1)
    return result.as_dict() | {"client": client, "server_cpu_ms": server_ms, "client_cpu_ms": client_ms}


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Requests/s and latency of dlcourse.serving, batching on and off.")
    parser.add_argument("--scorer", type=Path, help="a bundle folder made by serving.save_bundle (default: a "
                                                    "LinearScorer over 12 numeric fields)")
    parser.add_argument("--payloads", type=Path, help="a JSON file with a list of payments (default: random "
                                                      "values of the bundle's fields)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per row of the table")
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS), help="load-test clients")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the table goes")
    args = parser.parse_args(argv)
    rows = []
    machine_before, ours_before = machine_cpu_s(), cpu_s(psutil.Process())
    server_cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        bundle = args.scorer or linear_bundle(Path(tmp) / "linear")
        settings = serving.load_bundle(bundle)
        payloads = (json.loads(args.payloads.read_text()) if args.payloads
                    else random_payloads(settings.fields))
        for max_batch in dict.fromkeys(mb for mb, _ in RUNS):
            copy = with_max_batch(bundle, max_batch, Path(tmp) / f"max_batch_{max_batch}")
            with serving.ModelServer(copy) as server:
                serving.load_test(server.url, payloads, concurrency=8, requests=300)  # warm-up
                for concurrency in (c for mb, c in RUNS if mb == max_batch):
                    for client in args.clients:
                        r = measure(server, payloads, client, concurrency, args.requests)
                        r |= {"max_batch": max_batch, "load": os.getloadavg()[0]}
                        rows.append(r)
                        print(f"{client:<8} concurrency {concurrency:>2} max_batch {max_batch:>3}: "
                              f"{r['requests_per_s']:6.0f} requests/s, p50 {r['p50_ms']:6.1f} ms, "
                              f"p99 {r['p99_ms']:6.1f} ms, {r['mean_batch_rows']:5.1f} rows per batch, "
                              f"{r['errors']} errors", flush=True)
                server_cpu += cpu_s(psutil.Process(server.pid))  # before the with block stops it
    machine_after = machine_cpu_s()
    busy, total = machine_after[0] - machine_before[0], machine_after[1] - machine_before[1]
    others = max(0.0, busy - (cpu_s(psutil.Process()) - ours_before) - server_cpu)
    name = settings.version if args.scorer is None else f"the bundle {bundle.name} (version {settings.version})"
    write_table(rows, args.results, name, len(settings.fields), settings.max_wait_ms, args.requests,
                others / total if total else 0.0)


def verdict(rows: list[dict]) -> list[str]:
    """Sentences read off the table, one per client: batching on vs off at concurrency 32, and 1 vs 32 callers."""
    out = []
    for client in dict.fromkeys(r["client"] for r in rows):
        get = {(r["max_batch"], r["concurrency"]): r for r in rows if r["client"] == client}
        on, off, one = get.get((256, 32)), get.get((1, 32)), get.get((256, 1))
        if on and off:
            gain = on["requests_per_s"] / off["requests_per_s"]
            out.append(f"- {client}, 32 callers: micro-batching (max_batch 256, {on['mean_batch_rows']:.1f} rows "
                       f"per scorer call) answers {on['requests_per_s']:,.0f} requests/s against "
                       f"{off['requests_per_s']:,.0f} without it (max_batch 1), {gain:.2f}x; "
                       f"p99 {on['p99_ms']:.1f} ms against {off['p99_ms']:.1f} ms; server CPU per request "
                       f"{on['server_cpu_ms']:.2f} ms against {off['server_cpu_ms']:.2f} ms.")
        if one and on:
            out.append(f"- {client}: one caller at a time gets p50 {one['p50_ms']:.1f} ms (each request waits up to "
                       f"max_wait_ms for company that never comes) and {one['requests_per_s']:,.0f} requests/s; "
                       f"32 callers get {on['requests_per_s']:,.0f} requests/s at p50 {on['p50_ms']:.1f} ms.")
    return out


def write_table(rows: list[dict], results: Path, scorer: str, n_fields: int, max_wait_ms: float, requests: int,
                others_share: float) -> None:
    import fastapi
    import httpx
    import pandas
    import uvicorn

    lines = [
        "# Notebook 13's model server: requests/s, latency, and what micro-batching buys",
        "",
        f"Made by `python benchmarks/bench_serving.py` with the scorer {scorer} ({n_fields} fields), "
        f"max_wait_ms {max_wait_ms:g}. One server process (`python -m dlcourse.serving`, uvicorn, one event loop; "
        "scoring in a worker thread); the load test runs in the benchmark's own process on the same machine.",
        f"Each row: {requests:,} POST /score requests of one payment each, from *concurrency* callers at once, "
        "after a warm-up; latencies as the caller saw them (connection set-up excluded). *rows/batch*: rows per "
        "`scorer.score` call on the server (GET /stats). *CPU ms/request*: CPU time of the server process and of "
        "the client process divided by the requests. *client*: `httpx` is `dlcourse.serving.load_test`, one "
        "`httpx.AsyncClient` per caller, as notebook 13 uses it; `sockets` writes the same HTTP/1.1 requests on "
        "bare asyncio sockets, far cheaper, so on 2 cores it shows the server's own limit. *load*: 1-minute load "
        "average after the row.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, httpx {httpx.__version__}, "
        f"pandas {pandas.__version__}; {time.strftime('%Y-%m-%d')}. What else ran: processes other than the "
        f"benchmark and its server used {others_share:.0%} of the machine's CPU time during the runs.",
        "",
        "| client | concurrency | max_batch | requests/s | p50 ms | p95 ms | p99 ms | rows/batch | errors | "
        "server CPU ms/request | client CPU ms/request | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["client"], -r["max_batch"], r["concurrency"])):
        lines.append(f"| {r['client']} | {r['concurrency']} | {r['max_batch']} | {r['requests_per_s']:,.0f} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['mean_batch_rows']:.1f} | "
                     f"{r['errors']} | {r['server_cpu_ms']:.2f} | {r['client_cpu_ms']:.2f} | {r['load']:.1f} |")
    lines += ["", "Read off the table:", "", *verdict(rows)]
    results = results.resolve()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(lines) + "\n")
    print(f"wrote {results.relative_to(Path.cwd()) if results.is_relative_to(Path.cwd()) else results}")


if __name__ == "__main__":
    main(sys.argv[1:])
