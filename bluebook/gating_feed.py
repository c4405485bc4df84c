"""Gating's inputs, sent to the engine as commands: the session table once, references always.

``ReferencePump.start`` submits the session table (the NYSE calendar from ``bluebook.calendar``,
or one session pinned for all time, as ``--session regular`` asks for tests and demos), then
every ``every_s`` seconds polls its feed and submits each symbol's reference (``SetReference``,
in ticks, rounded to the nearest tick) whose inputs are known. Prices an operator set on
``manual`` (a ``ManualFeed``) win over the feed's for their underlyings while they stand.
References reach the engine only as journaled commands, so a replay sees exactly the prices the
original run saw.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from bluebook.calendar import session_table
from bluebook.poller import Poller
from bluebook.reference import USD, ManualFeed, Quote, symbol_reference
from matcher.commands import SetReference, SetSessions
from matcher.config import MarketConfig
from matcher.sessions import Session, SessionTable

log = logging.getLogger(__name__)

Submit = Callable[[Sequence[tuple[Any, ...]]], "Future[Any]"]
#: A pinned table covers this far ahead (about 146 years of nanoseconds).
PINNED_END = 2**62


class Feed(Protocol):
    def poll(self) -> list[Quote]: ...


def pinned(session: Session) -> SessionTable:
    """One session from the epoch on (tests and demos)."""
    return SessionTable((0,), (session,), PINNED_END, ())


def sessions_command(table: SessionTable) -> SetSessions:
    return SetSessions.of(account=0, edges=table.edges, kinds=tuple(int(k) for k in table.kinds),
                          end=table.end, regular_closes=table.regular_closes)  # fmt: skip


class ReferencePump(Poller):
    def __init__(
        self,
        config: MarketConfig,
        underlyings: dict[str, str],
        feed: Feed,
        submit: Submit,
        *,
        session: Session | None = None,
        every_s: float = 1.0,
    ) -> None:
        super().__init__("references", every_s)
        self.config = config
        self.underlyings = underlyings
        self.feed = feed
        self.submit = submit
        self.session = session
        self.manual = ManualFeed(name for name in underlyings.values() if name != USD)
        #: The feed's latest quote per underlying (what an operator's price hands back to).
        self.from_feed: dict[str, Quote] = {}

    def start(self) -> None:
        """Submit the session table, then poll the feed every ``every_s`` seconds."""
        table = pinned(self.session) if self.session is not None else session_table(dt.datetime.now(dt.UTC))
        self.submit([tuple(sessions_command(table))]).result(30)
        super().start()

    def poll(self) -> None:
        self.pump()

    def pump(self) -> None:
        """Poll the feed once and submit every symbol's reference that can be computed."""
        for quote in self.feed.poll():
            self.from_feed[quote.underlying] = quote
        latest = {**self.from_feed, **{quote.underlying: quote for quote in self.manual.poll()}}
        commands = []
        for symbol in self.config.symbols:
            reference = symbol_reference(self.config, self.underlyings, latest, symbol.name)
            if reference is None:
                continue
            quote_decimals = self.config.asset(symbol.quote).engine_decimals
            ticks = (reference.price.scaleb(quote_decimals) / symbol.tick_size).quantize(
                Decimal(1), rounding=ROUND_HALF_EVEN
            )
            commands.append(tuple(SetReference.of(
                account=0, symbol=symbol.name, price=int(ticks), source_ns=reference.source_ns,
                source=reference.source[:200], status=reference.status,
            )))  # fmt: skip
        if commands:
            self.submit(commands).result(30)
