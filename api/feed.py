"""Public WebSocket channels, fed by ``MarketData.listen`` on the event loop.

- ``book.<SYMBOL>``: on subscribe, a ``snapshot`` of the whole L2 book with its ``version`` (the
  symbol's change counter) and ``seq``; then ``diff`` frames with ``first`` .. ``last`` versions
  (and engine ``first_seq`` .. ``last_seq``), each level as it is now, ``"0"`` for a level that
  is gone. A client applies a diff when ``first == its last + 1``, ignores one with ``last <=``
  its version, and on any other (a gap) resubscribes. A resubscription drops the connection's
  waiting diff of that symbol and queues a fresh snapshot.
- ``trades.<SYMBOL>``: each command's trades, in order (``side`` is the taker's).
- ``ticker.<SYMBOL>``: the 24 h ticker at subscription, then at most every ``TICKER_INTERVAL_S``
  while the symbol changes (a waiting ticker is replaced, never queued twice).
- ``session.<SYMBOL>``: the session and halt state at subscription (``type: session``, as
  ``GET /v1/sessions``), then each gating event as it happens: ``halted`` (``reason``),
  ``auction`` (the reopening auction's indicative ``price``, ``volume`` and ``imbalance`` while a
  halted book collects orders), ``uncrossed`` (the auction's ``price`` and ``volume``),
  ``resumed``, ``session_changed`` (``session``) and ``reanchored`` (the closed session's new
  ``anchor``, ``low``, ``high``), each with the engine ``seq``.

Every frame is rendered once and shared by every subscriber (``api.outbox`` renders a merged diff
itself). Nothing here waits: a subscriber's outbox takes or refuses each frame at once.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any, Protocol

import orjson

from api.context import Services
from api.errors import ApiError, ErrorCode
from api.marketdata import NS_PER_MS, BookUpdate
from api.outbox import Outbox
from api.public import ticker_view, trade_view
from api.wire import Units
from matcher.events import AUCTION_INDICATIVE, HALTED, REANCHORED, SESSION_CHANGED, UNCROSSED
from matcher.halts import DESCRIPTIONS, HaltReason
from matcher.sessions import Session

KINDS = ("book", "trades", "ticker", "session")
TICKER_INTERVAL_S = 0.25


class Levels(Protocol):
    symbol: str
    first_version: int
    last_version: int
    first_seq: int
    last_seq: int
    ts: int
    bids: dict[int, int]
    asks: dict[int, int]


class MarketFeed:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.units = services.units
        self.market = services.market
        self._subscribers: dict[str, set[Outbox]] = {}
        self._tickers_due: set[str] = set()
        self._ticker_timer: asyncio.TimerHandle | None = None
        services.market.listen(self._publish)
        services.market.listen_gating(self._publish_gating)

    def check(self, channel: object) -> str:
        """``channel`` if it names a known kind and symbol; else INVALID_PARAMETER."""
        kind, _, symbol = channel.partition(".") if isinstance(channel, str) else ("", "", "")
        if kind not in KINDS or symbol not in self.market.symbols:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"unknown channel {str(channel)[:40]!r}")
        return f"{kind}.{symbol}"

    def subscribe(self, outbox: Outbox, channel: str) -> None:
        """Add ``outbox`` to a checked ``channel`` and queue the channel's current state."""
        self._subscribers.setdefault(channel, set()).add(outbox)
        kind, _, symbol = channel.partition(".")
        if kind == "book":
            outbox.drop_diff(symbol)
            outbox.put(self._snapshot(symbol))
        elif kind == "ticker":
            outbox.put_latest(channel, self._ticker(symbol))
        elif kind == "session":
            outbox.put(
                orjson.dumps({"channel": channel, "type": "session", **self.market.session_of(symbol)})
            )

    def unsubscribe(self, outbox: Outbox, channel: str) -> None:
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(outbox)

    def render_diff(self, diff: Levels) -> bytes:
        symbol, units = diff.symbol, self.units
        return orjson.dumps({
            "channel": f"book.{symbol}", "type": "diff", "first": diff.first_version,
            "last": diff.last_version, "first_seq": diff.first_seq, "last_seq": diff.last_seq,
            "time": diff.ts // NS_PER_MS,
            "bids": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in diff.bids.items()],
            "asks": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in diff.asks.items()],
        })  # fmt: skip

    def _snapshot(self, symbol: str) -> bytes:
        data, units = self.market.symbols[symbol], self.units
        bids, asks = data.top(max(len(data.bids), len(data.asks)))
        return orjson.dumps({
            "channel": f"book.{symbol}", "type": "snapshot", "version": data.version, "seq": data.update_id,
            "bids": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in bids],
            "asks": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in asks],
        })  # fmt: skip

    def _ticker(self, symbol: str) -> bytes:
        view = ticker_view(self.services, symbol, self.market.ticker(symbol, time.time_ns()))
        return orjson.dumps({"channel": f"ticker.{symbol}", "type": "ticker", **view})

    def _publish(self, updates: list[BookUpdate]) -> None:
        subscribers = self._subscribers
        for update in updates:
            symbol = update.symbol
            book = subscribers.get(f"book.{symbol}")
            if book:
                frame = self.render_diff(update)
                for outbox in book:
                    outbox.put_diff(update, frame)
            trades = subscribers.get(f"trades.{symbol}")
            if trades and update.trades:
                frame = orjson.dumps({
                    "channel": f"trades.{symbol}", "type": "trades",
                    "trades": [trade_view(self.units, symbol, trade) for trade in update.trades],
                })  # fmt: skip
                for outbox in trades:
                    outbox.put(frame)
            if subscribers.get(f"ticker.{symbol}"):
                self._tickers_due.add(symbol)
        if self._tickers_due and self._ticker_timer is None:
            loop = asyncio.get_running_loop()
            self._ticker_timer = loop.call_later(TICKER_INTERVAL_S, self._publish_tickers)

    def _publish_gating(self, events: list[tuple[Any, ...]]) -> None:
        for event in events:
            subscribers = self._subscribers.get(f"session.{event[2]}")
            if subscribers:
                frame = orjson.dumps({"channel": f"session.{event[2]}", **gating_view(self.units, event)})
                for outbox in subscribers:
                    outbox.put(frame)

    def _publish_tickers(self) -> None:
        due, self._tickers_due, self._ticker_timer = self._tickers_due, set(), None
        for symbol in due:
            channel = f"ticker.{symbol}"
            frame = self._ticker(symbol)
            for outbox in self._subscribers.get(channel, ()):
                outbox.put_latest(channel, frame)


def gating_view(units: Units, event: tuple[Any, ...]) -> dict[str, Any]:
    """A gating event as a ``session.<SYMBOL>`` frame's fields, prices and quantities as decimals."""
    kind, seq, symbol = event[0], event[1], event[2]
    price, qty = partial(units.price_text, symbol), partial(units.qty_text, symbol)
    if kind == HALTED:
        reason = HaltReason(event[3])
        return {
            "type": "halted",
            "seq": seq,
            "reason": reason.name.lower(),
            "description": DESCRIPTIONS[reason],
        }
    if kind == AUCTION_INDICATIVE:
        _, _, _, at, volume, imbalance = event
        return {"type": "auction", "seq": seq, "price": price(at) if at else None, "volume": qty(volume),
                "imbalance": qty(imbalance)}  # fmt: skip
    if kind == UNCROSSED:
        return {"type": "uncrossed", "seq": seq, "price": price(event[3]), "volume": qty(event[4])}
    if kind == SESSION_CHANGED:
        return {"type": "session_changed", "seq": seq, "session": Session(event[3]).name.lower()}
    if kind == REANCHORED:
        _, _, _, anchor, low, high, direction, count = event
        return {"type": "reanchored", "seq": seq, "anchor": price(anchor), "low": price(low),
                "high": price(high), "direction": "up" if direction > 0 else "down",
                "reanchors": count}  # fmt: skip
    return {"type": "resumed", "seq": seq}
