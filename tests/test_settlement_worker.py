"""The settlement worker on Anvil with the real store: fills settle exactly once, with their batch,
transaction and block; withdrawals pay out; the books agree (RELIABILITY.md #12, #13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from settlement.devchain import DevVault
from store.models import Account
from store.models import Withdrawal as WithdrawalRow
from tests.settling import Exchange


@pytest.fixture
def exchange(dev: DevVault, database: Engine, tmp_path: Path) -> Iterator[Exchange]:
    market = Exchange(dev, database, tmp_path / "node")
    yield market
    market.close()


def test_fills_and_withdrawals_settle_exactly_once_and_the_books_agree(exchange: Exchange) -> None:
    owner = exchange.owners[2]
    before = exchange.dev.tokens["USDC"].functions.balanceOf(owner).call()
    exchange.trade(40)
    exchange.withdraw(2, "USDC", 1_000_000)
    exchange.trade(5, symbol="TSLAx-WBTC", price=2_500)
    worker = exchange.worker(max_trades=16)
    steps = exchange.settle(worker)
    figures = exchange.check_settled_exactly_once()
    assert figures["fills"] == 45 and figures["batches"] >= 3
    with exchange.db.connect() as connection:
        (withdrawal,) = connection.execute(select(WithdrawalRow)).all()
        vault_ids = connection.execute(select(Account.vault_id)).scalars().all()
    assert withdrawal.settlement_status == "final" and withdrawal.batch_id
    assert exchange.dev.tokens["USDC"].functions.balanceOf(owner).call() == before + 1_000_000
    assert None not in vault_ids
    metrics = worker.metrics()
    assert metrics["fills_waiting"] == 0 and metrics["batches_by_state"] == {"FINAL": figures["batches"]}
    gas, calldata = metrics["gas_per_trade"], metrics["calldata_bytes_per_trade"]
    print(f"\nsettled {figures} in {steps} steps; gas/trade {gas:.0f}, calldata/trade {calldata:.1f} B")
