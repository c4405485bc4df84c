"""Orders as Binance reports them, kept from the engine's events: size, fills, quote, times.

The engine's order record has no times and no cumulative quote, which every Binance order view
carries, so this log follows each order from its ``Accepted`` event: ``apply(command, ts,
events)`` per acknowledged command, in sequence order, returns the ``Execution`` of each change
(what an ``executionReport`` tells). Invariants: ``qty`` is Binance's ``origQty``, the size asked
for (an amend makes it ``filled + leaves``; a cancel leaves it), so ``filled + leaves <= qty``;
``quote`` is the sum of the order's fills' quote amounts; an order is live while ``leaves > 0``.

Memory: every live order, and the last ``ENDED_KEPT`` ended ones. An order resting across a
restart is seeded from the engine's record (``seed``): its times are the restart's and its quote
is taken as ``filled × price``, which is exact when all its fills were as maker.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, replace
from typing import Any

from matcher.book import (
    O_ACCOUNT,
    O_CLIENT_ID,
    O_ID,
    O_LEAVES,
    O_POST_ONLY,
    O_PRICE,
    O_QTY,
    O_SIDE,
    O_STP,
    O_TIF,
    order_status,
)
from matcher.commands import CommandKind
from matcher.enums import CancelReason, OrderStatus, OrderType, Stp
from matcher.events import ACCEPTED, AMENDED, CANCELLED, FILL

ENDED_KEPT = 100_000
_PLACE = int(CommandKind.PLACE_ORDER)
_EXPIRING = {int(CancelReason.IOC), int(CancelReason.FOK), int(CancelReason.EXPIRED)}
_STP = int(CancelReason.STP)


@dataclass(slots=True)
class OrderState:
    symbol: str
    order_id: int
    account: int
    client_order_id: str | None
    side: int
    order_type: int
    tif: int
    post_only: bool
    stp: int
    price: int
    qty: int
    leaves: int
    created_ns: int
    updated_ns: int
    filled: int = 0
    quote: int = 0
    status: int = int(OrderStatus.NEW)


@dataclass(frozen=True, slots=True)
class TradeFact:
    trade_id: int
    price: int
    qty: int
    quote: int
    fee: int
    maker: bool


@dataclass(frozen=True, slots=True)
class Execution:
    """One change to one order: Binance's execution type, the order after it, and the trade."""

    kind: str  # NEW, TRADE, CANCELED, EXPIRED, TRADE_PREVENTION, REPLACED
    order: OrderState
    ts: int
    trade: TradeFact | None = None


class OrderLog:
    def __init__(self, quote_per_tick_lot: Callable[[str], int]) -> None:
        self._k = quote_per_tick_lot
        self._live: dict[int, OrderState] = {}
        self._ended: OrderedDict[int, OrderState] = OrderedDict()

    def get(self, order_id: int) -> OrderState | None:
        return self._live.get(order_id) or self._ended.get(order_id)

    def live(self) -> Iterator[OrderState]:
        return iter(self._live.values())

    def seed(self, symbol: str, order: list[Any], ts: int) -> None:
        """An order resting when this log starts, from the engine's record (see module docs)."""
        self._live[order[O_ID]] = from_record(symbol, order, ts, self._k(symbol))

    def apply(
        self, command: tuple[Any, ...], ts: int, events: list[tuple[Any, ...]], reported: Container[int]
    ) -> list[Execution]:
        """Follow one command's events; return each change to an order of a ``reported`` account,
        in event order (the others are followed, and cost no ``Execution``)."""
        out: list[Execution] = []
        for event in events:
            kind = event[0]
            if kind == ACCEPTED:
                _, _, symbol, oid, account, side, price, qty, order_type, tif, cid = event
                placed = command[0] == _PLACE
                self._live[oid] = accepted = OrderState(
                    symbol,
                    oid,
                    account,
                    cid,
                    side,
                    order_type,
                    tif,
                    placed and command[10],
                    command[11] if placed else int(Stp.NONE),
                    price,
                    qty,
                    qty,
                    ts,
                    ts,
                )
                if account in reported:
                    out.append(Execution("NEW", replace(accepted), ts))
            elif kind == FILL:
                self._fill(event, ts, out, reported)
            elif kind == CANCELLED:
                _, _, _, oid, _, _, _, _, leaves, reason = event
                cancelled = self._live.get(oid)
                if cancelled is None:
                    continue
                self._cancel(cancelled, leaves, reason, ts, out, reported)
            elif kind == AMENDED:
                _, _, _, oid, _, _, price, leaves, _, _, _ = event
                amended = self._live.get(oid)
                if amended is None:
                    continue
                amended.price, amended.qty, amended.leaves = price, amended.filled + leaves, leaves
                amended.updated_ns = ts
                if amended.account in reported:
                    out.append(Execution("REPLACED", replace(amended), ts))
        return out

    def _cancel(
        self,
        state: OrderState,
        leaves: int,
        reason: int,
        ts: int,
        out: list[Execution],
        reported: Container[int],
    ) -> None:
        state.leaves = leaves
        state.updated_ns = ts
        if reason == _STP:
            kind = "TRADE_PREVENTION"
        elif reason in _EXPIRING:
            kind = "EXPIRED"
        else:
            kind = "CANCELED"
        if not leaves:
            state.status = int(OrderStatus.EXPIRED if kind != "CANCELED" else OrderStatus.CANCELLED)
        if state.account in reported:
            out.append(Execution(kind, replace(state), ts))
        self._end_if_done(state)

    def _fill(self, event: tuple[Any, ...], ts: int, out: list[Execution], reported: Container[int]) -> None:
        (
            _,
            _,
            _,
            trade_id,
            taker_id,
            maker_id,
            _,
            _,
            _,
            price,
            qty,
            quote,
            taker_fee,
            maker_fee,
            taker_leaves,
            maker_leaves,
        ) = event
        for oid, leaves, fee, maker in (
            (maker_id, maker_leaves, maker_fee, True),
            (taker_id, taker_leaves, taker_fee, False),
        ):
            state = self._live.get(oid)
            if state is None:
                continue
            state.filled += qty
            state.quote += quote
            state.leaves = leaves
            state.updated_ns = ts
            state.status = int(OrderStatus.PARTIALLY_FILLED if leaves else OrderStatus.FILLED)
            if state.account in reported:
                trade = TradeFact(trade_id, price, qty, quote, fee, maker)
                out.append(Execution("TRADE", replace(state), ts, trade))
            self._end_if_done(state)

    def _end_if_done(self, state: OrderState) -> None:
        if state.leaves:
            return
        self._live.pop(state.order_id, None)
        self._ended[state.order_id] = state
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)


def from_record(symbol: str, order: list[Any], ts: int, quote_per_tick_lot: int) -> OrderState:
    """An order's state from the engine's record: a limit order (market orders never rest), its
    quote taken as ``filled × price`` (exact for fills as maker)."""
    qty, leaves, price = order[O_QTY], order[O_LEAVES], order[O_PRICE]
    filled = qty - leaves
    return OrderState(
        symbol,
        order[O_ID],
        order[O_ACCOUNT],
        order[O_CLIENT_ID],
        order[O_SIDE],
        int(OrderType.LIMIT),
        order[O_TIF],
        order[O_POST_ONLY],
        order[O_STP],
        price,
        qty,
        leaves,
        ts,
        ts,
        filled,
        filled * price * quote_per_tick_lot,
        order_status(order),
    )
