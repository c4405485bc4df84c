"""``bluebook ref``: an operator's reference price stands over the feed until cleared, journaled
like every reference; nonsense, an unknown underlying, gating off and no server are refused."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import httpx

from matcher.commands import CommandKind, SetReference
from matcher.gating import NS_PER_S, GatingRules
from matcher.sessions import Session
from store.codec import decode
from store.journal import read
from tests.api_support import CONFIG, funded_client, start_gating, start_server
from tests.test_api_cli import bluebook
from tests.ws_support import WsClient

MAKER = "0x00000000000000000000000000000000000000e1"
TAKER = "0x00000000000000000000000000000000000000e2"


def session_of(url: str, symbol: str) -> dict:
    sessions = httpx.get(url + "/v1/sessions", timeout=10).json()
    return next(s for s in sessions if s["symbol"] == symbol)


def halted_view(url: str, symbol: str) -> dict:
    """The symbol's session view once it shows the halt (the API reads views once a second)."""
    deadline = time.monotonic() + 10
    while not (view := session_of(url, symbol))["halted"]:
        assert time.monotonic() < deadline, view
        time.sleep(0.1)
    return view


def reference_of(url: str, symbol: str) -> str | None:
    return session_of(url, symbol).get("reference")


def wait_for_reference(url: str, symbol: str, price: str) -> None:
    deadline = time.monotonic() + 10
    while (seen := reference_of(url, symbol)) != price:
        assert time.monotonic() < deadline, f"{symbol}'s reference stayed {seen}, not {price}"
        time.sleep(0.2)


def test_an_operator_price_stands_over_the_feed_until_cleared(tmp_path: Path) -> None:
    data = str(tmp_path)
    server = start_server(tmp_path)
    gating = start_gating(server, Session.REGULAR)
    try:
        wait_for_reference(server.url, "TSLAx-USDC", "250")
        placed = bluebook("ref", "set", "TSLA", "262.5", "--data-dir", data)
        assert placed.returncode == 0, placed.stderr
        assert json.loads(placed.stdout) == {"underlying": "TSLA", "price": "262.5", "status": "open",
                                             "source": "manual"}  # fmt: skip
        wait_for_reference(server.url, "TSLAx-USDC", "262.5")
        wait_for_reference(server.url, "TSLAx-WBTC", "0.002625")  # the cross pair follows
        assert reference_of(server.url, "AAPLx-USDC") == "230"  # the others keep their feed
        listed = json.loads(bluebook("ref", "list", "--data-dir", data).stdout)
        assert [r["underlying"] for r in listed["references"]] == ["TSLA"]
        for bad, code in ((("XYZ", "1"), "2001"), (("TSLA", "-5"), "2001"), (("TSLA", "abc"), "2001")):
            refused = bluebook("ref", "set", *bad, "--data-dir", data)
            assert refused.returncode == 1 and code in refused.stderr, refused.stderr
        cleared = bluebook("ref", "clear", "TSLA", "--data-dir", data)
        assert cleared.returncode == 0 and json.loads(cleared.stdout)["cleared"], cleared.stderr
        wait_for_reference(server.url, "TSLAx-USDC", "250")
        again = bluebook("ref", "clear", "TSLA", "--data-dir", data)
        assert again.returncode == 1 and "4001" in again.stderr
    finally:
        gating.stop()
        server.stop()
    references = [
        SetReference(decode(p)) for _, p in read(tmp_path / "journal") if p[0] == CommandKind.SET_REFERENCE
    ]
    manual = {(r.symbol, r.price, r.source) for r in references if r.source.startswith("manual")}
    assert manual == {("TSLAx-USDC", 26_250, "manual"), ("TSLAx-WBTC", 2_625, "manual/static")}
    offline = bluebook("ref", "set", "TSLA", "260", "--data-dir", data)
    assert offline.returncode == 1 and "no server runs" in offline.stderr


def test_a_server_without_gating_takes_no_reference_prices(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        refused = bluebook("ref", "set", "TSLA", "260", "--data-dir", str(tmp_path))
        assert refused.returncode == 1 and "5003" in refused.stderr, refused.stderr
    finally:
        server.stop()


def test_an_operator_halts_a_symbol_which_collects_orders_then_reopens_by_auction(tmp_path: Path) -> None:
    """``bluebook halt``: orders are collected, not matched, and the session view says why;
    ``bluebook resume``: the halt lasts its reopening time, then the auction uncrosses them."""
    data = str(tmp_path)
    quick = replace(CONFIG, gating_rules=GatingRules(reopening_auction_ns=3 * NS_PER_S))
    server = start_server(tmp_path, config=quick)
    gating = start_gating(server, Session.REGULAR)
    try:
        wait_for_reference(server.url, "TSLAx-USDC", "250")
        maker, taker = funded_client(server, MAKER), funded_client(server, TAKER)
        watcher = WsClient(server.url)
        watcher.ok("subscribe", channels=["session.TSLAx-USDC"])
        halted = bluebook("halt", "TSLAx-USDC", "--data-dir", data)
        assert halted.returncode == 0, halted.stderr
        assert json.loads(halted.stdout)["events"] == ["halted"]
        view = halted_view(server.url, "TSLAx-USDC")
        assert (view["halted"], view["reason"], view["halt_reasons"]) == (
            True,
            "halted by the operator",
            ["operator"],
        )
        assert session_of(server.url, "AAPLx-USDC")["halted"] is False  # the others trade on
        sell = maker.place(side="sell", price="250.5", qty="1").json()
        buy = taker.place(side="buy", price="251", qty="0.4").json()
        assert (sell["order"]["status"], buy["order"]["status"]) == ("new", "new")  # collected, crossed
        market = taker.place(side="buy", type="market", qty="0.1")
        assert market.json()["code"] == 6300, market.text  # SYMBOL_HALTED: no market orders
        deadline = time.monotonic() + 10
        while (auction := session_of(server.url, "TSLAx-USDC")["auction"])["indicative_price"] is None:
            assert time.monotonic() < deadline, auction
            time.sleep(0.2)
        assert (auction["indicative_price"], auction["indicative_volume"]) == ("250.5", "0.4")
        for bad in (("--reason", "circuit_breaker"), ("--reason", "nonsense")):
            refused = bluebook("halt", "TSLAx-USDC", *bad, "--data-dir", data)
            assert refused.returncode == 1 and "2001" in refused.stderr, refused.stderr
        resumed = bluebook("resume", "TSLAx-USDC", "--data-dir", data)
        assert resumed.returncode == 0, resumed.stderr
        deadline = time.monotonic() + 10  # the halt lasts 3 s here; the next reference reopens it
        while session_of(server.url, "TSLAx-USDC")["halted"]:
            assert time.monotonic() < deadline, "the symbol did not reopen"
            time.sleep(0.2)
        order = taker.ok("GET", f"/v1/order?order_id={buy['order']['order_id']}")["order"]
        assert (order["status"], order["filled"]) == ("filled", "0.4")
        trades = httpx.get(server.url + "/v1/trades?symbol=TSLAx-USDC", timeout=10).json()
        assert [(t["price"], t["qty"]) for t in trades] == [("250.5", "0.4")]  # one auction price
        depth = httpx.get(server.url + "/v1/depth?symbol=TSLAx-USDC", timeout=10).json()
        assert (depth["bids"], depth["asks"]) == ([], [["250.5", "0.6"]])  # the buy at 251 is gone
        assert session_of(server.url, "TSLAx-USDC")["auction"] is None
        pushed = [watcher.receive()]  # the frames pushed on the session channel, up to the reopening
        while pushed[-1]["type"] != "resumed":
            pushed.append(watcher.receive())
        watcher.close()
        assert [frame["type"] for frame in pushed[:2]] == ["session", "halted"]
        assert (pushed[1]["reason"], pushed[1]["description"]) == ("operator", "halted by the operator")
        auction = [f for f in pushed if f["type"] == "auction"]
        last = auction[-1]
        assert (last["price"], last["volume"], last["imbalance"]) == ("250.5", "0.4", "-0.6")  # sell-heavy
        reopening = [(f["type"], f.get("price"), f.get("volume")) for f in pushed[2 + len(auction) :]]
        assert reopening == [("uncrossed", "250.5", "0.4"), ("resumed", None, None)]
    finally:
        gating.stop()
        server.stop()
