"""The engine's fills, packed and settled on chain, leave the vault's ledger equal to the engine's.

This is the scale test: engine units times each asset's factor, through fees and rebates on two
quote assets, with nothing created or lost (per asset, balanceOf(vault) equals the ledger total).
"""

from __future__ import annotations

from bluebook.markets import default_markets
from matcher import Deposit, OrderType, PlaceOrder, Side, Stp, TimeInForce
from matcher.engine import Engine
from matcher.events import FILL, Fill, typed
from settlement.devchain import DevVault
from settlement.packing import pack_batch, trade_from_fill, unpack_batch
from tests.chain import funded, settle

FUNDING = {"TSLAx": 50 * 10**9, "USDC": 100_000 * 10**6, "WBTC": 10**8}


def test_settled_fills_match_engine_balances_to_the_unit(dev: DevVault) -> None:
    config = default_markets()
    engine = Engine(config)
    accounts = [funded(dev, FUNDING)[1] for _ in range(4)]
    seq = 0

    def apply(command: object) -> list[object]:
        nonlocal seq
        seq += 1
        return list(engine.apply(command.stamp(seq, seq)))  # type: ignore[attr-defined]

    for account in accounts:
        for asset, amount in FUNDING.items():
            apply(
                Deposit.of(seq=0, ts=0, account=account, asset=asset, amount=amount, ref=f"{account}{asset}")
            )
    orders = [  # (account, symbol, side, price in ticks, qty in lots)
        (accounts[0], "TSLAx-USDC", Side.SELL, 25_013, 1_777),
        (accounts[1], "TSLAx-USDC", Side.BUY, 25_013, 1_000),  # taker buys: maker rebate
        (accounts[2], "TSLAx-USDC", Side.BUY, 24_999, 3_333),
        (accounts[3], "TSLAx-USDC", Side.SELL, 24_990, 2_111),  # taker sells into a resting buy
        (accounts[0], "TSLAx-WBTC", Side.BUY, 2_501, 7),
        (accounts[3], "TSLAx-WBTC", Side.SELL, 2_500, 9),
    ]
    fills: list[Fill] = []
    for account, symbol, side, price, qty in orders:
        events = apply(
            PlaceOrder.of(
                seq=0,
                ts=0,
                account=account,
                symbol=symbol,
                side=side,
                order_type=OrderType.LIMIT,
                price=price,
                qty=qty,
                tif=TimeInForce.GTC,
                post_only=False,
                stp=Stp.EXPIRE_MAKER,
                client_order_id=None,
                expire_at=0,
            )  # fmt: skip
        )
        fills += [typed(e) for e in events if e[0] == FILL]  # type: ignore[index]
    assert len(fills) == 3 and any(f.maker_fee < 0 for f in fills)
    trades = [trade_from_fill(f, dev.market_ids[f.symbol], config.symbol(f.symbol).lot_size) for f in fills]
    assert unpack_batch(pack_batch(trades)) == (trades, [])
    settle(dev, trades)
    for account in [config.fee_account, *accounts]:
        for asset in FUNDING:
            available, held = engine.balance(account, asset)
            assert dev.balance(account, asset) == available + held, (account, asset)
    for asset in FUNDING:
        assert dev.solvency(asset) == 0
