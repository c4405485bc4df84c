"""``python -m bench api [--quick]``: order entry through the real server against a bare ASGI app.

Starts ``bench.server`` (``bluebook api --dev`` with rate limits far above the load, plus a
pydantic variant of order placement) and ``bench.bare`` (no framework, auth, engine or journal)
on 127.0.0.1, each in its own process. Two funded accounts trade: a maker's GTC buy and a
taker's IOC sell of 0.1 at 250, so about half the orders trade, above 300 resting bid levels.
Prints one JSON line per scenario; ``orders_per_s`` counts accepted orders only (HTTP 2xx,
WebSocket ``ok: true``), and refusals are counted beside them (``non_2xx``, ``refused``) and
named in ``note``.
``server_cpu_pct`` and ``loadgen_cpu_pct`` say which side was busy (100 = one core). ``rest``
and ``ws`` alternate with the bare app in rounds (four of 5 s; ``--quick``, one of 4 s), each
side's rounds combined: the mean rate and CPU, the median p50, the worst p99 (``rounds``).

- ``rest``: ``POST /v1/orders`` with wrk (C, one thread, 64 connections, a Lua script cycling
  through requests signed ahead of time inside a 60 s receive window), against the bare app:
  orders/s with acks, p50/p99 ack latency, ``ratio_vs_bare``.
- ``rest-pydantic``: the same orders to ``POST /bench/orders`` (a pydantic body and response
  model, the signature check as a FastAPI dependency, the same engine path), ``ratio_vs_lean``
  against ``rest``.
- ``ws``: the same orders as ``place`` frames on /v1/ws from ``bench.wsload`` (on uvloop, 2 processes x 4
  logged-in connections, 64 frames in flight each), against the bare app's WebSocket.
- ``fanout``: ``rest`` again while 200 sockets read ``book`` and ``trades`` of the symbol: first
  with only them (``unstalled_*``), then with one more socket that never reads: it asks for book
  snapshots until what the server sends ahead (kernel and transport buffers) is full and its
  outbox holds 1,850 frames of 2,000 (two seconds to settle before the measurement), and the
  trades flowing push it over, so the server must close it (4008, slow
  consumer) while the ack rate and latency stay those of the first half. Also the frames each
  reader got, how many readers the server closed, and what the stalled socket received before
  its close.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from multiprocessing import Event, Process, Queue
from pathlib import Path
from typing import Any

import orjson

from api.entry import MAX_BATCH
from api.signing import sign_request
from bench import wsload
from bench.server import PYDANTIC_PATH
from bluebook.accounts import create_key, credit
from bluebook.markets import default_markets

SYMBOL = "TSLAx-USDC"
WINDOW_MS = 60_000
ORDERS = [
    {"symbol": SYMBOL, "side": "buy", "price": "250", "qty": "0.1"},
    {"symbol": SYMBOL, "side": "sell", "price": "250", "qty": "0.1", "time_in_force": "IOC"},
]
#: wrk's connections: enough that acks, which wait for the group's fsync, keep the server busy
#: (with 16 the rate was bound by 16 requests per fsync: 6.8k orders/s at 90% of a core, 10.2k
#: with fsync off; the bare app's rate is the same with 16 or 64).
CONNECTIONS = 64
WRK = f"wrk 4.1 (-t1 -c{CONNECTIONS}), requests signed ahead"
WSLOAD = "bench.wsload on uvloop: 2 processes x 4 connections, 64 frames in flight each"
SUBSCRIBERS = 200
DEPTH = 300


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lua(target: str, keys: list[dict[str, Any]], count: int) -> str:
    """A wrk script cycling through ``count`` placements to ``target`` signed now (each run signs
    its own, inside the receive window), maker and taker alternating (the maker with the first
    key, the taker with the second)."""
    now = time.time_ns() // 1_000_000
    lines = ["local reqs = {}", "init = function(args)"]
    for n in range(count):
        key, body = keys[n % 2], orjson.dumps(ORDERS[n % 2])
        headers = sign_request(key["api_key"], "POST", target, body, now_ms=now, secret=key["secret"],
                               recv_window_ms=WINDOW_MS)  # fmt: skip
        headers["Content-Type"] = "application/json"
        table = ", ".join(f'["{k}"]="{v}"' for k, v in headers.items())
        lines.append(
            f'  reqs[{n + 1}] = wrk.format("POST", "{target}", {{{table}}}, {json.dumps(body.decode())})'
        )
    lines += ["end", "local i = 0", "request = function()", "  i = i % #reqs + 1", "  return reqs[i]", "end"]
    return "\n".join(lines)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measured(pid: int, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``load()``'s figures with the CPU the server ``pid`` and the load generator (children
    waited for by ``load``) used, in percent of one core over the wall time."""
    server, generator, started = _cpu_s(pid), _children_cpu_s(), time.monotonic()
    figures = load()
    wall = time.monotonic() - started
    figures["server_cpu_pct"] = round(100 * (_cpu_s(pid) - server) / wall)
    figures["loadgen_cpu_pct"] = round(100 * (_children_cpu_s() - generator) / wall)
    return figures


def _wrk(url: str, target: str, keys: list[dict[str, Any]], seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_lua(target, keys, 2_000))
        script.flush()
        command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script.name, url]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)

    count, took, unit = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out).groups()  # type: ignore[union-attr]
    wall = float(took) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    refused = int(errors.group(1)) if errors else 0
    return {"orders_per_s": round((int(count) - refused) / wall), "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "non_2xx": refused}  # fmt: skip


def _ws(url: str, connections: list[tuple[dict[str, Any] | None, bytes]], seconds: int) -> dict[str, Any]:
    out: Queue = Queue()
    workers = [
        Process(target=wsload.trade, args=(url, connections[i::2], 64, seconds, out)) for i in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(x for _, _, sample in results for x in sample)
    return {"orders_per_s": round(sum(acks for acks, _, _ in results) / seconds),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3) if latencies else None,
            "refused": sum(refused for _, refused, _ in results)}  # fmt: skip


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


def _fund(data: Path) -> list[dict[str, Any]]:
    """Keys of a maker and a taker funded far beyond what the run trades."""
    config, keys = default_markets(), []
    for n in (0xA1, 0xB2):
        address = f"0x{n:040x}"
        keys.append(create_key(data, address, "read,trade", "", None))
        for asset, amount in (("USDC", "1000000000"), ("TSLAx", "10000000")):
            credit(config, data, address, asset, amount, True, None)
    return keys


def _deepen(url: str, key: dict[str, Any]) -> None:
    """Rest ``DEPTH`` bids of 1 below the traded price (they never trade), so that a book snapshot
    is a few kilobytes, as on a live market."""
    for first in range(1, DEPTH + 1, MAX_BATCH):
        actions = [{"action": "place", "symbol": SYMBOL, "side": "buy", "price": f"{250 - level / 10:g}",
                    "qty": "1"} for level in range(first, first + MAX_BATCH)]  # fmt: skip
        body = orjson.dumps({"actions": actions})
        headers = sign_request(key["api_key"], "POST", "/v1/batch", body, now_ms=time.time_ns() // 1_000_000,
                               secret=key["secret"])  # fmt: skip
        request = urllib.request.Request(
            url + "/v1/batch", body, {**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            assert all(result["ok"] for result in orjson.loads(response.read())["results"])


def _fanout(pid: int, url: str, keys: list[dict[str, Any]], seconds: int) -> dict[str, Any]:
    out: Queue = Queue()
    stall, stop = Event(), Event()
    channels = [f"book.{SYMBOL}", f"trades.{SYMBOL}"]
    ws_url = url.replace("http", "ws") + "/v1/ws"
    subscribers = Process(target=wsload.subscribe, args=(ws_url, channels, SUBSCRIBERS, stall, stop, out))
    subscribers.start()
    try:
        assert out.get(timeout=60) == "ready"
        unstalled = _measured(pid, lambda: _wrk(url, "/v1/orders", keys, seconds))
        stall.set()
        assert out.get(timeout=60) == "stalled"
        stalled = _measured(pid, lambda: _wrk(url, "/v1/orders", keys, seconds))
    finally:
        stall.set()
        stop.set()
    counts, reader_closes, (code, reason, received) = out.get(timeout=120)
    subscribers.join()
    return {"subscribers": SUBSCRIBERS, **stalled,
            **{f"unstalled_{name}": value for name, value in unstalled.items()},
            "frames_min": min(counts), "frames_max": max(counts), "readers_closed": len(reader_closes),
            "stalled_close_code": code, "stalled_close_reason": reason,
            "stalled_frames_received": received}  # fmt: skip


def main(*, quick: bool, seed: int) -> int:
    del seed  # the flow is fixed
    if subprocess.run([str(Path(__file__).with_name("ensure_wrk.sh"))]).returncode != 0:
        print("bench api: wrk is missing and could not be installed", file=sys.stderr)
        return 1
    seconds, rounds = (4, 1) if quick else (5, 4)
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    port, bare_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    server = subprocess.Popen([sys.executable, "-m", "bench.server", str(port), str(data)], env=env)
    bare = subprocess.Popen([sys.executable, "-m", "bench.bare", str(bare_port)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not (data / "server.json").exists():
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # the bare app starts at least as fast
        keys = _fund(data)
        _deepen(f"http://127.0.0.1:{port}", keys[0])
        url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        rest, rest_bare = _alternating(
            rounds,
            lambda: _measured(server.pid, lambda: _wrk(url, "/v1/orders", keys, seconds)),
            lambda: _measured(bare.pid, lambda: _wrk(bare_url, "/v1/orders", keys, seconds)),
        )
        _print("rest", rest, "bare", rest_bare, WRK)
        rest_pydantic = _measured(server.pid, lambda: _wrk(url, PYDANTIC_PATH, keys, seconds))
        _print("rest-pydantic", rest_pydantic, "lean", rest, WRK)
        frames = [orjson.dumps({"op": "place", "id": 0, "args": fields}) for fields in ORDERS]

        def logged_in() -> list[tuple[dict[str, Any] | None, bytes]]:  # signed now, for each round
            return [(_login(keys[i % 2]), frames[i % 2]) for i in range(8)]

        anonymous: list[tuple[dict[str, Any] | None, bytes]] = [(None, frames[i % 2]) for i in range(8)]
        ws, ws_bare = _alternating(
            rounds,
            lambda: _measured(
                server.pid, lambda: _ws(url.replace("http", "ws") + "/v1/ws", logged_in(), seconds)
            ),
            lambda: _measured(
                bare.pid, lambda: _ws(bare_url.replace("http", "ws") + "/v1/ws", anonymous, seconds)
            ),
        )
        _print("ws", ws, "bare", ws_bare, WSLOAD)
        fanout = _fanout(server.pid, url, keys, seconds)
        _print("fanout", fanout, "rest", rest, f"{WRK}; {SUBSCRIBERS} readers in one asyncio process")
    finally:
        for child in (server, bare):
            child.terminate()
            child.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    return 0


def _alternating(
    rounds: int, real: Callable[[], dict[str, Any]], bare: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``rounds`` rounds of ``real`` then ``bare``, each side's rounds combined (``_combined``):
    this machine's speed drifts by a fifth over minutes, and alternating puts both sides under
    the same drift."""
    pairs = [(real(), bare()) for _ in range(rounds)]
    return _combined([r for r, _ in pairs]), _combined([b for _, b in pairs])


def _combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Equal-length rounds as one: the mean rate and CPU, the median p50, the worst p99, every
    refusal."""
    first = rounds[0]
    combined: dict[str, Any] = {
        key: sum(r[key] for r in rounds) for key in ("non_2xx", "refused") if key in first
    }
    p50s = sorted(r["p50_ms"] for r in rounds if r["p50_ms"] is not None)
    p99s = [r["p99_ms"] for r in rounds if r["p99_ms"] is not None]
    return {
        "orders_per_s": round(sum(r["orders_per_s"] for r in rounds) / len(rounds)),
        "p50_ms": p50s[len(p50s) // 2] if p50s else None,
        "p99_ms": max(p99s) if p99s else None,
        **combined,
        **{
            key: round(sum(r[key] for r in rounds) / len(rounds))
            for key in ("server_cpu_pct", "loadgen_cpu_pct")
        },
        "rounds": len(rounds),
    }


def _print(scenario: str, real: dict[str, Any], name: str, other: dict[str, Any], generator: str) -> None:
    """One line: ``real``'s figures, ``other``'s rate and latency as ``{name}_*`` and
    ``ratio_vs_{name}``, the load generator, and a note if any order was refused."""
    ratio = round(real["orders_per_s"] / other["orders_per_s"], 3) if other["orders_per_s"] else None
    shown = ("orders_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "loadgen_cpu_pct")
    compared = {f"{name}_{k}": other[k] for k in shown}
    line = {"scenario": scenario, **real, **compared, f"ratio_vs_{name}": ratio, "load_generator": generator}
    counted = {**real, **{f"{name}_{k}": v for k, v in other.items()}}
    refusals = {k: v for k, v in counted.items() if k.endswith(("non_2xx", "refused")) and v}
    if refusals:
        line["note"] = f"orders were refused ({json.dumps(refusals)}); orders_per_s counts accepted ones"
    print(json.dumps(line), flush=True)
