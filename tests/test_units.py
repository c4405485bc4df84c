"""Decimal prices and quantities convert to ticks and lots exactly, or are refused by code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bluebook.markets import default_markets
from matcher import Reject
from matcher.units import from_lots, from_ticks, to_lots, to_ticks

CONFIG = default_markets()
TSLA = CONFIG.symbol("TSLAx-USDC")
USDC, TSLAX = CONFIG.asset("USDC"), CONFIG.asset("TSLAx")


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("250.00", 25_000),
        ("250", 25_000),
        ("0.01", 1),
        ("250.001", Reject.PRICE_OFF_TICK),
        ("250.0000001", Reject.PRICE_OFF_TICK),
        ("0", Reject.INVALID_PRICE),
        ("-1", Reject.INVALID_PRICE),
        ("NaN", Reject.INVALID_PRICE),
        ("Infinity", Reject.INVALID_PRICE),
        ("abc", Reject.INVALID_PRICE),
    ],
)
def test_price_converts_to_ticks_or_is_refused(price: str, expected: int | Reject) -> None:
    assert to_ticks(price, TSLA, USDC) == expected


@pytest.mark.parametrize(
    ("qty", "expected"),
    [
        ("1", 1_000),
        ("0.001", 1),
        ("0.0015", Reject.QTY_OFF_LOT),
        ("1e-12", Reject.QTY_OFF_LOT),
        ("0", Reject.INVALID_QTY),
    ],
)
def test_quantity_converts_to_lots_or_is_refused(qty: str, expected: int | Reject) -> None:
    assert to_lots(qty, TSLA, TSLAX) == expected


def test_conversion_round_trips_exactly() -> None:
    assert from_ticks(25_001, TSLA, USDC) == Decimal("250.01")
    assert from_lots(1_500, TSLA, TSLAX) == Decimal("1.5")
    assert to_ticks(str(from_ticks(123_456, TSLA, USDC)), TSLA, USDC) == 123_456
