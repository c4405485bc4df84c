"""A deliberately minimal limit order book: the baseline that benchmark ratios are measured against.

Price-time priority for plain limit orders on one symbol, nothing else: no order types, no
self-trade prevention, no risk, no fees, no events beyond fills. Each side is a
``sortedcontainers.SortedDict`` of price -> ``collections.deque`` of resting orders (oldest first),
plus one dict of order id -> order. A fill is the plain tuple
``(taker_order_id, maker_order_id, price, qty)``, at the maker's price.

Cancel removes the order from its level's deque with ``deque.remove``: O(orders in that level),
done in C, and it keeps every deque free of dead orders, so the front of a level is always live.

This is written the way a competent engineer writes a first, obviously-correct book: straight-
forward, not sabotaged and not tuned. Keep it that way, or the ratios stop meaning anything.
It trusts its input (unique ids, positive integer prices and quantities) and checks nothing.
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedDict

from matcher.enums import Side

Fill = tuple[int, int, int, int]


class Order:
    """A resting order; ``qty`` is what is left of it."""

    __slots__ = ("order_id", "account", "side", "price", "qty")

    def __init__(self, order_id: int, account: int, side: int, price: int, qty: int) -> None:
        self.order_id = order_id
        self.account = account
        self.side = side
        self.price = price
        self.qty = qty


class MinimalBook:
    """One symbol's book: limit add (match, then rest the remainder) and cancel by id."""

    def __init__(self) -> None:
        self.bids: SortedDict[int, deque[Order]] = SortedDict()
        self.asks: SortedDict[int, deque[Order]] = SortedDict()
        self.orders: dict[int, Order] = {}

    def best_bid(self) -> int | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def submit(self, order_id: int, account: int, side: int, price: int, qty: int) -> list[Fill]:
        """Match a limit order against the opposite side, rest what is left; return the fills."""
        fills: list[Fill] = []
        buying = side == Side.BUY
        if buying:
            opposite, best_index = self.asks, 0
        else:
            opposite, best_index = self.bids, -1
        while qty and opposite:
            level_price, level = opposite.peekitem(best_index)
            if (level_price > price) if buying else (level_price < price):
                break
            while qty and level:
                maker = level[0]
                traded = min(qty, maker.qty)
                fills.append((order_id, maker.order_id, level_price, traded))
                qty -= traded
                maker.qty -= traded
                if maker.qty == 0:
                    level.popleft()
                    del self.orders[maker.order_id]
            if not level:
                del opposite[level_price]
        if qty:
            order = Order(order_id, account, side, price, qty)
            self.orders[order_id] = order
            own = self.bids if buying else self.asks
            level = own.get(price)
            if level is None:
                level = own[price] = deque()
            level.append(order)
        return fills

    def cancel(self, order_id: int) -> list[Fill]:
        """Remove an open order; an unknown id does nothing. Return no fills (for a uniform API)."""
        order = self.orders.pop(order_id, None)
        if order is not None:
            own = self.bids if order.side == Side.BUY else self.asks
            level = own[order.price]
            level.remove(order)
            if not level:
                del own[order.price]
        return []

    def levels(self, side: int, count: int) -> list[tuple[int, int]]:
        """The best ``count`` levels of one side as ``(price, total qty)``, best first."""
        book = self.bids if side == Side.BUY else self.asks
        prices = reversed(book.keys()[-count:]) if side == Side.BUY else book.keys()[:count]
        return [(price, sum(order.qty for order in book[price])) for price in prices]
