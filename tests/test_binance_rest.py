"""The Binance REST routes' own rules against a real server: signing, Binance error codes, usage
headers, rate limits (429, then 418), and the routes ccxt does not call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import Request

from api.app import ROUTE_WEIGHTS
from api.binance.errors import BinanceError, Code
from api.binance.guard import Guard
from api.credentials import Scope
from api.ratelimit import Limit, RateLimiter, RateLimitPolicy
from bluebook.server import ApiServer
from tests.api_support import Client, funded_client, now_ms, start_server
from tests.binance_support import SYMBOL, binance_request

TRADER = "0x00000000000000000000000000000000000000a7"
OTHER = "0x00000000000000000000000000000000000000b8"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("binance-rest")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trader(server: ApiServer) -> Client:
    return funded_client(server, TRADER)


def order(trader: Client, **params: str) -> dict:
    fields = {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "1",
        "price": "200",
        **params,
    }
    return binance_request(trader, "POST", "/api/v3/order", fields, body=True).json()


def test_signatures_keys_and_timestamps_get_binance_codes(server: ApiServer, trader: Client) -> None:
    account = binance_request(trader, "GET", "/api/v3/account", {"omitZeroBalances": "true"})
    assert account.status_code == 200
    assert {b["asset"]: b["free"] for b in account.json()["balances"]} == {"TSLAX": "1000", "USDC": "1000000"}
    cases = [
        (binance_request(trader, "GET", "/api/v3/account", {}, secret="not-the-secret"), 400, -1022),
        (binance_request(trader, "GET", "/api/v3/account", {}, at_ms=now_ms() - 20_000), 400, -1021),
        (binance_request(trader, "GET", "/api/v3/account", {}, at_ms=now_ms() + 5_000), 400, -1021),
        (binance_request(trader, "GET", "/api/v3/account", {"recvWindow": "60001"}), 400, -1131),
        (trader.http.get("/api/v3/account?recvWindow=5000"), 401, -2014),
        (trader.http.get("/api/v3/account", headers={"X-MBX-APIKEY": trader.key}), 400, -1102),
        (binance_request(Client(server.url, "no-such-key", "x"), "GET", "/api/v3/account", {}), 401, -2015),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    wide = binance_request(trader, "GET", "/api/v3/account", {"recvWindow": "60000"}, at_ms=now_ms() - 30_000)
    assert wide.status_code == 200  # a 60 s window admits a 30 s old request


def test_an_ed25519_key_signs_the_binance_way(server: ApiServer, trader: Client) -> None:
    """The same Ed25519 keys as ``/v1``: the base64 signature of the query, percent-encoded."""
    assert server.services is not None
    private = Ed25519PrivateKey.generate()
    info = server.services.keys.register_ed25519_key(
        TRADER, private.public_key().public_bytes_raw(), "read,trade"
    )
    signer = Client(server.url, info.key_id, private_key=private)
    account = binance_request(signer, "GET", "/api/v3/account", {"omitZeroBalances": "true"})
    assert account.status_code == 200, account.text
    assert {b["asset"]: b["free"] for b in account.json()["balances"]} == {"TSLAX": "1000", "USDC": "1000000"}
    placed = order(signer, price="201", newClientOrderId="ed25519-signed")
    assert (placed["clientOrderId"], placed["status"]) == ("ed25519-signed", "NEW")
    impostor = Client(server.url, info.key_id, private_key=Ed25519PrivateKey.generate())
    refused = binance_request(impostor, "GET", "/api/v3/account", {})
    assert (refused.status_code, refused.json()["code"]) == (400, -1022)
    garbled = signer.http.get(
        f"/api/v3/account?timestamp={now_ms()}&signature=%%%", headers={"X-MBX-APIKEY": info.key_id}
    )
    assert (garbled.status_code, garbled.json()["code"]) == (400, -1022)
    binance_request(signer, "DELETE", "/api/v3/openOrders", {"symbol": SYMBOL})


def test_order_rules_answer_with_binance_codes(server: ApiServer, trader: Client) -> None:
    placed = order(trader, newClientOrderId="rest-1", newOrderRespType="RESULT")
    assert (placed["status"], placed["type"], placed["clientOrderId"], placed["origQty"]) == (
        "NEW",
        "LIMIT",
        "rest-1",
        "1",
    )
    assert "fills" not in placed
    cases = [
        ({"newClientOrderId": "rest-1"}, -2010, "Duplicate order sent."),
        ({"price": "200.001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.0001"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.001", "price": "100"}, -1013, "Filter failure: NOTIONAL"),
        (
            {"quantity": "3000", "price": "1000"},
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        ({"side": "UP"}, -1117, "Invalid side."),
        ({"type": "STOP_LOSS"}, -1116, "Invalid orderType."),
        ({"timeInForce": "GTD"}, -1115, "Invalid timeInForce."),
        ({"symbol": "NOPEUSDC"}, -1121, "Invalid symbol."),
        (
            {"quantity": ""},
            -1102,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
        ),
        ({"type": "MARKET", "price": ""}, -1106, "Parameter 'timeInForce' sent when not required."),
        ({"newClientOrderId": "x" * 37}, -1102, None),
    ]
    for params, code, msg in cases:
        answer = order(trader, **params)
        assert answer["code"] == code and (msg is None or answer["msg"] == msg), (params, answer)
    bad_limit = trader.http.get(f"/api/v3/depth?symbol={SYMBOL}&limit=ten")
    assert (bad_limit.status_code, bad_limit.json()["code"]) == (400, -1100)
    unknown = binance_request(trader, "DELETE", "/api/v3/order", {"symbol": SYMBOL, "orderId": "999999"})
    assert unknown.json() == {"code": -2011, "msg": "Unknown order sent."}
    missing = binance_request(trader, "GET", "/api/v3/order", {"symbol": SYMBOL, "orderId": "999999"})
    assert missing.json() == {"code": -2013, "msg": "Order does not exist."}
    got = binance_request(trader, "GET", "/api/v3/order", {"symbol": SYMBOL, "origClientOrderId": "rest-1"})
    assert (got.json()["orderId"], got.json()["status"]) == (placed["orderId"], "NEW")


def test_cancel_replace_all_orders_and_tickers(server: ApiServer, trader: Client) -> None:
    first = order(trader, price="201", newClientOrderId="cr-1")
    replaced = binance_request(
        trader,
        "POST",
        "/api/v3/order/cancelReplace",
        {
            "symbol": SYMBOL,
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrigClientOrderId": "cr-1",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "2",
            "price": "202",
            "newClientOrderId": "cr-2",
        },
        body=True,
    ).json()
    assert (replaced["cancelResult"], replaced["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert replaced["cancelResponse"]["orderId"] == first["orderId"]
    assert replaced["cancelResponse"]["status"] == "CANCELED"
    assert (replaced["newOrderResponse"]["price"], replaced["newOrderResponse"]["origQty"]) == ("202", "2")
    failed = binance_request(
        trader,
        "POST",
        "/api/v3/order/cancelReplace",
        {
            "symbol": SYMBOL,
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrigClientOrderId": "cr-1",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "1",
            "price": "203",
        },
        body=True,
    )
    assert failed.json()["code"] == -2022 and failed.json()["data"]["newOrderResult"] == "NOT_ATTEMPTED"
    open_now = binance_request(trader, "GET", "/api/v3/openOrders", {"symbol": SYMBOL}).json()
    assert sorted(o["price"] for o in open_now) == ["200", "202"]
    cancelled = binance_request(trader, "DELETE", "/api/v3/openOrders", {"symbol": SYMBOL}).json()
    assert sorted(o["status"] for o in cancelled) == ["CANCELED", "CANCELED"]
    info = trader.http.get(f"/api/v3/exchangeInfo?symbol={SYMBOL}").json()["symbols"][0]
    assert (info["status"], info["baseAsset"], info["quoteAsset"]) == ("TRADING", "TSLAX", "USDC")
    filters = {f["filterType"]: f for f in info["filters"]}
    assert (filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]) == ("0.01", "0.001")
    assert filters["NOTIONAL"]["minNotional"] == "1"
    assert trader.http.get("/api/v3/ping").json() == {}
    assert abs(trader.http.get("/api/v3/time").json()["serverTime"] - now_ms()) < 5_000
    book = trader.http.get(f"/api/v3/ticker/bookTicker?symbol={SYMBOL}").json()
    assert book == {"symbol": SYMBOL, "bidPrice": "0", "bidQty": "0", "askPrice": "0", "askQty": "0"}
    assert len(trader.http.get("/api/v3/ticker/price").json()) == 4


def test_usage_headers_count_weight_and_orders(server: ApiServer, trader: Client) -> None:
    first = trader.http.get(f"/api/v3/depth?symbol={SYMBOL}")
    second = trader.http.get(f"/api/v3/depth?symbol={SYMBOL}")
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (first, second)]
    assert used[1] - used[0] == 5 or used[1] == 5  # depth weighs 5 (or a new minute began)
    counts = []
    for n in range(3):
        placed = binance_request(
            trader,
            "POST",
            "/api/v3/order",
            {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "1", "price": f"{190 + n}"},
            body=True,
        )
        assert placed.json()["orderId"] and "status" not in placed.json()  # LIMIT_MAKER answers ACK
        counts.append(int(placed.headers["X-MBX-ORDER-COUNT-10S"]))
    assert all(b in (a + 1, 1) for a, b in zip(counts, counts[1:], strict=False))  # per 10 s window
    binance_request(trader, "DELETE", "/api/v3/openOrders", {"symbol": SYMBOL})
    print(f"\nusage headers: weight {used}, order counts {counts}")


def test_rate_limits_answer_429_then_418_with_retry_after(tmp_path: Path) -> None:
    tight = RateLimitPolicy(
        per_key=Limit(20, 60), per_ip=Limit(20, 60), ban_after=3, route_weights=ROUTE_WEIGHTS
    )
    server = start_server(tmp_path, limits=tight)
    try:
        client = Client(server.url, "none")
        answers = [client.http.get("/api/v3/exchangeInfo") for _ in range(6)]
        statuses = [a.status_code for a in answers]
        assert (
            statuses[:2] == [200, 200] and 429 in statuses and statuses[-1] == 418
        )  # exchangeInfo weighs 10
        for answer in answers[2:]:
            assert answer.json()["code"] == -1003 and int(answer.headers["Retry-After"]) >= 1
        assert [int(a.headers["X-MBX-USED-WEIGHT-1M"]) for a in answers[:3]] in ([10, 20, 20], [10, 20, 0])
        print(f"\nrate limits: {statuses}")
    finally:
        server.stop()


def test_a_banned_ip_is_refused_before_its_key_is_looked_up() -> None:
    class Keys:
        def lookup(self, key_id: str) -> None:
            raise AssertionError("a banned IP's key was looked up")

    policy = RateLimitPolicy(per_key=Limit(100, 60.0), per_ip=Limit(1, 60.0), ban_after=1)
    limiter = RateLimiter(policy)
    services = SimpleNamespace(limiter=limiter, keys=Keys(), clock_ms=now_ms)
    guard = Guard(services, lambda route: 1)  # type: ignore[arg-type]
    for _ in range(2):  # the IP's whole budget, then its one violation: banned
        limiter.check("GET /api/v3/account", "203.0.113.9")
    fresh = b"timestamp=%d&signature=ab" % now_ms()  # a signed request would reach the key store
    request = Request({"type": "http", "method": "GET", "path": "/api/v3/account", "query_string": fresh,
                       "headers": [(b"x-mbx-apikey", b"k")], "client": ("203.0.113.9", 4000)})  # fmt: skip
    for call in (guard.signed(request, "GET /api/v3/account", Scope.READ),
                 guard.user_stream(request, "POST /api/v3/userDataStream")):  # fmt: skip
        with pytest.raises(BinanceError) as caught:
            asyncio.run(call)  # type: ignore[arg-type]
        assert (caught.value.code, caught.value.status) == (Code.TOO_MANY_REQUESTS, 418)
