"""Load market configuration (assets, symbols) from TOML into ``matcher.config`` objects.

Human sizes (ticks, lots, limits) are decimal strings in whole tokens; each converts to engine
units exactly or the load fails naming the field: nothing is rounded silently.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from matcher.config import NS_PER_HOUR, AssetConfig, MarketConfig, SymbolConfig


def default_markets() -> MarketConfig:
    """The built-in markets: TSLAx, AAPLx, NVDAx against USDC, and TSLAx against WBTC."""
    text = resources.files("bluebook").joinpath("markets.toml").read_text(encoding="utf-8")
    return parse_markets(tomllib.loads(text))


def load_markets(path: Path) -> MarketConfig:
    with path.open("rb") as f:
        return parse_markets(tomllib.load(f))


def to_units(value: str | int, decimals: int, what: str) -> int:
    """Exact conversion of a decimal string in whole tokens to units of ``10**-decimals``."""
    amount = Decimal(str(value)) * (Decimal(10) ** decimals)
    if amount != amount.to_integral_value():
        raise ValueError(f"{what}: {value} is finer than 10^-{decimals}")
    return int(amount)


def parse_markets(data: dict[str, Any]) -> MarketConfig:
    assets = tuple(
        AssetConfig(a["name"], int(a["chain_decimals"]), int(a["engine_decimals"])) for a in data["assets"]
    )
    decimals = {a.name: a.engine_decimals for a in assets}
    symbols = []
    for s in data["symbols"]:
        name, base, quote = s["name"], s["base"], s["quote"]
        if base not in decimals or quote not in decimals:
            raise ValueError(f"{name}: unknown asset {base if base not in decimals else quote}")
        lot = to_units(s["lot"], decimals[base], f"{name}.lot")
        tick = to_units(s["tick"], decimals[quote], f"{name}.tick")

        def lots(
            field: str, s: dict[str, Any] = s, lot: int = lot, name: str = name, base: str = base
        ) -> int:
            units = to_units(s[field], decimals[base], f"{name}.{field}")
            if units % lot:
                raise ValueError(f"{name}.{field}: not a whole number of lots")
            return units // lot

        symbols.append(
            SymbolConfig(
                name=name,
                base=base,
                quote=quote,
                tick_size=tick,
                lot_size=lot,
                min_qty=lots("min_qty"),
                max_qty=lots("max_qty"),
                min_notional=to_units(s.get("min_notional", "0"), decimals[quote], f"{name}.min_notional"),
                max_notional=to_units(s["max_notional"], decimals[quote], f"{name}.max_notional"),
                maker_bps=int(s.get("maker_bps", 0)),
                taker_bps=int(s.get("taker_bps", 0)),
                market_protection_bps=int(s.get("market_protection_bps", 500)),
                tier=int(s.get("tier", 1)),
            )
        )
    return MarketConfig(
        assets=assets,
        symbols=tuple(symbols),
        fee_account=int(data.get("fee_account", 0)),
        client_id_retention_ns=int(data.get("client_id_retention_hours", 24)) * NS_PER_HOUR,
    )
