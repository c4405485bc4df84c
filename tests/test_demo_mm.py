"""``bluebook demo-mm`` is a client of the public API like any other: its quotes reach the book
through a WebSocket session that opted in to cancel-on-disconnect, so cutting its connection takes
them off the book; it reconnects, logs in and quotes again on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import select

from bluebook.demo_mm import DemoMarket, Maker, credit_funder
from store.models import GuardedSession
from tests.api_support import CONFIG, start_server
from tests.tcp_proxy import TcpProxy

SYMBOLS = [symbol.name for symbol in CONFIG.symbols]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> float:
    """Seconds until ``condition()`` held."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_demo_mm_quotes_over_a_guarded_websocket_and_comes_back_after_a_cut(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    assert server.database is not None and server.node is not None
    proxy = TcpProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    market = DemoMarket(f"http://127.0.0.1:{proxy.port}", server.data_dir,
                        credit_funder(CONFIG, server.data_dir), every_s=0.5)  # fmt: skip

    def depth(symbol: str) -> dict:
        return httpx.get(f"{server.url}/v1/depth?symbol={symbol}&limit=5", timeout=10).json()

    def quoted() -> bool:
        return all(depth(symbol)["bids"] and depth(symbol)["asks"] for symbol in SYMBOLS)

    def guarded() -> list[int]:
        with server.database.connect() as connection:  # type: ignore[union-attr]
            return list(connection.execute(select(GuardedSession.account_id)).scalars())

    def held(account: int) -> int:
        return sum(
            server.node.read(lambda engine, a=asset.name: engine.balance(account, a)[1]).result(10)  # type: ignore[union-attr]
            for asset in CONFIG.assets
        )

    try:
        market.start()
        first = wait_for(quoted, "a bid and an ask on every symbol")
        [maker] = guarded()  # the maker's session opted in; the taker's did not
        assert held(maker) > 0
        wait_for(lambda: any(httpx.get(f"{server.url}/v1/trades?symbol={s}", timeout=10).json()
                             for s in SYMBOLS), "a trade by the taker")  # fmt: skip

        proxy.cut()  # every connection dropped; none accepted until restored
        cancelled = wait_for(lambda: not any(depth(s)["bids"] or depth(s)["asks"] for s in SYMBOLS),
                             "the server to cancel the quotes")  # fmt: skip
        assert held(maker) == 0 and guarded() == []

        proxy.restore()
        back = wait_for(quoted, "the maker to reconnect and quote again")
        assert guarded() == [maker]
    finally:
        market.stop()  # a logout: the server cancels the quotes
        proxy.close()
    try:
        assert held(maker) == 0 and guarded() == []
    finally:
        server.stop()
    print(
        f"\ndemo-mm: quoting {len(SYMBOLS)} symbols {first:.1f} s after start; its quotes cancelled "
        f"{cancelled:.1f} s after its connection was cut, back {back:.1f} s after it was restored"
    )


def test_the_maker_quotes_a_few_bps_around_the_mid_on_the_grid_and_inside_the_band() -> None:
    maker = Maker("http://127.0.0.1:1", Path("."), lambda *_: None, threading.Event(), 1.0, 7)
    maker.symbols = {"TSLAx-USDC": {"tick": "0.01", "lot": "0.001", "min_qty": "0.001", "max_qty": "100000"}}
    wide, narrow = (20_000, 30_000), (24_990, 25_010)  # 5 bps of $250 is 12 ticks, plus 0-2
    for band, bids, asks in ((wide, ("249.86", "249.88"), ("250.12", "250.14")),
                             (narrow, ("249.90", "249.90"), ("250.10", "250.10"))):  # fmt: skip
        for _ in range(20):
            bid, ask = maker.quotes("TSLAx-USDC", 25_000, band)
            assert bid["side"] == "buy" and ask["side"] == "sell" and bid["post_only"] and ask["post_only"]
            assert Decimal(bids[0]) <= Decimal(bid["price"]) <= Decimal(bids[1])
            assert Decimal(asks[0]) <= Decimal(ask["price"]) <= Decimal(asks[1])
            assert Decimal(bid["qty"]) in {1, 2, 3} and Decimal(bid["qty"]) == Decimal(ask["qty"])
    assert maker.quotes("TSLAx-USDC", 25_000, (25_000, 25_000)) == []  # no room: no quotes
