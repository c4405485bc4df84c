"""Market data read models, kept from the engine's events: L2 depth, recent trades, candles, ticker.

Feeding (``MarketData.attach``): one ``Node.read`` copies every book's aggregated depth and, in
the same step on the sequencer thread, subscribes a listener, so no group is missed or counted
twice. The listener runs on the sequencer thread: it only takes the (immutable) events of the
group and hands them to the asyncio loop with ``call_soon_threadsafe``; every read model is
changed and read on the loop alone, so none needs a lock. The WebSocket fan-out is meant to hang
off ``MarketData`` too, with the same ``update_id``s.

- Depth: per symbol and side, price (ticks) → resting volume (lots), changed by ``Accepted``
  (its quantity rests at its price until fills and cancels say otherwise), ``Fill`` (the maker's
  level at the fill price, the taker's at its own limit), ``Cancelled`` and ``Amended``. Within a
  command the book may look crossed while the taker is in it; after each command it is exactly
  the engine's. ``update_id`` is the engine seq of the last command that changed the symbol.
- Trades: the last ``TRADES_KEPT`` per symbol, newest last, each with its command time.
- Candles, 1m to 1d, from the trades since this process started (in memory: a restart starts them
  empty; the trades table holds the full history). ``CANDLES_KEPT`` per interval and symbol.
- 24h ticker: from the 1m candles of the last 24 hours, so its window moves by the minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from heapq import nlargest, nsmallest
from typing import Any, Protocol

from api.wire import Units
from matcher.engine import Engine
from matcher.enums import Side
from matcher.events import (
    ACCEPTED,
    AMENDED,
    AUCTION_INDICATIVE,
    BOOK_REBUILT,
    CANCELLED,
    FILL,
    HALTED,
    REANCHORED,
    RESUMED,
    SESSION_CHANGED,
    UNCROSSED,
)

BUY = int(Side.BUY)
GATING_EVENTS = frozenset((HALTED, AUCTION_INDICATIVE, UNCROSSED, RESUMED, SESSION_CHANGED, REANCHORED))
NS_PER_MS = 1_000_000
MINUTE_NS = 60 * 1_000_000_000
INTERVALS = {
    "1m": MINUTE_NS,
    "5m": 5 * MINUTE_NS,
    "15m": 15 * MINUTE_NS,
    "1h": 60 * MINUTE_NS,
    "4h": 240 * MINUTE_NS,
    "1d": 1_440 * MINUTE_NS,
}
TRADES_KEPT = 1_000
NOT_GATED: dict[str, Any] = {"session": "continuous", "halted": False, "gating": "not_configured"}
CANDLES_KEPT = 1_500
DAY_NS = 1_440 * MINUTE_NS

Acks = list[tuple[Any, Any]]


class Subscribable(Protocol):
    def read(self, query: Callable[[Engine], Any]) -> Any: ...

    def subscribe(self, listener: Callable[[Acks], None]) -> None: ...


@dataclass(slots=True)
class Trade:
    trade_id: int
    ts: int
    price: int
    qty: int
    quote_qty: int
    taker_side: int


@dataclass(slots=True)
class Candle:
    """One interval's trades: open time (ns), prices in ticks, volume in lots and quote units."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote_volume: int = 0
    trades: int = 0


@dataclass(slots=True)
class BookUpdate:
    """What one ``apply`` changed in one symbol, for streams: levels as they are now (volume 0:
    the level is gone), the trades, and the update ids covered. ``first_version`` ..
    ``last_version`` count this symbol's own changes (one per command that changed it, so one
    update's first is the previous update's last + 1, as a local book needs to see no gap);
    ``first_seq`` .. ``last_seq`` are the engine seqs of those commands."""

    symbol: str
    first_version: int
    last_version: int
    first_seq: int
    last_seq: int
    ts: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)


@dataclass(slots=True)
class SymbolData:
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    update_id: int = 0
    #: This symbol's own change counter (see ``BookUpdate``); the depth snapshot carries it too.
    version: int = 0
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=TRADES_KEPT))
    candles: dict[str, deque[Candle]] = field(
        default_factory=lambda: {name: deque(maxlen=CANDLES_KEPT) for name in INTERVALS}
    )

    def top(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Up to ``levels`` (price, volume) pairs per side, best first."""
        bids, asks = self.bids, self.asks
        return (
            [(p, bids[p]) for p in nlargest(levels, bids)],
            [(p, asks[p]) for p in nsmallest(levels, asks)],
        )


#: The keys of a gating view (``matcher.gating.Gate.view``) and of its ``auction`` that hold
#: prices (ticks) and quantities (lots).
VIEW_PRICES = frozenset({"reference", "band", "anchor", "indicative_price"})
VIEW_QUANTITIES = frozenset({"indicative_volume", "imbalance"})


def _in_units(view: dict[str, Any], symbol: str, units: Units) -> dict[str, Any]:
    """``view`` with its prices and quantities as decimal strings (a band: each edge), the
    auction's too."""
    shown = dict(view)
    for key, value in view.items():
        if key in VIEW_PRICES and isinstance(value, int):
            shown[key] = units.price_text(symbol, value)
        elif key in VIEW_PRICES and isinstance(value, list | tuple):
            shown[key] = [units.price_text(symbol, edge) for edge in value]
        elif key in VIEW_QUANTITIES and isinstance(value, int):
            shown[key] = units.qty_text(symbol, value)
        elif key == "auction" and isinstance(value, dict):
            shown[key] = _in_units(value, symbol, units)
    return shown


class MarketData:
    """Every symbol's read models; change them only on the event loop (``apply``)."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = {name: SymbolData() for name in symbols}
        self.seq = 0
        self._ts = 0
        self.sessions: dict[str, dict[str, Any]] = {}
        self._listeners: list[Callable[[list[BookUpdate]], None]] = []
        self._gating_listeners: list[Callable[[list[tuple[Any, ...]]], None]] = []
        self._gating: list[tuple[Any, ...]] = []  # this apply's gating events, in order
        self._updates: dict[str, BookUpdate] = {}

    def listen(self, listener: Callable[[list[BookUpdate]], None]) -> None:
        """Call ``listener(updates)`` on the loop after each ``apply`` that changed something,
        with one ``BookUpdate`` per changed symbol. It must not block (queue and return)."""
        self._listeners.append(listener)

    def listen_gating(self, listener: Callable[[list[tuple[Any, ...]]], None]) -> None:
        """Call ``listener(events)`` on the loop after each ``apply`` that carried gating events
        (halts, auction indications and uncrossings, resumptions, session changes, re-anchors),
        in engine order. It must not block."""
        self._gating_listeners.append(listener)

    def session_of(self, symbol: str) -> dict[str, Any]:
        """The symbol's session and halt state as last read from the engine (see
        ``refresh_sessions``); before gating is on: continuous, not gated."""
        return {"symbol": symbol, **self.sessions.get(symbol, NOT_GATED)}

    async def refresh_sessions(self, node: Subscribable, units: Units, every_s: float = 1.0) -> None:
        """Read every symbol's gating view from the engine, now and every ``every_s`` seconds, its
        prices and quantities (ticks and lots in the engine) as decimal strings."""
        names = list(self.symbols)

        def views(engine: Engine) -> dict[str, dict[str, Any]]:
            gate = engine.gate
            now = time.time_ns()
            return {name: gate.view(name, now) for name in names} if gate is not None else {}

        while True:
            views_now = await asyncio.wrap_future(node.read(views))
            self.sessions = {name: _in_units(view, name, units) for name, view in views_now.items()}
            await asyncio.sleep(every_s)

    async def attach(self, node: Subscribable) -> None:
        """Load every book's depth and subscribe to the node's groups, in one step."""
        loop = asyncio.get_running_loop()

        def forward(acks: Acks) -> None:  # the sequencer thread: hand over, nothing more
            groups = [(command[1], command[2], events) for command, events in acks if command is not None]
            loop.call_soon_threadsafe(self.apply, groups)

        def load(engine: Engine) -> tuple[int, dict[str, Any]]:
            node.subscribe(forward)
            books = {name: market.book for name, market in engine.markets.items()}
            return engine.seq, {
                name: book.depth(len(book)) for name, book in books.items() if name in self.symbols
            }

        seq, depths = await asyncio.wrap_future(node.read(load))
        self.seq = seq
        for name, (bids, asks) in depths.items():
            data = self.symbols[name]
            data.bids, data.asks, data.update_id = dict(bids), dict(asks), seq

    def apply(self, groups: list[tuple[int, int, list[tuple[Any, ...]]]]) -> None:
        """Apply committed commands' events: ``(seq, ts, events)`` in sequence order; then tell
        the listeners what changed."""
        for seq, ts, events in groups:
            if seq <= self.seq:
                continue
            self.seq = seq
            self._ts = ts
            takers: dict[int, int] = {}  # order id -> limit price, for the command's taker
            auctions: set[str] = set()  # symbols whose book an auction is rebuilding
            for event in events:
                kind = event[0]
                if kind == FILL:
                    self._fill(event, ts, takers, event[2] not in auctions)
                elif kind == CANCELLED and event[2] in auctions:
                    continue  # the auction's BookRebuilt gives the levels
                elif kind == ACCEPTED:
                    _, _, symbol, oid, _, side, price, qty, _, _, _ = event
                    takers[oid] = price
                    self._change(symbol, side, price, qty, seq)
                elif kind == CANCELLED:
                    _, _, symbol, _, _, side, price, qty, _, _ = event
                    self._change(symbol, side, price, -qty, seq)
                elif kind == AMENDED:
                    _, _, symbol, oid, _, side, price, leaves, old_price, old_leaves, _ = event
                    takers[oid] = price
                    self._change(symbol, side, old_price, -old_leaves, seq)
                    self._change(symbol, side, price, leaves, seq)
                elif kind in GATING_EVENTS:
                    self._gating.append(event)
                    if kind == UNCROSSED:
                        auctions.add(event[2])
                elif kind == BOOK_REBUILT:
                    auctions.discard(event[2])
                    self._rebuild(event, seq)
        self._publish()

    def _rebuild(self, event: tuple[Any, ...], seq: int) -> None:
        """Take a rebuilt book's levels, publishing each level that changed."""
        _, _, symbol, bids, asks = event
        data = self.symbols[symbol]
        for side, levels, now in ((BUY, data.bids, dict(bids)), (3 - BUY, data.asks, dict(asks))):
            for price in levels.keys() | now.keys():
                delta = now.get(price, 0) - levels.get(price, 0)
                if delta:
                    self._change(symbol, side, price, delta, seq)

    def _change(self, symbol: str, side: int, price: int, delta: int, seq: int) -> None:
        data = self.symbols[symbol]
        levels = data.bids if side == BUY else data.asks
        volume = levels.get(price, 0) + delta
        if volume:
            levels[price] = volume
        else:
            levels.pop(price, None)
        update = self._update(symbol, data, seq)
        (update.bids if side == BUY else update.asks)[price] = volume

    def _update(self, symbol: str, data: SymbolData, seq: int) -> BookUpdate:
        """The pending update of ``symbol``, its version moved on once per command."""
        if data.update_id != seq:
            data.update_id = seq
            data.version += 1
        update = self._updates.get(symbol)
        if update is None:
            update = self._updates[symbol] = BookUpdate(
                symbol, data.version, data.version, seq, seq, self._ts
            )
        update.last_version, update.last_seq, update.ts = data.version, seq, self._ts
        return update

    def _publish(self) -> None:
        updates, self._updates = list(self._updates.values()), {}
        if updates:
            for listener in self._listeners:
                listener(updates)
        gating, self._gating = self._gating, []
        if gating:
            for gating_listener in self._gating_listeners:
                gating_listener(gating)

    def _fill(self, event: tuple[Any, ...], ts: int, takers: dict[int, int], book: bool) -> None:
        """A trade; with ``book``, also its levels' changes (a maker resting at the trade price,
        the command's taker at its limit)."""
        _, seq, symbol, trade_id, taker_id, _, _, _, taker_side, price, qty, quote_qty = event[:12]
        if book:
            self._change(symbol, 3 - taker_side, price, -qty, seq)
            self._change(symbol, taker_side, takers[taker_id], -qty, seq)
        data = self.symbols[symbol]
        trade = Trade(trade_id, ts, price, qty, quote_qty, taker_side)
        data.trades.append(trade)
        self._update(symbol, data, seq).trades.append(trade)
        for name, width in INTERVALS.items():
            candles = data.candles[name]
            start = ts - ts % width
            if not candles or candles[-1].start != start:
                candles.append(Candle(start, price, price, price, price))
            candle = candles[-1]
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.close = price
            candle.volume += qty
            candle.quote_volume += quote_qty
            candle.trades += 1

    def ticker(self, symbol: str, now_ns: int) -> dict[str, Any]:
        """The last 24 hours (by minute) of one symbol, and its best bid and ask now (integers)."""
        data = self.symbols[symbol]
        since = now_ns - now_ns % MINUTE_NS - DAY_NS + MINUTE_NS
        day = [c for c in data.candles["1m"] if c.start >= since]
        bids, asks = data.top(1)
        return {
            "open": day[0].open if day else None,
            "high": max(c.high for c in day) if day else None,
            "low": min(c.low for c in day) if day else None,
            "last": data.trades[-1].price if data.trades else None,
            "volume": sum(c.volume for c in day),
            "quote_volume": sum(c.quote_volume for c in day),
            "trades": sum(c.trades for c in day),
            "best_bid": bids[0] if bids else None,
            "best_ask": asks[0] if asks else None,
            "update_id": data.update_id,
        }
