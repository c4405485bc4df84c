"""Small closed vocabularies of the matcher: sides, time in force, order types, STP, statuses.

Every member is an ``IntEnum`` so it compares and hashes as a plain ``int`` on the hot path and
keeps a stable wire value. Never renumber a member: journals and snapshots store the integers.
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    LIMIT = 1
    #: Executes immediately as IOC, bounded by a protection price; never rests, never unbounded.
    MARKET = 2


class TimeInForce(IntEnum):
    GTC = 1
    IOC = 2
    FOK = 3
    #: Good till date: rests like GTC and expires once a command's time reaches ``expire_at``.
    GTD = 4


class Stp(IntEnum):
    """Self-trade prevention, chosen by the taker, applied when it meets its own resting order."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3
    #: Reduce both orders by the smaller quantity; the smaller one ends, nothing trades.
    DECREMENT = 4


class OrderStatus(IntEnum):
    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELLED = 4
    EXPIRED = 5


class CancelReason(IntEnum):
    """Why quantity left the book without trading."""

    USER = 1
    CANCEL_ALL = 2
    #: The unfilled rest of an IOC or market order.
    IOC = 3
    #: A fill-or-kill order that could not fill completely.
    FOK = 4
    STP = 5
    #: A GTD order whose expiry time passed.
    EXPIRED = 6
    #: Operator or account action (freeze, delisting, a corporate action's halt).
    ADMIN = 7
    #: Left crossed after a reopening auction, priced beyond the band the auction ran in.
    AUCTION = 8
