"""What the API is handed by the shell: the engine as a small protocol, and its other services.

``api/`` never imports ``bluebook/``: the shell builds a ``Services`` around its ``Node`` (or a test
around a fake), so the API is the same over either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine as Database

from api.errors import ApiError, ErrorCode
from api.keys import KeyStore
from api.login import LoginService
from api.marketdata import Acks, MarketData
from api.ratelimit import RateLimiter
from api.wire import Units
from api.wslimits import WsLimits
from matcher.engine import Engine

T = TypeVar("T")


class EngineNode(Protocol):
    """``bluebook.node.Node`` as the API uses it (see there for the threads and guarantees)."""

    def submit(self, commands: Sequence[tuple[Any, ...]]) -> Future[Acks]: ...

    def read(self, query: Callable[[Engine], T]) -> Future[T]: ...

    def subscribe(self, listener: Callable[[Acks], None]) -> None: ...

    def health(self) -> dict[str, Any]: ...


class ChainView(Protocol):
    """``settlement.monitor.ChainMonitor`` as the API uses it: cached figures read from the chain
    (operator, sender balance and runway, reconciliation), or ``{"error": ...}``."""

    def figures(self) -> dict[str, Any]: ...


class OperatorPrices(Protocol):
    """``bluebook.reference.ManualFeed`` as the admin routes use it: reference prices an operator
    sets (a ValueError for an unknown underlying or a price that is not positive) and clears."""

    def set(self, underlying: str, price: Decimal | str, status: str = "open") -> Any: ...

    def clear(self, underlying: str) -> bool: ...

    def standing(self) -> dict[str, tuple[Decimal, str]]: ...


@dataclass(slots=True)
class Services:
    node: EngineNode
    units: Units
    db: Database
    keys: KeyStore
    login: LoginService
    limiter: RateLimiter
    market: MarketData
    admin_token: str
    #: Development mode: balances may be credited by hand (no chain is configured yet).
    dev: bool = False
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    ws: WsLimits = field(default_factory=WsLimits)
    #: The settlement chain, once the shell knows it (``bluebook run`` sets it after starting the
    #: chain, which starts after the API); None: settlement figures come from the store alone.
    chain: ChainView | None = None
    #: The operator's reference prices, when gating runs (``bluebook run`` sets them); None: off.
    references: OperatorPrices | None = None
    #: Submissions of this turn of the event loop, not yet handed to the node.
    _waiting: list[tuple[Sequence[tuple[Any, ...]], asyncio.Future[Acks]]] = field(default_factory=list)

    async def execute(self, commands: Sequence[tuple[Any, ...]]) -> Acks:
        """Submit and wait for the acks (after the journal commit); ENGINE_UNAVAILABLE if stopped.

        What every request submits in one turn of the event loop goes to the node as one list,
        in the order submitted, with one hand-off to the sequencer thread and one wake-up back,
        and each request gets its own acks."""
        try:
            return await self.submit(commands)
        except RuntimeError:  # NodeStopped: the node is stopping or failed
            raise ApiError(ErrorCode.ENGINE_UNAVAILABLE) from None

    def submit(self, commands: Sequence[tuple[Any, ...]]) -> asyncio.Future[Acks]:
        """``execute`` without the wait, on the loop: the future of the acks, for a caller that
        answers from a callback rather than a task (``acks_of`` reads it)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Acks] = loop.create_future()
        self._waiting.append((commands, waiter))
        if len(self._waiting) == 1:
            loop.call_soon(self._submit_waiting, loop)
        return waiter

    def _submit_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting, self._waiting = self._waiting, []
        submitted = self.node.submit([command for commands, _ in waiting for command in commands])
        submitted.add_done_callback(lambda done: loop.call_soon_threadsafe(_hand_back, waiting, done))

    async def read(self, query: Callable[[Engine], T]) -> T:
        """Run a quick, copying query on the sequencer thread (``Node.read``)."""
        try:
            return await asyncio.wrap_future(self.node.read(query))
        except RuntimeError:
            raise ApiError(ErrorCode.ENGINE_UNAVAILABLE) from None


def acks_of(done: asyncio.Future[Acks]) -> Acks:
    """The acks of a done ``Services.submit``; ENGINE_UNAVAILABLE if the node stopped."""
    error = done.exception()
    if isinstance(error, RuntimeError):
        raise ApiError(ErrorCode.ENGINE_UNAVAILABLE)
    return done.result()


def _hand_back(
    waiting: list[tuple[Sequence[tuple[Any, ...]], asyncio.Future[Acks]]], done: Future[Acks]
) -> None:
    """Give each waiting request its slice of the node's acks (or the node's error)."""
    error = done.exception()
    acks = done.result() if error is None else []
    start = 0
    for commands, waiter in waiting:
        if not waiter.done():  # a request cancelled meanwhile (its client left) takes nothing
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(acks[start : start + len(commands)])
        start += len(commands)
