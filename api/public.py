"""Public routes: server time, health, assets, symbols, sessions, and market data.

Market data comes from ``api.marketdata`` (kept on the event loop from the engine's events), so a
public read never touches the engine. Session and halt state: market-hours gating is not built
yet, so every symbol reports the continuous session, not halted, and ``gating: "not_configured"``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import public
from api.context import Services
from api.errors import ApiError, ErrorCode
from api.marketdata import INTERVALS, NS_PER_MS, Trade
from api.wire import SIDE_NAMES, STPS, TIFS, JsonResponse, Units

DEPTH_LIMIT = 1_000
TRADES_LIMIT = 1_000
CANDLES_LIMIT = 1_500

Symbol = Annotated[str, Query(min_length=1, max_length=32, description="e.g. TSLAx-USDC")]


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["public"], default_response_class=JsonResponse)
    units = services.units
    market = services.market

    def known(symbol: str) -> str:
        if symbol not in market.symbols:
            raise ApiError(ErrorCode.UNKNOWN_SYMBOL)
        return symbol

    @router.get("/time", dependencies=[Depends(public(services, "GET /v1/time"))])
    async def server_time() -> dict[str, int]:
        """The server's clock, ms since the epoch (sign requests within the receive window of it)."""
        return {"server_time": time.time_ns() // NS_PER_MS}

    @router.get("/health", dependencies=[Depends(public(services, "GET /v1/health"))])
    async def health() -> dict[str, Any]:
        """The engine's state, its seq, the store projection's lag, and market data's seq."""
        return {**services.node.health(), "market_data_seq": market.seq}

    @router.get("/assets", dependencies=[Depends(public(services, "GET /v1/assets"))])
    async def assets() -> list[dict[str, Any]]:
        """Every asset, with the decimals of its engine unit and of its token on chain."""
        return [
            {"asset": a.name, "decimals": a.engine_decimals, "chain_decimals": a.chain_decimals}
            for a in units.config.assets
        ]

    @router.get("/symbols", dependencies=[Depends(public(services, "GET /v1/symbols"))])
    async def symbols() -> list[dict[str, Any]]:
        """Every symbol: its grid (tick, lot), limits, fees, order types and session rules."""
        out = []
        for s in units.config.symbols:
            lot = units.qty_text(s, 1)
            out.append({
                "symbol": s.name, "base": s.base, "quote": s.quote,
                "tick": units.price_text(s, 1), "lot": lot,
                "min_qty": units.qty_text(s, s.min_qty), "max_qty": units.qty_text(s, s.max_qty),
                "min_notional": units.amount_text(s.quote, s.min_notional),
                "max_notional": units.amount_text(s.quote, s.max_notional),
                "maker_fee_bps": s.maker_bps, "taker_fee_bps": s.taker_bps,
                "market_protection_bps": s.market_protection_bps,
                "order_types": ["limit", "market"], "time_in_force": list(TIFS), "stp": list(STPS),
                "session": market.session_of(s.name),
            })  # fmt: skip
        return out

    @router.get("/sessions", dependencies=[Depends(public(services, "GET /v1/sessions"))])
    async def sessions() -> list[dict[str, Any]]:
        """Each symbol's trading session, reference price, band and halt state."""
        return [market.session_of(s.name) for s in units.config.symbols]

    @router.get("/depth", dependencies=[Depends(public(services, "GET /v1/depth"))])
    async def depth(
        symbol: Symbol, limit: Annotated[int, Query(ge=1, le=DEPTH_LIMIT)] = 100
    ) -> dict[str, Any]:
        """Aggregated L2 depth, best first, as ``[price, qty]`` pairs, and its ``update_id``
        (the engine seq of the last change to this book)."""
        data = market.symbols[known(symbol)]
        bids, asks = data.top(limit)
        return {
            "symbol": symbol,
            "update_id": data.update_id,
            "bids": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in bids],
            "asks": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in asks],
        }

    @router.get("/trades", dependencies=[Depends(public(services, "GET /v1/trades"))])
    async def trades(
        symbol: Symbol, limit: Annotated[int, Query(ge=1, le=TRADES_LIMIT)] = 100
    ) -> list[dict[str, Any]]:
        """Recent trades, newest first; ``side`` is the taker's."""
        recent = list(market.symbols[known(symbol)].trades)[-limit:]
        return [trade_view(units, symbol, trade) for trade in reversed(recent)]

    @router.get("/candles", dependencies=[Depends(public(services, "GET /v1/candles"))])
    async def candles(
        symbol: Symbol,
        interval: Annotated[str, Query(pattern="^(1m|5m|15m|1h|4h|1d)$")] = "1m",
        limit: Annotated[int, Query(ge=1, le=CANDLES_LIMIT)] = 500,
    ) -> list[dict[str, Any]]:
        """Candles from the trades since the server started (kept in memory), oldest first;
        intervals with no trade are absent."""
        quote = units.symbol(known(symbol)).quote
        kept = list(market.symbols[symbol].candles[interval])[-limit:]
        width = INTERVALS[interval]
        return [
            {"open_time": c.start // NS_PER_MS, "close_time": (c.start + width) // NS_PER_MS - 1,
             "open": units.price_text(symbol, c.open), "high": units.price_text(symbol, c.high),
             "low": units.price_text(symbol, c.low), "close": units.price_text(symbol, c.close),
             "volume": units.qty_text(symbol, c.volume),
             "quote_volume": units.amount_text(quote, c.quote_volume),
             "trades": c.trades}
            for c in kept
        ]  # fmt: skip

    @router.get("/ticker", dependencies=[Depends(public(services, "GET /v1/ticker"))])
    async def ticker(
        symbol: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    ) -> list[dict[str, Any]]:
        """The rolling 24-hour ticker (by minute, since the server started) of one symbol or all."""
        names = [known(symbol)] if symbol is not None else list(market.symbols)
        now = time.time_ns()
        return [ticker_view(services, name, market.ticker(name, now)) for name in names]

    return router


def trade_view(units: Units, symbol: str, trade: Trade) -> dict[str, Any]:
    """One public trade; ``side`` is the taker's."""
    quote = units.symbols[symbol].quote
    return {"trade_id": trade.trade_id, "price": units.price_text(symbol, trade.price),
            "qty": units.qty_text(symbol, trade.qty), "quote_qty": units.amount_text(quote, trade.quote_qty),
            "side": SIDE_NAMES[trade.taker_side], "time": trade.ts // NS_PER_MS}  # fmt: skip


def ticker_view(services: Services, symbol: str, raw: dict[str, Any]) -> dict[str, Any]:
    units = services.units
    quote = units.symbol(symbol).quote

    def price(ticks: int | None) -> str | None:
        return None if ticks is None else units.price_text(symbol, ticks)

    best_bid, best_ask = raw["best_bid"], raw["best_ask"]
    return {
        "symbol": symbol,
        "open": price(raw["open"]),
        "high": price(raw["high"]),
        "low": price(raw["low"]),
        "last": price(raw["last"]),
        "volume": units.qty_text(symbol, raw["volume"]),
        "quote_volume": units.amount_text(quote, raw["quote_volume"]),
        "trades": raw["trades"],
        "best_bid": price(best_bid[0]) if best_bid else None,
        "best_bid_qty": units.qty_text(symbol, best_bid[1]) if best_bid else None,
        "best_ask": price(best_ask[0]) if best_ask else None,
        "best_ask_qty": units.qty_text(symbol, best_ask[1]) if best_ask else None,
        "update_id": raw["update_id"],
    }
