"""Events: the facts the engine reports, each stamped with the sequence number that made it.

Events are never mutated. ``seq`` is the engine sequence number of the command that caused the
event (every event of one command shares it); ``symbol`` is ``""`` for account-level events.
An order's life is told by its events alone: ``Accepted``, then any ``Fill``, ``Cancelled`` (a
partial cancel keeps the order while ``leaves > 0``) and ``Amended``; it is over once its leaves
quantity reaches 0. Quantities are lots, prices ticks, amounts the asset's engine units.
"""

from __future__ import annotations

from matcher.records import Record


class Event(Record):
    __slots__ = ()


class Accepted(Event):
    """A new order entered the book's matching (it may then fill, rest or be cancelled)."""

    __slots__ = ()
    seq: int
    symbol: str
    order_id: int
    account: int
    side: int
    price: int
    qty: int
    order_type: int
    tif: int
    client_order_id: str | None


class Fill(Event):
    """One trade between a taker and a resting maker, at the maker's price.

    ``quote_qty`` is price × qty in quote engine units; fees are in quote units, charged on top for
    the buyer and deducted from proceeds for the seller; a negative fee is a rebate.
    """

    __slots__ = ()
    seq: int
    symbol: str
    trade_id: int
    taker_order_id: int
    maker_order_id: int
    taker_account: int
    maker_account: int
    taker_side: int
    price: int
    qty: int
    quote_qty: int
    taker_fee: int
    maker_fee: int
    taker_leaves: int
    maker_leaves: int


class Cancelled(Event):
    """``qty`` lots left the book without trading; the order stays open while ``leaves > 0``."""

    __slots__ = ()
    seq: int
    symbol: str
    order_id: int
    account: int
    side: int
    price: int
    qty: int
    leaves: int
    reason: int


class Amended(Event):
    """An open order's price or leaves quantity changed; ``kept_priority`` says if it kept its place."""

    __slots__ = ()
    seq: int
    symbol: str
    order_id: int
    account: int
    side: int
    price: int
    leaves: int
    old_price: int
    old_leaves: int
    kept_priority: bool


class Rejected(Event):
    """A command was refused with ``code`` (a ``Reject``); nothing in the state changed."""

    __slots__ = ()
    seq: int
    symbol: str
    order_id: int
    account: int
    code: int
    client_order_id: str | None


class Duplicate(Event):
    """A client order id repeated inside the retention window: the original order, unchanged."""

    __slots__ = ()
    seq: int
    symbol: str
    order_id: int
    account: int
    client_order_id: str
    status: int
    filled: int
    leaves: int


class Deposited(Event):
    __slots__ = ()
    seq: int
    account: int
    asset: str
    amount: int
    ref: str


class Withdrawn(Event):
    __slots__ = ()
    seq: int
    account: int
    asset: str
    amount: int
