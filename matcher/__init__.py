"""bluebook's matching core: pure, deterministic, integers only.

No I/O, clock, randomness or logging here; time arrives on each command. The public surface:
``OrderBook`` (one symbol), ``Engine`` (all symbols, accounts, risk and fees), the command and
event records, and the enums. See README.md for a short example.
"""

from matcher.book import OrderBook
from matcher.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
    Tick,
    Withdraw,
)
from matcher.enums import CancelReason, OrderStatus, OrderType, Side, Stp, TimeInForce
from matcher.errors import InvariantError, SequenceError
from matcher.events import (
    Accepted,
    Amended,
    Cancelled,
    Deposited,
    Duplicate,
    Event,
    Fill,
    Rejected,
    Withdrawn,
)
from matcher.rejects import Reject

__all__ = [
    "Accepted",
    "AmendOrder",
    "Amended",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "Cancelled",
    "Command",
    "Deposit",
    "Deposited",
    "Duplicate",
    "Event",
    "Fill",
    "InvariantError",
    "OrderBook",
    "OrderStatus",
    "OrderType",
    "PlaceOrder",
    "Reject",
    "Rejected",
    "SequenceError",
    "Side",
    "Stp",
    "Tick",
    "TimeInForce",
    "Withdraw",
    "Withdrawn",
]
