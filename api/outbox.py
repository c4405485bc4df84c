"""One WebSocket connection's bounded send queue: a slow reader never holds anyone else up.

Producers (the market data fan-out, the user stream, order responses) put frames and return at
once; one writer task per connection drains the queue into the socket. Invariants:

- Frames leave in the order they were put, except that a book diff still waiting is merged with
  the next diff of its symbol (levels as they are now overwrite older ones; ``first`` stays,
  ``last`` moves on), so a lagging reader gets fewer, larger diffs whose versions stay
  contiguous: it never sees a gap that was not there. A waiting ticker is replaced likewise.
- Diffs that were never merged keep the bytes rendered once for every subscriber.
- Past ``limit`` queued frames the outbox closes with ``SLOW_CONSUMER``: it drops what waits,
  takes nothing more, and the writer closes the socket with that code and the reason. Other
  closes (a logout, a heartbeat timeout) either flush what waits first or drop it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from api.marketdata import BookUpdate

SLOW_CONSUMER = 4008
DEFAULT_LIMIT = 2_000


@dataclass(slots=True)
class PendingDiff:
    """A book diff not sent yet; ``frame`` is the shared rendering, None once merged."""

    symbol: str
    first_version: int
    last_version: int
    first_seq: int
    last_seq: int
    ts: int
    bids: dict[int, int]
    asks: dict[int, int]
    frame: bytes | None = None
    merged: int = 0


@dataclass(slots=True)
class Pending:
    """A frame replaced while it waits (a ticker): the newest ``frame`` is sent."""

    key: str
    frame: bytes


Entry = bytes | PendingDiff | Pending
RenderDiff = Callable[[PendingDiff], bytes]


@dataclass(slots=True, eq=False)
class Outbox:
    render_diff: RenderDiff
    limit: int = DEFAULT_LIMIT
    #: Set once by ``close``: the WebSocket close code and reason.
    closed: tuple[int, str] | None = None
    #: How many diffs were merged into waiting ones (a measure of how far the reader lags).
    coalesced: int = 0
    _entries: deque[Entry] = field(default_factory=deque)
    _diffs: dict[str, PendingDiff] = field(default_factory=dict)
    _latest: dict[str, Pending] = field(default_factory=dict)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, frame: bytes) -> None:
        if self._room():
            self._entries.append(frame)
            self._ready.set()

    def put_latest(self, key: str, frame: bytes) -> None:
        """Queue ``frame``, or replace the waiting frame of the same ``key``."""
        waiting = self._latest.get(key)
        if waiting is not None:
            waiting.frame = frame
        elif self._room():
            self._entries.append(self._latest.setdefault(key, Pending(key, frame)))
            self._ready.set()

    def put_diff(self, update: BookUpdate, frame: bytes) -> None:
        """Queue ``update`` (rendered as ``frame``), or merge it into its symbol's waiting diff."""
        waiting = self._diffs.get(update.symbol)
        if waiting is None:
            if self._room():
                diff = PendingDiff(update.symbol, update.first_version, update.last_version, update.first_seq,
                                   update.last_seq, update.ts, update.bids, update.asks, frame)  # fmt: skip
                self._entries.append(diff)
                self._diffs[update.symbol] = diff
                self._ready.set()
            return
        if waiting.frame is not None:  # first merge: own the level maps from now on
            waiting.bids, waiting.asks, waiting.frame = dict(waiting.bids), dict(waiting.asks), None
        waiting.bids.update(update.bids)
        waiting.asks.update(update.asks)
        waiting.last_version, waiting.last_seq, waiting.ts = update.last_version, update.last_seq, update.ts
        waiting.merged += 1
        self.coalesced += 1

    def drop_diff(self, symbol: str) -> None:
        """Forget ``symbol``'s waiting diff (a new snapshot supersedes it)."""
        waiting = self._diffs.pop(symbol, None)
        if waiting is not None:
            self._entries.remove(waiting)

    def close(self, code: int, reason: str, *, flush: bool) -> None:
        """Take nothing more; ``get`` gives what waits first if ``flush``, then None."""
        if self.closed is None:
            self.closed = (code, reason)
            if not flush:
                self._entries.clear()
                self._diffs.clear()
                self._latest.clear()
            self._ready.set()

    async def get(self) -> bytes | None:
        """The next frame to send; None once closed and empty."""
        while not self._entries:
            if self.closed is not None:
                return None
            self._ready.clear()
            await self._ready.wait()
        entry = self._entries.popleft()
        if isinstance(entry, bytes):
            return entry
        if isinstance(entry, PendingDiff):
            del self._diffs[entry.symbol]
            return entry.frame if entry.frame is not None else self.render_diff(entry)
        del self._latest[entry.key]
        return entry.frame

    def _room(self) -> bool:
        if self.closed is not None:
            return False
        if len(self._entries) >= self.limit:
            self.close(SLOW_CONSUMER, f"slow consumer: more than {self.limit} frames queued", flush=False)
            return False
        return True
