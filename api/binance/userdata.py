"""The user data side: the order log's feed from the node, listen keys, and account events.

``Feed.start`` subscribes to the node and seeds the order log with the resting orders in one step
on the sequencer thread (``Node.read``), so no group is missed or applied twice. Each group is
then applied on the event loop, in sequence order: the order log follows it, every account with
an open user stream gets one ``executionReport`` per change to its orders and, once per group,
an ``outboundAccountPosition`` with the balances of the assets that group touched (read from the
engine just after, so they may already include a later group). ``caught_up(seq)`` lets a route
answer from the log once the log has applied its own command.

Listen keys live in memory for 60 minutes after their last keep-alive; a restart forgets them
(clients create a new one, as after Binance's own expiry).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from api.binance.errors import BinanceError, Code
from api.binance.orderlog import OrderLog
from api.binance.views import NS_PER_MS, Views
from api.context import Services
from matcher.engine import Engine
from matcher.events import ACCEPTED, AMENDED, CANCELLED, DEPOSITED, FILL, WITHDRAWN

LISTEN_KEY_TTL_S = 3_600.0
CATCH_UP_TIMEOUT_S = 10.0
Sender = Callable[[bytes], None]


@dataclass(slots=True)
class ListenKey:
    account: int
    expires_at: float


class Feed:
    def __init__(self, services: Services, views: Views, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.views = views
        self.log = OrderLog(services.units.config.quote_per_tick_lot)
        self.seq = 0
        self.listen_keys: dict[str, ListenKey] = {}
        self._clock = clock
        self._senders: dict[int, dict[Sender, str]] = {}  # account -> sender -> its listen key
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        node = self.services.node

        def forward(acks: list[tuple[Any, Any]]) -> None:  # the sequencer thread: hand over only
            loop.call_soon_threadsafe(self._apply, [(c, e) for c, e in acks if c is not None])

        def load(engine: Engine) -> tuple[int, list[tuple[str, list[Any]]]]:
            node.subscribe(forward)
            return engine.seq, [
                (name, list(o)) for name, m in engine.markets.items() for o in m.book.resting_orders()
            ]

        self.seq, resting = await self.services.read(load)
        now = time.time_ns()
        for symbol, order in resting:
            self.log.seed(symbol, order, now)

    async def caught_up(self, seq: int) -> None:
        """Return once the order log has applied ``seq``."""
        if self.seq >= seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        try:
            await asyncio.wait_for(future, CATCH_UP_TIMEOUT_S)
        except TimeoutError:
            raise BinanceError(Code.DISCONNECTED) from None

    # ---------------------------------------------------------------- listen keys

    def create_key(self, account: int) -> str:
        self._expire()
        listen_key = secrets.token_hex(30)
        self.listen_keys[listen_key] = ListenKey(account, self._clock() + LISTEN_KEY_TTL_S)
        return listen_key

    def keep_alive(self, listen_key: str, account: int) -> None:
        self._owned(listen_key, account).expires_at = self._clock() + LISTEN_KEY_TTL_S

    def close_key(self, listen_key: str, account: int) -> None:
        self._owned(listen_key, account)
        del self.listen_keys[listen_key]
        for senders in self._senders.values():
            for sender in [s for s, key in senders.items() if key == listen_key]:
                del senders[sender]

    def attach(self, listen_key: str, sender: Sender) -> bool:
        """Send this key's account events to ``sender``; False if the key is unknown or expired."""
        self._expire()
        found = self.listen_keys.get(listen_key)
        if found is None:
            return False
        self._senders.setdefault(found.account, {})[sender] = listen_key
        return True

    def detach(self, sender: Sender) -> None:
        for senders in self._senders.values():
            senders.pop(sender, None)

    def _owned(self, listen_key: str, account: int) -> ListenKey:
        self._expire()
        found = self.listen_keys.get(listen_key)
        if found is None or found.account != account:
            raise BinanceError(Code.INVALID_LISTEN_KEY)
        return found

    def _expire(self) -> None:
        now = self._clock()
        for listen_key in [k for k, v in self.listen_keys.items() if v.expires_at <= now]:
            del self.listen_keys[listen_key]

    # ------------------------------------------------------------------- events

    def _apply(self, acks: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]) -> None:
        touched: dict[int, set[str]] = {}
        last_ms = 0
        listening = {account for account, senders in self._senders.items() if senders}
        for command, events in acks:
            seq, ts = command[1], command[2]
            if seq <= self.seq or isinstance(events, str):
                continue
            self.seq, last_ms = seq, ts // NS_PER_MS
            for execution in self.log.apply(command, ts, events, listening):
                account = execution.order.account
                self._send(account, self.views.execution_report(execution, last_ms))
            if listening:
                self._touched_assets(events, touched)
        for _, future in [w for w in self._waiters if w[0] <= self.seq]:
            if not future.done():
                future.set_result(None)
        self._waiters = [w for w in self._waiters if w[0] > self.seq]
        for account, assets in touched.items():
            task = asyncio.get_running_loop().create_task(self._send_balances(account, assets, last_ms))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _touched_assets(self, events: list[tuple[Any, ...]], touched: dict[int, set[str]]) -> None:
        symbols = self.services.units.symbols
        for event in events:
            kind = event[0]
            if kind in (DEPOSITED, WITHDRAWN):
                accounts, assets = [event[2]], {event[3]}
            elif kind in (ACCEPTED, CANCELLED, AMENDED, FILL):
                symbol = symbols[event[2]]
                accounts = [event[6], event[7]] if kind == FILL else [event[4]]
                assets = {symbol.base, symbol.quote}
            else:
                continue
            for account in accounts:
                if self._senders.get(account):
                    touched.setdefault(account, set()).update(assets)

    async def _send_balances(self, account: int, assets: set[str], event_ms: int) -> None:
        balances = await self.services.read(lambda engine: engine.accounts.balances(account))
        units, names = self.services.units, self.views.names
        rows = [
            {
                "a": names.asset_id(asset),
                "f": units.amount_text(asset, balances.get(asset, (0, 0))[0]),
                "l": units.amount_text(asset, balances.get(asset, (0, 0))[1]),
            }
            for asset in sorted(assets)
        ]
        self._send(account, {"e": "outboundAccountPosition", "E": event_ms, "u": event_ms, "B": rows})

    def _send(self, account: int, event: dict[str, Any]) -> None:
        payload = orjson.dumps(event)
        for sender in list(self._senders.get(account, {})):
            sender(payload)
