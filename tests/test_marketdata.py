"""Market data streams: every change reaches listeners once, per-symbol versions have no gaps,
and a book kept from the updates alone equals the read model (and the engine's book)."""

from __future__ import annotations

from api.marketdata import BookUpdate, MarketData
from bench import matching as bench
from matcher.engine import Engine
from matcher.snapshot import export_state
from tests.crash_child import clock_from, commands


def test_updates_rebuild_every_book_with_contiguous_versions() -> None:
    engine = Engine(bench._engine_config())
    market = MarketData(f"SYM{i}" for i in range(bench.SYMBOLS))
    received: list[BookUpdate] = []
    market.listen(received.extend)
    clock = clock_from(1)
    stream = commands(4_000, 12)
    for start in range(0, len(stream), 37):
        groups = []
        for command in stream[start : start + 37]:
            stamped = (command[0], engine.seq + 1, clock(), *command[3:])
            groups.append((stamped[1], stamped[2], engine.apply(stamped)))
        market.apply(groups)
    local: dict[str, tuple[dict[int, int], dict[int, int], int]] = {}
    trades = 0
    for update in received:
        bids, asks, version = local.get(update.symbol, ({}, {}, 0))
        assert update.first_version == version + 1, "a gap or an overlap in versions"
        for levels, changes in ((bids, update.bids), (asks, update.asks)):
            for price, volume in changes.items():
                if volume:
                    levels[price] = volume
                else:
                    levels.pop(price, None)
        local[update.symbol] = (bids, asks, update.last_version)
        trades += len(update.trades)
    assert trades == sum(len(data.trades) for data in market.symbols.values()) > 0
    for name, data in market.symbols.items():
        bids, asks, version = local[name]
        assert (bids, asks, version) == (data.bids, data.asks, data.version)
        engine_bids, engine_asks = engine.markets[name].book.depth(10**6)
        assert bids == dict(engine_bids) and asks == dict(engine_asks)
    assert export_state(engine)["seq"] == market.seq
