"""The ``lag`` scenario of ``python -m bench settlement``: fills at a sustained rate through the
real node (engine, journal, SQL projection into an SQLite store) and the real settlement worker
(its own process, as in production) onto Anvil mining a block a second; per fill, the time from
the fill to its batch's FINAL.

- Load: every 10 ms a group of fills, each a resting GTC sell of the market maker crossed by an
  IOC buy of one of ``TAKERS`` takers in turn, on TSLAx-USDC. A fill's time is when
  ``Node.execute`` returned its group (durable in the journal, applied by the engine); the store
  gets it from the projection after that, so the lag includes the projection's delay.
- FINAL is the batch's ``final_at_ns`` in the store (the worker's clock, the same machine's).
- Backlog: fills made minus fills FINAL, sampled once a second. It must not grow: ``backlog_start``
  (the first sample after a warm-up of the batch time cap plus the confirmations) against
  ``backlog_end`` (the last sample under load) and ``backlog_max``.
- The store has no per-fill creation time (``trades`` carries the journal ``seq`` only), so the
  benchmark keeps the fill time itself: each group's last seq and the time it returned.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import func, select
from web3 import Web3

from bluebook.markets import default_markets
from bluebook.node import Node
from matcher import OrderType, PlaceOrder, Side, Stp, TimeInForce
from settlement.anvil import Anvil, rpc
from settlement.chain import connect
from settlement.deposits import DepositWatcher
from settlement.devchain import deploy_dev_vault, impersonate_all
from settlement.metrics import percentile
from settlement.packing import TX_GAS_CAP
from store.accounts import allocate_account
from store.database import open_database
from store.migrate import upgrade
from store.models import SettlementBatch
from store.models import Trade as TradeRow

#: Anvil's development account 1, the deployment's operator: a public test key.
OPERATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
RATE = 2_000  # fills per second
TICK_S = 0.01
TAKERS = 200
BLOCK_TIME_S = 1
#: 2,000 fills a second at the worst case's ~21.8k gas is 44M gas a second: 60M fits with room.
BLOCK_GAS_LIMIT = 60_000_000
CONFIRMATIONS = 2
MAX_WAIT_S = 2.0  # the batch time cap (the worker's ``max_wait_s``)
MAX_IN_FLIGHT = 8
PRICE, QTY = 25_000, 100  # $250.00, 0.1 share
SHARE = 10**9  # TSLAx engine units
USDC = 10**6
CONFIG = default_markets()
#: A file name: the worker's process writes its cProfile there (where a step's time goes).
PROFILE_ENV = "BLUEBOOK_LAG_PROFILE"


def _run_worker(db_url: str, node_url: str, vault_address: str, abi: Any, stop: Any) -> None:
    """The settlement worker's process: the same loop ``bluebook`` runs."""
    from settlement.worker import SettlementWorker, WorkerSettings

    db = open_database(db_url)
    w3 = connect(node_url)
    vault = w3.eth.contract(address=vault_address, abi=abi)
    settings = WorkerSettings(
        confirmations=CONFIRMATIONS, max_wait_s=MAX_WAIT_S, max_in_flight=MAX_IN_FLIGHT, poll_s=0.05
    )
    worker = SettlementWorker(db, w3, vault, Account.from_key(OPERATOR_KEY), CONFIG, settings)
    flag = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), flag.set()), daemon=True).start()
    profile = os.environ.get(PROFILE_ENV)
    if not profile:
        worker.run(flag)
        return
    import cProfile

    cProfile.runctx("worker.run(flag)", globals(), {"worker": worker, "flag": flag}, profile)


def _order(account: int, side: Side, tif: TimeInForce, client_id: str) -> Any:
    return PlaceOrder.of(account=account, symbol="TSLAx-USDC", side=side, order_type=OrderType.LIMIT,
                         price=PRICE, qty=QTY, tif=tif, post_only=False, stp=Stp.EXPIRE_MAKER,
                         client_order_id=client_id, expire_at=0)  # fmt: skip


def run(*, quick: bool) -> dict[str, Any]:
    seconds = 10 if quick else 60
    fills_total = RATE * seconds
    per_taker = fills_total // TAKERS + 1
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bluebook-lag-") as tmp,
        Anvil("--gas-limit", str(BLOCK_GAS_LIMIT)) as node_chain,
    ):
        db_url = f"sqlite:///{Path(tmp) / 'store.db'}"
        upgrade(db_url)
        db = open_database(db_url)
        w3 = connect(node_chain.url)
        impersonate_all(w3)
        admin, operator, fee_collector = w3.eth.accounts[:3]
        dev = deploy_dev_vault(w3, CONFIG, admin=admin, operator=operator, fee_collector=fee_collector,
                               exit_delay=3_600, change_delay=7_200)  # fmt: skip
        owners = [Web3.to_checksum_address(f"0x{0x1A6_0000 + i:040x}") for i in range(TAKERS + 1)]
        dev.fund_many(owners[:1], {"TSLAx": 2 * per_taker * TAKERS * QTY * 10**6, "USDC": 1_000 * USDC})
        dev.fund_many(owners[1:], {"TSLAx": SHARE, "USDC": per_taker * 30 * USDC})
        node = Node(CONFIG, Path(tmp) / "data", database=db)
        node.start()
        watcher = DepositWatcher(db, dev.vault, CONFIG, node.submit, confirmations=CONFIRMATIONS)
        for _ in range(CONFIRMATIONS):
            rpc(node_chain.url, "evm_mine")
        watcher.poll()
        accounts = [allocate_account(db, owner) for owner in owners]
        maker, takers = accounts[0], accounts[1:]
        rpc(node_chain.url, "evm_setIntervalMining", [BLOCK_TIME_S])  # from here, --block-time 1
        stop = multiprocessing.get_context("spawn").Event()
        worker = multiprocessing.get_context("spawn").Process(
            target=_run_worker, args=(db_url, node_chain.url, dev.vault.address, dev.vault.abi, stop)
        )
        worker.start()
        head_start = w3.eth.block_number
        print(f"lag: setup {time.monotonic() - started:.1f} s; load {seconds} s at {RATE} fills/s",
              file=sys.stderr)  # fmt: skip
        marks: list[tuple[int, int]] = []  # (last seq of a group, when it returned)
        backlog: list[tuple[float, int]] = []
        made = 0
        per_tick = int(RATE * TICK_S)
        load_start = time.monotonic()
        next_sample = load_start + 1.0
        try:
            for tick in range(int(seconds / TICK_S)):
                due = load_start + tick * TICK_S
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                commands = []
                for _ in range(per_tick):
                    taker = takers[made % TAKERS]
                    commands += [_order(maker, Side.SELL, TimeInForce.GTC, f"m{made}"),
                                 _order(taker, Side.BUY, TimeInForce.IOC, f"t{made}")]  # fmt: skip
                    made += 1
                node.execute(commands)
                marks.append((node.sequencer_seq(), time.time_ns()))
                if time.monotonic() >= next_sample:
                    next_sample += 1.0
                    backlog.append((time.monotonic() - load_start, made - _final_count(db)))
                    print(
                        f"lag: {backlog[-1][0]:5.1f} s backlog {backlog[-1][1]} {_stages(db)}",
                        file=sys.stderr,
                    )
            load_s = time.monotonic() - load_start
            drain_start = time.monotonic()
            while _final_count(db) < made and time.monotonic() - drain_start < 120:
                time.sleep(0.2)
            drain_s = time.monotonic() - drain_start
        finally:
            stop.set()
            worker.join(30)
            if worker.is_alive():
                worker.kill()
            node.stop()
        blocks = w3.eth.block_number - head_start
        lags, gas, trades = _lags(db, marks)
        db.dispose()
    gas_per_trade = gas / trades if trades else None
    warm_up = MAX_WAIT_S + CONFIRMATIONS * BLOCK_TIME_S
    after_warm_up = [count for at, count in backlog if at >= warm_up] or [0]
    target = MAX_WAIT_S + 3 * BLOCK_TIME_S
    p99 = percentile(lags, 0.99)
    return {
        "scenario": "lag",
        "store": "sqlite",
        "seconds": seconds,
        "fills": made,
        "fills_final": len(lags),
        "fills_per_s_target": RATE,
        "fills_per_s": round(made / load_s, 1),
        "p50_s": _round(percentile(lags, 0.50)),
        "p99_s": _round(p99),
        "max_s": _round(lags[-1] if lags else None),
        "batch_time_cap_s": MAX_WAIT_S,
        "block_time_s": BLOCK_TIME_S,
        "confirmations": CONFIRMATIONS,
        "blocks": blocks,
        "block_gas_limit": BLOCK_GAS_LIMIT,
        "backlog_start": after_warm_up[0],
        "backlog_end": after_warm_up[-1],
        "backlog_max": max(after_warm_up),
        "drain_s": round(drain_s, 2),
        "gas_per_trade": _round(gas_per_trade, 1),
        "fills_per_s_per_30m_gas_block": int(30_000_000 / gas_per_trade) if gas_per_trade else None,
        "batch_tx_gas_cap": TX_GAS_CAP,
        "target_p99_s": target,
        # Not growing: the last sample within a second's fills of the first.
        "backlog_growing": after_warm_up[-1] > after_warm_up[0] + RATE,
        "meets_target": p99 is not None and p99 <= target and after_warm_up[-1] <= after_warm_up[0] + RATE,
    }


def _final_count(db: Any) -> int:
    with db.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(TradeRow).where(TradeRow.settlement_status == "final")
        ).scalar_one()
    return int(count)


def _stages(db: Any) -> str:
    """Where the backlog waits: fills in the store by settlement status, batches by state."""
    with db.connect() as connection:
        fills = connection.execute(
            select(TradeRow.settlement_status, func.count()).group_by(TradeRow.settlement_status)
        ).all()
        states = connection.execute(
            select(SettlementBatch.state, func.count()).group_by(SettlementBatch.state)
        ).all()
    return f"fills {dict(fills)} batches {dict(states)}"


def _lags(db: Any, marks: list[tuple[int, int]]) -> tuple[list[float], int, int]:
    """Every FINAL fill's lag in seconds, ascending; the FINAL batches' gas and trade count."""
    with db.connect() as connection:
        rows = connection.execute(
            select(TradeRow.seq, SettlementBatch.final_at_ns)
            .join(SettlementBatch, SettlementBatch.batch_id == TradeRow.batch_id)
            .where(TradeRow.settlement_status == "final")
        ).all()
        gas, count = connection.execute(
            select(func.sum(SettlementBatch.gas_used), func.sum(SettlementBatch.item_count)).where(
                SettlementBatch.state == "FINAL"
            )
        ).one()
    seqs = [seq for seq, _ in marks]
    lags = []
    for seq, final_ns in rows:
        made_ns = marks[bisect.bisect_left(seqs, seq)][1]
        lags.append((final_ns - made_ns) / 1e9)
    return sorted(lags), int(gas or 0), int(count or 0)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
