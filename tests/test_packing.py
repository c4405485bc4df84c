"""The packed batch layout: byte positions, round trips, refusals, and the markets' headroom."""

from __future__ import annotations

import pytest

from bluebook.markets import default_markets
from matcher.config import MarketConfig, SymbolConfig
from matcher.enums import Side
from matcher.events import Fill
from settlement.packing import (
    PackingError,
    Trade,
    Withdrawal,
    markets_fit,
    pack_batch,
    pack_trade,
    pack_withdrawal,
    trade_from_fill,
    unpack_batch,
)


def test_trade_fields_sit_at_their_documented_bytes() -> None:
    packed = pack_trade(
        Trade(0x01020304, 0x05060708, 0x090A, 0x0B0C0D0E0F10, 0x111213141516, -2, 0x1B1C1D1E1F)
    )
    assert len(packed) == 32
    assert packed[0:4] == bytes([1, 2, 3, 4]) and packed[4:8] == bytes([5, 6, 7, 8])
    assert packed[8:10] == bytes([9, 10]) and packed[10:16] == bytes(range(11, 17))
    assert packed[16:22] == bytes(range(0x11, 0x17))
    assert packed[22:27] == b"\xff\xff\xff\xff\xfe" and packed[27:32] == bytes(range(0x1B, 0x20))
    assert pack_withdrawal(Withdrawal(7, 3, 2**80 - 1)) == bytes([0, 0, 0, 7, 0, 3]) + b"\xff" * 10


def test_batch_round_trips_with_header_trades_then_withdrawals() -> None:
    trades = [
        Trade(1, 2, 0, 5, 6, 7, -3),
        Trade(2**32 - 1, 0, 2**16 - 1, 2**48 - 1, 2**48 - 1, -(2**39), 2**39 - 1),
    ]
    withdrawals = [Withdrawal(1, 2, 3)]
    payload = pack_batch(trades, withdrawals)
    assert payload[:2] == b"\x00\x02" and len(payload) == 2 + 2 * 32 + 16
    assert unpack_batch(payload) == (trades, withdrawals)


@pytest.mark.parametrize(
    "trade",
    [
        Trade(2**32, 0, 0, 0, 0, 0, 0),
        Trade(0, -1, 0, 0, 0, 0, 0),
        Trade(0, 0, 2**16, 0, 0, 0, 0),
        Trade(0, 0, 0, 2**48, 0, 0, 0),
        Trade(0, 0, 0, 0, 0, 2**39, 0),
        Trade(0, 0, 0, 0, 0, 0, -(2**39) - 1),
    ],
)
def test_values_that_do_not_fit_are_refused(trade: Trade) -> None:
    with pytest.raises(PackingError):
        pack_trade(trade)


def test_unpack_refuses_lengths_the_contract_refuses() -> None:
    for payload in (b"", b"\x00", b"\x00\x01" + bytes(31), b"\x00\x00" + bytes(15)):
        with pytest.raises(PackingError):
            unpack_batch(payload)


def test_fill_puts_each_fee_on_its_side() -> None:
    common = dict(seq=1, symbol="TSLAx-USDC", trade_id=1, taker_order_id=2, maker_order_id=1, price=25_000,
                  qty=3, quote_qty=75_000, taker_fee=38, maker_fee=-7, taker_leaves=0,
                  maker_leaves=0)  # fmt: skip
    buy = trade_from_fill(Fill.of(taker_account=9, maker_account=8, taker_side=Side.BUY, **common), 4, 10**6)
    assert buy == Trade(
        buyer=9, seller=8, market=4, base=3 * 10**6, quote=75_000, buyer_fee=38, seller_fee=-7
    )
    sell = trade_from_fill(
        Fill.of(taker_account=9, maker_account=8, taker_side=Side.SELL, **common), 4, 10**6
    )
    assert sell == Trade(
        buyer=8, seller=9, market=4, base=3 * 10**6, quote=75_000, buyer_fee=-7, seller_fee=38
    )


def test_default_markets_cannot_make_an_unpackable_fill() -> None:
    assert markets_fit(default_markets()) == []
    config = default_markets()
    wide = SymbolConfig("WIDE", "TSLAx", "USDC", 1, 10**9, max_qty=10**6, max_notional=10**15, taker_bps=5000)
    problems = markets_fit(MarketConfig(config.assets, (wide,)))
    assert len(problems) == 3
