"""Order entry and market data through a real uvicorn server on 127.0.0.1, wired to a real node."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from api.errors import ErrorCode
from api.wire import decimal_text
from bluebook.server import ApiServer
from tests.api_support import SYMBOL, Client, funded_client, now_ms, start_server

MAKER = "0x00000000000000000000000000000000000000a1"
TAKER = "0x00000000000000000000000000000000000000b2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("api-orders")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def maker(server: ApiServer) -> Client:
    return funded_client(server, MAKER)


@pytest.fixture(scope="module")
def taker(server: ApiServer) -> Client:
    return funded_client(server, TAKER)


def engine_depth(server: ApiServer, symbol: str = SYMBOL) -> tuple[list, list]:
    assert server.node is not None
    return server.node.read(lambda engine: engine.book(symbol).depth(1_000)).result(10)


def engine_balances(server: ApiServer, account: int) -> dict:
    assert server.node is not None
    return server.node.read(lambda engine: engine.accounts.balances(account)).result(10)


def seq(server: ApiServer) -> int:
    assert server.node is not None
    return server.node.read(lambda engine: engine.seq).result(10)


def cancel_everything(*clients: Client) -> None:
    for client in clients:
        client.ok("DELETE", "/v1/orders")


def test_every_order_type_of_the_matcher_is_placed(server: ApiServer, maker: Client, taker: Client) -> None:
    cancel_everything(maker, taker)
    rest = maker.place(side="sell", price="250", qty="2").json()["order"]
    assert (rest["status"], rest["leaves"], rest["time_in_force"], rest["type"]) == (
        "new",
        "2",
        "GTC",
        "limit",
    )
    gtd = maker.place(side="sell", price="260", qty="1", time_in_force="GTD", expire_at=now_ms() + 3_600_000)
    assert gtd.json()["order"]["status"] == "new"
    post = maker.place(side="sell", price="251", qty="1", post_only=True).json()["order"]
    assert post["status"] == "new" and post["post_only"] is True
    taking_post = taker.place(side="buy", price="250", qty="1", post_only=True).json()
    assert taking_post["code"] == ErrorCode.POST_ONLY_WOULD_TAKE
    fok = taker.place(side="buy", price="250", qty="5", time_in_force="FOK").json()["order"]
    assert (fok["status"], fok["filled"]) == ("expired", "0")
    ioc = taker.place(side="buy", price="250", qty="3", time_in_force="IOC").json()
    assert (ioc["order"]["status"], ioc["order"]["filled"], ioc["order"]["leaves"]) == ("expired", "2", "0")
    assert [(f["price"], f["qty"]) for f in ioc["fills"]] == [("250", "2")]
    market = taker.place(side="buy", type="market", qty="0.5").json()
    assert market["order"]["type"] == "market" and market["order"]["filled"] == "0.5"
    assert [f["price"] for f in market["fills"]] == ["251"]
    bounded = taker.place(side="buy", type="market", qty="1", price="251").json()["order"]
    assert (bounded["filled"], bounded["status"]) == ("0.5", "expired")  # protection price 251: no further
    # Unbounded by the client, a market order gets 5% beyond the best ask (251): it reaches the GTD order.
    last = taker.place(side="buy", type="market", qty="1", stp="decrement").json()
    assert [f["price"] for f in last["fills"]] == ["260"] and last["order"]["status"] == "filled"
    assert engine_depth(server) == ([], [])


def test_cancel_amend_and_cancel_all(server: ApiServer, maker: Client) -> None:
    cancel_everything(maker)
    first = maker.place(side="buy", price="240", qty="3", client_order_id="amend-me").json()["order"]
    second = maker.place(side="buy", price="239", qty="1", client_order_id="cancel-me").json()["order"]
    down = maker.ok("PATCH", "/v1/order", {"symbol": SYMBOL, "order_id": first["order_id"], "qty": "2"})
    assert down["order"]["kept_priority"] is True and down["order"]["leaves"] == "2"
    moved = maker.ok("PATCH", "/v1/order", {"symbol": SYMBOL, "order_id": first["order_id"], "price": "241"})
    assert moved["order"]["kept_priority"] is False and moved["order"]["price"] == "241"
    by_cid = maker.ok("DELETE", f"/v1/order?symbol={SYMBOL}&client_order_id=cancel-me")
    assert by_cid["order"]["order_id"] == second["order_id"] and by_cid["order"]["reason"] == "user"
    again = maker.request("DELETE", f"/v1/order?symbol={SYMBOL}&order_id={second['order_id']}")
    assert (again.status_code, again.json()["code"]) == (404, ErrorCode.UNKNOWN_ORDER)
    maker.place(side="buy", price="238", qty="1")
    open_now = maker.ok("GET", "/v1/orders/open")["orders"]
    assert sorted(o["price"] for o in open_now) == ["238", "241"]
    cancelled = maker.ok("DELETE", f"/v1/orders?symbol={SYMBOL}")["cancelled"]
    assert len(cancelled) == 2 and maker.ok("GET", "/v1/orders/open")["orders"] == []
    assert engine_depth(server) == ([], [])


def test_off_grid_or_malformed_numbers_are_refused_and_change_nothing(
    server: ApiServer, maker: Client
) -> None:
    cancel_everything(maker)
    before = seq(server)
    cases = [
        ({"side": "buy", "price": "250.001", "qty": "1"}, ErrorCode.PRICE_OFF_TICK),
        ({"side": "buy", "price": "250", "qty": "1.0001"}, ErrorCode.QTY_OFF_LOT),
        ({"side": "buy", "price": 250, "qty": "1"}, ErrorCode.INVALID_PRICE),
        ({"side": "buy", "price": "-1", "qty": "1"}, ErrorCode.INVALID_PRICE),
        ({"side": "buy", "price": "NaN", "qty": "1"}, ErrorCode.INVALID_PRICE),
        ({"side": "buy", "price": "250", "qty": "1e999999999"}, ErrorCode.QTY_ABOVE_MAX),
        ({"side": "up", "price": "250", "qty": "1"}, ErrorCode.INVALID_SIDE),
        ({"side": "buy", "price": "250", "qty": "1", "time_in_force": "GTD"}, ErrorCode.INVALID_EXPIRY),
        ({"side": "buy", "price": "250", "qty": "1", "colour": "red"}, ErrorCode.INVALID_PARAMETER),
        ({"side": "buy", "qty": "1"}, ErrorCode.MISSING_PARAMETER),
    ]
    for fields, code in cases:
        response = maker.place(**fields)
        assert (response.status_code, response.json()) == (
            code.status,
            {"code": code, "msg": code.message},
        ) or (response.status_code == code.status and response.json()["code"] == code), (
            fields,
            response.text,
        )
    unknown = maker.request(
        "POST", "/v1/orders", {"symbol": "NOPE-USDC", "side": "buy", "price": "1", "qty": "1"}
    )
    assert unknown.json()["code"] == ErrorCode.UNKNOWN_SYMBOL
    poor = maker.place(side="buy", price="99999", qty="99999")
    assert poor.json()["code"] in (ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.NOTIONAL_ABOVE_MAX)
    assert seq(server) == before + 1  # only the order the engine refused took a seq
    assert maker.ok("GET", "/v1/orders/open")["orders"] == []


def test_a_repeated_client_order_id_returns_the_same_order(server: ApiServer, maker: Client) -> None:
    cancel_everything(maker)
    answers = [
        maker.place(side="sell", price="300", qty="1", client_order_id="once").json() for _ in range(3)
    ]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    assert len({a["order"]["order_id"] for a in answers}) == 1
    assert answers[2]["order"]["price"] == "300" and answers[2]["order"]["status"] == "new"
    assert len(maker.ok("GET", "/v1/orders/open")["orders"]) == 1
    got = maker.ok("GET", "/v1/order?client_order_id=once")
    assert got["source"] == "engine" and got["order"]["order_id"] == answers[0]["order"]["order_id"]


def test_a_batch_gives_each_action_its_own_result(server: ApiServer, maker: Client) -> None:
    cancel_everything(maker)
    actions = [
        {
            "action": "place",
            "symbol": SYMBOL,
            "side": "buy",
            "price": "200",
            "qty": "1",
            "client_order_id": "b1",
        },
        {"action": "place", "symbol": SYMBOL, "side": "buy", "price": "200.005", "qty": "1"},
        {"action": "cancel", "symbol": SYMBOL, "client_order_id": "b1"},
        {"action": "explode"},
        {"action": "cancel_all"},
    ]
    results = maker.ok("POST", "/v1/batch", {"actions": actions})["results"]
    assert [r["ok"] for r in results] == [True, False, True, False, True]
    assert results[1]["error"]["code"] == ErrorCode.PRICE_OFF_TICK
    assert results[3]["error"]["code"] == ErrorCode.INVALID_PARAMETER
    many = [{"action": "place", "symbol": SYMBOL, "side": "buy", "price": "1", "qty": "1"}] * 101
    too_many = maker.request("POST", "/v1/batch", {"actions": many})
    assert (too_many.status_code, too_many.json()["code"]) == (400, ErrorCode.BATCH_TOO_LARGE)
    hundred = maker.ok("POST", "/v1/batch", {"actions": many[:100]})["results"]
    assert all(r["ok"] for r in hundred) and len(maker.ok("GET", "/v1/orders/open")["orders"]) == 100
    cancel_everything(maker)


def test_market_data_and_balances_follow_the_trades(server: ApiServer, maker: Client, taker: Client) -> None:
    cancel_everything(maker, taker)
    for price in ("250", "250.5", "251"):
        maker.place(side="sell", price=price, qty="1")
    maker.place(side="buy", price="249", qty="2")
    taker.place(side="buy", price="250.5", qty="1.5", time_in_force="IOC")
    depth = maker.http.get(f"/v1/depth?symbol={SYMBOL}").json()
    assert depth["bids"] == [["249", "2"]] and depth["asks"] == [["250.5", "0.5"], ["251", "1"]]
    bids, asks = engine_depth(server)
    assert [[server_price / 100, qty / 1000] for server_price, qty in asks] == [[250.5, 0.5], [251.0, 1.0]]
    assert 0 < depth["update_id"] <= seq(server)
    trades = maker.http.get(f"/v1/trades?symbol={SYMBOL}&limit=2").json()
    assert [(t["price"], t["qty"], t["side"]) for t in trades] == [
        ("250.5", "0.5", "buy"),
        ("250", "1", "buy"),
    ]
    ticker = maker.http.get(f"/v1/ticker?symbol={SYMBOL}").json()[0]
    assert (ticker["last"], ticker["best_bid"], ticker["best_ask"]) == ("250.5", "249", "250.5")
    candle = maker.http.get(f"/v1/candles?symbol={SYMBOL}&interval=1m").json()[-1]
    assert candle["close"] == "250.5" and candle["high"] >= "250.5"
    daily = maker.http.get(f"/v1/candles?symbol={SYMBOL}&interval=1d").json()
    assert sum(c["trades"] for c in daily) == ticker["trades"]
    print(
        f"\nmarket data: depth {len(depth['bids'])}x{len(depth['asks'])}, {ticker['trades']} trades in 24 h"
    )
    for client in (maker, taker):
        wire = {b["asset"]: (b["available"], b["held"]) for b in client.ok("GET", "/v1/balances")["balances"]}
        held = engine_balances(server, client.account_id)
        for asset, scale in (("USDC", 6), ("TSLAx", 9)):
            available, on_hold = held.get(asset, (0, 0))
            assert wire[asset] == (_text(available, scale), _text(on_hold, scale)), asset
    assert held["TSLAx"][0] > 1_000 * 10**9 and held["USDC"][0] < 1_000_000 * 10**6  # the taker (last) bought


def test_fills_and_history_come_from_the_store_with_its_settlement_columns(
    server: ApiServer, taker: Client
) -> None:
    assert server.node is not None and server.node.projector is not None
    deadline = time.monotonic() + 10
    while server.node.projector.lag() and time.monotonic() < deadline:
        time.sleep(0.02)
    fills = taker.ok("GET", "/v1/fills")
    assert fills["projected_seq"] == seq(server) and fills["fills"]
    assert {
        (f["settlement_status"], f["batch_id"], f["tx_hash"], f["liquidity"]) for f in fills["fills"]
    } == {("unsettled", None, None, "taker")}
    history = taker.ok("GET", "/v1/orders/history?limit=5")["orders"]
    assert history and all(
        o["status"] in ("filled", "expired", "cancelled", "new", "partially_filled") for o in history
    )
    stored = taker.ok("GET", f"/v1/order?order_id={history[-1]['order_id']}")
    assert stored["order"]["order_id"] == history[-1]["order_id"]


def _text(units: int, scale: int) -> str:
    return decimal_text(Decimal(units).scaleb(-scale))


def test_depth_from_events_equals_the_engines_book_after_a_random_flow(
    server: ApiServer, maker: Client, taker: Client
) -> None:
    cancel_everything(maker, taker)
    rng = random.Random(11)
    actions = []
    for n in range(400):
        side, price = rng.choice(["buy", "sell"]), str(rng.randint(24_500, 25_500) / 100)
        if n % 7 == 6:
            actions.append({"action": "cancel_all", "symbol": SYMBOL})
            continue
        tif = rng.choice(["GTC", "GTC", "IOC", "FOK"])
        actions.append({"action": "place", "symbol": SYMBOL, "side": side, "price": price,
                        "qty": str(rng.randint(1, 3000) / 1000), "time_in_force": tif,
                        "stp": rng.choice(["none", "expire_taker", "decrement"])})  # fmt: skip
    for start in range(0, len(actions), 100):
        for client in (maker, taker):
            client.ok("POST", "/v1/batch", {"actions": actions[start : start + 100]})
        depth = maker.http.get(f"/v1/depth?symbol={SYMBOL}&limit=1000").json()
        bids, asks = engine_depth(server)
        assert depth["bids"] == [[_text(p * 10_000, 6), _text(q * 1_000_000, 9)] for p, q in bids]
        assert depth["asks"] == [[_text(p * 10_000, 6), _text(q * 1_000_000, 9)] for p, q in asks]
        assert depth["update_id"] <= seq(server)
    print(f"\ndepth from events: {2 * len(actions)} actions, equal to the engine's book at 4 checkpoints")
    cancel_everything(maker, taker)
