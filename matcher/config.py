"""Market configuration: assets, symbols and the integer scales between them.

Units (exact, integers only):

- An asset's *engine unit* is ``10**-engine_decimals`` of one token; on chain the same amount is
  ``engine_amount * 10**(chain_decimals - engine_decimals)`` (``chain_factor``), so converting to
  chain units never loses or creates dust, and the engine never holds a fraction of its unit.
- A symbol's price is an integer number of ticks; ``tick_size`` is the quote engine units one tick
  is worth per whole base token. Quantity is an integer number of lots of ``lot_size`` base units.
- ``quote_per_tick_lot = tick_size * lot_size / 10**base.engine_decimals`` must be an integer: the
  quote units of one lot at one tick. A fill of q lots at p ticks moves ``p * q * quote_per_tick_lot``
  quote units and ``q * lot_size`` base units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.gating import GatingRules

NS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True, slots=True)
class AssetConfig:
    name: str
    chain_decimals: int
    engine_decimals: int

    def __post_init__(self) -> None:
        if not 0 <= self.engine_decimals <= self.chain_decimals <= 36:
            raise ValueError(f"{self.name}: need 0 <= engine_decimals <= chain_decimals <= 36")

    @property
    def chain_factor(self) -> int:
        """Chain units per engine unit."""
        return int(10 ** (self.chain_decimals - self.engine_decimals))


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    """One market. Sizes are lots, notionals quote engine units, fees basis points."""

    name: str
    base: str
    quote: str
    tick_size: int
    lot_size: int
    min_qty: int = 1
    max_qty: int = 10**12
    min_notional: int = 0
    max_notional: int = 10**24
    maker_bps: int = 0
    taker_bps: int = 0
    #: A market order with no protection price gets one this far beyond the best opposite price.
    market_protection_bps: int = 500
    #: Gating tier: 1 (the narrower regular-session band) or 2 (the wider one).
    tier: int = 1

    def __post_init__(self) -> None:
        if self.tier not in (1, 2):
            raise ValueError(f"{self.name}: tier must be 1 or 2")
        if self.tick_size < 1 or self.lot_size < 1:
            raise ValueError(f"{self.name}: tick_size and lot_size must be positive integers")
        if not 1 <= self.min_qty <= self.max_qty:
            raise ValueError(f"{self.name}: need 1 <= min_qty <= max_qty")
        if not 0 <= self.taker_bps <= 10_000 or not -self.taker_bps <= self.maker_bps <= 10_000:
            raise ValueError(f"{self.name}: need 0 <= taker_bps <= 10000, -taker_bps <= maker_bps")
        if not 0 < self.market_protection_bps < 10_000:
            raise ValueError(f"{self.name}: market_protection_bps must be in (0, 10000)")


@dataclass(frozen=True, slots=True)
class MarketConfig:
    assets: tuple[AssetConfig, ...]
    symbols: tuple[SymbolConfig, ...]
    #: The account that collects fees and pays rebates.
    fee_account: int = 0
    #: How long (command time, ns) a client order id is remembered after its order was placed.
    client_id_retention_ns: int = 24 * NS_PER_HOUR
    #: Market-hours gating's parameters, used once a ``SetSessions`` command turns gating on.
    gating_rules: GatingRules = field(default_factory=GatingRules)
    _quote_per_tick_lot: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.client_id_retention_ns < 1:
            raise ValueError("client_id_retention_ns must be positive")
        assets = {a.name: a for a in self.assets}
        if len(assets) != len(self.assets):
            raise ValueError("asset names must be unique")
        if len({s.name for s in self.symbols}) != len(self.symbols):
            raise ValueError("symbol names must be unique")
        for s in self.symbols:
            if s.base not in assets or s.quote not in assets or s.base == s.quote:
                raise ValueError(f"{s.name}: base and quote must be two configured assets")
            scale = 10 ** assets[s.base].engine_decimals
            value = s.tick_size * s.lot_size
            if value % scale:
                raise ValueError(
                    f"{s.name}: tick_size * lot_size must be a multiple of {scale}"
                    " so that one lot at one tick is a whole quote unit"
                )
            self._quote_per_tick_lot[s.name] = value // scale

    def asset(self, name: str) -> AssetConfig:
        for a in self.assets:
            if a.name == name:
                return a
        raise KeyError(name)

    def symbol(self, name: str) -> SymbolConfig:
        for s in self.symbols:
            if s.name == name:
                return s
        raise KeyError(name)

    def quote_per_tick_lot(self, symbol: str) -> int:
        return self._quote_per_tick_lot[symbol]
