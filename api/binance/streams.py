"""Binance's WebSocket streams at ``/ws`` and ``/stream``: market data and user data.

- Stream names: ``<symbol>@trade``, ``<symbol>@bookTicker``, ``<symbol>@depth`` (diffs every
  1000 ms), ``<symbol>@depth@100ms`` (every 100 ms), with the symbol in lower case
  (``tslaxusdc``), and a listen key for its account's ``executionReport`` and
  ``outboundAccountPosition`` events. Names come in the path (``/ws/<name>``,
  ``/stream?streams=<a>/<b>``; unknown path names are ignored, as ccxt's ``/ws/0`` needs) or by
  ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": N}``, answered
  ``{"result": null, "id": N}``; ``LIST_SUBSCRIPTIONS`` answers the names. ``/ws`` sends events
  bare, ``/stream`` wraps them as ``{"stream": name, "data": event}``.
- A depth event's ``U``..``u`` are the symbol's versions it covers (``BookUpdate``), its levels
  the latest volume of each level changed in its window (``"0"``: gone). While subscribed, every
  update of the symbol lands in exactly one event, so one event's ``U`` is the previous one's
  ``u`` + 1, and the first event after a REST snapshot has ``U <= lastUpdateId + 1 <= u``: the
  local order book procedure works exactly. A window with no change sends nothing.
- ``bookTicker`` is sent when the best bid or ask changes, ``trade`` for every trade, at once.
- Each connection has a bounded outbox; a client that lets it fill is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.binance.names import BinanceNames
from api.binance.userdata import Feed
from api.context import Services
from api.marketdata import NS_PER_MS, BookUpdate
from matcher.enums import Side

BUY = int(Side.BUY)
OUTBOX = 10_000
DEPTH_PERIODS_MS = {"@depth": 1_000, "@depth@1000ms": 1_000, "@depth@100ms": 100}
MARKET_KINDS = ("@trade", "@bookTicker", *DEPTH_PERIODS_MS)


@dataclass(slots=True)
class PendingDepth:
    """The changes of one depth stream's current window."""

    first: int
    last: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


class Connection:
    def __init__(self, combined: bool) -> None:
        self.combined = combined
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue(OUTBOX)
        self.streams: dict[str, Callable[[bytes], None]] = {}

    def sender(self, stream: str) -> Callable[[bytes], None]:
        prefix = b'{"stream":' + orjson.dumps(stream) + b',"data":'

        def send(payload: bytes) -> None:
            try:
                self.outbox.put_nowait(prefix + payload + b"}" if self.combined else payload)
            except asyncio.QueueFull:
                self.close()

        return send

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)


class Hub:
    """Market streams: fed by ``MarketData.listen``, depth flushed by one task per period."""

    def __init__(self, services: Services, names: BinanceNames) -> None:
        self.services = services
        self.names = names
        self.subscribers: dict[str, dict[Connection, Callable[[bytes], None]]] = {}
        self.pending: dict[str, PendingDepth] = {}
        self._tops: dict[str, tuple[Any, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.services.market.listen(self.on_updates)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._flush_every(period)) for period in set(DEPTH_PERIODS_MS.values())
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def is_market_stream(self, name: str) -> bool:
        symbol, _, kind = name.partition("@")
        return self.names.maybe_symbol(symbol) is not None and "@" + kind in MARKET_KINDS

    def subscribe(self, name: str, connection: Connection, sender: Callable[[bytes], None]) -> None:
        self.subscribers.setdefault(name, {})[connection] = sender

    def unsubscribe(self, name: str, connection: Connection) -> None:
        self.subscribers.get(name, {}).pop(connection, None)

    def on_updates(self, updates: list[BookUpdate]) -> None:
        for update in updates:
            stream = self.names.symbol_id(update.symbol).lower()
            if self.subscribers.get(stream + "@trade"):
                for trade in update.trades:
                    self._publish(stream + "@trade", self._trade(update.symbol, trade))
            if self.subscribers.get(stream + "@bookTicker"):
                self._book_ticker(stream, update)
            for suffix in DEPTH_PERIODS_MS:
                if self.subscribers.get(stream + suffix):
                    self._merge(stream + suffix, update)

    def _merge(self, name: str, update: BookUpdate) -> None:
        pending = self.pending.get(name)
        if pending is None:
            pending = self.pending[name] = PendingDepth(update.first_version, update.last_version)
        pending.last = update.last_version
        pending.bids.update(update.bids)
        pending.asks.update(update.asks)

    async def _flush_every(self, period_ms: int) -> None:
        while True:
            await asyncio.sleep(period_ms / 1_000)
            for name in [n for n in self.pending if DEPTH_PERIODS_MS["@" + n.partition("@")[2]] == period_ms]:
                pending = self.pending.pop(name)
                if self.subscribers.get(name):
                    self._publish(name, self._depth(name, pending))

    def _depth(self, name: str, pending: PendingDepth) -> dict[str, Any]:
        symbol = self.names.symbol(name.partition("@")[0])
        units = self.services.units

        def levels(changed: dict[int, int]) -> list[list[str]]:
            return [
                [units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in sorted(changed.items())
            ]

        return {
            "e": "depthUpdate",
            "E": time.time_ns() // NS_PER_MS,
            "s": self.names.symbol_id(symbol),
            "U": pending.first,
            "u": pending.last,
            "b": levels(pending.bids),
            "a": levels(pending.asks),
        }

    def _trade(self, symbol: str, trade: Any) -> dict[str, Any]:
        units = self.services.units
        return {
            "e": "trade",
            "E": time.time_ns() // NS_PER_MS,
            "s": self.names.symbol_id(symbol),
            "t": trade.trade_id,
            "p": units.price_text(symbol, trade.price),
            "q": units.qty_text(symbol, trade.qty),
            "T": trade.ts // NS_PER_MS,
            "m": trade.taker_side != BUY,
            "M": True,
        }

    def _book_ticker(self, stream: str, update: BookUpdate) -> None:
        units, symbol = self.services.units, update.symbol
        bids, asks = self.services.market.symbols[symbol].top(1)
        top = (bids[0] if bids else (0, 0), asks[0] if asks else (0, 0))
        if self._tops.get(stream) == top:
            return
        self._tops[stream] = top
        (bid, bid_qty), (ask, ask_qty) = top
        self._publish(
            stream + "@bookTicker",
            {
                "u": update.last_version,
                "s": self.names.symbol_id(symbol),
                "b": units.price_text(symbol, bid),
                "B": units.qty_text(symbol, bid_qty),
                "a": units.price_text(symbol, ask),
                "A": units.qty_text(symbol, ask_qty),
            },
        )

    def _publish(self, name: str, event: dict[str, Any]) -> None:
        payload = orjson.dumps(event)
        for send in list(self.subscribers.get(name, {}).values()):
            send(payload)


def routes(hub: Hub, feed: Feed) -> APIRouter:
    router = APIRouter()

    def subscribe(connection: Connection, name: str) -> bool:
        """Market stream or listen key; False for neither."""
        sender = connection.sender(name)
        if hub.is_market_stream(name):
            hub.subscribe(name, connection, sender)
        elif not feed.attach(name, sender):
            return False
        connection.streams[name] = sender
        return True

    def unsubscribe(connection: Connection, name: str) -> None:
        sender = connection.streams.pop(name, None)
        hub.unsubscribe(name, connection)
        if sender is not None:
            feed.detach(sender)

    async def serve(websocket: WebSocket, combined: bool, names: list[str]) -> None:
        await websocket.accept()
        connection = Connection(combined)
        for name in names:
            subscribe(connection, name)
        writer = asyncio.create_task(_write(websocket, connection))
        try:
            while True:
                reply = _command(await websocket.receive_text(), connection, subscribe, unsubscribe)
                connection.outbox.put_nowait(orjson.dumps(reply))
        except (WebSocketDisconnect, asyncio.QueueFull, RuntimeError, KeyError):  # KeyError: a binary frame
            pass
        finally:
            for name in list(connection.streams):
                unsubscribe(connection, name)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    @router.websocket("/ws")
    async def raw(websocket: WebSocket) -> None:
        await serve(websocket, False, [])

    @router.websocket("/ws/{names:path}")
    async def raw_named(websocket: WebSocket, names: str) -> None:
        await serve(websocket, False, [name for name in names.split("/") if name])

    @router.websocket("/stream")
    async def combined(websocket: WebSocket) -> None:
        names = websocket.query_params.get("streams", "")
        await serve(websocket, True, [name for name in names.split("/") if name])

    @router.websocket("/stream/{names:path}")
    async def combined_named(websocket: WebSocket, names: str) -> None:
        query = websocket.query_params.get("streams", "")
        await serve(websocket, True, [n for n in [*names.split("/"), *query.split("/")] if n])

    return router


def _command(
    text: str,
    connection: Connection,
    subscribe: Callable[[Connection, str], bool],
    unsubscribe: Callable[[Connection, str], None],
) -> dict[str, Any]:
    """The reply to one client message (Binance's errors: 2 invalid request, 3 invalid JSON)."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}
    if not isinstance(message, dict):
        return {"error": {"code": 2, "msg": "Invalid request"}, "id": None}
    request_id, method, params = message.get("id"), message.get("method"), message.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return {
            "error": {"code": 1, "msg": "Invalid value type: expected list of stream names"},
            "id": request_id,
        }
    if method == "SUBSCRIBE":
        refused = [name for name in params if not subscribe(connection, name)]
        if refused:
            return {
                "error": {"code": 2, "msg": f"Invalid request: unknown stream {refused[0]}"},
                "id": request_id,
            }
        return {"result": None, "id": request_id}
    if method == "UNSUBSCRIBE":
        for name in params:
            unsubscribe(connection, name)
        return {"result": None, "id": request_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(connection.streams), "id": request_id}
    return {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": request_id}


async def _write(websocket: WebSocket, connection: Connection) -> None:
    while True:
        payload = await connection.outbox.get()
        if payload is None:
            await websocket.close(code=1008)
            return
        await websocket.send_text(payload.decode())
