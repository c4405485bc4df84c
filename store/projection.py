"""Projection: engine events → SQL rows, written in batches, one transaction per batch.

``Projection.write(batch)`` takes ``(seq, ts, events)`` in sequence order (a command's seq,
its time and its events) and writes the
orders they touch (current state, one upsert per order per batch), their history, trades,
deposits, withdrawals, the balances they change, and the cursor (the last seq written), all in
one transaction, so the tables always show a prefix of the journal. Writing the same seq twice
is refused: the cursor says where to resume.

Balances follow from the events alone, exactly as the engine books them: a fill moves base
(lots × lot size) from seller to buyer and quote the other way, the buyer paying its fee on top,
the seller's fee coming off its proceeds, both fees (a rebate is negative) to the fee account;
an open order holds its leaves (a sell, in base) or its leaves × the buy hold per lot at its price
(a buy, in quote, fee included), as ``matcher.accounts`` defines; ``available`` is the total less
what is held. A balance's ``updated_seq`` is the seq of the last fill, deposit or withdrawal that
changed its total (holds come and go within a batch unseen, so they do not date it).

It keeps the open orders' rows and the balances in memory (loaded from the tables at start) so
an update needs no read; they change only after their transaction commits. It is not on the hot
path: ``bluebook.projector`` feeds it committed groups from its own thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, select, update

from matcher.accounts import buy_hold_per_lot
from matcher.book import CANCELLED as STATUS_CANCELLED
from matcher.book import EXPIRED as STATUS_EXPIRED
from matcher.book import FILLED as STATUS_FILLED
from matcher.book import NEW as STATUS_NEW
from matcher.book import PARTIALLY_FILLED as STATUS_PARTIAL
from matcher.config import MarketConfig
from matcher.enums import CancelReason, Side
from matcher.events import ACCEPTED, AMENDED, CANCELLED, DEPOSITED, FILL, WITHDRAWN
from store.bulk import insert_rows, upsert_rows
from store.models import (
    PROJECTION_TABLES,
    Balance,
    Deposit,
    Order,
    OrderHistory,
    ProjectionCursor,
    Trade,
    Withdrawal,
)

CURSOR = "engine"
_EXPIRING = {int(CancelReason.IOC), int(CancelReason.FOK), int(CancelReason.EXPIRED)}
OPEN = (STATUS_NEW, STATUS_PARTIAL)
BUY = int(Side.BUY)


class Projection:
    def __init__(self, db: Engine, config: MarketConfig) -> None:
        self.db = db
        self.markets = {
            s.name: (
                s.base,
                s.quote,
                s.lot_size,
                config.quote_per_tick_lot(s.name),
                max(s.maker_bps, s.taker_bps, 0),
            )
            for s in config.symbols
        }
        self.fee_account = config.fee_account
        with db.connect() as connection:
            rows = connection.execute(select(Order).where(Order.status.in_(OPEN))).mappings()
            self.open_orders = {row["order_id"]: dict(row) for row in rows}
            self.balances = {
                (row.account_id, row.asset): (row.available + row.held, row.held, row.updated_seq)
                for row in connection.execute(select(Balance))
            }
            self.seq = (
                connection.execute(
                    select(ProjectionCursor.seq).where(ProjectionCursor.name == CURSOR)
                ).scalar_one_or_none()
                or 0
            )

    def write(self, batch: Iterable[tuple[int, int, list[tuple[Any, ...]]]]) -> int:
        """Write a batch of ``(seq, ts, events)``; return the new cursor."""
        touched: dict[int, dict[str, Any]] = {}
        history: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        deposits: list[dict[str, Any]] = []
        withdrawals: list[dict[str, Any]] = []
        moved: dict[tuple[int, str], list[int]] = {}  # (account, asset) -> [total delta, held delta, seq]
        seq = self.seq
        for seq, ts, events in batch:
            if seq <= self.seq:
                raise ValueError(f"projection is at {self.seq}; seq {seq} was written already")
            first = len(history)
            for event in events:
                self._project(event, ts, touched, history, trades, deposits, withdrawals)
                self._move(event, moved)
            for position, row in enumerate(history[first:]):
                row["position"] = position
        if seq == self.seq:
            return self.seq
        for order_id, row in touched.items():
            self._rehold(self.open_orders.get(order_id), row, moved)
        balances = []
        for (account, asset), (total, held, changed) in moved.items():
            now_total, now_held, last_seq = self.balances.get((account, asset), (0, 0, 0))
            available = now_total + total - now_held - held
            balances.append(dict(account_id=account, asset=asset, available=available, held=now_held + held,
                                 updated_seq=max(changed, last_seq)))  # fmt: skip
        with self.db.begin() as connection:
            if connection.dialect.name == "postgresql":  # rebuildable from the journal: no need
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")  # to wait for the WAL
            upsert_rows(connection, Order.__table__, list(touched.values()), ["order_id"])
            for table, rows in (
                (OrderHistory, history),
                (Trade, trades),
                (Deposit, deposits),
                (Withdrawal, withdrawals),
            ):
                insert_rows(connection, table.__table__, rows)
            upsert_rows(connection, Balance.__table__, balances, ["account_id", "asset"])
            upsert_rows(connection, ProjectionCursor.__table__, [{"name": CURSOR, "seq": seq}], ["name"])
        for row in balances:
            total = row["available"] + row["held"]
            self.balances[(row["account_id"], row["asset"])] = (total, row["held"], row["updated_seq"])
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
        ts: int,
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
                               batch_id=None, tx_hash=None, block_number=None, created_at_ns=ts))  # fmt: skip
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

    def _move(self, event: tuple[Any, ...], moved: dict[tuple[int, str], list[int]]) -> None:
        """Add what ``event`` changes in accounts' totals to ``moved`` (see ``matcher.engine``)."""
        kind = event[0]
        if kind == FILL:
            (_, seq, symbol, _, _, _, taker, maker, taker_side, _, qty, quote, taker_fee, maker_fee, _, _) = (
                event
            )
            base, quote_asset, lot, _, _ = self.markets[symbol]
            buyer, seller = (taker, maker) if taker_side == BUY else (maker, taker)
            buyer_fee, seller_fee = (taker_fee, maker_fee) if taker_side == BUY else (maker_fee, taker_fee)
            _add(moved, buyer, base, qty * lot, 0, seq)
            _add(moved, seller, base, -qty * lot, 0, seq)
            _add(moved, buyer, quote_asset, -(quote + buyer_fee), 0, seq)
            _add(moved, seller, quote_asset, quote - seller_fee, 0, seq)
            _add(moved, self.fee_account, quote_asset, taker_fee + maker_fee, 0, seq)
        elif kind == DEPOSITED:
            _, seq, account, asset, amount, _ = event
            _add(moved, account, asset, amount, 0, seq)
        elif kind == WITHDRAWN:
            _, seq, account, asset, amount = event
            _add(moved, account, asset, -amount, 0, seq)

    def _rehold(
        self, before: dict[str, Any] | None, after: dict[str, Any], moved: dict[tuple[int, str], list[int]]
    ) -> None:
        """Move an order's hold from what it held before the batch to what it holds after."""
        for row, sign in ((before, -1), (after, 1)):
            if row is None or row["status"] not in OPEN:
                continue
            base, quote, lot, k, max_fee = self.markets[row["symbol"]]
            if row["side"] == BUY:
                asset, amount = quote, row["leaves"] * buy_hold_per_lot(row["price"], k, max_fee)
            else:
                asset, amount = base, row["leaves"] * lot
            _add(moved, row["account_id"], asset, 0, sign * amount, 0)

    def _row(self, order_id: int, touched: dict[int, dict[str, Any]]) -> dict[str, Any]:
        row = touched.get(order_id)
        if row is None:
            row = touched[order_id] = dict(self.open_orders[order_id])
        return row


#: Settlement's own columns of the projected trades and withdrawals, kept across a rebuild.
Kept = tuple[dict[tuple[str, int], dict[str, Any]], dict[int, dict[str, Any]]]


def clear_projections(db: Engine) -> Kept:
    """Empty the projection tables; return the settlement columns of every trade and withdrawal
    the settlement worker has touched, to put back."""
    with db.begin() as connection:
        trades = {
            (row.symbol, row.trade_id): dict(
                settlement_status=row.settlement_status,
                batch_id=row.batch_id,
                tx_hash=row.tx_hash,
                block_number=row.block_number,
            )  # fmt: skip
            for row in connection.execute(select(Trade).where(Trade.settlement_status != "unsettled"))
        }
        withdrawals = {
            row.seq: dict(settlement_status=row.settlement_status, batch_id=row.batch_id)
            for row in connection.execute(
                select(Withdrawal).where(Withdrawal.settlement_status != "unsettled")
            )
        }
        for model in PROJECTION_TABLES:
            connection.execute(delete(model.__table__))
    return trades, withdrawals


def restore_settlement(db: Engine, kept: Kept) -> None:
    """Put settlement's own trade and withdrawal columns back after a rebuild."""
    trades, withdrawals = kept
    with db.begin() as connection:
        for (symbol, trade_id), values in trades.items():
            connection.execute(
                update(Trade).where(Trade.symbol == symbol, Trade.trade_id == trade_id).values(**values)
            )
        for seq, values in withdrawals.items():
            connection.execute(update(Withdrawal).where(Withdrawal.seq == seq).values(**values))


def _add(
    moved: dict[tuple[int, str], list[int]], account: int, asset: str, total: int, held: int, seq: int
) -> None:
    change = moved.get((account, asset))
    if change is None:
        moved[(account, asset)] = [total, held, seq]
    else:
        change[0] += total
        change[1] += held
        change[2] = max(change[2], seq)
