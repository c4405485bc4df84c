"""Projection: engine events → SQL rows, written in batches, one transaction per batch.

``Projection.write(batch)`` takes ``(seq, events)`` pairs in sequence order and writes the
orders they touch (current state, one upsert per order per batch), their history, trades,
deposits and withdrawals, and the cursor (the last seq written), all in one transaction, so the
tables always show a prefix of the journal. Writing the same seq twice is refused: the cursor
says where to resume.

It keeps the open orders' rows in memory (loaded from the table at start) so an update needs no
read. It is not on the hot path: the shell hands it batches after the journal commit; if the
database is slow or down, matching goes on, the journal holds the truth, and the projection
resumes from its cursor (``catch_up``) when the database is back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, select, update

from matcher.book import CANCELLED as STATUS_CANCELLED
from matcher.book import EXPIRED as STATUS_EXPIRED
from matcher.book import FILLED as STATUS_FILLED
from matcher.book import NEW as STATUS_NEW
from matcher.book import PARTIALLY_FILLED as STATUS_PARTIAL
from matcher.enums import CancelReason
from matcher.events import ACCEPTED, AMENDED, CANCELLED, DEPOSITED, FILL, WITHDRAWN
from store.bulk import insert_rows, upsert_rows
from store.models import Deposit, Order, OrderHistory, ProjectionCursor, Trade, Withdrawal

CURSOR = "engine"
_EXPIRING = {int(CancelReason.IOC), int(CancelReason.FOK), int(CancelReason.EXPIRED)}
OPEN = (STATUS_NEW, STATUS_PARTIAL)


class Projection:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self.open_orders: dict[int, dict[str, Any]] = {}
        with db.connect() as connection:
            rows = connection.execute(select(Order).where(Order.status.in_(OPEN))).mappings()
            self.open_orders = {row["order_id"]: dict(row) for row in rows}
            self.seq = (
                connection.execute(
                    select(ProjectionCursor.seq).where(ProjectionCursor.name == CURSOR)
                ).scalar_one_or_none()
                or 0
            )

    def write(self, batch: Iterable[tuple[int, list[tuple[Any, ...]]]]) -> int:
        """Write a batch of ``(seq, events)``; return the new cursor."""
        touched: dict[int, dict[str, Any]] = {}
        history: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        deposits: list[dict[str, Any]] = []
        withdrawals: list[dict[str, Any]] = []
        seq = self.seq
        for seq, events in batch:
            if seq <= self.seq:
                raise ValueError(f"projection is at {self.seq}; seq {seq} was written already")
            first = len(history)
            for event in events:
                self._project(event, touched, history, trades, deposits, withdrawals)
            for position, row in enumerate(history[first:]):
                row["position"] = position
        if seq == self.seq:
            return self.seq
        with self.db.begin() as connection:
            upsert_rows(connection, Order.__table__, list(touched.values()), ["order_id"])
            for table, rows in (
                (OrderHistory, history),
                (Trade, trades),
                (Deposit, deposits),
                (Withdrawal, withdrawals),
            ):
                insert_rows(connection, table.__table__, rows)
            upsert_rows(connection, ProjectionCursor.__table__, [{"name": CURSOR, "seq": seq}], ["name"])
        for order_id, row in touched.items():
            if row["status"] in OPEN:
                self.open_orders[order_id] = row
            else:
                self.open_orders.pop(order_id, None)
        self.seq = seq
        return seq

    def _project(
        self,
        event: tuple[Any, ...],
        touched: dict[int, dict[str, Any]],
        history: list[dict[str, Any]],
        trades: list[dict[str, Any]],
        deposits: list[dict[str, Any]],
        withdrawals: list[dict[str, Any]],
    ) -> None:
        kind = event[0]
        if kind == ACCEPTED:
            _, seq, symbol, order_id, account, side, price, qty, order_type, tif, cid = event
            row = dict(order_id=order_id, symbol=symbol, account_id=account, client_order_id=cid,
                       side=side, order_type=order_type, tif=tif, price=price, qty=qty, leaves=qty,
                       filled=0, status=STATUS_NEW, created_seq=seq, updated_seq=seq)  # fmt: skip
            touched[order_id] = row
            history.append(dict(order_id=order_id, seq=seq, change="accepted", price=price, qty=qty,
                                leaves=qty, reason=None))  # fmt: skip
        elif kind == FILL:
            (_, seq, symbol, trade_id, taker_id, maker_id, taker, maker, taker_side, price, qty, quote,
             taker_fee, maker_fee, taker_leaves, maker_leaves) = event  # fmt: skip
            trades.append(dict(symbol=symbol, trade_id=trade_id, seq=seq, taker_order_id=taker_id,
                               maker_order_id=maker_id, taker_account=taker, maker_account=maker,
                               taker_side=taker_side, price=price, qty=qty, quote_qty=quote,
                               taker_fee=taker_fee, maker_fee=maker_fee, settlement_status="unsettled",
                               batch_id=None, tx_hash=None, block_number=None))  # fmt: skip
            for order_id, leaves in ((taker_id, taker_leaves), (maker_id, maker_leaves)):
                row = self._row(order_id, touched)
                row.update(filled=row["filled"] + qty, leaves=leaves, updated_seq=seq)
                row["status"] = STATUS_FILLED if not leaves else STATUS_PARTIAL
                history.append(dict(order_id=order_id, seq=seq, change="fill", price=price, qty=qty,
                                    leaves=leaves, reason=None))  # fmt: skip
        elif kind == CANCELLED:
            _, seq, _, order_id, _, _, price, qty, leaves, reason = event
            row = self._row(order_id, touched)
            row.update(leaves=leaves, qty=row["qty"] - qty, updated_seq=seq)
            if not leaves:
                row["status"] = STATUS_EXPIRED if reason in _EXPIRING else STATUS_CANCELLED
            history.append(dict(order_id=order_id, seq=seq, change="cancelled", price=price, qty=qty,
                                leaves=leaves, reason=reason))  # fmt: skip
        elif kind == AMENDED:
            _, seq, _, order_id, _, _, price, leaves, _, old_leaves, _ = event
            row = self._row(order_id, touched)
            row.update(price=price, leaves=leaves, qty=row["qty"] + leaves - old_leaves, updated_seq=seq)
            history.append(dict(order_id=order_id, seq=seq, change="amended", price=price,
                                qty=leaves - old_leaves, leaves=leaves, reason=None))  # fmt: skip
        elif kind == DEPOSITED:
            _, seq, account, asset, amount, ref = event
            deposits.append(dict(ref=ref, seq=seq, account_id=account, asset=asset, amount=amount))
        elif kind == WITHDRAWN:
            _, seq, account, asset, amount = event
            withdrawals.append(dict(seq=seq, account_id=account, asset=asset, amount=amount,
                                    settlement_status="unsettled", batch_id=None))  # fmt: skip

    def _row(self, order_id: int, touched: dict[int, dict[str, Any]]) -> dict[str, Any]:
        row = touched.get(order_id)
        if row is None:
            row = touched[order_id] = dict(self.open_orders[order_id])
        return row


def clear_projections(db: Engine) -> dict[tuple[str, int], dict[str, Any]]:
    """Empty the projection tables; return the settlement columns of every trade, to put back."""
    with db.begin() as connection:
        kept = {
            (row.symbol, row.trade_id): dict(
                settlement_status=row.settlement_status,
                batch_id=row.batch_id,
                tx_hash=row.tx_hash,
                block_number=row.block_number,
            )  # fmt: skip
            for row in connection.execute(select(Trade).where(Trade.settlement_status != "unsettled"))
        }
        for model in (Order, OrderHistory, Trade, Deposit, Withdrawal, ProjectionCursor):
            connection.execute(delete(model.__table__))
    return kept


def restore_settlement(db: Engine, kept: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Put settlement's own trade columns back after a rebuild."""
    with db.begin() as connection:
        for (symbol, trade_id), values in kept.items():
            connection.execute(
                update(Trade).where(Trade.symbol == symbol, Trade.trade_id == trade_id).values(**values)
            )
