"""``python -m bench api [--quick]``: order entry through the real server against a bare ASGI app.

Starts ``bluebook api --dev`` (engine, journal with one fsync per group, SQL projection) and
``bench.bare`` (no framework, auth, engine or journal) on 127.0.0.1, each in its own process,
and prints one JSON line per scenario:

- ``rest``: ``POST /v1/orders`` with wrk (C, one thread, a Lua script cycling through requests
  signed ahead of time inside a 60 s receive window): a maker's GTC buy and a taker's IOC sell at
  the same price, alternating, so half the orders trade. Orders/s with acks, p50/p99 ack latency,
  ``ratio_vs_bare``.
- ``ws``: the same orders as ``place`` frames on /v1/ws from ``bench.wsload`` (2 processes of
  asyncio clients, 64 frames in flight per connection), logged in on the real server.
- ``fanout``: ``rest`` again while 200 sockets read ``book`` and ``trades`` of the symbol, and one
  more asks for snapshots and never reads: its close code, the frames the readers got, and the
  ack rate and latency beside those of ``rest``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path
from typing import Any

import orjson

from api.signing import sign_request
from bench import wsload
from bluebook.accounts import create_key, credit
from bluebook.markets import default_markets

SYMBOL = "TSLAx-USDC"
WINDOW_MS = 60_000


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _orders() -> list[dict[str, Any]]:
    maker = {"symbol": SYMBOL, "side": "buy", "price": "250", "qty": "0.1"}
    taker = {"symbol": SYMBOL, "side": "sell", "price": "250", "qty": "0.1", "time_in_force": "IOC"}
    return [maker, taker]


def _lua(path: Path, keys: list[dict[str, Any]], count: int) -> None:
    """A wrk script cycling through ``count`` signed placements (maker and taker alternating)."""
    now = time.time_ns() // 1_000_000
    lines = ["local reqs = {}", "init = function(args)"]
    for n in range(count):
        key, fields = keys[n % 2], _orders()[n % 2]
        body = orjson.dumps(fields)
        headers = sign_request(key["api_key"], "POST", "/v1/orders", body, now_ms=now, secret=key["secret"],
                               recv_window_ms=WINDOW_MS)  # fmt: skip
        headers["Content-Type"] = "application/json"
        table = ", ".join(f'["{k}"]="{v}"' for k, v in headers.items())
        lines.append(
            f'  reqs[{n + 1}] = wrk.format("POST", "/v1/orders", {{{table}}}, {json.dumps(body.decode())})'
        )
    lines += ["end", "local i = 0", "request = function()", "  i = i % #reqs + 1", "  return reqs[i]", "end"]
    path.write_text("\n".join(lines))


def _wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"orders_per_s": round(rate), "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}  # fmt: skip


def _ws(url: str, logins: list[dict[str, Any] | None], seconds: int) -> dict[str, float]:
    frames = [orjson.dumps({"op": "place", "id": 0, "args": fields}) for fields in _orders()]
    out: Queue = Queue()
    workers = [
        Process(target=wsload.trade, args=(url, logins[i::2], frames, 64, seconds, out)) for i in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(x for _, sample in results for x in sample)
    return {"orders_per_s": round(sum(acks for acks, _ in results) / seconds),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3)}  # fmt: skip


def _login(key: dict[str, Any]) -> dict[str, Any]:
    now = time.time_ns() // 1_000_000
    signed = sign_request(key["api_key"], "GET", "/v1/ws", b"", now_ms=now, secret=key["secret"])
    return {
        "op": "login",
        "id": 0,
        "key": key["api_key"],
        "timestamp": now,
        "signature": signed["BB-SIGNATURE"],
    }


def main(*, quick: bool, seed: int) -> int:
    del seed  # the flow is fixed
    if subprocess.run([str(Path(__file__).with_name("ensure_wrk.sh"))]).returncode != 0:
        print("bench api: wrk is missing and could not be installed", file=sys.stderr)
        return 1
    seconds = 5 if quick else 20
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    port, bare_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    server = subprocess.Popen([sys.executable, "-m", "bluebook.cli", "api", "--dev", "--port", str(port),
                               "--data-dir", str(data)], env=env)  # fmt: skip
    bare = subprocess.Popen([sys.executable, "-m", "bench.bare", str(bare_port)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not (data / "server.json").exists():
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # the bare app starts at least as fast
        config, keys = default_markets(), []
        for n in (0xA1, 0xB2):
            address = f"0x{n:040x}"
            keys.append(create_key(data, address, "read,trade", "", None))
            for asset, amount in (("USDC", "1000000000"), ("TSLAx", "10000000")):
                credit(config, data, address, asset, amount, True, None)
        script = data / "orders.lua"
        _lua(script, keys, 2_000)
        url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        rest, rest_bare = _wrk(url, script, seconds), _wrk(bare_url, script, seconds)
        _print("rest", rest, rest_bare, "wrk 4.1 (-t1 -c16), requests signed ahead")
        logins = [_login(keys[i % 2]) for i in range(8)]
        ws, ws_bare = _ws(url.replace("http", "ws") + "/v1/ws", logins, seconds), _ws(
            bare_url.replace("http", "ws") + "/v1/ws", [None] * 8, seconds)  # fmt: skip
        _print("ws", ws, ws_bare, "bench.wsload: 2 processes x 4 connections, 64 frames in flight each")
        out: Queue = Queue()
        channels = [f"book.{SYMBOL}", f"trades.{SYMBOL}"]
        readers = Process(target=wsload.subscribe, args=(url.replace("http", "ws") + "/v1/ws", channels, 200,
                                                         seconds + 3, out))  # fmt: skip
        readers.start()
        time.sleep(2)
        flowing = _wrk(url, script, seconds)
        counts, stalled_code = out.get(timeout=seconds + 60)
        readers.join()
        print(json.dumps({"scenario": "fanout", "subscribers": len(counts), **flowing,
                          "rest_orders_per_s": rest["orders_per_s"], "rest_p99_ms": rest["p99_ms"],
                          "frames_min": min(counts), "frames_max": max(counts),
                          "stalled_consumer_close_code": stalled_code}), flush=True)  # fmt: skip
    finally:
        for child in (server, bare):
            child.terminate()
            child.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    return 0


def _print(scenario: str, real: dict[str, float], bare: dict[str, float], generator: str) -> None:
    ratio = round(real["orders_per_s"] / bare["orders_per_s"], 3) if bare["orders_per_s"] else None
    print(json.dumps({"scenario": scenario, **real, "bare_orders_per_s": bare["orders_per_s"],
                      "bare_p50_ms": bare["p50_ms"], "bare_p99_ms": bare["p99_ms"], "ratio_vs_bare": ratio,
                      "load_generator": generator}), flush=True)  # fmt: skip
