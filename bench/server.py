"""The real server as ``python -m bench api`` runs it: ``python -m bench.server PORT DATA_DIR``.

``bluebook api --dev`` (``ApiServer``: engine, journal with one fsync per group, SQL projection,
the same routes and WebSocket limits) with two benchmark-only differences, so that what is
measured is order entry and not refusals:

- rate limit budgets of 10^9 weight per second per key and per IP (production keeps
  ``api.app.DEFAULT_POLICY``; route weights are unchanged);
- ``POST /bench/orders``: order placement as FastAPI is usually written, a pydantic body model,
  the signature check as a dependency and a pydantic ``response_model``, over the same engine
  path as the lean ``POST /v1/orders`` (``api.orders.place_command``, ``api.entry.execute_one``).

Runs until SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict

from api.app import ROUTE_WEIGHTS, create_app
from api.auth import signed
from api.context import Services
from api.credentials import Credential, Scope
from api.entry import execute_one
from api.orders import place_command
from api.ratelimit import Limit, RateLimitPolicy
from bluebook.markets import default_markets
from bluebook.server import ApiServer, ApiSettings

PYDANTIC_PATH = "/bench/orders"
UNLIMITED = RateLimitPolicy(per_key=Limit(10**9, 1.0), per_ip=Limit(10**9, 1.0), route_weights=ROUTE_WEIGHTS)


class PlaceOrder(BaseModel):
    """``api.schemas.PLACE_ORDER`` as a pydantic model."""

    model_config = ConfigDict(extra="forbid")

    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    price: str | None = None
    qty: str
    time_in_force: Literal["GTC", "IOC", "FOK", "GTD"] = "GTC"
    post_only: bool = False
    stp: Literal["none", "expire_taker", "expire_maker", "expire_both", "decrement"] | None = None
    client_order_id: str | None = None
    expire_at: int | None = None


class OrderView(BaseModel):
    order_id: int
    client_order_id: str | None
    symbol: str
    side: str
    price: str
    qty: str
    filled: str
    leaves: str
    status: str
    time_in_force: str
    type: str
    post_only: bool
    time: int


class FillView(BaseModel):
    trade_id: int
    price: str
    qty: str
    fee: str
    maker_order_id: int


class Placed(BaseModel):
    duplicate: bool
    order: OrderView
    fills: list[FillView]


def pydantic_routes(services: Services) -> APIRouter:
    router = APIRouter()
    guard = signed(services, Scope.TRADE, "POST /v1/orders")

    # ``Depends`` as a default: a string annotation (this module's future import) cannot name ``guard``.
    @router.post(PYDANTIC_PATH, response_model=Placed)
    async def place(body: PlaceOrder, key: Credential = Depends(guard)) -> object:  # noqa: B008
        fields = body.model_dump(exclude_none=True)
        return await execute_one(services, place_command(services.units, key.account_id, fields))

    return router


def bench_app(services: Services) -> FastAPI:
    app = create_app(services)
    app.include_router(pydantic_routes(services))
    return app


def main(port: int, data_dir: Path) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = ApiSettings(port=port, dev=True, rate_limits=UNLIMITED)
    server = ApiServer(default_markets(), data_dir, settings, app_factory=bench_app)
    server.start()
    while not stop.wait(0.5) and server.running():
        pass
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
