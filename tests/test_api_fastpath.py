"""``POST /v1/orders`` answers alike through ``api.fastpath`` (the real server, over uvicorn) and
through its FastAPI route (the same application without the fast path, in process): placements,
every kind of refusal, and a rate limit's 429 with its Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api.app import ROUTE_WEIGHTS
from api.fastpath import FastOrderEntry
from api.ratelimit import Limit, RateLimitPolicy
from api.signing import sign_request
from bluebook.server import ApiServer
from tests.api_support import SYMBOL, Client, funded_client, now_ms, start_server

#: Room for the requests below, then refusals: 40 weight per key a minute.
LIMITS = RateLimitPolicy(per_key=Limit(40, 60), per_ip=Limit(1_000_000, 60), route_weights=ROUTE_WEIGHTS)
#: Fields of an answer that differ between two placements of the same order.
OWN = {"order_id", "trade_id", "maker_order_id", "time", "date"}
ORDER = {"symbol": SYMBOL, "side": "buy", "price": "200", "qty": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("api-fastpath")), limits=LIMITS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: ApiServer) -> Client:
    return funded_client(server, "0x00000000000000000000000000000000000000c3")


def routed(server: ApiServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """The request through the application's own route: the server's app without the fast path."""
    assert server._server is not None
    fast = server._server.config.app
    assert isinstance(fast, FastOrderEntry)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=fast.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as routed_client:
            return await routed_client.post("/v1/orders", content=body, headers=headers)

    return asyncio.run(send())


def both(
    server: ApiServer, client: Client, body: bytes, **changes: str
) -> tuple[httpx.Response, httpx.Response]:
    """The same request, signed now (then ``changes`` to its headers), through each path."""
    headers = {**sign_request(client.key, "POST", "/v1/orders", body, now_ms=now_ms(), secret=client.secret),
               "Content-Type": "application/json", **changes}  # fmt: skip
    fast = client.http.post("/v1/orders", content=body, headers=headers)
    return fast, routed(server, body, headers)


def comparable(response: httpx.Response) -> tuple[int, Any, str | None, str | None]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in OWN}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return (response.status_code, strip(response.json()), response.headers.get("content-type"),
            response.headers.get("retry-after"))  # fmt: skip


@pytest.mark.parametrize(
    "case, body, changes",
    [
        ("placed", {"symbol": SYMBOL, "side": "buy", "price": "200", "qty": "0.5"}, {}),
        ("malformed body", b"{not json", {}),
        ("not an object", b"[1, 2]", {}),
        ("unknown field", {"symbol": SYMBOL, "side": "buy", "price": "200", "qty": "1", "colour": "red"}, {}),
        ("off the tick grid", {"symbol": SYMBOL, "side": "buy", "price": "200.001", "qty": "1"}, {}),
        ("unknown symbol", {"symbol": "NOPE-USDC", "side": "buy", "price": "1", "qty": "1"}, {}),
        ("insufficient funds", {"symbol": SYMBOL, "side": "buy", "price": "200", "qty": "100000"}, {}),
        ("bad signature", ORDER, {"BB-SIGNATURE": "ab" * 32}),
        ("no key header", ORDER, {"BB-KEY": ""}),
        ("stale", ORDER, {"BB-TIMESTAMP": "1000"}),
    ],
)
def test_the_fast_path_answers_as_the_route_does(
    server: ApiServer, client: Client, case: str, body: Any, changes: dict[str, str]
) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    fast, route = both(server, client, raw, **changes)
    assert comparable(fast) == comparable(route), case
    print(f"{case}: both {fast.status_code} {fast.json().get('code', '')}")


def test_a_rate_limited_placement_is_refused_alike_with_retry_after(
    server: ApiServer, client: Client
) -> None:
    body = orjson.dumps({"symbol": SYMBOL, "side": "buy", "price": "1", "qty": "0.001"})
    for _ in range(40):
        fast, route = both(server, client, body)
        if fast.status_code == 429 and route.status_code == 429:
            break
    assert comparable(fast) == comparable(route)
    assert fast.status_code == 429 and int(fast.headers["retry-after"]) >= 1
    print(f"rate limited: both 429, Retry-After {fast.headers['retry-after']}")
