"""The reopening auction: uncross a halted symbol's collected book at one price, then rebuild it.

``uncross`` prices the whole book with ``matcher.auction.clearing_price`` within the band it is
given, then executes exactly the volume that price reports: bids priced at or above it, best price
first and oldest first within a price, against asks priced at or below it in the same order. Every
trade prints at the single clearing price as an ordinary ``Fill`` (so settlement and market data
see it); of the two orders in a trade, the one placed later (the higher order id) is reported as
the taker and pays the taker fee, the other the maker fee, with the book's rounding (a fee rounds
up, a rebate down). Funds move as in continuous trading: a buy's hold was taken at its own limit
price, so what the lower clearing price leaves over goes back to available.

Every collected order takes part, post-only ones too (nothing takes liquidity in a call);
self-trade prevention does not apply in the auction: two orders of one account may trade.

What does not execute stays in the book with its time priority (the book is rebuilt from its own
queues, in order). The leftover book is never crossed inside the band; orders left crossing
beyond the band's edges (bids above the high edge, asks below the low one, possible only when a
reference moved the band while collecting) are cancelled with reason ``AUCTION``, so continuous
trading resumes on an uncrossed book. A ``BookRebuilt`` event with the new book's levels closes
the auction's events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matcher.accounts import buy_hold_per_lot
from matcher.auction import clearing_price
from matcher.book import O_ACCOUNT, O_ENDED, O_ID, O_LEAVES, O_PRICE, O_QTY, O_SIDE, Order
from matcher.enums import CancelReason, OrderStatus, Side
from matcher.events import BOOK_REBUILT, CANCELLED, FILL, UNCROSSED

if TYPE_CHECKING:
    from matcher.engine import Market

BUY = int(Side.BUY)
R_AUCTION = int(CancelReason.AUCTION)
ENDED_CANCELLED = int(OrderStatus.CANCELLED)
Events = list[tuple[Any, ...]]


def uncross(market: Market, rows: dict[int, list[int]], fee_row: list[int], reference: int, low: int,
            high: int, seq: int) -> Events:  # fmt: skip
    """Run the auction on ``market``'s book (see the module docstring); move the funds in
    ``rows`` (balance rows by account) and ``fee_row``. The market's book is replaced: the caller
    refreshes whatever holds the old one."""
    book = market.book
    orders = book.resting_orders()  # bids best first, then asks best first, each in queue order
    bid_levels, ask_levels = book.levels()
    result = clearing_price(bid_levels, ask_levels, reference, low, high)
    events: Events = []
    trade_id = book.next_trade_id()
    if result is not None:
        price, volume, _ = result
        events.append((UNCROSSED, seq, book.symbol, price, volume))
        buys = [o for o in orders if o[O_SIDE] == BUY and o[O_PRICE] >= price]
        sells = [o for o in orders if o[O_SIDE] != BUY and o[O_PRICE] <= price]
        trade_id = _execute(market, rows, fee_row, buys, sells, price, volume, trade_id, seq, events)
    leftover = [o for o in orders if o[O_LEAVES]]
    best_bid = max((o[O_PRICE] for o in leftover if o[O_SIDE] == BUY), default=None)
    best_ask = min((o[O_PRICE] for o in leftover if o[O_SIDE] != BUY), default=None)
    if best_bid is not None and best_ask is not None and best_bid >= best_ask:
        for order in leftover:
            if (order[O_PRICE] > high) if order[O_SIDE] == BUY else (order[O_PRICE] < low):
                _release(market, rows, order)
                leaves = order[O_LEAVES]
                events.append((CANCELLED, seq, book.symbol, order[O_ID], order[O_ACCOUNT], order[O_SIDE], order[O_PRICE], leaves, 0, R_AUCTION))  # fmt: skip  # noqa: E501
                order[O_LEAVES] = 0
                order[O_QTY] -= leaves
                order[O_ENDED] = ENDED_CANCELLED
    market.rebuild_book(trade_id)
    for order in orders:
        if order[O_LEAVES]:
            market.book.load(order)
    if events:  # something traded or was cancelled: say what the book is now
        bids, asks = market.book.levels()
        events.append((BOOK_REBUILT, seq, book.symbol, tuple(sorted(bids, reverse=True)), tuple(sorted(asks))))  # fmt: skip  # noqa: E501
    return events


def _execute(market: Market, rows: dict[int, list[int]], fee_row: list[int], buys: list[Order],
             sells: list[Order], price: int, volume: int, trade_id: int, seq: int,
             events: Events) -> int:  # fmt: skip
    """Trade ``volume`` lots between ``buys`` and ``sells`` (each in priority order) at ``price``;
    return the next trade id."""
    book = market.book
    k, lot, base, quote = market.k, market.lot, 2 * market.base, 2 * market.quote
    cost = price * k
    i = j = 0
    while volume:
        buy, sell = buys[i], sells[j]
        qty = min(buy[O_LEAVES], sell[O_LEAVES], volume)
        volume -= qty
        buy[O_LEAVES] -= qty
        sell[O_LEAVES] -= qty
        taker, maker = (buy, sell) if buy[O_ID] > sell[O_ID] else (sell, buy)
        quote_qty = qty * cost
        taker_fee = -(-quote_qty * book.taker_bps // 10_000)
        maker_fee = -(-quote_qty * book.maker_bps // 10_000)
        buyer_fee, seller_fee = (taker_fee, maker_fee) if taker is buy else (maker_fee, taker_fee)
        buyer, seller = rows[buy[O_ACCOUNT]], rows[sell[O_ACCOUNT]]
        hold = qty * buy_hold_per_lot(buy[O_PRICE], k, market.max_fee_bps)
        buyer[quote + 1] -= hold
        buyer[quote] += hold - quote_qty - buyer_fee
        buyer[base] += qty * lot
        seller[base + 1] -= qty * lot
        seller[quote] += quote_qty - seller_fee
        fee_row[quote] += taker_fee + maker_fee
        events.append((FILL, seq, book.symbol, trade_id, taker[O_ID], maker[O_ID], taker[O_ACCOUNT], maker[O_ACCOUNT], taker[O_SIDE], price, qty, quote_qty, taker_fee, maker_fee, taker[O_LEAVES], maker[O_LEAVES]))  # fmt: skip  # noqa: E501
        trade_id += 1
        i += not buy[O_LEAVES]
        j += not sell[O_LEAVES]
    return trade_id


def _release(market: Market, rows: dict[int, list[int]], order: Order) -> None:
    """Give back what ``order``'s leaves hold."""
    asset, amount = market.hold_of(order[O_SIDE], order[O_PRICE], order[O_LEAVES])
    row = rows[order[O_ACCOUNT]]
    row[2 * asset + 1] -= amount
    row[2 * asset] += amount
