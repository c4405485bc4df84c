"""Settlement's own records: batches, their items and signed transactions, and alerts.

Every state change of a batch is one database transaction, committed before the worker acts on
it (``settlement.worker`` documents the state machine). The rows the API reads follow the batch:

- ``trades`` / ``withdrawals``: ``unsettled`` -> ``batched`` (with ``batch_id``) in the same
  transaction that creates the batch; -> ``final`` (trades also get ``tx_hash`` and
  ``block_number``) when the batch is final; -> ``held`` (``batch_id`` cleared, the item kept
  in ``settlement_batch_items`` with ``held`` set, an alert raised) when it alone makes the
  batch revert; ``held`` -> ``unsettled`` only by ``release``, the operator's decision.
- A batch's items never change after creation except by holding; its payload is rebuilt from the
  items that are not held, so a restart produces the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from settlement.items import Item, ItemKey, pack_trade_row, pack_withdrawal_row, trade_key, withdrawal_key
from settlement.layout import VaultLayout
from store.models import (
    SettlementAlert,
    SettlementBatch,
    SettlementBatchItem,
    SettlementTransaction,
)
from store.models import Trade as TradeRow
from store.models import Withdrawal as WithdrawalRow

CREATED, FAILED, SIGNED, SENT, MINED, FINAL = "CREATED", "FAILED", "SIGNED", "SENT", "MINED", "FINAL"
OPEN_STATES = (CREATED, FAILED, SIGNED, SENT, MINED)
#: Alerts whose kind stops the worker until an operator resolves them.
HALTING = ("halt",)


class DoubleBatching(RuntimeError):
    """An item was already batched when a new batch tried to take it: a broken invariant."""


@dataclass(frozen=True)
class Signed:
    tx_hash: str
    nonce: int
    raw_tx: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def next_batch_id(db: Engine) -> int:
    with db.connect() as connection:
        return int(connection.execute(select(func.max(SettlementBatch.batch_id))).scalar() or 0) + 1


def create_batch(db: Engine, batch_id: int, items: list[Item], now_ns: int) -> None:
    """Insert batch ``batch_id`` (CREATED) with ``items`` and mark them batched, atomically."""
    with db.begin() as connection:
        connection.execute(
            insert(SettlementBatch).values(
                batch_id=batch_id, state=CREATED, item_count=len(items), created_at_ns=now_ns
            )
        )
        if items:
            connection.execute(
                insert(SettlementBatchItem),
                [
                    dict(
                        batch_id=batch_id,
                        position=position,
                        symbol=item.key[1] or None,
                        trade_id=item.key[2] if item.is_trade else None,
                        withdrawal_seq=None if item.is_trade else item.key[2],
                        held=False,
                    )  # fmt: skip
                    for position, item in enumerate(items)
                ],
            )
        # One UPDATE per symbol (a statement per trade made cutting a batch the worker's main cost);
        # a count short of the trades means one was not unsettled.
        by_symbol: dict[str, list[int]] = {}
        for item in items:
            if item.is_trade:
                by_symbol.setdefault(item.key[1], []).append(item.key[2])
                continue
            changed = _set_status(connection, item.key, "batched", batch_id, only_if="unsettled")
            if changed != 1:
                raise DoubleBatching(f"{item.key} is not unsettled; batch {batch_id} cannot take it")
        for symbol, trade_ids in by_symbol.items():
            result = connection.execute(
                update(TradeRow)
                .where(
                    TradeRow.symbol == symbol,
                    TradeRow.trade_id.in_(trade_ids),
                    TradeRow.settlement_status == "unsettled",
                )
                .values(settlement_status="batched", batch_id=batch_id)
            )
            if result.rowcount != len(trade_ids):
                raise DoubleBatching(f"a trade of {symbol} is not unsettled; batch {batch_id} cannot take it")


def _set_status(
    connection: Connection, key: ItemKey, status: str, batch_id: int | None, only_if: str, **extra: Any
) -> int:
    kind, symbol, number = key
    if kind == "trade":
        statement = update(TradeRow).where(
            TradeRow.symbol == symbol, TradeRow.trade_id == number, TradeRow.settlement_status == only_if
        )
    else:
        statement = update(WithdrawalRow).where(
            WithdrawalRow.seq == number, WithdrawalRow.settlement_status == only_if
        )
    result = connection.execute(statement.values(settlement_status=status, batch_id=batch_id, **extra))
    return int(result.rowcount)


def batch(db: Engine, batch_id: int) -> Any:
    with db.connect() as connection:
        return connection.execute(select(SettlementBatch).where(SettlementBatch.batch_id == batch_id)).one()


def open_batches(db: Engine) -> list[Any]:
    """Every batch not yet FINAL, by id."""
    with db.connect() as connection:
        return list(
            connection.execute(
                select(SettlementBatch)
                .where(SettlementBatch.state.in_(OPEN_STATES))
                .order_by(SettlementBatch.batch_id)
            )
        )


def newest_final(db: Engine) -> Any:
    """The FINAL batch in the highest block, or None."""
    with db.connect() as connection:
        return connection.execute(
            select(SettlementBatch)
            .where(SettlementBatch.state == FINAL)
            .order_by(SettlementBatch.block_number.desc())
            .limit(1)
        ).first()


def batch_items(db: Engine, batch_id: int, layout: VaultLayout, vault_ids: dict[int, int]) -> list[Item]:
    """The batch's items that are not held, in payload order."""
    with db.connect() as connection:
        rows = connection.execute(
            select(SettlementBatchItem)
            .where(SettlementBatchItem.batch_id == batch_id, SettlementBatchItem.held.is_(False))
            .order_by(SettlementBatchItem.position)
        ).all()
        trades = {
            (trade.symbol, trade.trade_id): trade
            for trade in connection.execute(
                select(TradeRow)
                .join(
                    SettlementBatchItem,
                    (SettlementBatchItem.symbol == TradeRow.symbol)
                    & (SettlementBatchItem.trade_id == TradeRow.trade_id),
                )
                .where(SettlementBatchItem.batch_id == batch_id, SettlementBatchItem.held.is_(False))
            ).all()
        }
        items = []
        for row in rows:
            if row.trade_id is not None:
                trade = trades[row.symbol, row.trade_id]
                key = trade_key(trade.symbol, trade.trade_id)
                items.append(Item(key, trade.seq, pack_trade_row(trade, layout, vault_ids)))
            else:
                withdrawal = connection.execute(
                    select(WithdrawalRow).where(WithdrawalRow.seq == row.withdrawal_seq)
                ).one()
                key = withdrawal_key(withdrawal.seq)
                items.append(Item(key, withdrawal.seq, pack_withdrawal_row(withdrawal, layout, vault_ids)))
        return items


def item_keys(db: Engine, batch_id: int) -> list[ItemKey]:
    """The keys of the batch's items that are not held."""
    with db.connect() as connection:
        rows = connection.execute(
            select(SettlementBatchItem)
            .where(SettlementBatchItem.batch_id == batch_id, SettlementBatchItem.held.is_(False))
            .order_by(SettlementBatchItem.position)
        )
        return [
            trade_key(row.symbol, row.trade_id)
            if row.trade_id is not None
            else withdrawal_key(row.withdrawal_seq)
            for row in rows
        ]


def set_state(db: Engine, batch_id: int, state: str, **values: Any) -> None:
    with db.begin() as connection:
        connection.execute(
            update(SettlementBatch).where(SettlementBatch.batch_id == batch_id).values(state=state, **values)
        )


def save_signed(db: Engine, batch_id: int, signed: Signed, state: str, now_ns: int) -> None:
    """Record a signed transaction of the batch (before it is broadcast) and make it the current one."""
    with db.begin() as connection:
        connection.execute(
            insert(SettlementTransaction).values(
                tx_hash=signed.tx_hash,
                batch_id=batch_id,
                nonce=signed.nonce,
                raw_tx=signed.raw_tx,
                max_fee_per_gas=signed.max_fee_per_gas,
                max_priority_fee_per_gas=signed.max_priority_fee_per_gas,
                signed_at_ns=now_ns,
            )  # fmt: skip
        )
        connection.execute(
            update(SettlementBatch)
            .where(SettlementBatch.batch_id == batch_id)
            .values(state=state, nonce=signed.nonce, raw_tx=signed.raw_tx, tx_hash=signed.tx_hash)
        )


def transactions(db: Engine, batch_id: int) -> list[Any]:
    """Every transaction signed for the batch, oldest first."""
    with db.connect() as connection:
        return list(
            connection.execute(
                select(SettlementTransaction)
                .where(SettlementTransaction.batch_id == batch_id)
                .order_by(SettlementTransaction.signed_at_ns)
            )
        )


def finalize(db: Engine, row: Any, now_ns: int) -> None:
    """FINAL: the batch, and each of its items with the transaction and block that settled it."""
    with db.begin() as connection:
        connection.execute(
            update(SettlementBatch)
            .where(SettlementBatch.batch_id == row.batch_id)
            .values(state=FINAL, final_at_ns=now_ns)
        )
        connection.execute(
            update(TradeRow)
            .where(TradeRow.batch_id == row.batch_id, TradeRow.settlement_status == "batched")
            .values(settlement_status="final", tx_hash=row.tx_hash, block_number=row.block_number)
        )
        connection.execute(
            update(WithdrawalRow)
            .where(WithdrawalRow.batch_id == row.batch_id, WithdrawalRow.settlement_status == "batched")
            .values(settlement_status="final")
        )


def hold(db: Engine, batch_id: int | None, key: ItemKey, reason: str, now_ns: int) -> None:
    """Hold one item: out of its batch (if any), status ``held``, and an open alert that names it."""
    with db.begin() as connection:
        kind, symbol, number = key
        is_trade = kind == "trade"
        if batch_id is not None:
            match = (
                (SettlementBatchItem.symbol == symbol) & (SettlementBatchItem.trade_id == number)
                if is_trade
                else SettlementBatchItem.withdrawal_seq == number
            )
            connection.execute(
                update(SettlementBatchItem)
                .where(SettlementBatchItem.batch_id == batch_id, match)
                .values(held=True)
            )
        previous = "batched" if batch_id is not None else "unsettled"
        if _set_status(connection, key, "held", None, only_if=previous) != 1:
            raise DoubleBatching(f"{key} was not {previous}; it cannot be held")
        connection.execute(
            insert(SettlementAlert).values(
                kind="held",
                detail=reason,
                batch_id=batch_id,
                symbol=symbol if is_trade else None,
                trade_id=number if is_trade else None,
                withdrawal_seq=None if is_trade else number,
                raised_at_ns=now_ns,
            )  # fmt: skip
        )


def raise_alert(db: Engine, kind: str, detail: str, now_ns: int, batch_id: int | None = None) -> None:
    with db.begin() as connection:
        connection.execute(
            insert(SettlementAlert).values(kind=kind, detail=detail, batch_id=batch_id, raised_at_ns=now_ns)
        )


def record_reorg(db: Engine, detail: str, now_ns: int, batch_id: int) -> None:
    """A ``reorg`` alert, resolved as it is raised: a record of a reorg the worker saw (and handled,
    or halted on with a ``halt`` alert of its own), so monitoring in another process can count them."""
    with db.begin() as connection:
        connection.execute(
            insert(SettlementAlert).values(
                kind="reorg", detail=detail, batch_id=batch_id, raised_at_ns=now_ns, resolved_at_ns=now_ns
            )
        )


def open_alerts(db: Engine) -> list[Any]:
    with db.connect() as connection:
        return list(
            connection.execute(
                select(SettlementAlert)
                .where(SettlementAlert.resolved_at_ns.is_(None))
                .order_by(SettlementAlert.id)
            )
        )


def release(db: Engine, alert_id: int, now_ns: int) -> None:
    """The operator resolves alert ``alert_id``: a held item goes back to ``unsettled`` (it joins
    the next batch), a halt lets the worker run again."""
    with db.begin() as connection:
        alert = connection.execute(select(SettlementAlert).where(SettlementAlert.id == alert_id)).one()
        if alert.resolved_at_ns is not None:
            raise ValueError(f"alert {alert_id} was resolved already")
        if alert.kind == "held":
            key = (
                trade_key(alert.symbol, alert.trade_id)
                if alert.trade_id is not None
                else withdrawal_key(alert.withdrawal_seq)
            )
            if _set_status(connection, key, "unsettled", None, only_if="held") != 1:
                raise ValueError(f"{key} is not held")
        connection.execute(
            update(SettlementAlert).where(SettlementAlert.id == alert_id).values(resolved_at_ns=now_ns)
        )
