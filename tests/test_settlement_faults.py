"""Settlement under trouble, on Anvil with a real store: reorgs at every depth below the confirmation
count, a deeper one, an item the vault refuses, and the RPC going away (RELIABILITY.md #12, #13, #15)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from settlement.anvil import Anvil, rpc
from settlement.batches import MINED, batch, next_batch_id, open_alerts, release, transactions
from settlement.chain import connect, send
from settlement.devchain import DevVault
from settlement.metrics import store_metrics
from store.migrate import upgrade
from store.models import Trade as TradeRow
from tests.settling import CONFIRMATIONS, Exchange
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def exchange(dev: DevVault, tmp_path: Path) -> Iterator[Exchange]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    market = Exchange(dev, create_engine(url), tmp_path / "node")
    yield market
    market.close()


@pytest.mark.parametrize("depth", range(1, CONFIRMATIONS))
def test_a_reorg_below_the_confirmation_count_sends_the_batch_again(exchange: Exchange, depth: int) -> None:
    exchange.trade(12)
    exchange.projected()
    worker = exchange.worker()
    while next_batch_id(exchange.db) == 1 or batch(exchange.db, 1).state != MINED:
        worker.step()
    mined = batch(exchange.db, 1)
    exchange.mine(depth - 1)  # the batch now has `depth` confirmations, fewer than needed
    worker.step()
    assert batch(exchange.db, 1).state == MINED
    rpc(exchange.dev.w3.provider.endpoint_uri, "anvil_reorg", [depth, []])  # type: ignore[attr-defined]
    exchange.settle(worker)
    figures = exchange.check_settled_exactly_once()
    final = batch(exchange.db, 1)
    assert worker.metrics()["reorgs_seen"] >= 1 and final.block_hash != mined.block_hash
    print(f"\nreorg depth {depth} < {CONFIRMATIONS} confirmations: {figures}")


def test_a_reorg_as_deep_as_the_confirmation_count_stops_settlement_with_an_alarm(exchange: Exchange) -> None:
    exchange.trade(8)
    worker = exchange.worker()
    exchange.settle(worker)
    final = batch(exchange.db, 1)
    depth = exchange.w3.eth.block_number - final.block_number + 1
    assert depth >= CONFIRMATIONS
    rpc(exchange.dev.w3.provider.endpoint_uri, "anvil_reorg", [depth, []])  # type: ignore[attr-defined]
    exchange.trade(4)
    exchange.projected()
    for _ in range(3):
        worker.step()
        exchange.mine()
    (alert,) = [a for a in open_alerts(exchange.db) if a.kind == "halt"]
    assert worker.halted() and "left the chain" in alert.detail and next_batch_id(exchange.db) == 2
    print(f"\nreorg depth {depth} >= {CONFIRMATIONS}: halted, alert: {alert.detail}")


def test_an_item_the_vault_refuses_is_held_with_an_alert_then_released_by_the_operator(
    exchange: Exchange,
) -> None:
    dev = exchange.dev
    exchange.trade(6)
    exchange.trade(1, symbol="TSLAx-WBTC", price=2_500)
    exchange.trade(6)
    send(dev.vault.functions.setPaused(dev.asset_ids["WBTC"], True), dev.admin)
    worker = exchange.worker()
    exchange.settle(worker)
    (alert,) = open_alerts(exchange.db)
    assert alert.kind == "held" and alert.symbol == "TSLAx-WBTC" and "AssetPaused" in alert.detail
    with exchange.db.connect() as connection:
        statuses = sorted(connection.execute(select(TradeRow.settlement_status)).scalars())
    assert statuses == ["final"] * 12 + ["held"]
    # The operator's procedure: fix the cause, then release the item; it settles in the next batch.
    send(dev.vault.functions.setPaused(dev.asset_ids["WBTC"], False), dev.admin)
    release(exchange.db, alert.id, time.time_ns())
    exchange.settle(worker)
    figures = exchange.check_settled_exactly_once()
    assert figures["alerts"] == 0 and figures["fills"] == 13
    print(f"\nheld and released: {figures}")


def test_matching_goes_on_while_the_rpc_is_away_and_the_backlog_drains_after(
    exchange: Exchange, anvil: Anvil
) -> None:
    proxy = TcpProxy(("127.0.0.1", int(anvil.url.rsplit(":", 1)[1])))
    worker = exchange.worker(connect(f"http://127.0.0.1:{proxy.port}"))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        exchange.trade(10)
        drain(exchange)
        proxy.cut()
        started = time.monotonic()
        exchange.trade(200)  # 400 orders, acknowledged while settlement cannot reach the chain
        matching_s = time.monotonic() - started
        exchange.projected()
        time.sleep(1.5)
        waiting = store_metrics(exchange.db, time.time_ns())["fills_waiting"]
        proxy.restore()
        drained_s = drain(exchange)
    finally:
        stop.set()
        thread.join()
        proxy.close()
    figures = exchange.check_settled_exactly_once()
    assert waiting > 0 and figures["fills"] == 210
    print(f"\nRPC away: 400 orders matched in {matching_s:.2f} s, {waiting} fills waited; "
          f"backlog drained {drained_s:.1f} s after: {figures}")  # fmt: skip


def drain(exchange: Exchange, timeout: float = 60.0) -> float:
    """Mine blocks until every fill is final; the seconds it took."""
    exchange.projected()
    started = time.monotonic()
    while not exchange.all_final():
        assert time.monotonic() - started < timeout, "backlog did not drain"
        exchange.mine()
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_stuck_transaction_is_replaced_with_higher_fees_and_any_receipt_counts(exchange: Exchange) -> None:
    exchange.trade(5)
    exchange.projected()
    worker = exchange.worker(bump_after_s=0.2)
    url = exchange.dev.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    rpc(url, "evm_setAutomine", [False])
    try:
        worker.step()  # signed and broadcast, but nothing mines it
        time.sleep(0.3)
        worker.step()  # still no receipt: replaced
    finally:
        rpc(url, "evm_setAutomine", [True])
    first, second = transactions(exchange.db, 1)
    assert first.nonce == second.nonce
    assert second.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11
    assert second.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11
    exchange.settle(worker)
    figures = exchange.check_settled_exactly_once()
    mined = batch(exchange.db, 1).tx_hash
    assert mined in (first.tx_hash, second.tx_hash)
    print(f"\nstuck, replaced (max fee {first.max_fee_per_gas} -> {second.max_fee_per_gas}), "
          f"mined {'replacement' if mined == second.tx_hash else 'original'}: {figures}")  # fmt: skip
