"""``bluebook ref``: an operator's reference price stands over the feed until cleared, journaled
like every reference; nonsense, an unknown underlying, gating off and no server are refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from matcher.commands import CommandKind, SetReference
from matcher.sessions import Session
from store.codec import decode
from store.journal import read
from tests.api_support import start_gating, start_server
from tests.test_api_cli import bluebook


def reference_of(url: str, symbol: str) -> str | None:
    sessions = httpx.get(url + "/v1/sessions", timeout=10).json()
    return next(s for s in sessions if s["symbol"] == symbol).get("reference")


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
