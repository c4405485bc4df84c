"""Binance streams at /ws and /stream against a real server: ccxt.pro's local order book and trades
stay in sync while orders flow, depth diffs chain onto the REST snapshot, user data events arrive."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bluebook.server import ApiServer
from tests.api_support import Client, funded_client, start_server
from tests.binance_support import SYMBOL, UNIFIED, binance_request, ccxt_pro_client

MAKER = "0x00000000000000000000000000000000000000e1"
TAKER = "0x00000000000000000000000000000000000000f2"
#: The issue asks for 30 s of flow; BLUEBOOK_BINANCE_SYNC_S shortens it for a quick local run.
SYNC_S = float(os.environ.get("BLUEBOOK_BINANCE_SYNC_S", "30"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("binance-streams")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def maker(server: ApiServer) -> Client:
    return funded_client(server, MAKER)


@pytest.fixture(scope="module")
def taker(server: ApiServer) -> Client:
    return funded_client(server, TAKER)


def flow(clients: list[Client], stop: threading.Event, placed: list[int]) -> None:
    """Random limit orders around 250 from both clients, IOC takers and cancels, until ``stop``."""
    rng = random.Random(7)
    while not stop.is_set():
        for client in clients:
            actions: list[dict[str, Any]] = []
            for _ in range(20):
                actions.append(
                    {
                        "action": "place",
                        "symbol": "TSLAx-USDC",
                        "side": rng.choice(["buy", "sell"]),
                        "price": f"{rng.randint(24_900, 25_100) / 100:.2f}",
                        "qty": f"{rng.randint(1, 2_000) / 1_000:.3f}",
                        "time_in_force": rng.choice(["GTC", "GTC", "GTC", "IOC"]),
                        "stp": "none",
                    }
                )
            if rng.random() < 0.2:
                actions.append({"action": "cancel_all", "symbol": "TSLAx-USDC"})
            client.ok("POST", "/v1/batch", {"actions": actions})
            placed.append(len(actions))
        time.sleep(0.02)


def cancel_everything(*clients: Client) -> None:
    for client in clients:
        client.ok("DELETE", "/v1/orders")


def rest_depth(client: Client) -> dict[str, Any]:
    response = client.http.get(f"/api/v3/depth?symbol={SYMBOL}&limit=1000")
    assert response.status_code == 200
    return response.json()


def test_ccxt_pro_order_book_and_trades_stay_in_sync_while_orders_flow(
    server: ApiServer, maker: Client, taker: Client
) -> None:
    stop, placed = threading.Event(), []
    worker = threading.Thread(target=flow, args=([maker, taker], stop, placed), daemon=True)

    async def watch() -> tuple[dict[str, Any], int, set[int]]:
        exchange = ccxt_pro_client(server.url)
        books, trade_ids = 0, set()
        try:
            await exchange.load_markets()
            worker.start()
            deadline = time.monotonic() + SYNC_S

            async def watch_books() -> None:
                nonlocal books
                while time.monotonic() < deadline:
                    await exchange.watch_order_book(UNIFIED)  # raises ChecksumError on a gap
                    books += 1

            async def watch_trades() -> None:
                while time.monotonic() < deadline:
                    trade_ids.update(int(t["id"]) for t in await exchange.watch_trades(UNIFIED))

            await asyncio.gather(watch_books(), watch_trades())
            stop.set()
            await asyncio.to_thread(worker.join, 30)
            for n in range(3):  # a book that is surely not empty at the end
                await asyncio.to_thread(maker.place, side="sell", price=f"{260 + n}", qty="1")
                await asyncio.to_thread(maker.place, side="buy", price=f"{240 + n}", qty="1")
            await asyncio.sleep(1.0)  # the last 100 ms window, and the last trades, arrive
            book = exchange.orderbooks[UNIFIED]
            final = {
                "nonce": book["nonce"],
                "bids": [list(level) for level in book["bids"]],
                "asks": [list(level) for level in book["asks"]],
            }
            trade_ids.update(int(t["id"]) for t in exchange.trades.get(UNIFIED, []))
            return final, books, trade_ids
        finally:
            stop.set()
            await exchange.close()

    final, books, trade_ids = asyncio.run(watch())
    depth = rest_depth(maker)
    assert len(depth["bids"]) >= 3 and len(depth["asks"]) >= 3
    assert final["nonce"] == depth["lastUpdateId"]
    assert final["bids"] == [[float(p), float(q)] for p, q in depth["bids"]]
    assert final["asks"] == [[float(p), float(q)] for p, q in depth["asks"]]
    last_trade = maker.http.get(f"/api/v3/trades?symbol={SYMBOL}&limit=1").json()[0]["id"]
    assert trade_ids and max(trade_ids) == last_trade
    assert trade_ids == set(range(min(trade_ids), last_trade + 1))  # none missed after the first
    print(
        f"\nccxt.pro sync {SYMBOL} for {SYNC_S:.0f} s: {sum(placed)} actions, {books} book updates, "
        f"{len(trade_ids)} trades, final book {len(depth['bids'])}x{len(depth['asks'])} levels "
        f"at lastUpdateId {depth['lastUpdateId']}, equal to REST, no checksum error"
    )


async def _events(socket: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await socket.receive(timeout=left)
        except TimeoutError:
            break
        if message.type == aiohttp.WSMsgType.TEXT:
            out.append(orjson.loads(message.data))
    return out


def test_depth_diffs_chain_onto_the_rest_snapshot_and_streams_answer_binance_style(
    server: ApiServer, maker: Client, taker: Client
) -> None:
    cancel_everything(maker, taker)
    ws_url = server.url.replace("http://", "ws://")
    stream = SYMBOL.lower()

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            raw = await session.ws_connect(f"{ws_url}/ws")
            await raw.send_str(
                orjson.dumps(
                    {
                        "method": "SUBSCRIBE",
                        "params": [f"{stream}@depth@100ms", f"{stream}@trade", f"{stream}@bookTicker"],
                        "id": 7,
                    }
                ).decode()
            )
            assert orjson.loads((await raw.receive(timeout=5)).data) == {"result": None, "id": 7}
            combined = await session.ws_connect(f"{ws_url}/stream?streams={stream}@depth")
            await asyncio.sleep(0.2)
            snapshot = rest_depth(maker)
            await asyncio.to_thread(maker.place, side="buy", price="240", qty="2")
            for n in range(5):
                await asyncio.to_thread(maker.place, side="sell", price=f"{252 + n}", qty="1")
                await asyncio.to_thread(taker.place, side="buy", price=f"{252 + n}", qty="1")
                await asyncio.sleep(0.15)  # spread over several 100 ms windows
            await raw.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": 8}')
            raw_events, combined_events = await asyncio.gather(_events(raw, 1.5), _events(combined, 2.5))
            await raw.send_str(
                orjson.dumps({"method": "UNSUBSCRIBE", "params": [f"{stream}@trade"], "id": 9}).decode()
            )
            assert orjson.loads((await raw.receive(timeout=5)).data) == {"result": None, "id": 9}
            await raw.close()
            await combined.close()
            return raw_events, combined_events, snapshot

    raw_events, combined_events, snapshot = asyncio.run(run())
    listed = [e for e in raw_events if e.get("id") == 8]
    assert listed == [
        {"result": [f"{stream}@bookTicker", f"{stream}@depth@100ms", f"{stream}@trade"], "id": 8}
    ]
    for depth in (
        [e for e in raw_events if e.get("e") == "depthUpdate"],
        [e["data"] for e in combined_events if e["stream"] == f"{stream}@depth"],
    ):
        assert depth and all(set(e) == {"e", "E", "s", "U", "u", "b", "a"} for e in depth)
        after = [e for e in depth if e["u"] > snapshot["lastUpdateId"]]
        assert after[0]["U"] <= snapshot["lastUpdateId"] + 1 <= after[0]["u"]
        assert all(b["U"] == a["u"] + 1 for a, b in zip(after, after[1:], strict=False))
    trades = [e for e in raw_events if e.get("e") == "trade"]
    assert [(t["p"], t["q"], t["m"]) for t in trades] == [(f"{252 + n}", "1", False) for n in range(5)]
    tickers = [e for e in raw_events if "B" in e and "e" not in e]
    assert [(t["s"], t["b"], t["B"], t["a"]) for t in tickers][-2:] == [
        (SYMBOL, "240", "2", "256"),
        (SYMBOL, "240", "2", "0"),
    ]
    print(
        f"\nstreams: {len(after)} @depth diffs (1000 ms) and "
        f"{sum(1 for e in raw_events if e.get('e') == 'depthUpdate')} @depth@100ms diffs chain from "
        f"lastUpdateId {snapshot['lastUpdateId']}; {len(trades)} trades, {len(tickers)} book tickers"
    )


def test_user_data_stream_sends_execution_reports_and_account_positions(
    server: ApiServer, maker: Client, taker: Client
) -> None:
    cancel_everything(maker, taker)
    created = maker.http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": maker.key})
    listen_key = created.json()["listenKey"]
    kept = maker.http.put(
        f"/api/v3/userDataStream?listenKey={listen_key}", headers={"X-MBX-APIKEY": maker.key}
    )
    assert (kept.status_code, kept.json()) == (200, {})
    foreign = taker.http.put(
        f"/api/v3/userDataStream?listenKey={listen_key}", headers={"X-MBX-APIKEY": taker.key}
    )
    assert foreign.json()["code"] == -1125
    ws_url = server.url.replace("http://", "ws://")

    async def run() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            socket = await session.ws_connect(f"{ws_url}/ws/{listen_key}")
            await asyncio.sleep(0.1)
            await asyncio.to_thread(
                binance_request,
                maker,
                "POST",
                "/api/v3/order",
                {
                    "symbol": SYMBOL,
                    "side": "SELL",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "1",
                    "price": "300",
                    "newClientOrderId": "user-stream-1",
                },
                body=True,
            )
            await asyncio.to_thread(taker.place, side="buy", price="300", qty="0.25")
            events = await _events(socket, 1.0)
            await socket.close()
            return events

    events = asyncio.run(run())
    reports = [e for e in events if e["e"] == "executionReport"]
    assert [(r["x"], r["X"], r["c"], r["l"], r["z"], r["L"], r["m"]) for r in reports] == [
        ("NEW", "NEW", "user-stream-1", "0", "0", "0", False),
        ("TRADE", "PARTIALLY_FILLED", "user-stream-1", "0.25", "0.25", "300", True),
    ]
    assert reports[1]["Z"] == "75" and reports[1]["N"] == "USDC" and reports[1]["n"] == "-0.0075"
    positions = [e for e in events if e["e"] == "outboundAccountPosition"]
    assert positions and {b["a"] for b in positions[-1]["B"]} == {"TSLAX", "USDC"}
    balances = {b["a"]: b for b in positions[-1]["B"]}
    assert balances["TSLAX"]["l"] == "0.75"  # the rest of the sell order is held
    closed = maker.http.delete(
        f"/api/v3/userDataStream?listenKey={listen_key}", headers={"X-MBX-APIKEY": maker.key}
    )
    assert closed.json() == {}
    print(f"\nuser data: {len(reports)} executionReports, {len(positions)} outboundAccountPosition")
