"""Exact conversion between decimal prices and quantities and a symbol's ticks and lots.

Decimals live at the edge (the API parses wire strings into ``Decimal``); the engine sees only
integer ticks and lots. A value off the symbol's grid is refused with its own reject code, never
rounded: ``PRICE_OFF_TICK`` or ``QTY_OFF_LOT``; a value that is not a finite positive number gets
``INVALID_PRICE`` or ``INVALID_QTY``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from matcher.config import AssetConfig, SymbolConfig
from matcher.rejects import Reject


def to_ticks(price: Decimal | str, symbol: SymbolConfig, quote: AssetConfig) -> int | Reject:
    """``price`` (quote tokens per base token) as ticks, or the reject that refuses it."""
    return on_grid(
        price, quote.engine_decimals, symbol.tick_size, Reject.INVALID_PRICE, Reject.PRICE_OFF_TICK
    )


def to_lots(qty: Decimal | str, symbol: SymbolConfig, base: AssetConfig) -> int | Reject:
    """``qty`` (base tokens) as lots, or the reject that refuses it."""
    return on_grid(qty, base.engine_decimals, symbol.lot_size, Reject.INVALID_QTY, Reject.QTY_OFF_LOT)


def from_ticks(ticks: int, symbol: SymbolConfig, quote: AssetConfig) -> Decimal:
    return grid_value(ticks, symbol.tick_size, quote.engine_decimals)


def from_lots(lots: int, symbol: SymbolConfig, base: AssetConfig) -> Decimal:
    return grid_value(lots, symbol.lot_size, base.engine_decimals)


def grid_value(count: int, step: int, decimals: int) -> Decimal:
    """``count`` steps of ``step`` units of ``10**-decimals``, exactly."""
    return Decimal(count * step).scaleb(-decimals)


def on_grid(
    value: Decimal | str, decimals: int, step: int, invalid: Reject, off_grid: Reject
) -> int | Reject:
    """How many ``step``s of ``10**-decimals`` make ``value`` exactly, or why none do."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return invalid
    if not number.is_finite() or number <= 0:
        return invalid
    units = number.scaleb(decimals)
    if units != units.to_integral_value():
        return off_grid  # finer than the asset's engine unit
    count, rest = divmod(int(units), step)
    return off_grid if rest else count
