"""The private user stream: each logged-in connection's own orders, fills, balances and the
settlement status of its fills, on the ``user`` channel.

- The node's listener hands every durable group to the loop (``call_soon_threadsafe``, nothing
  more on the sequencer thread); there, the events of accounts with a logged-in connection
  become frames: ``order`` (accepted, cancelled with its reason, amended), ``fill`` (the
  account's side of each trade, with the order's leaves, ``settlement_status: "unsettled"``).
- ``balances``: after a group touching an account, one engine read gives its balances. Reads do
  not pile up: while one is in flight, accounts changed meanwhile wait for the next.
- ``settlement``: the settlement worker writes fills' status into the store's trades table, not
  into the engine, so every ``SETTLEMENT_POLL_S`` the API reads the status of the fills it
  streamed that are not ``final`` yet, and sends each change (``batched``, ``final`` with the
  transaction hash). Fills are watched for ``SETTLEMENT_WATCH_S``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import select, tuple_
from starlette.concurrency import run_in_threadpool

from api.context import Services
from api.errors import ApiError
from api.marketdata import NS_PER_MS, Acks
from api.orders import changed_view
from api.outbox import Outbox
from api.wire import SIDE_NAMES, STATUS_NAMES, TIF_NAMES, TYPE_NAMES
from matcher.engine import Engine
from matcher.enums import OrderStatus
from matcher.events import ACCEPTED, AMENDED, CANCELLED, DEPOSITED, FILL, WITHDRAWN
from store.models import Trade

SETTLEMENT_POLL_S = 2.0
SETTLEMENT_WATCH_S = 3_600.0
POLL_BATCH = 500
_NEW = STATUS_NAMES[int(OrderStatus.NEW)]
_ACCOUNT_AT = {ACCEPTED: 4, CANCELLED: 4, AMENDED: 4, DEPOSITED: 2, WITHDRAWN: 2}


class UserStreams:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.units = services.units
        self._outboxes: dict[int, set[Outbox]] = {}
        self._balances_due: set[int] = set()
        self._reading = False
        #: (symbol, trade_id) -> (account, status, when streamed, monotonic s) of fills not final yet
        self._unsettled: dict[tuple[str, int], list[tuple[int, str, float]]] = {}
        self._poller: asyncio.Task[None] | None = None

    def attach(self) -> None:
        """Subscribe to the node's groups; call once, on the loop."""
        loop = asyncio.get_running_loop()

        def forward(acks: Acks) -> None:  # the sequencer thread: hand over, nothing more
            loop.call_soon_threadsafe(self._publish, acks)

        self.services.node.subscribe(forward)
        self._poller = loop.create_task(self._poll_settlement())

    def add(self, account: int, outbox: Outbox) -> None:
        self._outboxes.setdefault(account, set()).add(outbox)
        self._balances_due.add(account)
        self._read_balances()

    def remove(self, account: int, outbox: Outbox) -> None:
        outboxes = self._outboxes.get(account)
        if outboxes is not None:
            outboxes.discard(outbox)
            if not outboxes:
                del self._outboxes[account]

    def _send(self, account: int, frame: dict[str, Any]) -> None:
        data = orjson.dumps({"channel": "user", **frame})
        for outbox in self._outboxes.get(account, ()):
            outbox.put(data)

    def _publish(self, acks: Acks) -> None:
        watched = self._outboxes
        if not watched:
            return
        for command, events in acks:
            if command is None or isinstance(events, str):
                continue
            ts = command[2] // NS_PER_MS
            for event in events:
                kind = event[0]
                if kind == FILL:
                    for account, own in ((event[6], True), (event[7], False)):
                        if account in watched:
                            self._fill(account, own, event, ts)
                    continue
                at = _ACCOUNT_AT.get(kind)
                if at is not None and event[at] in watched:
                    self._balances_due.add(event[at])
                    if kind != DEPOSITED and kind != WITHDRAWN:
                        self._send(event[at], {"type": "order", "time": ts, **self._order(event)})
        self._read_balances()

    def _order(self, event: tuple[Any, ...]) -> dict[str, Any]:
        if event[0] != ACCEPTED:
            return {
                "event": "cancelled" if event[0] == CANCELLED else "amended",
                **changed_view(self.units, event),
            }
        _, _, symbol, oid, _, side, price, qty, order_type, tif, cid = event
        units = self.units
        return {"event": "accepted", "order_id": oid, "client_order_id": cid, "symbol": symbol,
                "side": SIDE_NAMES[side], "order_type": TYPE_NAMES[order_type],
                "time_in_force": TIF_NAMES[tif],
                "price": units.price_text(symbol, price), "qty": units.qty_text(symbol, qty),
                "status": _NEW}  # fmt: skip

    def _fill(self, account: int, taker: bool, event: tuple[Any, ...], ts: int) -> None:
        _, _, symbol, trade_id, taker_oid, maker_oid, _, _, taker_side, price, qty, quote_qty = event[:12]
        units = self.units
        quote = units.symbols[symbol].quote
        self._balances_due.add(account)
        self._unsettled.setdefault((symbol, trade_id), []).append((account, "unsettled", time.monotonic()))
        self._send(account, {
            "type": "fill", "time": ts, "symbol": symbol, "trade_id": trade_id,
            "order_id": taker_oid if taker else maker_oid,
            "side": SIDE_NAMES[taker_side if taker else 3 - taker_side],
            "liquidity": "taker" if taker else "maker", "price": units.price_text(symbol, price),
            "qty": units.qty_text(symbol, qty), "quote_qty": units.amount_text(quote, quote_qty),
            "fee": units.amount_text(quote, event[12] if taker else event[13]),
            "leaves": units.qty_text(symbol, event[14] if taker else event[15]),
            "settlement_status": "unsettled",
        })  # fmt: skip

    def _read_balances(self) -> None:
        due = [account for account in self._balances_due if account in self._outboxes]
        if self._reading or not due:
            return
        self._balances_due.clear()
        self._reading = True
        asyncio.get_running_loop().create_task(self._send_balances(due))

    async def _send_balances(self, accounts: list[int]) -> None:
        def query(engine: Engine) -> dict[int, dict[str, tuple[int, int]]]:
            return {account: dict(engine.accounts.balances(account)) for account in accounts}

        try:
            found = await self.services.read(query)
        except ApiError:  # the engine stopped: nothing more to tell
            return
        finally:
            self._reading = False
        units = self.units
        for account, balances in found.items():
            views = []
            for asset in units.config.assets:
                available, held = balances.get(asset.name, (0, 0))
                views.append({"asset": asset.name, "available": units.amount_text(asset.name, available),
                              "held": units.amount_text(asset.name, held)})  # fmt: skip
            self._send(account, {"type": "balances", "balances": views})
        self._read_balances()

    async def _poll_settlement(self) -> None:
        while True:
            await asyncio.sleep(SETTLEMENT_POLL_S)
            old = time.monotonic() - SETTLEMENT_WATCH_S
            for key, watchers in list(self._unsettled.items()):
                watchers[:] = [w for w in watchers if w[2] > old and w[0] in self._outboxes]
                if not watchers:
                    del self._unsettled[key]
            if self._unsettled:
                rows = await run_in_threadpool(self._statuses, list(self._unsettled)[:POLL_BATCH])
                self._settled(rows)

    def _statuses(self, keys: Iterable[tuple[str, int]]) -> list[Any]:
        query = select(Trade.symbol, Trade.trade_id, Trade.settlement_status, Trade.batch_id, Trade.tx_hash)
        with self.services.db.connect() as connection:
            return list(connection.execute(query.where(tuple_(Trade.symbol, Trade.trade_id).in_(list(keys)))))

    def _settled(self, rows: list[Any]) -> None:
        for symbol, trade_id, status, batch_id, tx_hash in rows:
            watchers = self._unsettled.get((symbol, trade_id), [])
            for position, (account, sent, since) in enumerate(watchers):
                if status != sent:
                    self._send(account, {"type": "settlement", "symbol": symbol, "trade_id": trade_id,
                                         "settlement_status": status, "batch_id": batch_id,
                                         "tx_hash": tx_hash})  # fmt: skip
                    watchers[position] = (account, status, since)
            if status == "final":
                self._unsettled.pop((symbol, trade_id), None)
