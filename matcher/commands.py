"""Commands: every state change the engine accepts, stamped by the sequencer before it applies.

Each command begins with ``seq`` (the engine sequence number, strictly +1 per command) and ``ts``
(nanoseconds since the Unix epoch, never going backwards). Callers build commands with
``seq = ts = 0``; the sequencer stamps them with ``command.stamp(seq, ts)``. Prices are ticks,
quantities lots, amounts the asset's engine units: integers only, validated by the engine.
"""

from __future__ import annotations

from typing import TypeVar

from matcher.records import Record

C = TypeVar("C", bound="Command")


class Command(Record):
    __slots__ = ()

    def stamp(self: C, seq: int, ts: int) -> C:
        """Return this command with its sequence number and time set."""
        return type(self)((seq, ts, *self[2:]))


class PlaceOrder(Command):
    """Place an order. A market order's ``price`` is its protection price (0: the engine picks
    one from the best opposite price and the symbol's ``market_protection_bps``)."""

    __slots__ = ()
    seq: int
    ts: int
    account: int
    symbol: str
    side: int
    order_type: int
    price: int
    qty: int
    tif: int
    post_only: bool
    stp: int
    client_order_id: str | None
    expire_at: int


class CancelOrder(Command):
    """Cancel one open order, by ``order_id`` or (when it is 0) by ``client_order_id``."""

    __slots__ = ()
    seq: int
    ts: int
    account: int
    symbol: str
    order_id: int
    client_order_id: str | None


class CancelAll(Command):
    """Cancel every open order of ``account``, on one symbol or (``symbol`` empty) on all."""

    __slots__ = ()
    seq: int
    ts: int
    account: int
    symbol: str


class AmendOrder(Command):
    """Change an open order's price and/or leaves quantity (0 keeps the current value).

    Quantity down at the same price keeps queue priority; a price change or quantity up loses it.
    """

    __slots__ = ()
    seq: int
    ts: int
    account: int
    symbol: str
    order_id: int
    price: int
    qty: int


class Deposit(Command):
    """Credit ``amount`` of ``asset``; ``ref`` is the natural key (e.g. tx hash:log index), applied once."""

    __slots__ = ()
    seq: int
    ts: int
    account: int
    asset: str
    amount: int
    ref: str


class Withdraw(Command):
    __slots__ = ()
    seq: int
    ts: int
    account: int
    asset: str
    amount: int


class Tick(Command):
    """Advance time only: expires GTD orders and client ids whose time has come."""

    __slots__ = ()
    seq: int
    ts: int
