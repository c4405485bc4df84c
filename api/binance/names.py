"""Binance-style names for bluebook's symbols and assets, both ways.

Binance writes an asset in upper case (``TSLAX``) and a symbol as base and quote run together
(``TSLAXUSDC``); streams use the symbol in lower case (``tslaxusdc@depth``). Lookups are
case-insensitive. Two bluebook names that would collide in upper case are refused at start, so
the mapping is one-to-one.
"""

from __future__ import annotations

from api.binance.errors import BinanceError, Code
from api.wire import Units
from matcher.config import SymbolConfig


class BinanceNames:
    def __init__(self, units: Units) -> None:
        self.units = units
        self._assets = {name.upper(): name for name in units.assets}
        self._symbols = {(s.base + s.quote).upper(): s for s in units.config.symbols}
        if len(self._assets) != len(units.assets) or len(self._symbols) != len(units.symbols):
            raise ValueError("two assets or symbols share a Binance name (names differ only in case)")

    def symbol_id(self, symbol: SymbolConfig | str) -> str:
        """``TSLAx-USDC`` → ``TSLAXUSDC``."""
        config = self.units.symbols[symbol] if isinstance(symbol, str) else symbol
        return (config.base + config.quote).upper()

    def asset_id(self, asset: str) -> str:
        """``TSLAx`` → ``TSLAX``."""
        return asset.upper()

    def symbol(self, symbol_id: object) -> SymbolConfig:
        """The symbol a Binance id names (any case); else -1121 Invalid symbol."""
        config = self._symbols.get(symbol_id.upper()) if isinstance(symbol_id, str) else None
        if config is None:
            raise BinanceError(Code.BAD_SYMBOL)
        return config

    def maybe_symbol(self, symbol_id: str) -> SymbolConfig | None:
        return self._symbols.get(symbol_id.upper())

    def symbols(self) -> list[SymbolConfig]:
        return list(self.units.config.symbols)
