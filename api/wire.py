"""The wire format: JSON bodies, names for the matcher's enums, and exact decimals.

- Prices, quantities and amounts are decimal strings on the wire and integers (ticks, lots,
  engine units) inside. ``Units`` converts both ways exactly: a value off a symbol's grid is an
  ``ApiError`` with the engine's own reject code (``PRICE_OFF_TICK``, ``QTY_OFF_LOT``), never
  rounded. Strings leave without an exponent and without trailing zeros (``"250.5"``).
- Enums travel as lower-case names (``"buy"``, ``"partially_filled"``), time in force upper case
  (``"GTC"``). Times are integers: nanoseconds for engine times, milliseconds for wall clocks.
- ``JsonResponse`` renders with orjson; every handler returns plain dicts and lists.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from fastapi.responses import Response

from api.errors import ApiError, ErrorCode, reject_code
from matcher.config import AssetConfig, MarketConfig, SymbolConfig
from matcher.enums import OrderStatus, OrderType, Side, Stp, TimeInForce
from matcher.rejects import Reject
from matcher.units import grid_value, on_grid

T = TypeVar("T")

SIDES = {"buy": int(Side.BUY), "sell": int(Side.SELL)}
ORDER_TYPES = {"limit": int(OrderType.LIMIT), "market": int(OrderType.MARKET)}
TIFS = {tif.name: int(tif) for tif in TimeInForce}
STPS = {stp.name.lower(): int(stp) for stp in Stp}
SIDE_NAMES = {value: name for name, value in SIDES.items()}
TYPE_NAMES = {value: name for name, value in ORDER_TYPES.items()}
TIF_NAMES = {value: name for name, value in TIFS.items()}
STATUS_NAMES = {int(status): status.name.lower() for status in OrderStatus}

#: A client order id: 1 to 36 printable ASCII characters without spaces.
MAX_CLIENT_ID = 36


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def decimal_text(value: Decimal) -> str:
    """``value`` as plain positional text without trailing zeros: ``"0.001"``, ``"250"``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Units:
    """Exact conversions for one market configuration."""

    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self.symbols = {s.name: s for s in config.symbols}
        self.assets = {a.name: a for a in config.assets}

    def symbol(self, name: object) -> SymbolConfig:
        symbol = self.symbols.get(name) if isinstance(name, str) else None
        if symbol is None:
            raise ApiError(ErrorCode.UNKNOWN_SYMBOL)
        return symbol

    def asset(self, name: object) -> AssetConfig:
        asset = self.assets.get(name) if isinstance(name, str) else None
        if asset is None:
            raise ApiError(ErrorCode.UNKNOWN_ASSET)
        return asset

    def ticks(self, symbol: SymbolConfig, price: object) -> int:
        if not isinstance(price, str):
            raise ApiError(reject_code(Reject.INVALID_PRICE))
        decimals = self.assets[symbol.quote].engine_decimals
        return _checked(_wire_to_grid(price, decimals, symbol.tick_size, *_PRICE_REJECTS))

    def lots(self, symbol: SymbolConfig, qty: object) -> int:
        if not isinstance(qty, str):
            raise ApiError(reject_code(Reject.INVALID_QTY))
        decimals = self.assets[symbol.base].engine_decimals
        return _checked(_wire_to_grid(qty, decimals, symbol.lot_size, *_QTY_REJECTS))

    def amount(self, asset: AssetConfig, amount: object) -> int:
        """A positive decimal string in whole tokens as engine units; finer than one unit is refused."""
        number = _decimal(amount, Reject.INVALID_AMOUNT, Reject.INVALID_AMOUNT).scaleb(asset.engine_decimals)
        if not number.is_finite() or number <= 0 or number != number.to_integral_value():
            raise ApiError(ErrorCode.INVALID_AMOUNT)
        return int(number)

    def price_text(self, symbol: SymbolConfig | str, ticks: int) -> str:
        symbol = self.symbols[symbol] if isinstance(symbol, str) else symbol
        return _grid_text(ticks, symbol.tick_size, self.assets[symbol.quote].engine_decimals)

    def qty_text(self, symbol: SymbolConfig | str, lots: int) -> str:
        symbol = self.symbols[symbol] if isinstance(symbol, str) else symbol
        return _grid_text(lots, symbol.lot_size, self.assets[symbol.base].engine_decimals)

    def amount_text(self, asset: str, units: int) -> str:
        return _grid_text(units, 1, self.assets[asset].engine_decimals)


def _decimal(value: object, invalid: Reject, too_large: Reject) -> Decimal:
    """A decimal string as a ``Decimal`` (see ``_parsed``), or the ``ApiError``."""
    if not isinstance(value, str):
        raise ApiError(reject_code(invalid))
    return _checked(_parsed(value, invalid, too_large))


def _parsed(text: str, invalid: Reject, too_large: Reject) -> Decimal | Reject:
    """A decimal string as a ``Decimal``, or its reject; numbers in JSON never get here (floats
    are not exact), and anything of 10^18 or more is refused, which no grid here reaches (and
    whose integer would be costly to build from an exponent like ``1e999999``)."""
    if not 0 < len(text) <= 40:
        return invalid
    try:
        number = Decimal(text)
    except InvalidOperation:
        return invalid
    if number.is_finite() and number and number.adjusted() >= _LARGEST_EXPONENT:
        return too_large
    return number


_LARGEST_EXPONENT = 18
#: (invalid, too large, off the grid) rejects of a price and of a quantity.
_PRICE_REJECTS = (Reject.INVALID_PRICE, Reject.INVALID_PRICE, Reject.PRICE_OFF_TICK)
_QTY_REJECTS = (Reject.INVALID_QTY, Reject.QTY_ABOVE_MAX, Reject.QTY_OFF_LOT)
#: Distinct conversions remembered each way. Wire prices and sizes repeat (quotes sit on a few
#: levels), and parsing a ``Decimal`` costs more than the rest of an order's checks.
CONVERSIONS_KEPT = 1 << 16


@lru_cache(maxsize=CONVERSIONS_KEPT)
def _wire_to_grid(
    text: str, decimals: int, step: int, invalid: Reject, too_large: Reject, off_grid: Reject
) -> int | Reject:
    """How many ``step``s of ``10**-decimals`` the decimal string ``text`` is, or the reject:
    ``_parsed``'s checks, then ``matcher.units``' grid rule."""
    number = _parsed(text, invalid, too_large)
    return number if isinstance(number, Reject) else on_grid(number, decimals, step, invalid, off_grid)


@lru_cache(maxsize=CONVERSIONS_KEPT)
def _grid_text(count: int, step: int, decimals: int) -> str:
    """``count`` steps of ``step`` units of ``10**-decimals``, as wire text."""
    return decimal_text(grid_value(count, step, decimals))


def _checked(result: T | Reject) -> T:
    if isinstance(result, Reject):
        raise ApiError(reject_code(result))
    return result


def client_order_id(value: object) -> str | None:
    """A valid client order id, None when absent; else INVALID_PARAMETER."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_CLIENT_ID
        or not value.isascii()
        or not value.isprintable()
        or " " in value
    ):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "client_order_id: 1 to 36 printable ASCII characters")
    return value


def order_id(value: object) -> int:
    """A positive integer order id (JSON integer or decimal digits); else INVALID_PARAMETER."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if type(value) is not int or not 0 < value < 2**63:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "order_id must be a positive integer")
    return value
