"""Binance-compatible routes, so Binance clients (ccxt, existing bots) connect unchanged.

REST under ``/api/v3`` (``api.binance.market``, ``api.binance.trading``), WebSocket streams at
``/ws`` and ``/stream`` (``api.binance.streams``), signed the Binance way with the same API keys as
``/v1`` (``api.binance.guard``), errors in Binance's codes (``api.binance.errors``). ``router``
gives one router with all of it; its lifespan starts the order log's feed and the stream hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api.binance import market, streams, trading
from api.binance.guard import Guard
from api.binance.names import BinanceNames
from api.binance.userdata import Feed
from api.binance.views import Views
from api.binance.weights import ROUTE_WEIGHTS
from api.context import Services

__all__ = ["ROUTE_WEIGHTS", "router"]


def router(services: Services) -> APIRouter:
    names = BinanceNames(services.units)
    views = Views(names)
    feed = Feed(services, views)
    hub = streams.Hub(services, names)
    guard = Guard(services, lambda route: ROUTE_WEIGHTS.get(route, 1))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        hub.start()
        yield
        await hub.stop()

    combined = APIRouter(lifespan=lifespan)
    combined.include_router(market.routes(services, guard, names))
    combined.include_router(trading.routes(services, guard, names, feed, views))
    combined.include_router(streams.routes(hub, feed))
    return combined
