"""Public Binance routes under ``/api/v3``: ping, time, exchangeInfo, depth, trades, aggTrades,
klines and the tickers, read from ``api.marketdata`` (never from the engine).

- ``depth``'s ``lastUpdateId`` is the symbol's own change counter (``SymbolData.version``), the
  number the ``@depth`` streams' ``U``/``u`` continue, so a local book chains exactly.
- A symbol's status is TRADING, BREAK or HALT from its session and halt state (``session_of``):
  HALT while halted, BREAK on weekends and holidays (limit orders still trade, inside the closed
  session's band), TRADING otherwise; without gating every symbol is TRADING.
- Trades, klines and tickers cover the time since the server started (market data is in memory).
  Each trade is its own aggregate in ``aggTrades``; klines' taker-buy volumes are not kept (``"0"``).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request

from api.binance.errors import BinanceError, Code
from api.binance.guard import Guard
from api.binance.names import BinanceNames
from api.binance.params import integer, optional_integer, text
from api.binance.routing import BinanceRoute
from api.binance.views import STPS
from api.context import Services
from api.marketdata import INTERVALS, NS_PER_MS, MarketData, SymbolData
from api.wire import decimal_text
from matcher.config import SymbolConfig
from matcher.enums import Side

BUY = int(Side.BUY)
DEPTH_LIMIT = 1_000
TRADES_LIMIT = 1_000


def status_of(market: MarketData, symbol: str) -> str:
    session = market.session_of(symbol)
    if session["halted"]:
        return "HALT"
    return "BREAK" if session["session"] in ("closed", "break") else "TRADING"


def routes(services: Services, guard: Guard, names: BinanceNames) -> APIRouter:
    router = APIRouter(prefix="/api/v3", route_class=BinanceRoute, tags=["binance"], include_in_schema=False)
    units, market = services.units, services.market

    def data(params: dict[str, str]) -> tuple[SymbolConfig, SymbolData]:
        symbol = names.symbol(text(params, "symbol"))
        return symbol, market.symbols[symbol.name]

    def chosen(params: dict[str, str]) -> list[SymbolConfig]:
        """``symbol``, or the JSON list ``symbols``, or every symbol."""
        if params.get("symbol"):
            return [names.symbol(params["symbol"])]
        if params.get("symbols"):
            ids = params["symbols"].strip("[]").replace('"', "").split(",")
            return [names.symbol(one.strip()) for one in ids]
        return names.symbols()

    @router.get("/ping")
    async def ping(request: Request) -> dict[str, Any]:
        await guard.public(request, "GET /api/v3/ping")
        return {}

    @router.get("/time")
    async def server_time(request: Request) -> dict[str, Any]:
        await guard.public(request, "GET /api/v3/time")
        return {"serverTime": time.time_ns() // NS_PER_MS}

    @router.get("/exchangeInfo")
    async def exchange_info(request: Request) -> dict[str, Any]:
        params = await guard.public(request, "GET /api/v3/exchangeInfo")
        return {
            "timezone": "UTC",
            "serverTime": time.time_ns() // NS_PER_MS,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [_symbol_info(services, names, s) for s in chosen(params)],
        }

    @router.get("/depth")
    async def depth(request: Request) -> dict[str, Any]:
        params = await guard.public(request, "GET /api/v3/depth")
        symbol, book = data(params)
        limit = min(integer(params, "limit", 100, 1, 5_000), DEPTH_LIMIT)
        bids, asks = book.top(limit)
        return {
            "lastUpdateId": book.version,
            "bids": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in bids],
            "asks": [[units.price_text(symbol, p), units.qty_text(symbol, q)] for p, q in asks],
        }

    @router.get("/trades")
    async def trades(request: Request) -> list[dict[str, Any]]:
        params = await guard.public(request, "GET /api/v3/trades")
        symbol, book = data(params)
        recent = list(book.trades)[-integer(params, "limit", 500, 1, TRADES_LIMIT) :]
        return [
            {
                "id": t.trade_id,
                "price": units.price_text(symbol, t.price),
                "qty": units.qty_text(symbol, t.qty),
                "quoteQty": units.amount_text(symbol.quote, t.quote_qty),
                "time": t.ts // NS_PER_MS,
                "isBuyerMaker": t.taker_side != BUY,
                "isBestMatch": True,
            }
            for t in recent
        ]

    @router.get("/aggTrades")
    async def agg_trades(request: Request) -> list[dict[str, Any]]:
        params = await guard.public(request, "GET /api/v3/aggTrades")
        symbol, book = data(params)
        from_id = optional_integer(params, "fromId")
        start, end = optional_integer(params, "startTime"), optional_integer(params, "endTime")
        kept = [
            t
            for t in book.trades
            if (from_id is None or t.trade_id >= from_id)
            and (start is None or t.ts // NS_PER_MS >= start)
            and (end is None or t.ts // NS_PER_MS <= end)
        ]
        limit = integer(params, "limit", 500, 1, TRADES_LIMIT)
        kept = kept[:limit] if from_id is not None or start is not None else kept[-limit:]
        return [
            {
                "a": t.trade_id,
                "p": units.price_text(symbol, t.price),
                "q": units.qty_text(symbol, t.qty),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.ts // NS_PER_MS,
                "m": t.taker_side != BUY,
                "M": True,
            }
            for t in kept
        ]

    @router.get("/klines")
    async def klines(request: Request) -> list[list[Any]]:
        params = await guard.public(request, "GET /api/v3/klines")
        symbol, book = data(params)
        interval = text(params, "interval")
        if interval not in INTERVALS:
            raise BinanceError(Code.BAD_INTERVAL)
        start, end = optional_integer(params, "startTime"), optional_integer(params, "endTime")
        width = INTERVALS[interval]
        kept = [
            c
            for c in book.candles[interval]
            if (start is None or (c.start + width) // NS_PER_MS > start)
            and (end is None or c.start // NS_PER_MS <= end)
        ]
        limit = integer(params, "limit", 500, 1, 1_000)
        kept = kept[:limit] if start is not None else kept[-limit:]
        quote = symbol.quote

        def price(ticks: int) -> str:
            return units.price_text(symbol, ticks)

        return [
            [
                c.start // NS_PER_MS,
                price(c.open),
                price(c.high),
                price(c.low),
                price(c.close),
                units.qty_text(symbol, c.volume),
                (c.start + width) // NS_PER_MS - 1,
                units.amount_text(quote, c.quote_volume),
                c.trades,
                "0",
                "0",
                "0",
            ]
            for c in kept
        ]

    @router.get("/ticker/24hr")
    async def ticker_24hr(request: Request) -> Any:
        params = await guard.public(request, "GET /api/v3/ticker/24hr")
        now = time.time_ns()
        views = [_ticker(services, names, s, market.ticker(s.name, now), now) for s in chosen(params)]
        return views[0] if params.get("symbol") else views

    @router.get("/ticker/price")
    async def ticker_price(request: Request) -> Any:
        params = await guard.public(request, "GET /api/v3/ticker/price")
        views = []
        for s in chosen(params):
            last = market.symbols[s.name].trades
            views.append(
                {"symbol": names.symbol_id(s), "price": units.price_text(s, last[-1].price) if last else "0"}
            )
        return views[0] if params.get("symbol") else views

    @router.get("/ticker/bookTicker")
    async def book_ticker(request: Request) -> Any:
        params = await guard.public(request, "GET /api/v3/ticker/bookTicker")
        views = [book_ticker_view(services, names, s) for s in chosen(params)]
        return views[0] if params.get("symbol") else views

    return router


def book_ticker_view(services: Services, names: BinanceNames, symbol: SymbolConfig) -> dict[str, Any]:
    units, book = services.units, services.market.symbols[symbol.name]
    bids, asks = book.top(1)
    bid, ask = (bids[0] if bids else (0, 0)), (asks[0] if asks else (0, 0))
    return {
        "symbol": names.symbol_id(symbol),
        "bidPrice": units.price_text(symbol, bid[0]),
        "bidQty": units.qty_text(symbol, bid[1]),
        "askPrice": units.price_text(symbol, ask[0]),
        "askQty": units.qty_text(symbol, ask[1]),
    }


def _symbol_info(services: Services, names: BinanceNames, s: SymbolConfig) -> dict[str, Any]:
    units = services.units
    base, quote = units.assets[s.base], units.assets[s.quote]
    return {
        "symbol": names.symbol_id(s),
        "status": status_of(services.market, s.name),
        "baseAsset": names.asset_id(s.base),
        "baseAssetPrecision": base.engine_decimals,
        "quoteAsset": names.asset_id(s.quote),
        "quotePrecision": quote.engine_decimals,
        "quoteAssetPrecision": quote.engine_decimals,
        "baseCommissionPrecision": base.engine_decimals,
        "quoteCommissionPrecision": quote.engine_decimals,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": units.price_text(s, 1),
                "maxPrice": "0",
                "tickSize": units.price_text(s, 1),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": units.qty_text(s, s.min_qty),
                "maxQty": units.qty_text(s, s.max_qty),
                "stepSize": units.qty_text(s, 1),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": units.amount_text(s.quote, s.min_notional),
                "applyMinToMarket": True,
                "maxNotional": units.amount_text(s.quote, s.max_notional),
                "applyMaxToMarket": True,
                "avgPriceMins": 0,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": list(STPS),
    }


def _ticker(
    services: Services, names: BinanceNames, s: SymbolConfig, raw: dict[str, Any], now: int
) -> dict[str, Any]:
    units = services.units
    trades = services.market.symbols[s.name].trades

    def price(ticks: int | None) -> str:
        return units.price_text(s, ticks) if ticks is not None else "0"

    open_, last = raw["open"], raw["last"]
    change = (last - open_) if open_ is not None and last is not None else 0
    volume, quote_volume = raw["volume"], raw["quote_volume"]
    average = "0"
    if volume:
        average = decimal_text(
            Decimal(units.amount_text(s.quote, quote_volume)) / Decimal(units.qty_text(s, volume))
        )
    percent = "0"
    if open_:
        percent = decimal_text((Decimal(change * 100) / Decimal(open_)).quantize(Decimal("0.001")))
    bid, ask = raw["best_bid"] or (0, 0), raw["best_ask"] or (0, 0)
    last_id = trades[-1].trade_id if trades else -1
    count = raw["trades"]
    return {
        "symbol": names.symbol_id(s),
        "priceChange": ("-" if change < 0 else "") + price(abs(change)),
        "priceChangePercent": percent,
        "weightedAvgPrice": average,
        "prevClosePrice": price(open_),
        "lastPrice": price(last),
        "lastQty": units.qty_text(s, trades[-1].qty) if trades else "0",
        "bidPrice": price(bid[0]),
        "bidQty": units.qty_text(s, bid[1]),
        "askPrice": price(ask[0]),
        "askQty": units.qty_text(s, ask[1]),
        "openPrice": price(open_),
        "highPrice": price(raw["high"]),
        "lowPrice": price(raw["low"]),
        "volume": units.qty_text(s, volume),
        "quoteVolume": units.amount_text(s.quote, quote_volume),
        "openTime": now // NS_PER_MS - 86_400_000,
        "closeTime": now // NS_PER_MS,
        "firstId": last_id - count + 1 if count else -1,
        "lastId": last_id if count else -1,
        "count": count,
    }
