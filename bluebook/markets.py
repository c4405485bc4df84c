"""Load market configuration (assets, symbols, gating rules) from TOML into ``matcher.config``
objects.

Human sizes (ticks, lots, limits) are decimal strings in whole tokens; each converts to engine
units exactly or the load fails naming the field: nothing is rounded silently. An optional
``[gating]`` table changes the gating rules' defaults (``matcher.gating.GatingRules``); a
symbol's ``tier`` picks its regular-session band.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from matcher.config import NS_PER_HOUR, AssetConfig, MarketConfig, SymbolConfig
from matcher.gating import NS_PER_S, GatingRules, SessionRules
from matcher.sessions import Session


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
        gating_rules=gating_rules(data.get("gating", {})),
    )


#: ``[gating]`` keys: seconds, percents (as numbers, to a basis point) and plain values, each
#: with the ``GatingRules`` field it sets and how.
_SECONDS = {"reopening_auction_s": "reopening_auction_ns", "limit_state_s": "limit_state_ns",
            "breaker_halt_s": "breaker_halt_ns", "doubled_after_open_s": "doubled_after_open_ns",
            "doubled_before_close_s": "doubled_before_close_ns"}  # fmt: skip
_PERCENT_LISTS = {
    "breaker_levels_pct": "breaker_levels_bps",
    "regular_band_pct_by_tier": "regular_band_bps_by_tier",
}
_PLAIN = {"index_symbol": str, "reanchor_at_pct": int, "reanchors_per_direction": int}
_SESSION_KEYS = {"band_pct", "market_orders", "size_cap_pct", "stale_after_s"}


def gating_rules(table: dict[str, Any]) -> GatingRules:
    """``GatingRules`` from a markets file's ``[gating]`` table: the defaults, with what it sets
    (``[gating.sessions.<session>]`` for one session's band, market orders, size cap, staleness)."""
    unknown = set(table) - {*_SECONDS, *_PERCENT_LISTS, *_PLAIN, "sessions"}
    if unknown:
        raise ValueError(f"gating: unknown keys {sorted(unknown)}")
    changes: dict[str, Any] = {}
    for key, field_name in _SECONDS.items():
        if key in table:
            changes[field_name] = round(float(table[key]) * NS_PER_S)
    for key, field_name in _PERCENT_LISTS.items():
        if key in table:
            changes[field_name] = tuple(_bps(value, f"gating.{key}") for value in table[key])
    for key, kind in _PLAIN.items():
        if key in table:
            changes[key] = kind(table[key])
    defaults = GatingRules()
    sessions = dict(defaults.sessions)
    for name, rules in table.get("sessions", {}).items():
        session = Session[name.upper()]
        if set(rules) - _SESSION_KEYS:
            raise ValueError(f"gating.sessions.{name}: unknown keys {sorted(set(rules) - _SESSION_KEYS)}")
        now = sessions[session]
        band = rules.get("band_pct")
        stale = rules.get("stale_after_s")
        sessions[session] = SessionRules(
            band_bps=now.band_bps if band is None else _bps(band, f"gating.sessions.{name}.band_pct"),
            market_orders=bool(rules.get("market_orders", now.market_orders)),
            size_cap_pct=int(rules.get("size_cap_pct", now.size_cap_pct)),
            stale_after_ns=now.stale_after_ns if stale is None else round(float(stale) * NS_PER_S),
        )
    return replace(defaults, sessions=sessions, **changes)


def _bps(percent: Any, what: str) -> int:
    bps = Decimal(str(percent)) * 100
    if bps != bps.to_integral_value() or bps < 0:
        raise ValueError(f"{what}: {percent} is not a whole number of basis points")
    return int(bps)
