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

Limits: the book knows nothing of accounts' money, client ids, time or sessions (the ``Engine``
does); ``order_id`` is the caller's and must be unique among resting orders. Time-in-force GTD
rests like GTC; ``expire(now)`` ends the GTD orders whose ``expire_at <= now``.

Shape: per side a dict of price → level and a heap of its prices, with the best price cached as
an int, so adding at a known level and cancelling are O(1); an order-id index that is only ever
looked up, never iterated; an account index for cancel-all. A level is ``[volume, deque, dead]``:
cancelling marks an order dead in place (leaves 0) and the queue drops dead entries at its front
lazily, or compacts itself when they pile up. Orders are plain lists (slots named ``O_*``), the
cheapest mutable record CPython offers.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush, nsmallest
from typing import Any

from matcher.enums import CancelReason, OrderStatus, OrderType, Side, Stp, TimeInForce
from matcher.errors import InvariantError
from matcher.events import Accepted, Amended, Cancelled, Event, Fill, Rejected
from matcher.rejects import Reject

# Order record slots.
O_ID = 0
O_ACCOUNT = 1
O_SIDE = 2
O_PRICE = 3
O_LEAVES = 4
O_QTY = 5
O_FILLED = 6
O_STATUS = 7
O_CLIENT_ID = 8
O_EXPIRE_AT = 9
O_TIF = 10
O_POST_ONLY = 11
O_STP = 12

Order = list[Any]
Level = list[Any]  # [volume, deque[Order], dead entries in the deque]

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
STP_NONE = int(Stp.NONE)
EXPIRE_TAKER = int(Stp.EXPIRE_TAKER)
EXPIRE_MAKER = int(Stp.EXPIRE_MAKER)
EXPIRE_BOTH = int(Stp.EXPIRE_BOTH)
DECREMENT = int(Stp.DECREMENT)
R_USER = int(CancelReason.USER)
R_CANCEL_ALL = int(CancelReason.CANCEL_ALL)
R_IOC = int(CancelReason.IOC)
R_FOK = int(CancelReason.FOK)
R_STP = int(CancelReason.STP)
R_EXPIRED = int(CancelReason.EXPIRED)

NO_BID = 0
NO_ASK = 1 << 62
_COMPACT_AT = 32  # dead entries in one level before it is compacted
_END_STATUS = {R_IOC: EXPIRED, R_FOK: EXPIRED, R_EXPIRED: EXPIRED}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class OrderBook:
    """The limit order book of one symbol; every call returns the events it caused, in order."""

    __slots__ = (
        "symbol",
        "maker_bps",
        "taker_bps",
        "quote_per_tick_lot",
        "_fees",
        "_orders",
        "_by_account",
        "_bids",
        "_asks",
        "_bid_heap",
        "_ask_heap",
        "_best_bid",
        "_best_ask",
        "_expiries",
        "next_trade_id",
        "last_order",
    )

    def __init__(
        self,
        symbol: str,
        *,
        maker_bps: int = 0,
        taker_bps: int = 0,
        quote_per_tick_lot: int = 1,
        next_trade_id: int = 1,
    ) -> None:
        """``quote_per_tick_lot`` turns price × qty into quote units; fees are in basis points.

        Fee rounding: a fee is rounded up and a rebate (negative maker rate) down, so the fee
        account never pays out more than it takes on one fill while ``taker_bps >= -maker_bps``.
        """
        if not -taker_bps <= maker_bps <= 10_000 or not 0 <= taker_bps <= 10_000:
            raise ValueError("fees: need 0 <= taker_bps <= 10000 and -taker_bps <= maker_bps")
        if quote_per_tick_lot < 1:
            raise ValueError("quote_per_tick_lot must be a positive integer")
        self.symbol = symbol
        self.maker_bps = maker_bps
        self.taker_bps = taker_bps
        self.quote_per_tick_lot = quote_per_tick_lot
        self._fees = bool(maker_bps or taker_bps)
        self._orders: dict[int, Order] = {}
        self._by_account: dict[int, dict[int, Order]] = {}
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []  # negated prices; may hold prices of vanished levels
        self._ask_heap: list[int] = []
        self._best_bid = NO_BID
        self._best_ask = NO_ASK
        self._expiries: list[tuple[int, int]] = []  # (expire_at, order_id) of GTD orders
        self.next_trade_id = next_trade_id
        #: The record of the order the last ``submit`` accepted (the engine keeps it by client id).
        self.last_order: Order = []

    # ----------------------------------------------------------------- queries

    def best_bid(self) -> int | None:
        return self._best_bid if self._best_bid != NO_BID else None

    def best_ask(self) -> int | None:
        return self._best_ask if self._best_ask != NO_ASK else None

    def order(self, order_id: int) -> Order | None:
        """The live record of a resting order (read it, never change it), or None."""
        return self._orders.get(order_id)

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def orders_of(self, account: int) -> list[Order]:
        """The account's resting orders, oldest first."""
        return list(self._by_account.get(account, {}).values())

    def volume_at(self, side: int, price: int) -> int:
        level = (self._bids if side == BUY else self._asks).get(price)
        return level[0] if level else 0

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated depth: up to ``levels`` (price, volume) pairs per side, best first."""
        bids = self._bids
        asks = self._asks
        bid_prices = [-p for p in nsmallest(levels, (-p for p in bids))]
        ask_prices = nsmallest(levels, asks)
        return (
            [(p, bids[p][0]) for p in bid_prices],
            [(p, asks[p][0]) for p in ask_prices],
        )

    def resting_orders(self) -> list[Order]:
        """Every resting order: bids best first, then asks best first, each level in queue order."""
        out: list[Order] = []
        for levels, prices in (
            (self._bids, sorted(self._bids, reverse=True)),
            (self._asks, sorted(self._asks)),
        ):
            for price in prices:
                out.extend(o for o in levels[price][1] if o[O_LEAVES])
        return out

    @property
    def next_expiry(self) -> int | None:
        """The earliest expiry time among GTD orders (possibly of one already gone), or None."""
        return self._expiries[0][0] if self._expiries else None

    # ---------------------------------------------------------------- commands

    def submit(
        self,
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
    ) -> list[Event]:
        """Enter an order: match what crosses, then rest (GTC, GTD) or cancel (IOC, FOK, market).

        A market order is an IOC bounded by ``price``, its protection price. Post-only is
        rejected with ``POST_ONLY_WOULD_TAKE`` if it would trade on arrival. FOK trades only if
        its whole quantity can fill now, else it ends with a ``Cancelled(reason=FOK)``.
        """
        symbol = self.symbol
        if price < 1 or qty < 1:
            code = int(Reject.INVALID_PRICE if price < 1 else Reject.INVALID_QTY)
            return [Rejected((seq, symbol, order_id, account, code, client_order_id))]
        orders = self._orders
        if order_id in orders:
            raise InvariantError(f"{symbol}: order id {order_id} is already resting")
        if side == BUY:
            crosses = price >= self._best_ask
        elif side == SELL:
            crosses = price <= self._best_bid
        else:
            code = int(Reject.INVALID_SIDE)
            return [Rejected((seq, symbol, order_id, account, code, client_order_id))]
        if order_type == MARKET:
            tif = IOC
        if crosses and post_only:
            code = int(Reject.POST_ONLY_WOULD_TAKE)
            return [Rejected((seq, symbol, order_id, account, code, client_order_id))]
        order = [order_id, account, side, price, qty, qty, 0, NEW, client_order_id, expire_at, tif, post_only, stp]  # fmt: skip
        self.last_order = order
        events: list[Event] = [
            Accepted((seq, symbol, order_id, account, side, price, qty, order_type, tif, client_order_id))
        ]
        if crosses:
            if tif == FOK and not self._fok_fillable(account, side, price, qty, stp):
                self._end(order, R_FOK, seq, events)
                return events
            if self._match(order, seq, events):
                self._end(order, R_STP, seq, events)
                return events
            leaves = order[O_LEAVES]
            if not leaves:
                return events
        else:
            leaves = qty
        if tif != GTC and tif != GTD:
            self._end(order, R_FOK if tif == FOK else R_IOC, seq, events)
            return events
        # Rest: inlined from _rest, the path most orders take.
        if side == BUY:
            level = self._bids.get(price)
            if level is None:
                self._new_level(order)
            else:
                level[0] += leaves
                level[1].append(order)
        else:
            level = self._asks.get(price)
            if level is None:
                self._new_level(order)
            else:
                level[0] += leaves
                level[1].append(order)
        orders[order_id] = order
        mine = self._by_account.get(account)
        if mine is None:
            self._by_account[account] = {order_id: order}
        else:
            mine[order_id] = order
        if tif == GTD:
            heappush(self._expiries, (expire_at, order_id))
        return events

    def cancel(self, order_id: int, reason: int = R_USER, seq: int = 0) -> list[Event]:
        """Remove a resting order; unknown or already-ended ids get ``Rejected(UNKNOWN_ORDER)``."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return [Rejected((seq, self.symbol, order_id, 0, int(Reject.UNKNOWN_ORDER), None))]
        # Inlined from _unrest and _end: cancels are a quarter of all traffic.
        account = order[O_ACCOUNT]
        side = order[O_SIDE]
        price = order[O_PRICE]
        leaves = order[O_LEAVES]
        del self._by_account[account][order_id]
        order[O_LEAVES] = 0
        order[O_STATUS] = _END_STATUS.get(reason, CANCELLED)
        levels = self._bids if side == BUY else self._asks
        level = levels[price]
        volume = level[0] - leaves
        if volume:
            level[0] = volume
            queue = level[1]
            if queue[0] is order:
                queue.popleft()
            else:
                level[2] += 1
                if level[2] > _COMPACT_AT and level[2] * 2 > len(queue):
                    level[1] = deque(o for o in queue if o[O_LEAVES])
                    level[2] = 0
        else:
            del levels[price]
            if side == BUY:
                if price == self._best_bid:
                    self._best_bid = self._next_best(False)
            elif price == self._best_ask:
                self._best_ask = self._next_best(True)
        return [Cancelled((seq, self.symbol, order_id, account, side, price, leaves, 0, reason))]

    def cancel_all(self, account: int, *, reason: int = R_CANCEL_ALL, seq: int = 0) -> list[Event]:
        """Cancel every resting order of ``account``, oldest first."""
        mine = self._by_account.get(account)
        if not mine:
            return []
        events: list[Event] = []
        for order in list(mine.values()):
            self._unrest(order)
            self._end(order, reason, seq, events)
        return events

    def amend(self, order_id: int, *, price: int = 0, qty: int = 0, seq: int = 0) -> list[Event]:
        """Change a resting order's price and/or leaves quantity (0 keeps the current value).

        Same price and quantity down: in place, priority kept. Otherwise the order leaves its
        queue and re-enters at the back of its (new) level, trading first if it now crosses; a
        post-only order that would cross is refused with ``POST_ONLY_WOULD_TAKE``.
        """
        order = self._orders.get(order_id)
        symbol = self.symbol
        if order is None:
            return [Rejected((seq, symbol, order_id, 0, int(Reject.UNKNOWN_ORDER), None))]
        account = order[O_ACCOUNT]
        if price < 0 or qty < 0:
            code = int(Reject.INVALID_PRICE if price < 0 else Reject.INVALID_QTY)
            return [Rejected((seq, symbol, order_id, account, code, order[O_CLIENT_ID]))]
        side = order[O_SIDE]
        old_price = order[O_PRICE]
        old_leaves = order[O_LEAVES]
        new_price = price or old_price
        new_leaves = qty or old_leaves
        if new_price == old_price and new_leaves <= old_leaves:
            cut = old_leaves - new_leaves
            order[O_LEAVES] = new_leaves
            order[O_QTY] -= cut
            levels = self._bids if side == BUY else self._asks
            levels[old_price][0] -= cut
            return [
                Amended(
                    (seq, symbol, order_id, account, side, new_price, new_leaves, old_price, old_leaves, True)
                )
            ]
        crosses = new_price >= self._best_ask if side == BUY else new_price <= self._best_bid
        if crosses and order[O_POST_ONLY]:
            code = int(Reject.POST_ONLY_WOULD_TAKE)
            return [Rejected((seq, symbol, order_id, account, code, order[O_CLIENT_ID]))]
        self._unrest(order, purge=True)
        order[O_PRICE] = new_price
        order[O_LEAVES] = new_leaves
        order[O_QTY] = order[O_FILLED] + new_leaves
        events: list[Event] = [
            Amended(
                (seq, symbol, order_id, account, side, new_price, new_leaves, old_price, old_leaves, False)
            )
        ]
        if crosses and self._match(order, seq, events):
            self._end(order, R_STP, seq, events)
        elif order[O_LEAVES]:
            self._rest(order)
        return events

    def expire(self, now: int, *, seq: int = 0) -> list[Event]:
        """End every GTD order whose ``expire_at <= now``, earliest first."""
        heap = self._expiries
        events: list[Event] = []
        while heap and heap[0][0] <= now:
            _, order_id = heappop(heap)
            order = self._orders.get(order_id)
            if order is not None and order[O_TIF] == GTD and order[O_EXPIRE_AT] <= now:
                self._unrest(order)
                self._end(order, R_EXPIRED, seq, events)
        return events

    # ---------------------------------------------------------------- matching

    def _match(self, taker: Order, seq: int, events: list[Event]) -> bool:
        """Trade ``taker`` against the opposite side up to its price; True if STP ended it."""
        taker_id = taker[O_ID]
        taker_account = taker[O_ACCOUNT]
        side = taker[O_SIDE]
        limit = taker[O_PRICE]
        stp = taker[O_STP]
        leaves = taker[O_LEAVES]
        buying = side == BUY
        if buying:
            levels = self._asks
            best = self._best_ask
        else:
            levels = self._bids
            best = self._best_bid
        orders = self._orders
        by_account = self._by_account
        symbol = self.symbol
        fees = self._fees
        k = self.quote_per_tick_lot
        taker_bps = self.taker_bps
        maker_bps = self.maker_bps
        trade_id = self.next_trade_id
        stp_ended = False
        append = events.append
        while leaves and (best <= limit if buying else best >= limit):
            level = levels[best]
            queue = level[1]
            while True:
                maker = queue[0]
                maker_leaves = maker[O_LEAVES]
                if not maker_leaves:
                    queue.popleft()
                    level[2] -= 1
                    continue
                maker_account = maker[O_ACCOUNT]
                if maker_account == taker_account and stp:
                    if stp == DECREMENT:
                        cut = leaves if leaves < maker_leaves else maker_leaves
                        leaves -= cut
                        taker[O_LEAVES] = leaves
                        taker[O_QTY] -= cut
                        maker_leaves -= cut
                        maker[O_LEAVES] = maker_leaves
                        maker[O_QTY] -= cut
                        level[0] -= cut
                        maker_id = maker[O_ID]
                        append(
                            Cancelled(
                                (
                                    seq,
                                    symbol,
                                    maker_id,
                                    maker_account,
                                    maker[O_SIDE],
                                    best,
                                    cut,
                                    maker_leaves,
                                    R_STP,
                                )
                            )
                        )
                        append(
                            Cancelled((seq, symbol, taker_id, taker_account, side, limit, cut, leaves, R_STP))
                        )
                        if not maker_leaves:
                            queue.popleft()
                            del orders[maker_id]
                            del by_account[maker_account][maker_id]
                            maker[O_STATUS] = CANCELLED
                        if not leaves:
                            taker[O_STATUS] = CANCELLED
                    else:
                        if stp != EXPIRE_TAKER:
                            queue.popleft()
                            level[0] -= maker_leaves
                            maker_id = maker[O_ID]
                            del orders[maker_id]
                            del by_account[maker_account][maker_id]
                            maker[O_LEAVES] = 0
                            maker[O_STATUS] = CANCELLED
                            append(
                                Cancelled(
                                    (
                                        seq,
                                        symbol,
                                        maker_id,
                                        maker_account,
                                        maker[O_SIDE],
                                        best,
                                        maker_leaves,
                                        0,
                                        R_STP,
                                    )
                                )
                            )
                        if stp != EXPIRE_MAKER:
                            stp_ended = True
                    if stp_ended or not leaves or not level[0]:
                        break
                    continue
                qty = leaves if leaves < maker_leaves else maker_leaves
                leaves -= qty
                maker_leaves -= qty
                maker[O_LEAVES] = maker_leaves
                maker[O_FILLED] += qty
                level[0] -= qty
                quote = best * qty * k
                if fees:
                    taker_fee = -(-quote * taker_bps // 10_000)
                    maker_fee = (
                        -(-quote * maker_bps // 10_000) if maker_bps >= 0 else -(quote * -maker_bps // 10_000)
                    )
                else:
                    taker_fee = maker_fee = 0
                maker_id = maker[O_ID]
                append(
                    Fill(
                        (
                            seq,
                            symbol,
                            trade_id,
                            taker_id,
                            maker_id,
                            taker_account,
                            maker_account,
                            side,
                            best,
                            qty,
                            quote,
                            taker_fee,
                            maker_fee,
                            leaves,
                            maker_leaves,
                        )
                    )
                )
                trade_id += 1
                if maker_leaves:
                    maker[O_STATUS] = PARTIALLY_FILLED
                    break
                maker[O_STATUS] = FILLED
                queue.popleft()
                del orders[maker_id]
                del by_account[maker_account][maker_id]
                if not leaves or not level[0]:
                    break
            if not level[0]:
                del levels[best]
                best = self._next_best(buying)
            if stp_ended:
                break
        if buying:
            self._best_ask = best
        else:
            self._best_bid = best
        self.next_trade_id = trade_id
        filled = taker[O_QTY] - leaves
        taker[O_FILLED] = filled
        taker[O_LEAVES] = leaves
        if filled and taker[O_STATUS] != CANCELLED:
            taker[O_STATUS] = FILLED if not leaves else PARTIALLY_FILLED
        return stp_ended and leaves > 0

    def _next_best(self, asks: bool) -> int:
        """Drop the emptied best level's price from its heap; return the new best (or sentinel)."""
        if asks:
            heap = self._ask_heap
            levels = self._asks
            while heap and heap[0] not in levels:
                heappop(heap)
            return heap[0] if heap else NO_ASK
        heap = self._bid_heap
        levels = self._bids
        while heap and -heap[0] not in levels:
            heappop(heap)
        return -heap[0] if heap else NO_BID

    def _fok_fillable(self, account: int, side: int, limit: int, qty: int, stp: int) -> bool:
        """Whether ``qty`` can fill now within ``limit``, given how STP would meet own orders."""
        if side == BUY:
            levels = self._asks
            prices = sorted(p for p in levels if p <= limit)
        else:
            levels = self._bids
            prices = sorted((p for p in levels if p >= limit), reverse=True)
        available = 0
        for price in prices:
            for maker in levels[price][1]:
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

    # ------------------------------------------------------------ book upkeep

    def _rest(self, order: Order) -> None:
        """Append ``order`` (leaves > 0, not crossing) to the back of its price level."""
        order_id = order[O_ID]
        levels = self._bids if order[O_SIDE] == BUY else self._asks
        level = levels.get(order[O_PRICE])
        if level is None:
            self._new_level(order)
        else:
            level[0] += order[O_LEAVES]
            level[1].append(order)
        self._orders[order_id] = order
        mine = self._by_account.get(order[O_ACCOUNT])
        if mine is None:
            self._by_account[order[O_ACCOUNT]] = {order_id: order}
        else:
            mine[order_id] = order
        if order[O_TIF] == GTD:
            heappush(self._expiries, (order[O_EXPIRE_AT], order_id))

    def _new_level(self, order: Order) -> None:
        """Open the level of ``order``'s price with it alone; keep the heap and best price."""
        price = order[O_PRICE]
        level = [order[O_LEAVES], deque((order,)), 0]
        if order[O_SIDE] == BUY:
            self._bids[price] = level
            heap = self._bid_heap
            heappush(heap, -price)
            if len(heap) > 2 * len(self._bids) + 64:
                self._bid_heap = [-p for p in self._bids]
                heapify(self._bid_heap)
            if price > self._best_bid:
                self._best_bid = price
        else:
            self._asks[price] = level
            heap = self._ask_heap
            heappush(heap, price)
            if len(heap) > 2 * len(self._asks) + 64:
                self._ask_heap = list(self._asks)
                heapify(self._ask_heap)
            if price < self._best_ask:
                self._best_ask = price

    def _unrest(self, order: Order, purge: bool = False) -> None:
        """Take a resting order out of the book, leaving its leaves for the caller to settle.

        The order stays in its queue as a dead entry (the caller zeroes its leaves) unless it is
        at the front or ``purge`` is set; purge when the same record will rest again (amend).
        """
        order_id = order[O_ID]
        price = order[O_PRICE]
        del self._orders[order_id]
        del self._by_account[order[O_ACCOUNT]][order_id]
        buying = order[O_SIDE] == BUY
        levels = self._bids if buying else self._asks
        level = levels[price]
        level[0] -= order[O_LEAVES]
        if not level[0]:
            del levels[price]
            if buying:
                if price == self._best_bid:
                    self._best_bid = self._next_best(False)
            elif price == self._best_ask:
                self._best_ask = self._next_best(True)
            return
        queue = level[1]
        if queue[0] is order:
            queue.popleft()
        elif purge:
            for index, entry in enumerate(queue):
                if entry is order:
                    del queue[index]
                    break
        else:
            level[2] += 1
            if level[2] > _COMPACT_AT and level[2] * 2 > len(queue):
                level[1] = deque(o for o in queue if o[O_LEAVES] and o is not order)
                level[2] = 0

    def _end(self, order: Order, reason: int, seq: int, events: list[Event]) -> None:
        """Finish an order that is out of the book: cancel its leaves with ``reason``."""
        leaves = order[O_LEAVES]
        order[O_LEAVES] = 0
        order[O_STATUS] = _END_STATUS.get(reason, CANCELLED)
        events.append(
            Cancelled(
                (
                    seq,
                    self.symbol,
                    order[O_ID],
                    order[O_ACCOUNT],
                    order[O_SIDE],
                    order[O_PRICE],
                    leaves,
                    0,
                    reason,
                )
            )
        )

    # ------------------------------------------------------------- checking

    def validate(self) -> None:
        """Raise ``InvariantError`` unless every rule in the module docstring holds."""
        seen: set[int] = set()
        for buying, levels in ((True, self._bids), (False, self._asks)):
            heap_prices = {-p for p in self._bid_heap} if buying else set(self._ask_heap)
            for price, (volume, queue, dead) in levels.items():
                live: list[Order] = [o for o in queue if o[O_LEAVES]]
                if not live or volume != sum(o[O_LEAVES] for o in live):
                    raise InvariantError(f"{self.symbol}: level {price} volume {volume} != its orders")
                if dead != len(queue) - len(live):
                    raise InvariantError(f"{self.symbol}: level {price} dead count {dead} is wrong")
                if price not in heap_prices:
                    raise InvariantError(f"{self.symbol}: level {price} missing from its heap")
                for entry in live:
                    oid = entry[O_ID]
                    if entry[O_PRICE] != price or (entry[O_SIDE] == BUY) != buying:
                        raise InvariantError(f"{self.symbol}: order {oid} on the wrong level")
                    if oid in seen or self._orders.get(oid) is not entry:
                        raise InvariantError(f"{self.symbol}: order {oid} index mismatch")
                    if entry[O_FILLED] + entry[O_LEAVES] != entry[O_QTY]:
                        raise InvariantError(f"{self.symbol}: order {oid} filled+leaves != qty")
                    seen.add(oid)
        if seen != set(self._orders):
            raise InvariantError(f"{self.symbol}: order index holds orders not in any level")
        indexed = {oid for mine in self._by_account.values() for oid in mine}
        if indexed != seen:
            raise InvariantError(f"{self.symbol}: account index disagrees with the book")
        best_bid = max(self._bids, default=NO_BID)
        best_ask = min(self._asks, default=NO_ASK)
        if best_bid != self._best_bid or best_ask != self._best_ask:
            raise InvariantError(f"{self.symbol}: cached best {self._best_bid}/{self._best_ask} is stale")
        if best_bid >= best_ask:
            raise InvariantError(f"{self.symbol}: book crossed at {best_bid}/{best_ask}")
