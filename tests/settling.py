"""An exchange for the settlement tests: a real node (journal, engine, SQL projection) in a temp dir,
the vault on the session's Anvil, the deposit watcher between them, and checks that every fill
settled exactly once and that the books agree.

The operator is Anvil's second development account, whose key is public (Anvil's default
mnemonic), so the worker signs its own transactions as it does in production.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import Engine, select
from web3 import Web3

from bluebook.markets import default_markets
from bluebook.node import Node
from matcher import OrderType, PlaceOrder, Side, Stp, TimeInForce, Withdraw
from settlement.batches import open_alerts
from settlement.deposits import DepositWatcher
from settlement.devchain import DevVault
from settlement.layout import VaultLayout
from settlement.metrics import reconciliation
from settlement.worker import SettlementWorker, WorkerSettings
from store.accounts import allocate_account
from store.models import SettlementBatch, SettlementBatchItem
from store.models import Trade as TradeRow

#: Anvil's development account 1 (the deployment's operator): a public test key.
OPERATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
CONFIRMATIONS = 3
FUNDING = {"TSLAx": 100 * 10**9, "USDC": 100_000 * 10**6, "WBTC": 10**8}
CONFIG = default_markets()
_owners = itertools.count(0x5E77_0000)


class Exchange:
    def __init__(self, dev: DevVault, db: Engine, data_dir: Path, traders: int = 6) -> None:
        assert dev.operator == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        self.dev, self.db, self.w3 = dev, db, dev.w3
        self.node = Node(CONFIG, data_dir, database=db)
        self.node.start()
        self.watcher = DepositWatcher(db, dev.vault, CONFIG, self.node.submit, confirmations=CONFIRMATIONS)
        self.owners = [Web3.to_checksum_address(f"0x{next(_owners):040x}") for _ in range(traders)]
        dev.fund_many(self.owners, FUNDING)
        self.mine(CONFIRMATIONS)
        assert self.watcher.poll() == traders * len(FUNDING)
        self.accounts = [allocate_account(db, owner) for owner in self.owners]
        self.start_nonce = self.w3.eth.get_transaction_count(dev.operator)
        self._client_ids = 0

    def worker(self, w3: Web3 | None = None, **settings: Any) -> SettlementWorker:
        values = dict(confirmations=CONFIRMATIONS, max_wait_s=0.0, poll_s=0.05, bump_after_s=3600.0)
        values.update(settings)
        signer = Account.from_key(OPERATOR_KEY)
        w3 = w3 or self.w3
        vault = w3.eth.contract(address=self.dev.vault.address, abi=self.dev.vault.abi)
        return SettlementWorker(self.db, w3, vault, signer, CONFIG, WorkerSettings(**values))

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def trade(self, count: int, symbol: str = "TSLAx-USDC", price: int = 25_000) -> None:
        """``count`` fills: a resting sell then a crossing IOC buy, rotating through the accounts."""
        commands = []
        for i in range(count):
            seller = self.accounts[i % len(self.accounts)]
            buyer = self.accounts[(i + 1) % len(self.accounts)]
            commands += [self._order(seller, symbol, Side.SELL, price, 100, TimeInForce.GTC),
                         self._order(buyer, symbol, Side.BUY, price, 100, TimeInForce.IOC)]  # fmt: skip
        self.node.execute(commands)

    def withdraw(self, index: int, asset: str, amount: int) -> None:
        self.node.execute([Withdraw.of(account=self.accounts[index], asset=asset, amount=amount)])

    def _order(self, account: int, symbol: str, side: Side, price: int, qty: int, tif: TimeInForce) -> Any:
        self._client_ids += 1
        return PlaceOrder.of(account=account, symbol=symbol, side=side, order_type=OrderType.LIMIT,
                             price=price, qty=qty, tif=tif, post_only=False, stp=Stp.EXPIRE_MAKER,
                             client_order_id=f"c{self._client_ids}", expire_at=0)  # fmt: skip

    def projected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.node.health()["store"]["projected_seq"] < self.node.sequencer_seq():
            assert time.monotonic() < deadline, "projection did not catch up"
            time.sleep(0.02)

    def settle(self, worker: SettlementWorker, timeout: float = 60.0) -> int:
        """Step the worker, mining a block after each step, until every fill is final; the steps."""
        self.projected()
        deadline, steps = time.monotonic() + timeout, 0
        while not self.all_final():
            assert time.monotonic() < deadline, f"not settled: {worker.metrics()}"
            worker.step()
            self.mine()
            steps += 1
        return steps

    def all_final(self) -> bool:
        with self.db.connect() as connection:
            statuses = set(connection.execute(select(TradeRow.settlement_status)).scalars())
            states = set(connection.execute(select(SettlementBatch.state)).scalars())
        return statuses <= {"final", "held"} and states <= {"FINAL"}

    def close(self) -> None:
        self.node.stop()

    # -------------------------------------------------------------------------------- checks

    def check_settled_exactly_once(self) -> dict[str, int]:
        """Every fill final in exactly one batch, each batch once on chain, no nonce gap, and the
        vault's books equal the engine's; returns the figures."""
        vault = self.dev.vault
        with self.db.connect() as connection:
            trades = connection.execute(select(TradeRow)).all()
            batch_rows = connection.execute(select(SettlementBatch).order_by(SettlementBatch.batch_id)).all()
            items = connection.execute(
                select(SettlementBatchItem.symbol, SettlementBatchItem.trade_id).where(
                    SettlementBatchItem.held.is_(False), SettlementBatchItem.trade_id.is_not(None)
                )
            ).all()
        settled = [t for t in trades if t.settlement_status == "final"]
        assert all(t.batch_id and t.tx_hash and t.block_number for t in settled)
        batch_ids = [b.batch_id for b in batch_rows]
        last = vault.functions.lastBatchId().call()
        assert batch_ids == list(range(1, last + 1)), (batch_ids, last)
        logs = vault.events.BatchSettled.get_logs(from_block=0)
        on_chain = sorted(int(log["args"]["batchId"]) for log in logs)
        counted = sum(int(log["args"]["count"]) for log in logs)
        keys = [(symbol, trade_id) for symbol, trade_id in items]
        double = len(keys) - len(set(keys)) + len(on_chain) - len(set(on_chain))
        missed = sum(t.settlement_status not in ("final", "held") for t in trades)
        nonces_used = self.w3.eth.get_transaction_count(self.dev.operator) - self.start_nonce
        assert on_chain == batch_ids and counted == len(settled), (on_chain, counted, len(settled))
        assert double == 0 and missed == 0
        assert nonces_used == len(batch_ids), f"{nonces_used} nonces for {len(batch_ids)} batches"
        books = reconciliation(self.db, vault, VaultLayout.of(CONFIG))
        for asset, figures in books.items():
            assert figures["solvency"] == 0 and figures["agreement"] == 0, (asset, figures)
            assert not figures["accounts_differing"], (asset, figures)
        return {"fills": len(settled), "batches": len(batch_ids), "double": double, "missed": missed,
                "nonce_gaps": nonces_used - len(batch_ids), "alerts": len(open_alerts(self.db))}  # fmt: skip
