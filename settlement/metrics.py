"""Settlement figures for monitoring, as plain data: what waits, what is in flight, what it costs,
and whether the vault's books match the engine's (DESIGN.md, "Settlement", monitoring).

- ``store_metrics``: fills and withdrawals waiting, held items, batches by state, the oldest open
  batch's age, gas and calldata bytes per trade over FINAL batches, open alerts.
- ``reconciliation``: per asset, ``solvency`` (the token's ``balanceOf(vault)`` minus the vault
  ledger over all its accounts, token units: always exactly 0) and ``agreement`` (the vault
  ledger minus the engine's balances from the store's ``balances`` projection, engine units,
  over accounts with a vault id and the fee account: exactly 0 whenever nothing is in flight),
  with the accounts that differ.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from web3.contract import Contract

from settlement.chain import at
from settlement.layout import VaultLayout
from settlement.packing import HEADER_BYTES, TRADE_BYTES, WITHDRAWAL_BYTES
from store.accounts import vault_ids
from store.models import Balance, SettlementAlert, SettlementBatch, SettlementBatchItem
from store.models import Trade as TradeRow
from store.models import Withdrawal as WithdrawalRow

OPEN = ("CREATED", "FAILED", "SIGNED", "SENT", "MINED")


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
    }


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
