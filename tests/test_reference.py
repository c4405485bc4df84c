"""Reference prices: each feed's quotes, cross-pair composition, and aggregators read on Anvil."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bluebook.markets import default_markets
from bluebook.reference import (
    AggregatorFeed,
    CsvFeed,
    ManualFeed,
    Quote,
    StaticFeed,
    default_references,
    symbol_reference,
)
from settlement.chain import artifact, deploy, send
from tests.chain import advance

CONFIG = default_markets()
UNDERLYINGS, DEV_PRICES = default_references()


def test_the_default_markets_name_an_underlying_per_asset_and_development_prices() -> None:
    assert UNDERLYINGS == {"TSLAx": "TSLA", "AAPLx": "AAPL", "NVDAx": "NVDA", "USDC": "USD", "WBTC": "BTC"}
    expected = {"TSLA": "250.00", "AAPL": "230.00", "NVDA": "180.00", "BTC": "100000.00"}
    assert {name: Decimal(price) for name, price in expected.items()} == DEV_PRICES


def test_a_usd_quoted_symbol_follows_its_base_and_a_cross_pair_the_ratio_with_the_staler_time() -> None:
    latest = {
        "TSLA": Quote("TSLA", Decimal("250"), 2_000, "a"),
        "BTC": Quote("BTC", Decimal("100000"), 1_000, "b"),
    }
    tsla = symbol_reference(CONFIG, UNDERLYINGS, latest, "TSLAx-USDC")
    assert tsla is not None and tsla.price == Decimal("250") and tsla.source_ns == 2_000
    cross = symbol_reference(CONFIG, UNDERLYINGS, latest, "TSLAx-WBTC")
    assert cross is not None and cross.price == Decimal("0.0025") and cross.source_ns == 1_000
    assert symbol_reference(CONFIG, UNDERLYINGS, latest, "AAPLx-USDC") is None  # no quote yet


def test_the_static_feed_stamps_every_poll_with_the_clock() -> None:
    times = iter([10, 20])
    feed = StaticFeed(DEV_PRICES, clock=lambda: next(times))
    assert {q.source_ns for q in feed.poll()} == {10} and {q.source_ns for q in feed.poll()} == {20}


def test_a_manual_price_stands_until_cleared_and_nonsense_is_refused() -> None:
    times = iter([5, 6, 7, 8])
    feed = ManualFeed(clock=lambda: next(times))
    feed.set("TSLA", "251.5")
    assert feed.poll() == [Quote("TSLA", Decimal("251.5"), 6, "manual")]
    assert feed.poll() == [Quote("TSLA", Decimal("251.5"), 7, "manual")]  # vouched for at each poll
    assert feed.clear("TSLA") and not feed.clear("TSLA") and feed.poll() == []
    for bad in ("0", "-1", "NaN", "abc"):
        with pytest.raises((ValueError, ArithmeticError)):
            feed.set("TSLA", bad)


def test_the_csv_feed_replays_by_time(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("# time_ns,underlying,price\n100,TSLA,250.10\n200,BTC,99000\n300,TSLA,250.20,closed\n")
    feed = CsvFeed(path)
    assert [q.price for q in feed.until(199)] == [Decimal("250.10")]
    assert [(q.underlying, q.status) for q in feed.until(1_000)] == [("BTC", "open"), ("TSLA", "closed")]
    assert feed.until(2_000) == []
    (tmp_path / "bad.csv").write_text("100,TSLA,250\n50,TSLA,251\n")
    with pytest.raises(ValueError, match="time order"):
        CsvFeed(tmp_path / "bad.csv")


def test_aggregators_on_the_chain_give_one_quote_per_round(dev) -> None:  # noqa: ANN001
    w3, admin = dev.w3, dev.w3.eth.accounts[0]
    tsla = deploy(w3, "DevAggregator", 8, "TSLA / USD", sender=admin)
    btc = deploy(w3, "DevAggregator", 8, "BTC / USD", sender=admin)
    send(tsla.functions.post(250_12345678, 0), admin)
    send(btc.functions.post(100_000_00000000, 1_700_000_000), admin)
    feed = AggregatorFeed(w3, {"TSLA": tsla.address, "BTC": btc.address}, artifact("DevAggregator")["abi"])
    first = {q.underlying: q for q in feed.poll()}
    assert first["TSLA"].price == Decimal("250.12345678")
    assert first["BTC"].source_ns == 1_700_000_000 * 10**9
    posted_at = w3.eth.get_block(w3.eth.block_number - 1)["timestamp"]  # the block with TSLA's post
    assert first["TSLA"].source_ns == posted_at * 10**9
    assert feed.poll() == []  # no new round
    advance(w3, 60)
    send(tsla.functions.post(251_00000000, 0), admin)
    (update,) = feed.poll()
    assert update.underlying == "TSLA" and update.price == Decimal(251)
    cross = symbol_reference(CONFIG, UNDERLYINGS, {**first, "TSLA": update}, "TSLAx-WBTC")
    assert (
        cross is not None and cross.price == Decimal("0.00251") and cross.source_ns == first["BTC"].source_ns
    )
