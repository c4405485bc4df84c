"""The reopening call auction's price: one uncrossing price for a crossed book after a halt.

``clearing_price(bids, asks, reference, low, high)`` takes the book's aggregated levels (price in
ticks, quantity in lots) and picks, among the prices of the band ``[low, high]``, the one that
executes the most volume; ties go to the smallest imbalance (the quantity left on the
heavier side at that price), then to the price nearest the reference, then to the lower price (so
the answer is always unique). At price ``p`` every bid at ``p`` or above and every ask at ``p`` or
below may trade: the volume is the smaller of the two sums, the imbalance their difference.

The search visits only the prices where volume or imbalance can change (each level's price and
its neighbour), the band's edges and the reference, with running sums: O(n log n) for n levels. The
result is None when no price in the band executes anything (the book does not cross there).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

Level = tuple[int, int]  # price (ticks), quantity (lots)


class Uncross(NamedTuple):
    price: int
    volume: int
    imbalance: int  # bids minus asks that could trade at the price: > 0 buy-heavy, < 0 sell-heavy


def clearing_price(
    bids: Sequence[Level], asks: Sequence[Level], reference: int, low: int, high: int
) -> Uncross | None:
    """The auction's price and what it executes (see the module docstring)."""
    bid_prices = sorted({price for price, _ in bids})
    ask_prices = sorted({price for price, _ in asks})
    bid_qty = _summed(bids, bid_prices)
    ask_qty = _summed(asks, ask_prices)
    # bids_at_or_above[i]: bid quantity priced >= bid_prices[i]; asks_at_or_below likewise.
    bids_at_or_above = list(accumulate(reversed(bid_qty)))[::-1]
    asks_at_or_below = list(accumulate(ask_qty))
    best: tuple[int, int, int, int] | None = None  # (-volume, |imbalance|, distance, price)
    result: Uncross | None = None
    # Volume and imbalance are constant between these (a bid at b counts up to b, an ask at a from
    # a), so the best price, nearest the reference, is one of them, the reference or a band edge.
    edges = (*bid_prices, *(b + 1 for b in bid_prices), *ask_prices, *(a - 1 for a in ask_prices), reference)
    candidates = {price for price in edges if low <= price <= high} | {low, high}
    for price in sorted(candidates):
        i = bisect_left(bid_prices, price)
        demand = bids_at_or_above[i] if i < len(bid_prices) else 0
        j = bisect_right(ask_prices, price)
        supply = asks_at_or_below[j - 1] if j else 0
        volume = min(demand, supply)
        if not volume:
            continue
        key = (-volume, abs(demand - supply), abs(price - reference), price)
        if best is None or key < best:
            best, result = key, Uncross(price, volume, demand - supply)
    return result


def _summed(levels: Sequence[Level], prices: list[int]) -> list[int]:
    totals = dict.fromkeys(prices, 0)
    for price, qty in levels:
        totals[price] += qty
    return [totals[price] for price in prices]
