"""Settlement records as the API shows them: a page of batches, and one batch in full.

Read-only; every figure comes from the store (``settlement.batches`` writes it). Pages run newest
first by batch id, ``before`` an id, so a page never shifts while new batches are cut.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from store.models import SettlementBatch, SettlementBatchItem, SettlementTransaction
from store.models import Trade as TradeRow

NS_PER_MS = 1_000_000
#: The batch columns a page shows (the raw transaction stays out: it is in the detail's transactions).
SUMMARY = (
    SettlementBatch.batch_id,
    SettlementBatch.state,
    SettlementBatch.item_count,
    SettlementBatch.nonce,
    SettlementBatch.tx_hash,
    SettlementBatch.block_number,
    SettlementBatch.gas_used,
    SettlementBatch.created_at_ns,
    SettlementBatch.final_at_ns,
)


#: An item's own columns.
ITEM = (
    SettlementBatchItem.position,
    SettlementBatchItem.symbol,
    SettlementBatchItem.trade_id,
    SettlementBatchItem.withdrawal_seq,
    SettlementBatchItem.held,
)
#: What an item that is a trade shows of it.
TRADE_FIELDS = (TradeRow.price, TradeRow.qty, TradeRow.taker_account, TradeRow.maker_account,
                TradeRow.settlement_status)  # fmt: skip


def batch_page(db: Engine, *, state: str | None, before: int | None, limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` batches, newest first, in ``state`` if given, with ids below ``before``."""
    query = select(*SUMMARY).order_by(SettlementBatch.batch_id.desc()).limit(limit)
    if state is not None:
        query = query.where(SettlementBatch.state == state)
    if before is not None:
        query = query.where(SettlementBatch.batch_id < before)
    with db.connect() as connection:
        return [_summary(row) for row in connection.execute(query).mappings()]


def batch_detail(db: Engine, batch_id: int) -> dict[str, Any] | None:
    """The batch with its block hash, its items in payload order (each trade's
    fields joined in) and every transaction signed for it; None if there is no such batch."""
    with db.connect() as connection:
        row = (
            connection.execute(
                select(*SUMMARY, SettlementBatch.block_hash).where(SettlementBatch.batch_id == batch_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        items = connection.execute(
            select(*ITEM, *TRADE_FIELDS)
            .outerjoin(
                TradeRow,
                (TradeRow.symbol == SettlementBatchItem.symbol)
                & (TradeRow.trade_id == SettlementBatchItem.trade_id),
            )
            .where(SettlementBatchItem.batch_id == batch_id)
            .order_by(SettlementBatchItem.position)
        ).all()
        transactions = connection.execute(
            select(SettlementTransaction)
            .where(SettlementTransaction.batch_id == batch_id)
            .order_by(SettlementTransaction.signed_at_ns)
        )
        return {
            **_summary(row),
            "block_hash": row["block_hash"],
            "items": [_item(item) for item in items],
            "transactions": [
                {
                    "tx_hash": tx.tx_hash,
                    "nonce": tx.nonce,
                    "max_fee_per_gas": tx.max_fee_per_gas,
                    "max_priority_fee_per_gas": tx.max_priority_fee_per_gas,
                    "signed_at": tx.signed_at_ns // NS_PER_MS,
                }
                for tx in transactions
            ],  # fmt: skip
        }


def _summary(row: Any) -> dict[str, Any]:
    final = row["final_at_ns"]
    return {
        "batch_id": row["batch_id"],
        "state": row["state"],
        "items": row["item_count"],
        "nonce": row["nonce"],
        "tx_hash": row["tx_hash"],
        "block_number": row["block_number"],
        "gas_used": row["gas_used"],
        "created_at": row["created_at_ns"] // NS_PER_MS,
        "final_at": final // NS_PER_MS if final is not None else None,
        "lag_s": (final - row["created_at_ns"]) / 1e9 if final is not None else None,
    }


def _item(row: Any) -> dict[str, Any]:
    if row.trade_id is None:
        return {"position": row.position, "kind": "withdrawal", "withdrawal_seq": row.withdrawal_seq,
                "held": row.held}  # fmt: skip
    trade = {column.key: getattr(row, column.key) for column in TRADE_FIELDS}
    return {"position": row.position, "kind": "trade", "symbol": row.symbol, "trade_id": row.trade_id,
            "held": row.held, **trade}  # fmt: skip
