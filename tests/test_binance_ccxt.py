"""ccxt's own ``binance`` class against a real server on 127.0.0.1: every call checked by content."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from bluebook.server import ApiServer
from matcher.sessions import Session
from tests.api_support import funded_client, pin_session, start_gating, start_server
from tests.binance_support import UNIFIED, ccxt_client

MAKER = "0x00000000000000000000000000000000000000c1"
TAKER = "0x00000000000000000000000000000000000000d2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("binance-ccxt")))
    gating = start_gating(server, Session.REGULAR)  # market orders need the regular session
    yield server
    gating.stop()
    server.stop()


@pytest.fixture(scope="module")
def maker(server: ApiServer) -> ccxt.binance:
    return ccxt_client(server.url, funded_client(server, MAKER))


@pytest.fixture(scope="module")
def taker(server: ApiServer) -> ccxt.binance:
    return ccxt_client(server.url, funded_client(server, TAKER))


def test_load_markets_maps_every_symbol_with_its_grid(server: ApiServer, maker: ccxt.binance) -> None:
    markets = maker.load_markets()
    assert sorted(markets) == ["AAPLX/USDC", "NVDAX/USDC", "TSLAX/USDC", "TSLAX/WBTC"]
    market = markets[UNIFIED]
    assert (market["id"], market["base"], market["quote"], market["type"], market["active"]) == (
        "TSLAXUSDC",
        "TSLAX",
        "USDC",
        "spot",
        True,
    )
    assert market["precision"]["price"] == 0.01 and market["precision"]["amount"] == 0.001
    assert market["limits"]["amount"] == {"min": 0.001, "max": 100_000.0}
    assert market["limits"]["cost"] == {"min": 1.0, "max": 5_000_000.0}
    assert markets["TSLAX/WBTC"]["precision"]["price"] == 0.000001
    print(f"\nccxt {ccxt.__version__}: {len(markets)} markets, {UNIFIED} tick 0.01 step 0.001")


def test_orders_trades_and_market_data_through_ccxt(
    server: ApiServer, maker: ccxt.binance, taker: ccxt.binance
) -> None:
    maker.load_markets()
    taker.load_markets()
    sell = maker.create_order(UNIFIED, "limit", "sell", 2, 250)
    assert (sell["status"], sell["price"], sell["amount"], sell["filled"], sell["type"]) == (
        "open",
        250.0,
        2.0,
        0.0,
        "limit",
    )
    assert sell["clientOrderId"].startswith("x-") and len(sell["clientOrderId"]) <= 36
    maker.create_order(UNIFIED, "limit", "buy", 1, 249)
    book = maker.fetch_order_book(UNIFIED)
    assert book["bids"] == [[249.0, 1.0]] and book["asks"] == [[250.0, 2.0]] and book["nonce"] > 0

    bought = taker.create_order(UNIFIED, "market", "buy", 0.5)
    assert (bought["status"], bought["filled"], bought["cost"], bought["average"]) == (
        "closed",
        0.5,
        125.0,
        250.0,
    )
    assert [(t["price"], t["amount"]) for t in bought["trades"]] == [(250.0, 0.5)]
    assert bought["fee"] == {"currency": "USDC", "cost": 0.0625}  # 5 bps taker

    fetched = maker.fetch_order(sell["id"], UNIFIED)
    assert (fetched["status"], fetched["filled"], fetched["remaining"], fetched["cost"]) == (
        "open",
        0.5,
        1.5,
        125.0,
    )
    assert fetched["timestamp"] == sell["timestamp"]
    assert {(o["side"], o["price"], o["remaining"]) for o in maker.fetch_open_orders(UNIFIED)} == {
        ("sell", 250.0, 1.5),
        ("buy", 249.0, 1.0),
    }

    trades = taker.fetch_trades(UNIFIED)
    assert [(t["price"], t["amount"], t["side"]) for t in trades][-1:] == [(250.0, 0.5, "buy")]
    ticker = taker.fetch_ticker(UNIFIED)
    assert (ticker["last"], ticker["bid"], ticker["ask"], ticker["baseVolume"], ticker["quoteVolume"]) == (
        250.0,
        249.0,
        250.0,
        0.5,
        125.0,
    )
    candles = taker.fetch_ohlcv(UNIFIED, "1m")
    assert candles[-1][1:] == [250.0, 250.0, 250.0, 250.0, 0.5]

    balance = taker.fetch_balance()
    assert balance["TSLAX"] == {"free": 1000.5, "used": 0.0, "total": 1000.5}
    assert balance["USDC"]["total"] == 1_000_000 - 125 - 0.0625

    deadline = time.monotonic() + 10  # myTrades reads the SQL store, a little behind the engine
    while not (mine := maker.fetch_my_trades(UNIFIED)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(t["order"], t["side"], t["takerOrMaker"], t["price"], t["amount"]) for t in mine] == [
        (sell["id"], "sell", "maker", 250.0, 0.5)
    ]
    assert mine[0]["fee"] == {"currency": "USDC", "cost": -0.0125}  # a 1 bps maker rebate

    cancelled = maker.cancel_order(sell["id"], UNIFIED)
    assert (cancelled["id"], cancelled["status"], cancelled["filled"], cancelled["remaining"]) == (
        sell["id"],
        "canceled",
        0.5,
        1.5,
    )
    with pytest.raises(ccxt.OrderNotFound):
        maker.cancel_order(sell["id"], UNIFIED)
    print(f"\nccxt orders: market buy 0.5 @ 250 cost {bought['cost']}, maker fill seen in myTrades")


def test_post_only_and_cancel_all(server: ApiServer, maker: ccxt.binance, taker: ccxt.binance) -> None:
    maker.load_markets()
    maker.cancel_all_orders(UNIFIED)
    maker.create_order(UNIFIED, "limit", "sell", 1, 260)
    post = maker.create_order(UNIFIED, "limit", "buy", 1, 240, {"postOnly": True})
    assert (post["postOnly"], post["status"], post["info"]["type"]) == (True, "open", "LIMIT_MAKER")
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        taker.create_order(UNIFIED, "limit", "buy", 1, 260, {"postOnly": True})
    with pytest.raises(ccxt.InsufficientFunds):
        taker.create_order(UNIFIED, "limit", "buy", 10_000, 250)  # 2.5M USDC of 1M
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):  # ccxt's class for -1013
        maker.create_order(UNIFIED, "limit", "buy", 0.001, 240)  # 0.24 USDC, under the 1 USDC minimum
    cancelled = maker.cancel_all_orders(UNIFIED)
    assert sorted((o["side"], o["price"], o["status"]) for o in cancelled) == [
        ("buy", 240.0, "canceled"),
        ("sell", 260.0, "canceled"),
    ]
    assert maker.fetch_open_orders(UNIFIED) == []


def test_market_orders_follow_the_session(
    server: ApiServer, maker: ccxt.binance, taker: ccxt.binance
) -> None:
    """Outside regular hours a market order is refused and limit orders still trade; on a
    weekend the symbol shows BREAK; back in regular hours market orders are taken again."""
    maker.load_markets()
    maker.cancel_all_orders(UNIFIED)
    maker.create_order(UNIFIED, "limit", "sell", 1, 251)
    try:
        pin_session(server, Session.OVERNIGHT)
        with pytest.raises(ccxt.BadRequest, match="not possible in this trading phase"):
            taker.create_order(UNIFIED, "market", "buy", 0.1)
        with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE_BY_SIDE"):  # 10% around 250: 275 at most
            taker.create_order(UNIFIED, "limit", "buy", 0.1, 276)
        overnight = taker.create_order(UNIFIED, "limit", "buy", 0.1, 251)
        assert (overnight["status"], overnight["filled"]) == ("closed", 0.1)
        pin_session(server, Session.CLOSED)
        assert _status_soon(taker, "BREAK")
    finally:
        pin_session(server, Session.REGULAR)
    assert _status_soon(taker, "TRADING")
    bought = taker.create_order(UNIFIED, "market", "buy", 0.1)
    assert (bought["status"], bought["filled"], bought["average"]) == ("closed", 0.1, 251.0)
    maker.cancel_all_orders(UNIFIED)


def _status_soon(client: ccxt.binance, status: str) -> bool:
    """Whether exchangeInfo shows ``status`` for the symbol within a few seconds (the API reads
    each symbol's session from the engine once a second)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        info = client.publicGetExchangeInfo({"symbol": "TSLAXUSDC"})
        if info["symbols"][0]["status"] == status:
            return True
        time.sleep(0.2)
    return False
