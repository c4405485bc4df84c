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
    CommandKind,
    Deposit,
    PlaceOrder,
    SetReference,
    SetSessions,
    SetTradingStatus,
    Tick,
    Withdraw,
    stamp,
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
    EventKind,
    Fill,
    Rejected,
    Withdrawn,
    kind_of,
    typed,
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
    "CommandKind",
    "Deposit",
    "Deposited",
    "Duplicate",
    "Event",
    "EventKind",
    "Fill",
    "InvariantError",
    "OrderBook",
    "OrderStatus",
    "OrderType",
    "PlaceOrder",
    "Reject",
    "Rejected",
    "SequenceError",
    "SetReference",
    "SetSessions",
    "SetTradingStatus",
    "Side",
    "Stp",
    "Tick",
    "TimeInForce",
    "Withdraw",
    "Withdrawn",
    "kind_of",
    "stamp",
    "typed",
]
