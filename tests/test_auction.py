"""The auction price equals a brute-force search over every candidate price (property test)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matcher.auction import Uncross, clearing_price

levels = st.lists(st.tuples(st.integers(90, 110), st.integers(1, 50)), max_size=12)


def brute_force(bids, asks, reference, low, high):  # noqa: ANN001, ANN201 - obviously correct, slow
    best = None
    for price in range(low, high + 1):  # every tick; only volume ties care where exactly
        demand = sum(q for p, q in bids if p >= price)
        supply = sum(q for p, q in asks if p <= price)
        volume = min(demand, supply)
        if volume == 0:
            continue
        candidate = (-volume, abs(demand - supply), abs(price - reference), price)
        if best is None or candidate < best[0]:
            best = (candidate, Uncross(price, volume, demand - supply))
    return best[1] if best else None


@given(levels, levels, st.integers(85, 115), st.integers(85, 100), st.integers(100, 115))
def test_the_auction_matches_a_brute_force_search(bids, asks, reference, low, high) -> None:  # noqa: ANN001
    assert clearing_price(bids, asks, reference, low, high) == brute_force(bids, asks, reference, low, high)


def test_most_volume_then_smallest_imbalance_then_nearest_the_reference() -> None:
    bids, asks = [(102, 10), (101, 10)], [(100, 10), (101, 5)]
    # at 100: demand 20, supply 10 -> 10; at 101: 20 vs 15 -> 15; at 102: 10 vs 15 -> 10
    assert clearing_price(bids, asks, reference=100, low=90, high=110) == Uncross(101, 15, 5)
    # equal volume and imbalance at 100 and 101: the reference decides
    bids, asks = [(101, 10)], [(100, 10)]
    assert clearing_price(bids, asks, reference=100, low=90, high=110).price == 100
    assert clearing_price(bids, asks, reference=101, low=90, high=110).price == 101


def test_the_price_stays_in_the_band_and_nothing_trades_when_the_book_does_not_cross() -> None:
    assert clearing_price([(99, 5)], [(101, 5)], reference=100, low=90, high=110) is None
    assert clearing_price([(105, 5)], [(104, 5)], reference=100, low=95, high=103) is None  # asks above
    assert clearing_price([(105, 5)], [(100, 5)], reference=100, low=95, high=103) == Uncross(100, 5, 0)
    assert clearing_price([(110, 5)], [(90, 5)], reference=120, low=95, high=105) == Uncross(105, 5, 0)
    assert clearing_price([(104, 5)], [(96, 5)], reference=102, low=95, high=105).price == 102
