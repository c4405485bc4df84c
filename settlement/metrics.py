"""Settlement figures for monitoring, as plain data: what waits, what is in flight, what it costs,
and whether the vault's books match the engine's (DESIGN.md, "Settlement", monitoring).

- ``store_metrics``: fills and withdrawals waiting, held items, batches by state, the oldest open
  batch's age, gas and calldata bytes per trade over FINAL batches, open alerts, reorgs seen (the
  worker records each as a resolved ``reorg`` alert), the fill lag's p50 and p99 over the fills
  of the last ``LAG_WINDOW`` FINAL batches, and the batch lag's over those batches.
- Fill lag is a settled fill's time to FINAL: its batch's ``final_at_ns`` minus the fill's own
  command time (``trades.created_at_ns``), so it includes the wait to be cut into a batch. Batch
  lag is a FINAL batch's ``final_at_ns - created_at_ns`` (cut -> final). Both come from the store
  alone, so any process can compute them. ``lag_histogram`` buckets every settled fill in one
  aggregate query.
- ``reconciliation``: per asset, ``solvency`` (the token's ``balanceOf(vault)`` minus the vault
  ledger over all its accounts, token units: always exactly 0) and ``agreement`` (the vault
  ledger minus the engine's balances from the store's ``balances`` projection, engine units,
  over accounts with a vault id and the fee account: exactly 0 whenever nothing is in flight),
  with the accounts that differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, case, func, select
from web3.contract import Contract

from settlement.chain import at
from settlement.layout import VaultLayout
from settlement.packing import HEADER_BYTES, TRADE_BYTES, WITHDRAWAL_BYTES
from store.accounts import vault_ids
from store.models import Balance, SettlementAlert, SettlementBatch, SettlementBatchItem
from store.models import Trade as TradeRow
from store.models import Withdrawal as WithdrawalRow

OPEN = ("CREATED", "FAILED", "SIGNED", "SENT", "MINED")
#: FINAL batches that the lag percentiles cover, newest first.
LAG_WINDOW = 1_000
#: A batch's lag (cut -> final), and a fill's (fill -> final, joined to its batch), in SQL.
batch_lag_ns = SettlementBatch.final_at_ns - SettlementBatch.created_at_ns
fill_lag_ns = SettlementBatch.final_at_ns - TradeRow.created_at_ns


def _settled_fills(*columns: Any) -> Any:
    """A select of ``columns`` over the fills of FINAL batches whose fill time is known."""
    return (
        select(*columns)
        .select_from(TradeRow)
        .join(SettlementBatch, SettlementBatch.batch_id == TradeRow.batch_id)
        .where(SettlementBatch.state == "FINAL", TradeRow.created_at_ns.is_not(None))
    )


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ascending ``ordered`` (None when empty)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def store_metrics(db: Engine, now_ns: int) -> dict[str, Any]:
    with db.connect() as connection:
        trades = dict(
            connection.execute(
                select(TradeRow.settlement_status, func.count()).group_by(TradeRow.settlement_status)
            ).all()
        )
        withdrawals = dict(
            connection.execute(
                select(WithdrawalRow.settlement_status, func.count()).group_by(
                    WithdrawalRow.settlement_status
                )
            ).all()
        )
        states = dict(
            connection.execute(
                select(SettlementBatch.state, func.count()).group_by(SettlementBatch.state)
            ).all()
        )
        oldest = connection.execute(
            select(func.min(SettlementBatch.created_at_ns)).where(SettlementBatch.state.in_(OPEN))
        ).scalar()
        final_gas, final_batches = connection.execute(
            select(func.sum(SettlementBatch.gas_used), func.count()).where(SettlementBatch.state == "FINAL")
        ).one()
        final_items = dict(
            connection.execute(
                select(SettlementBatchItem.trade_id.is_not(None), func.count())
                .join(SettlementBatch, SettlementBatch.batch_id == SettlementBatchItem.batch_id)
                .where(SettlementBatch.state == "FINAL", SettlementBatchItem.held.is_(False))
                .group_by(SettlementBatchItem.trade_id.is_not(None))
            ).all()
        )
        alerts = connection.execute(
            select(func.count()).select_from(SettlementAlert).where(SettlementAlert.resolved_at_ns.is_(None))
        ).scalar()
        reorgs = connection.execute(
            select(func.count()).select_from(SettlementAlert).where(SettlementAlert.kind == "reorg")
        ).scalar()
        recent = connection.execute(
            select(SettlementBatch.batch_id, batch_lag_ns)
            .where(SettlementBatch.state == "FINAL")
            .order_by(SettlementBatch.batch_id.desc())
            .limit(LAG_WINDOW)
        ).all()
        lags = sorted(ns / 1e9 for _, ns in recent)
        fill_lags = sorted(
            ns / 1e9
            for ns in connection.execute(
                _settled_fills(fill_lag_ns).where(TradeRow.batch_id >= recent[-1][0])
            ).scalars()
        ) if recent else []  # fmt: skip
    settled_trades = final_items.get(True, 0)
    calldata = (
        final_batches * HEADER_BYTES
        + settled_trades * TRADE_BYTES
        + final_items.get(False, 0) * WITHDRAWAL_BYTES
    )
    return {
        "fills_waiting": trades.get("unsettled", 0),
        "fills_in_flight": trades.get("batched", 0),
        "fills_final": trades.get("final", 0),
        "fills_held": trades.get("held", 0),
        "withdrawals_waiting": withdrawals.get("unsettled", 0),
        "withdrawals_held": withdrawals.get("held", 0),
        "batches_by_state": states,
        "oldest_open_batch_age_s": (now_ns - oldest) / 1e9 if oldest is not None else None,
        "gas_per_trade": int(final_gas) / settled_trades if settled_trades and final_gas else None,
        "calldata_bytes_per_trade": calldata / settled_trades if settled_trades else None,
        "open_alerts": int(alerts or 0),
        "reorgs_seen": int(reorgs or 0),
        "fill_lag_p50_s": percentile(fill_lags, 0.50),
        "fill_lag_p99_s": percentile(fill_lags, 0.99),
        "batch_lag_p50_s": percentile(lags, 0.50),
        "batch_lag_p99_s": percentile(lags, 0.99),
    }


def lag_histogram(db: Engine, bounds_s: Sequence[float]) -> tuple[list[int], int, float]:
    """Over every settled fill: how many have a fill lag <= each bound (cumulative, in the order of
    ascending ``bounds_s``), how many there are, and their lags' sum in seconds."""
    bounds_ns = [int(bound * 1e9) for bound in bounds_s]
    with db.connect() as connection:
        row = connection.execute(
            _settled_fills(
                *(func.coalesce(func.sum(case((fill_lag_ns <= ns, 1), else_=0)), 0) for ns in bounds_ns),
                func.count(),
                func.coalesce(func.sum(fill_lag_ns), 0),
            )
        ).one()
    return [int(n) for n in row[:-2]], int(row[-2]), int(row[-1]) / 1e9


def reconciliation(db: Engine, vault: Contract, layout: VaultLayout) -> dict[str, dict[str, Any]]:
    """Per asset: ``solvency``, ``agreement`` and ``accounts_differing`` (see the module notes)."""
    accounts = {**vault_ids(db), layout.fee_account: 0}
    with db.connect() as connection:
        engine = {
            (row.account_id, row.asset): row.available + row.held
            for row in connection.execute(select(Balance))
        }
    vault_accounts = int(vault.functions.accountCount().call())
    figures: dict[str, dict[str, Any]] = {}
    for asset, asset_id in layout.asset_ids.items():
        token_address, factor, _, _ = vault.functions.assetInfo(asset_id).call()
        token = at(vault.w3, "DevToken", token_address)
        ledger = {v: int(vault.functions.balanceOf(v, asset_id).call()) for v in range(vault_accounts)}
        held = int(token.functions.balanceOf(vault.address).call())
        differing = {
            account: ledger.get(vault_id, 0) // factor - engine.get((account, asset), 0)
            for account, vault_id in accounts.items()
            if ledger.get(vault_id, 0) // factor != engine.get((account, asset), 0)
        }
        figures[asset] = {
            "solvency": held - sum(ledger.values()),
            "agreement": sum(differing.values()),
            "accounts_differing": differing,
        }
    return figures
