"""OrderBook: one symbol's limit order book, price-time priority, integer ticks and lots.

Rules this book keeps (checked by ``validate()`` after every step in the tests):

- Price-time priority: the best price trades first; within a price, the oldest order first.
- Never crossed at rest: the best bid is below the best ask once a call returns.
- A level's volume is the sum of its live orders' leaves; every resting order has leaves > 0.
- Every order keeps ``filled + leaves == qty``, where ``qty`` is its current size (the original,
  less lots amended down or removed by STP decrement).
- Trades print at the maker's price; a taker never trades beyond its limit (for a market order,
  its protection price: the book never walks without a bound).
- Amend: quantity down at the same price keeps queue priority; a price change or a quantity up
  loses it (the order re-enters as if new, and may trade).

Limits: the book knows nothing of client ids, time or sessions, and of pre-trade risk only the
notional and funds checks of ``place_limit`` (the ``Engine`` does the rest); ``order_id`` is
the caller's and must be unique among resting orders. Time-in-force GTD rests like GTC;
``expire(now)`` ends the GTD orders whose ``expire_at <= now``.

Money, only with a ``Ledger`` (``matcher.accounts``; the engine gives its books one): the book
then settles what it does, in the same pass. Every fill moves the maker's and the taker's held
funds to their counterparties and the fee account, and every lot that leaves the book without
trading (cancel, cancel-all, expiry, IOC/FOK/market remainder, STP) gives its hold back. The
holds themselves are the caller's, but for ``place_limit``, which takes its own: an order must
already hold what ``matcher.accounts`` says before it is submitted, and an amend's hold changes
before ``amend``. (On the benchmark stream
the engine's second pass over the events, which this replaces, cost about a fifth of its time per
command; settling here costs about half of that.)

Shape: per side a dict of price → level, with the best price cached as an int, so adding at a
known level and cancelling are O(1); when the best level empties, the next best is found by
stepping a few ticks outward (books are dense near the touch) before falling back to a scan of
the side's levels. One order-id index, looked up by cancels and scanned only by ``cancel_all``:
there is no per-account index, because keeping one cost every add, fill and cancel about 10% of
the book's instructions (measured with callgrind on the benchmark stream), while a cancel-all
scans the symbol's resting orders at about 40 ns each (10,000 orders: under half a millisecond).

A level is one flat list ``[volume, head, dead, order, order, ...]``: the queue is
``level[head:]``; taking the front advances ``head``, cancelling elsewhere marks the order dead
in place (leaves 0), and the level compacts itself when the consumed front or the dead pile up.
One small list per level is far cheaper to make than a deque and a heap entry, which matters
because on a thin book about half of all resting orders open a new level. Orders are plain lists
(slots named ``O_*``), the cheapest mutable record CPython offers.

Speed: the commands (``submit``, ``cancel``, ...) are closures over the book's state, built once
per book and stored on the instance: reading a closure cell is cheaper than an attribute, and
calling a stored function skips making a bound method. A plain GTC limit that does not cross
takes an inlined path in ``submit``, and the same path in ``place_limit``, the engine's entry
for GTC limits whose fields it has checked, which also checks the notional and takes the hold
(one call where the engine computed the hold and then called the book); everything else goes
through ``enter``.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush, nsmallest
from typing import Any

from matcher.accounts import Ledger, buy_hold_per_lot
from matcher.enums import CancelReason, OrderStatus, OrderType, Side, Stp, TimeInForce
from matcher.errors import InvariantError
from matcher.events import ACCEPTED as EV_ACCEPTED
from matcher.events import AMENDED as EV_AMENDED
from matcher.events import CANCELLED as EV_CANCELLED
from matcher.events import FILL as EV_FILL
from matcher.events import REJECTED as EV_REJECTED
from matcher.events import Fill
from matcher.rejects import Reject

# Order record slots. ``O_QTY`` is the order's current size, always filled + leaves (so filled
# is never stored: ``order_filled``); ``O_ENDED`` is 0 until the order is cancelled or expired,
# then its final status (a filled order's status is derived: ``order_status``).
O_ID = 0
O_ACCOUNT = 1
O_SIDE = 2
O_PRICE = 3
O_LEAVES = 4
O_QTY = 5
O_ENDED = 6
O_CLIENT_ID = 7
O_EXPIRE_AT = 8
O_TIF = 9
O_POST_ONLY = 10
O_STP = 11

Order = list[Any]
Level = list[Any]  # [volume, head, dead, order, ...]: the queue is level[head:]
L_VOLUME = 0
L_HEAD = 1
L_DEAD = 2
L_FIRST = 3

BUY = int(Side.BUY)
SELL = int(Side.SELL)
GTC = int(TimeInForce.GTC)
IOC = int(TimeInForce.IOC)
FOK = int(TimeInForce.FOK)
GTD = int(TimeInForce.GTD)
LIMIT = int(OrderType.LIMIT)
MARKET = int(OrderType.MARKET)
NEW = int(OrderStatus.NEW)
PARTIALLY_FILLED = int(OrderStatus.PARTIALLY_FILLED)
FILLED = int(OrderStatus.FILLED)
CANCELLED = int(OrderStatus.CANCELLED)
EXPIRED = int(OrderStatus.EXPIRED)
EXPIRE_TAKER = int(Stp.EXPIRE_TAKER)
EXPIRE_MAKER = int(Stp.EXPIRE_MAKER)
DECREMENT = int(Stp.DECREMENT)
R_USER = int(CancelReason.USER)
R_CANCEL_ALL = int(CancelReason.CANCEL_ALL)
R_IOC = int(CancelReason.IOC)
R_FOK = int(CancelReason.FOK)
R_STP = int(CancelReason.STP)
R_EXPIRED = int(CancelReason.EXPIRED)
UNKNOWN_ORDER = int(Reject.UNKNOWN_ORDER)
INVALID_SIDE = int(Reject.INVALID_SIDE)
NOTIONAL_BELOW_MIN = int(Reject.NOTIONAL_BELOW_MIN)
NOTIONAL_ABOVE_MAX = int(Reject.NOTIONAL_ABOVE_MAX)
INSUFFICIENT_FUNDS = int(Reject.INSUFFICIENT_FUNDS)
POST_ONLY_WOULD_TAKE = int(Reject.POST_ONLY_WOULD_TAKE)

NO_BID = 0
NO_ASK = 1 << 62
NO_MAX_NOTIONAL = 1 << 128
_COMPACT_AT = 32  # consumed or dead entries in one level before it may compact
_NEAR = 16  # ticks stepped outward from an emptied best before scanning the whole side
_END_STATUS = {R_IOC: EXPIRED, R_FOK: EXPIRED, R_EXPIRED: EXPIRED}

Events = list[tuple[Any, ...]]


def order_filled(order: Order) -> int:
    """Lots of ``order`` that traded."""
    return int(order[O_QTY] - order[O_LEAVES])


def order_status(order: Order) -> int:
    """The ``OrderStatus`` of an order record, live or ended."""
    ended: int = order[O_ENDED]
    if ended:
        return ended
    if not order[O_LEAVES]:
        return FILLED
    return PARTIALLY_FILLED if order[O_QTY] > order[O_LEAVES] else NEW


class OrderBook:
    """The limit order book of one symbol; every command returns the events it caused, in order.

    ``submit(order_id, account, side, price, qty, tif=GTC, order_type=LIMIT, post_only=False,
    stp=Stp.EXPIRE_MAKER, client_order_id=None, expire_at=0, seq=0)`` enters an order: it matches
    what crosses, then rests (GTC, GTD) or cancels the rest (IOC, FOK, market). A market order is
    an IOC bounded by ``price``, its protection price. Post-only is rejected with
    ``POST_ONLY_WOULD_TAKE`` if it would trade on arrival. FOK trades only if its whole quantity
    can fill now, else it ends with ``Cancelled(reason=FOK)``. ``seq`` is stamped on the events.

    ``cancel(order_id, reason=USER, seq=0)``; ``cancel_all(account, reason=CANCEL_ALL, seq=0)``
    (oldest first); ``amend(order_id, price=0, qty=0, seq=0)`` (0 keeps the value; ``qty`` is the
    new leaves quantity); ``expire(now, seq=0)``. Unknown ids get ``Rejected(UNKNOWN_ORDER)``.
    """

    __slots__ = (
        "symbol",
        "maker_bps",
        "taker_bps",
        "quote_per_tick_lot",
        "min_notional",
        "max_notional",
        "submit",
        "place_limit",
        "cancel",
        "cancel_all",
        "amend",
        "expire",
        "load",
        "order",
        "best_bid",
        "best_ask",
        "last_order",
        "next_trade_id",
        "next_expiry",
        "ledger",
        "_orders",
        "_bids",
        "_asks",
    )

    submit: Callable[..., Events]
    #: ``place_limit(order_id, account, side, price, qty, post_only, stp, client_order_id)``:
    #: ``submit`` of a GTC limit order whose fields the caller has checked, taking its hold from
    #: the ledger first or refusing it (the engine's hot path; ``seq`` is ``order_id``).
    place_limit: Callable[[int, int, int, int, int, bool, int, str | None], Events]
    cancel: Callable[..., Events]
    cancel_all: Callable[..., Events]
    amend: Callable[..., Events]
    expire: Callable[..., Events]
    #: Rest an order record as it is, without matching or events (restoring a snapshot, in queue
    #: order; collecting a halted symbol's orders): the caller says whether the book may cross.
    load: Callable[[Order], None]
    #: The live record of a resting order (read it, never change it), or None.
    order: Callable[[int], Order | None]
    #: The best bid / ask in ticks, or None.
    best_bid: Callable[[], int | None]
    best_ask: Callable[[], int | None]
    #: The record of the order the last ``submit`` accepted (the engine keeps it by client id).
    last_order: Callable[[], Order]
    #: The id the next trade will get.
    next_trade_id: Callable[[], int]
    #: The earliest expiry among GTD orders (possibly of one already gone), or None.
    next_expiry: Callable[[], int | None]

    def __init__(
        self,
        symbol: str,
        *,
        maker_bps: int = 0,
        taker_bps: int = 0,
        quote_per_tick_lot: int = 1,
        next_trade_id: int = 1,
        typed_fills: bool = True,
        ledger: Ledger | None = None,
        min_notional: int = 0,
        max_notional: int = NO_MAX_NOTIONAL,
    ) -> None:
        """``quote_per_tick_lot`` turns price × qty into quote units; fees are in basis points.

        Fee rounding: a fee is rounded up and a rebate (negative maker rate) down, so the fee
        account never pays out more than it takes on one fill while ``taker_bps >= -maker_bps``.

        ``typed_fills=False`` makes fills plain tuples of ``Fill``'s layout, like every other
        event: the ``Engine`` asks for that, since it unpacks each fill on its hot path and a
        tuple subclass unpacks about three times slower than a tuple.

        ``ledger``: the balances this book settles into (see the module docstring), or None.

        ``min_notional`` and ``max_notional`` bound price × qty × ``quote_per_tick_lot`` of the
        orders ``place_limit`` takes (the engine checks every other order itself).
        """
        if not -taker_bps <= maker_bps <= 10_000 or not 0 <= taker_bps <= 10_000:
            raise ValueError("fees: need 0 <= taker_bps <= 10000 and -taker_bps <= maker_bps")
        if quote_per_tick_lot < 1:
            raise ValueError("quote_per_tick_lot must be a positive integer")
        self.symbol = symbol
        self.maker_bps = maker_bps
        self.taker_bps = taker_bps
        self.quote_per_tick_lot = quote_per_tick_lot
        self.min_notional = min_notional
        self.max_notional = max_notional
        self.ledger = ledger
        self._orders: dict[int, Order] = {}
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        _build(self, next_trade_id, typed_fills)

    # ----------------------------------------------------------------- queries

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def orders_of(self, account: int) -> list[Order]:
        """The account's resting orders, oldest first."""
        return [o for o in self._orders.values() if o[O_ACCOUNT] == account]

    def volume_at(self, side: int, price: int) -> int:
        level = (self._bids if side == BUY else self._asks).get(price)
        return level[0] if level else 0

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated depth: up to ``levels`` (price, volume) pairs per side, best first."""
        bids = self._bids
        asks = self._asks
        bid_prices = [-p for p in nsmallest(levels, (-p for p in bids))]
        ask_prices = nsmallest(levels, asks)
        return ([(p, bids[p][0]) for p in bid_prices], [(p, asks[p][0]) for p in ask_prices])

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Every level as (price, volume): the bids, then the asks, in no particular order."""
        return (
            [(price, level[L_VOLUME]) for price, level in self._bids.items()],
            [(price, level[L_VOLUME]) for price, level in self._asks.items()],
        )

    def resting_orders(self) -> list[Order]:
        """Every resting order: bids best first, then asks best first, each level in queue order."""
        out: list[Order] = []
        for levels, prices in (
            (self._bids, sorted(self._bids, reverse=True)),
            (self._asks, sorted(self._asks)),
        ):
            for price in prices:
                level = levels[price]
                out.extend(o for o in level[level[L_HEAD] :] if o[O_LEAVES])
        return out

    # ------------------------------------------------------------- checking

    def validate(self, crossed_ok: bool = False) -> None:
        """Raise ``InvariantError`` unless every rule in the module docstring holds (but for the
        book being crossed, with ``crossed_ok``: a halted symbol's book, collecting orders)."""
        seen: set[int] = set()
        for buying, levels in ((True, self._bids), (False, self._asks)):
            for price, level in levels.items():
                volume, head, dead = level[L_VOLUME], level[L_HEAD], level[L_DEAD]
                queue = level[head:]
                live: list[Order] = [o for o in queue if o[O_LEAVES]]
                if not live or volume != sum(o[O_LEAVES] for o in live):
                    raise InvariantError(f"{self.symbol}: level {price} volume {volume} != its orders")
                if dead != len(queue) - len(live) or head < L_FIRST:
                    raise InvariantError(f"{self.symbol}: level {price} dead count {dead} is wrong")
                for entry in live:
                    oid = entry[O_ID]
                    if entry[O_PRICE] != price or (entry[O_SIDE] == BUY) != buying:
                        raise InvariantError(f"{self.symbol}: order {oid} on the wrong level")
                    if oid in seen or self._orders.get(oid) is not entry:
                        raise InvariantError(f"{self.symbol}: order {oid} index mismatch")
                    if not 0 < entry[O_LEAVES] <= entry[O_QTY] or entry[O_ENDED]:
                        raise InvariantError(f"{self.symbol}: order {oid} leaves out of 1..qty")
                    seen.add(oid)
        if seen != set(self._orders):
            raise InvariantError(f"{self.symbol}: order index holds orders not in any level")
        best_bid = max(self._bids, default=None)
        best_ask = min(self._asks, default=None)
        if best_bid != self.best_bid() or best_ask != self.best_ask():
            raise InvariantError(f"{self.symbol}: cached best {self.best_bid()}/{self.best_ask()} is stale")
        if not crossed_ok and best_bid is not None and best_ask is not None and best_bid >= best_ask:
            raise InvariantError(f"{self.symbol}: book crossed at {best_bid}/{best_ask}")


def _build(book: OrderBook, first_trade_id: int, typed_fills: bool) -> None:
    """Make the book's commands as closures over its state and store them on ``book``."""
    symbol = book.symbol
    orders = book._orders
    bids = book._bids
    asks = book._asks
    k = book.quote_per_tick_lot
    taker_bps = book.taker_bps
    maker_bps = book.maker_bps
    ledger = book.ledger
    settling = ledger is not None
    rows: dict[int, list[int]] = ledger.rows if ledger is not None else {}
    base_av, quote_av, lot, fee_account = ledger[1:] if ledger is not None else (0, 0, 1, 0)
    base_held = base_av + 1
    quote_held = quote_av + 1
    max_fee = max(maker_bps, taker_bps, 0)
    min_notional = book.min_notional
    max_notional = book.max_notional
    empty_row = [0] * (max(base_av, quote_av) + 2)  # an account without a row: nothing, never written
    expiries: list[tuple[int, int]] = []  # (expire_at, order_id) of GTD orders
    best_bid = NO_BID
    best_ask = NO_ASK
    next_trade_id = first_trade_id
    last_order: Order = []

    def submit(
        order_id: int,
        account: int,
        side: int,
        price: int,
        qty: int,
        tif: int = GTC,
        order_type: int = LIMIT,
        post_only: bool = False,
        stp: int = EXPIRE_MAKER,
        client_order_id: str | None = None,
        expire_at: int = 0,
        seq: int = 0,
    ) -> Events:
        nonlocal last_order, best_bid, best_ask
        if price < 1 or qty < 1:
            code = int(Reject.INVALID_PRICE if price < 1 else Reject.INVALID_QTY)
            return [(EV_REJECTED, seq, symbol, order_id, account, code, client_order_id)]
        if order_id in orders:
            raise InvariantError(f"{symbol}: order id {order_id} is already resting")
        if side == BUY:
            crosses = price >= best_ask
        elif side == SELL:
            crosses = price <= best_bid
        else:
            code = int(Reject.INVALID_SIDE)
            return [(EV_REJECTED, seq, symbol, order_id, account, code, client_order_id)]
        if crosses or tif != GTC or order_type != LIMIT:
            return enter(order_id, account, side, price, qty, tif, order_type, post_only, stp, client_order_id, expire_at, seq, crosses)  # fmt: skip  # noqa: E501
        # A GTC limit order that does not cross, most of all traffic: rest it (inlined here as in
        # ``place_limit``, which this does not call: a call costs the plain book about 5%).
        order = last_order = [order_id, account, side, price, qty, qty, 0, client_order_id, 0, GTC, post_only, stp]  # fmt: skip  # noqa: E501
        if side == BUY:
            level = bids.get(price)
            if level is None:
                bids[price] = [qty, L_FIRST, 0, order]
                if price > best_bid:
                    best_bid = price
            else:
                level[0] += qty
                level.append(order)
        else:
            level = asks.get(price)
            if level is None:
                asks[price] = [qty, L_FIRST, 0, order]
                if price < best_ask:
                    best_ask = price
            else:
                level[0] += qty
                level.append(order)
        orders[order_id] = order
        return [(EV_ACCEPTED, seq, symbol, order_id, account, side, price, qty, LIMIT, GTC, client_order_id)]  # fmt: skip  # noqa: E501

    def place_limit(
        order_id: int,
        account: int,
        side: int,
        price: int,
        qty: int,
        post_only: bool,
        stp: int,
        client_order_id: str | None,
    ) -> Events:
        """``submit`` of a GTC limit order whose fields the caller has checked (price and qty >=
        1, an id that is not resting, ``seq`` = ``order_id``), taking its hold first: the
        engine's hot path. Refused, with nothing changed, for a side that is neither BUY nor
        SELL, a notional outside the book's limits, a hold the account cannot pay, or a post-only
        order that would take (in that order). One that does not cross, most of all traffic,
        rests here; one that crosses goes to ``enter``. A book without a ledger has no balances:
        it refuses every such order for funds."""
        nonlocal last_order, best_bid, best_ask
        seq = order_id
        if side == BUY:
            cost = price * k
            notional = qty * cost
            if not min_notional <= notional <= max_notional:
                code = NOTIONAL_BELOW_MIN if notional < min_notional else NOTIONAL_ABOVE_MAX
                return [(EV_REJECTED, seq, symbol, order_id, account, code, client_order_id)]
            hold = qty * (cost + -(-cost * max_fee // 10_000))
            try:
                row = rows[account]
            except KeyError:
                row = empty_row
            available = row[quote_av]
            if available < hold:
                return [(EV_REJECTED, seq, symbol, order_id, account, INSUFFICIENT_FUNDS, client_order_id)]
            if price >= best_ask:
                if post_only:
                    return [(EV_REJECTED, seq, symbol, order_id, account, POST_ONLY_WOULD_TAKE, client_order_id)]  # fmt: skip  # noqa: E501
                row[quote_av] = available - hold
                row[quote_held] += hold
                return enter(order_id, account, side, price, qty, GTC, LIMIT, False, stp, client_order_id, 0, seq, True)  # fmt: skip  # noqa: E501
            row[quote_av] = available - hold
            row[quote_held] += hold
            order = last_order = [order_id, account, side, price, qty, qty, 0, client_order_id, 0, GTC, post_only, stp]  # fmt: skip  # noqa: E501
            level = bids.get(price)
            if level is None:
                bids[price] = [qty, L_FIRST, 0, order]
                if price > best_bid:
                    best_bid = price
            else:
                level[0] += qty
                level.append(order)
        elif side == SELL:
            notional = price * qty * k
            if not min_notional <= notional <= max_notional:
                code = NOTIONAL_BELOW_MIN if notional < min_notional else NOTIONAL_ABOVE_MAX
                return [(EV_REJECTED, seq, symbol, order_id, account, code, client_order_id)]
            hold = qty * lot
            try:
                row = rows[account]
            except KeyError:
                row = empty_row
            available = row[base_av]
            if available < hold:
                return [(EV_REJECTED, seq, symbol, order_id, account, INSUFFICIENT_FUNDS, client_order_id)]
            if price <= best_bid:
                if post_only:
                    return [(EV_REJECTED, seq, symbol, order_id, account, POST_ONLY_WOULD_TAKE, client_order_id)]  # fmt: skip  # noqa: E501
                row[base_av] = available - hold
                row[base_held] += hold
                return enter(order_id, account, side, price, qty, GTC, LIMIT, False, stp, client_order_id, 0, seq, True)  # fmt: skip  # noqa: E501
            row[base_av] = available - hold
            row[base_held] += hold
            order = last_order = [order_id, account, side, price, qty, qty, 0, client_order_id, 0, GTC, post_only, stp]  # fmt: skip  # noqa: E501
            level = asks.get(price)
            if level is None:
                asks[price] = [qty, L_FIRST, 0, order]
                if price < best_ask:
                    best_ask = price
            else:
                level[0] += qty
                level.append(order)
        else:
            return [(EV_REJECTED, seq, symbol, order_id, account, INVALID_SIDE, client_order_id)]
        orders[order_id] = order
        return [(EV_ACCEPTED, seq, symbol, order_id, account, side, price, qty, LIMIT, GTC, client_order_id)]  # fmt: skip  # noqa: E501

    def enter(
        order_id: int,
        account: int,
        side: int,
        price: int,
        qty: int,
        tif: int,
        order_type: int,
        post_only: bool,
        stp: int,
        client_order_id: str | None,
        expire_at: int,
        seq: int,
        crosses: bool,
    ) -> Events:
        """Every order but a resting GTC limit: post-only, FOK, matching, IOC and GTD ends."""
        nonlocal last_order
        if order_type == MARKET:
            tif = IOC
        if crosses and post_only:
            code = int(Reject.POST_ONLY_WOULD_TAKE)
            return [(EV_REJECTED, seq, symbol, order_id, account, code, client_order_id)]
        order = last_order = [order_id, account, side, price, qty, qty, 0, client_order_id, expire_at, tif, post_only, stp]  # fmt: skip  # noqa: E501
        events: Events = [(EV_ACCEPTED, seq, symbol, order_id, account, side, price, qty, order_type, tif, client_order_id)]  # fmt: skip  # noqa: E501
        if crosses:
            if tif == FOK and not fok_fillable(account, side, price, qty, stp):
                end(order, R_FOK, seq, events)
                return events
            if match(order, seq, events):
                end(order, R_STP, seq, events)
                return events
            if not order[O_LEAVES]:
                return events
        if tif == GTC or tif == GTD:
            rest(order)
        else:
            end(order, R_FOK if tif == FOK else R_IOC, seq, events)
        return events

    def cancel(order_id: int, reason: int = R_USER, seq: int = 0) -> Events:
        nonlocal best_bid, best_ask
        order = orders.pop(order_id, None)
        if order is None:
            return [(EV_REJECTED, seq, symbol, order_id, 0, UNKNOWN_ORDER, None)]
        # Inlined unrest and end: cancels are a quarter of all traffic.
        account = order[O_ACCOUNT]
        side = order[O_SIDE]
        price = order[O_PRICE]
        leaves = order[O_LEAVES]
        order[O_LEAVES] = 0
        order[O_QTY] -= leaves
        order[O_ENDED] = CANCELLED if reason == R_USER else _END_STATUS.get(reason, CANCELLED)
        if settling:  # ``release`` and ``buy_hold_per_lot`` inlined: cancels are a quarter of traffic
            row = rows[account]
            if side == BUY:
                cost = price * k
                amount = leaves * (cost + -(-cost * max_fee // 10_000))
                row[quote_held] -= amount
                row[quote_av] += amount
            else:
                amount = leaves * lot
                row[base_held] -= amount
                row[base_av] += amount
        levels = bids if side == BUY else asks
        level = levels[price]
        volume = level[0] - leaves
        if volume:
            level[0] = volume
            if level[level[1]] is order:
                level[1] += 1
                if level[1] > _COMPACT_AT and level[1] * 2 > len(level):
                    compact(level)
            else:
                level[2] += 1
                if level[2] > _COMPACT_AT and level[2] * 2 > len(level):
                    compact(level)
        else:
            del levels[price]
            if side == BUY:
                if price == best_bid:
                    best_bid = next_best_bid(price)
            elif price == best_ask:
                best_ask = next_best_ask(price)
        return [(EV_CANCELLED, seq, symbol, order_id, account, side, price, leaves, 0, reason)]

    def cancel_all(account: int, reason: int = R_CANCEL_ALL, seq: int = 0) -> Events:
        events: Events = []
        for order in [o for o in orders.values() if o[O_ACCOUNT] == account]:
            unrest(order, False)
            end(order, reason, seq, events)
        return events

    def amend(order_id: int, price: int = 0, qty: int = 0, seq: int = 0) -> Events:
        order = orders.get(order_id)
        if order is None:
            return [(EV_REJECTED, seq, symbol, order_id, 0, UNKNOWN_ORDER, None)]
        account = order[O_ACCOUNT]
        if price < 0 or qty < 0:
            code = int(Reject.INVALID_PRICE if price < 0 else Reject.INVALID_QTY)
            return [(EV_REJECTED, seq, symbol, order_id, account, code, order[O_CLIENT_ID])]
        side = order[O_SIDE]
        old_price = order[O_PRICE]
        old_leaves = order[O_LEAVES]
        new_price = price or old_price
        new_leaves = qty or old_leaves
        if new_price == old_price and new_leaves <= old_leaves:
            cut = old_leaves - new_leaves
            order[O_LEAVES] = new_leaves
            order[O_QTY] -= cut
            (bids if side == BUY else asks)[old_price][0] -= cut
            return [(EV_AMENDED, seq, symbol, order_id, account, side, new_price, new_leaves, old_price, old_leaves, True)]  # fmt: skip  # noqa: E501
        crosses = new_price >= best_ask if side == BUY else new_price <= best_bid
        if crosses and order[O_POST_ONLY]:
            code = int(Reject.POST_ONLY_WOULD_TAKE)
            return [(EV_REJECTED, seq, symbol, order_id, account, code, order[O_CLIENT_ID])]
        unrest(order, True)
        order[O_PRICE] = new_price
        order[O_LEAVES] = new_leaves
        order[O_QTY] += new_leaves - old_leaves
        events: Events = [(EV_AMENDED, seq, symbol, order_id, account, side, new_price, new_leaves, old_price, old_leaves, False)]  # fmt: skip  # noqa: E501
        if crosses and match(order, seq, events):
            end(order, R_STP, seq, events)
        elif order[O_LEAVES]:
            rest(order)
        return events

    def expire(now: int, seq: int = 0) -> Events:
        events: Events = []
        while expiries and expiries[0][0] <= now:
            _, order_id = heappop(expiries)
            order = orders.get(order_id)
            if order is not None and order[O_TIF] == GTD and order[O_EXPIRE_AT] <= now:
                unrest(order, False)
                end(order, R_EXPIRED, seq, events)
        return events

    # ------------------------------------------------------------- matching

    def match(taker: Order, seq: int, events: Events) -> bool:
        """Trade ``taker`` against the opposite side up to its price; True if STP ended it."""
        nonlocal best_bid, best_ask, next_trade_id
        taker_id = taker[O_ID]
        taker_account = taker[O_ACCOUNT]
        side = taker[O_SIDE]
        limit = taker[O_PRICE]
        stp = taker[O_STP]
        leaves = taker[O_LEAVES]
        buying = side == BUY
        if buying:
            levels = asks
            best = best_ask
        else:
            levels = bids
            best = best_bid
        trade_id = next_trade_id
        stp_ended = False
        append = events.append
        traded = paid = fee_total = maker_unit = 0  # settling: lots traded, taker's quote, fees
        while leaves and (best <= limit if buying else best >= limit):
            level = levels[best]
            if settling and not buying:  # the makers are buys: what a lot of theirs holds
                maker_unit = buy_hold_per_lot(best, k, max_fee)
            head = level[1]
            volume = level[0]
            while True:
                maker = level[head]
                maker_leaves = maker[O_LEAVES]
                if not maker_leaves:
                    head += 1
                    level[2] -= 1
                    continue
                maker_account = maker[O_ACCOUNT]
                if maker_account == taker_account and stp:
                    maker_id = maker[O_ID]
                    if stp == DECREMENT:
                        cut = leaves if leaves < maker_leaves else maker_leaves
                        leaves -= cut
                        taker[O_LEAVES] = leaves
                        taker[O_QTY] -= cut
                        maker_leaves -= cut
                        maker[O_LEAVES] = maker_leaves
                        maker[O_QTY] -= cut
                        volume -= cut
                        if settling:
                            release(maker_account, maker[O_SIDE], best, cut)
                            release(taker_account, side, limit, cut)
                        append((EV_CANCELLED, seq, symbol, maker_id, maker_account, maker[O_SIDE], best, cut, maker_leaves, R_STP))  # fmt: skip  # noqa: E501
                        append((EV_CANCELLED, seq, symbol, taker_id, taker_account, side, limit, cut, leaves, R_STP))  # fmt: skip  # noqa: E501
                        if not maker_leaves:
                            head += 1
                            del orders[maker_id]
                            maker[O_ENDED] = CANCELLED
                        if not leaves:
                            taker[O_ENDED] = CANCELLED
                    else:
                        if stp != EXPIRE_TAKER:
                            head += 1
                            volume -= maker_leaves
                            del orders[maker_id]
                            maker[O_LEAVES] = 0
                            maker[O_QTY] -= maker_leaves
                            maker[O_ENDED] = CANCELLED
                            if settling:
                                release(maker_account, maker[O_SIDE], best, maker_leaves)
                            append((EV_CANCELLED, seq, symbol, maker_id, maker_account, maker[O_SIDE], best, maker_leaves, 0, R_STP))  # fmt: skip  # noqa: E501
                        if stp != EXPIRE_MAKER:
                            stp_ended = True
                    if stp_ended or not leaves or not volume:
                        break
                    continue
                qty = leaves if leaves < maker_leaves else maker_leaves
                leaves -= qty
                maker_leaves -= qty
                maker[O_LEAVES] = maker_leaves
                volume -= qty
                quote = best * qty * k
                # Ceilings: a fee rounds up, a rebate (negative rate) rounds down; a zero rate is free.
                taker_fee = -(-quote * taker_bps // 10_000) if taker_bps else 0
                maker_fee = -(-quote * maker_bps // 10_000) if maker_bps else 0
                maker_id = maker[O_ID]
                fill = (EV_FILL, seq, symbol, trade_id, taker_id, maker_id, taker_account, maker_account, side, best, qty, quote, taker_fee, maker_fee, leaves, maker_leaves)  # fmt: skip  # noqa: E501
                if typed_fills:
                    fill = Fill(fill)
                append(fill)
                trade_id += 1
                if settling:
                    maker_row = rows[maker_account]
                    if buying:  # the maker sold: base out of its hold, quote in
                        maker_row[base_held] -= qty * lot
                        maker_row[quote_av] += quote - maker_fee
                        paid += quote + taker_fee
                    else:  # the maker bought: its hold pays, the rest of the hold comes back
                        hold = qty * maker_unit
                        maker_row[quote_held] -= hold
                        maker_row[quote_av] += hold - quote - maker_fee
                        maker_row[base_av] += qty * lot
                        paid += quote - taker_fee
                    traded += qty
                    fee_total += taker_fee + maker_fee
                if maker_leaves:
                    break
                head += 1
                del orders[maker_id]
                if not leaves or not volume:
                    break
            if volume:
                level[0] = volume
                level[1] = head
                if head > _COMPACT_AT and head * 2 > len(level):
                    compact(level)
            else:
                del levels[best]
                best = next_best_ask(best) if buying else next_best_bid(best)
            if stp_ended:
                break
        if buying:
            best_ask = best
        else:
            best_bid = best
        next_trade_id = trade_id
        taker[O_LEAVES] = leaves
        if traded:  # the taker's side, all its fills at once; ``paid``: what it paid or received
            row = rows[taker_account]
            if buying:
                hold = traded * buy_hold_per_lot(limit, k, max_fee)
                row[quote_held] -= hold
                row[quote_av] += hold - paid
                row[base_av] += traded * lot
            else:
                row[base_held] -= traded * lot
                row[quote_av] += paid
            rows[fee_account][quote_av] += fee_total
        return stp_ended and leaves > 0

    def next_best_ask(emptied: int) -> int:
        """The lowest ask above the emptied best ``emptied``, or NO_ASK."""
        if not asks:
            return NO_ASK
        for price in range(emptied + 1, emptied + _NEAR):
            if price in asks:
                return price
        return min(asks)

    def next_best_bid(emptied: int) -> int:
        """The highest bid below the emptied best ``emptied``, or NO_BID."""
        if not bids:
            return NO_BID
        for price in range(emptied - 1, emptied - _NEAR, -1):
            if price in bids:
                return price
        return max(bids)

    def fok_fillable(account: int, side: int, limit: int, qty: int, stp: int) -> bool:
        """Whether ``qty`` can fill now within ``limit``, given how STP would meet own orders."""
        if side == BUY:
            levels = asks
            prices = sorted(p for p in levels if p <= limit)
        else:
            levels = bids
            prices = sorted((p for p in levels if p >= limit), reverse=True)
        available = 0
        for price in prices:
            level = levels[price]
            for maker in level[level[1] :]:
                leaves = maker[O_LEAVES]
                if not leaves:
                    continue
                if maker[O_ACCOUNT] == account and stp:
                    if stp == EXPIRE_MAKER:
                        continue
                    return False
                available += leaves
                if available >= qty:
                    return True
        return False

    # ------------------------------------------------------------ upkeep

    def rest(order: Order) -> None:
        """Append ``order`` (leaves > 0, not crossing) to the back of its price level."""
        order_id = order[O_ID]
        level = (bids if order[O_SIDE] == BUY else asks).get(order[O_PRICE])
        if level is None:
            new_level(order)
        else:
            level[0] += order[O_LEAVES]
            level.append(order)
        orders[order_id] = order
        if order[O_TIF] == GTD:
            heappush(expiries, (order[O_EXPIRE_AT], order_id))

    def new_level(order: Order) -> None:
        """Open the level of ``order``'s price with it alone; keep the best price."""
        nonlocal best_bid, best_ask
        price = order[O_PRICE]
        if order[O_SIDE] == BUY:
            bids[price] = [order[O_LEAVES], L_FIRST, 0, order]
            if price > best_bid:
                best_bid = price
        else:
            asks[price] = [order[O_LEAVES], L_FIRST, 0, order]
            if price < best_ask:
                best_ask = price

    def compact(level: Level, leaving: Order | None = None) -> None:
        """Drop the consumed front and the dead entries of a level (and ``leaving``, an order
        on its way out), keeping queue order."""
        level[L_FIRST:] = [o for o in level[level[1] :] if o[O_LEAVES] and o is not leaving]
        level[1] = L_FIRST
        level[2] = 0

    def unrest(order: Order, purge: bool) -> None:
        """Take a resting order out of the book, leaving its leaves for the caller to settle.

        The order stays in its queue as a dead entry (the caller zeroes its leaves) unless it is
        at the front or ``purge`` is set; purge when the same record will rest again (amend).
        """
        nonlocal best_bid, best_ask
        order_id = order[O_ID]
        price = order[O_PRICE]
        del orders[order_id]
        buying = order[O_SIDE] == BUY
        levels = bids if buying else asks
        level = levels[price]
        level[0] -= order[O_LEAVES]
        if not level[0]:
            del levels[price]
            if buying:
                if price == best_bid:
                    best_bid = next_best_bid(price)
            elif price == best_ask:
                best_ask = next_best_ask(price)
            return
        head = level[1]
        if level[head] is order:
            level[1] = head + 1
        elif purge:
            for index in range(head, len(level)):
                if level[index] is order:
                    del level[index]
                    break
        else:
            level[2] += 1
        if (level[1] > _COMPACT_AT and level[1] * 2 > len(level)) or (
            level[2] > _COMPACT_AT and level[2] * 2 > len(level)
        ):
            compact(level, order)

    def release(account: int, side: int, price: int, lots: int) -> None:
        """Give back what ``lots`` of an order at ``price`` held (only with a ledger)."""
        row = rows[account]
        if side == BUY:
            amount = lots * buy_hold_per_lot(price, k, max_fee)
            row[quote_held] -= amount
            row[quote_av] += amount
        else:
            amount = lots * lot
            row[base_held] -= amount
            row[base_av] += amount

    def end(order: Order, reason: int, seq: int, events: Events) -> None:
        """Finish an order that is out of the book: cancel its leaves with ``reason`` (and,
        settling, give back what they held)."""
        leaves = order[O_LEAVES]
        if settling and leaves:
            release(order[O_ACCOUNT], order[O_SIDE], order[O_PRICE], leaves)
        order[O_LEAVES] = 0
        order[O_QTY] -= leaves
        order[O_ENDED] = _END_STATUS.get(reason, CANCELLED)
        events.append((EV_CANCELLED, seq, symbol, order[O_ID], order[O_ACCOUNT], order[O_SIDE], order[O_PRICE], leaves, 0, reason))  # fmt: skip  # noqa: E501

    def get_best_bid() -> int | None:
        return best_bid if best_bid != NO_BID else None

    def get_best_ask() -> int | None:
        return best_ask if best_ask != NO_ASK else None

    def get_last_order() -> Order:
        return last_order

    def get_next_trade_id() -> int:
        return next_trade_id

    def get_next_expiry() -> int | None:
        return expiries[0][0] if expiries else None

    book.submit = submit
    book.place_limit = place_limit
    book.cancel = cancel
    book.cancel_all = cancel_all
    book.amend = amend
    book.expire = expire
    book.load = rest
    book.order = orders.get
    book.best_bid = get_best_bid
    book.best_ask = get_best_ask
    book.last_order = get_last_order
    book.next_trade_id = get_next_trade_id
    book.next_expiry = get_next_expiry
