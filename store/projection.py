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
an update needs no read. ``write`` is ``prepare`` (build the rows, move the memory and ``seq``
past the batch) then ``commit`` (the transaction, which moves ``committed_seq``); pipelined, the
commit runs on the projection's thread while the next batch is prepared. A failed commit leaves
the memory ahead of the tables, so the projection refuses to go on and must be opened again.
Rows are built as
tuples (an order's as a list, changed in place through the batch) of the columns that
``ORDER_COLUMNS`` and its siblings name, in that order, and go to ``store.bulk`` as they are: on
PostgreSQL, a new order's row is copied straight into the table, and only the rows of orders
that existed before the batch take the staged upsert. It is not on the hot path:
``bluebook.projector`` feeds it committed groups in its own process.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
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

#: The columns each projected row fills, in the order of its tuple (or list, for an order).
ORDER_COLUMNS = ("order_id", "symbol", "account_id", "client_order_id", "side", "order_type", "tif",
                 "price", "qty", "leaves", "filled", "status", "created_seq", "updated_seq")  # fmt: skip
HISTORY_COLUMNS = ("seq", "position", "order_id", "change", "price", "qty", "leaves", "reason")
TRADE_COLUMNS = ("symbol", "trade_id", "seq", "taker_order_id", "maker_order_id", "taker_account",
                 "maker_account", "taker_side", "price", "qty", "quote_qty", "taker_fee", "maker_fee",
                 "settlement_status", "created_at_ns")  # fmt: skip
DEPOSIT_COLUMNS = ("ref", "seq", "account_id", "asset", "amount")
WITHDRAWAL_COLUMNS = ("seq", "account_id", "asset", "amount", "settlement_status")
BALANCE_COLUMNS = ("account_id", "asset", "available", "held", "updated_seq")
CURSOR_COLUMNS = ("name", "seq")
#: Where an order's row keeps what the projection reads and changes.
(_SYMBOL, _ACCOUNT, _SIDE, _PRICE, _QTY, _LEAVES, _FILLED, _STATUS, _UPDATED) = map(
    ORDER_COLUMNS.index,
    ("symbol", "account_id", "side", "price", "qty", "leaves", "filled", "status", "updated_seq"),
)


class Prepared:
    """One batch, ready to commit: the rows it adds, the orders it touches (new ones apart: no
    row of theirs exists yet, since each order is accepted at one seq and the cursor never
    writes a seq twice), the balances it changes, and the cursor before and after it. While it is
    built, ``moved`` gathers the change of each balance's total and held as ``[total, held, seq]``.
    """

    __slots__ = ("after", "seq", "new_orders", "changed_orders", "history", "trades", "deposits",
                 "withdrawals", "moved", "balances")  # fmt: skip

    def __init__(self, after: int) -> None:
        self.after = after
        self.seq = after
        self.new_orders: dict[int, list[Any]] = {}
        self.changed_orders: dict[int, list[Any]] = {}
        self.history: list[tuple[Any, ...]] = []
        self.trades: list[tuple[Any, ...]] = []
        self.deposits: list[tuple[Any, ...]] = []
        self.withdrawals: list[tuple[Any, ...]] = []
        self.moved: dict[tuple[int, str], list[int]] = {}
        self.balances: list[tuple[int, str, int, int, int]] = []


class Projection:
    def __init__(self, db: Engine, config: MarketConfig, *, pipelined: bool = False) -> None:
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
        columns = [getattr(Order, name) for name in ORDER_COLUMNS]
        with db.connect() as connection:
            rows = connection.execute(select(*columns).where(Order.status.in_(OPEN)))
            self.open_orders = {row[0]: list(row) for row in rows}
            self.balances = {
                (row.account_id, row.asset): (row.available + row.held, row.held, row.updated_seq)
                for row in connection.execute(select(Balance))
            }
            self.committed_seq = (
                connection.execute(
                    select(ProjectionCursor.seq).where(ProjectionCursor.name == CURSOR)
                ).scalar_one_or_none()
                or 0
            )
        self.seq = self.committed_seq  # past the batches prepared, committed or not
        self.failed = False
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="projection") if pipelined else None
        self._pending: Future[None] | None = None

    def write(self, batch: Iterable[tuple[int, int, list[tuple[Any, ...]]]]) -> int:
        """Write a batch of ``(seq, ts, events)`` in one transaction; return the new cursor.
        Pipelined, the transaction runs on the projection's thread while the caller goes on
        (after the previous batch's is over, whose error, if any, this raises)."""
        prepared = self.prepare(batch)
        if prepared is None:
            return self.seq
        if self._committer is None:
            self.commit(prepared)
        else:
            self.flush()
            self._pending = self._committer.submit(self.commit, prepared)
        return self.seq

    def flush(self) -> None:
        """Wait for the pipelined transaction, if one runs; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """End the projection's thread, once its transaction is over (its error is not raised)."""
        if self._committer is not None:
            self._committer.shutdown(wait=True)

    def prepare(self, batch: Iterable[tuple[int, int, list[tuple[Any, ...]]]]) -> Prepared | None:
        """Build a batch's rows and take its changes into the open orders and balances kept in
        memory, and move ``seq`` past it; None if the batch is empty. Its rows reach the tables
        with ``commit``; if that fails, the memory is ahead of the tables and the projection
        must be opened again (it refuses to go on)."""
        if self.failed:
            raise RuntimeError("a transaction of this projection failed: open it again from the tables")
        changes = Prepared(self.seq)
        history = changes.history
        project = self._project
        seq = self.seq
        for seq, ts, events in batch:
            if seq <= self.seq:
                raise ValueError(f"projection is at {self.seq}; seq {seq} was written already")
            first = len(history)  # a history row's position counts from its command's first
            for event in events:
                project(event, ts, first, changes)
        if seq == self.seq:
            return None
        moved = changes.moved
        for orders in (changes.new_orders, changes.changed_orders):
            for order_id, row in orders.items():
                self._rehold(self.open_orders.get(order_id), row, moved)
        for (account, asset), (total, held, changed) in moved.items():
            now_total, now_held, last_seq = self.balances.get((account, asset), (0, 0, 0))
            updated_seq = max(changed, last_seq)
            self.balances[(account, asset)] = (now_total + total, now_held + held, updated_seq)
            available = now_total + total - now_held - held
            changes.balances.append((account, asset, available, now_held + held, updated_seq))
        for orders in (changes.new_orders, changes.changed_orders):
            for order_id, row in orders.items():
                if row[_STATUS] in OPEN:
                    self.open_orders[order_id] = row
                else:
                    self.open_orders.pop(order_id, None)
        changes.seq = self.seq = seq
        return changes

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch in one transaction, right after the last one committed. It
        reads nothing of the projection's but the batch, so it may run on another thread while
        the next batch is prepared."""
        if prepared.after != self.committed_seq:
            raise ValueError(f"batch after seq {prepared.after}; the tables are at {self.committed_seq}")
        try:
            with self.db.begin() as connection:
                if connection.dialect.name == "postgresql":  # rebuildable from the journal: no need
                    connection.exec_driver_sql("SET LOCAL synchronous_commit = off")  # to wait for the WAL
                for table, columns, rows in (
                    (Order, ORDER_COLUMNS, prepared.new_orders.values()),
                    (OrderHistory, HISTORY_COLUMNS, prepared.history),
                    (Trade, TRADE_COLUMNS, prepared.trades),
                    (Deposit, DEPOSIT_COLUMNS, prepared.deposits),
                    (Withdrawal, WITHDRAWAL_COLUMNS, prepared.withdrawals),
                ):
                    insert_rows(connection, table.__table__, columns, rows)
                changed = prepared.changed_orders.values()
                upsert_rows(connection, Order.__table__, ORDER_COLUMNS, changed, ["order_id"])
                keys = ["account_id", "asset"]
                upsert_rows(connection, Balance.__table__, BALANCE_COLUMNS, prepared.balances, keys)
                cursor = [(CURSOR, prepared.seq)]
                upsert_rows(connection, ProjectionCursor.__table__, CURSOR_COLUMNS, cursor, ["name"])
        except BaseException:
            self.failed = True
            raise
        self.committed_seq = prepared.seq

    def _project(self, event: tuple[Any, ...], ts: int, first: int, changes: Prepared) -> None:
        """Add ``event``'s rows and balance changes to ``changes``; ``first`` is where its
        command's history rows start."""
        kind = event[0]
        history = changes.history
        if kind == ACCEPTED:
            _, seq, symbol, order_id, account, side, price, qty, order_type, tif, cid = event
            changes.new_orders[order_id] = [order_id, symbol, account, cid, side, order_type, tif, price, qty,
                                            qty, 0, STATUS_NEW, seq, seq]  # fmt: skip
            history.append((seq, len(history) - first, order_id, "accepted", price, qty, qty, None))
        elif kind == FILL:
            (_, seq, symbol, trade_id, taker_id, maker_id, taker, maker, taker_side, price, qty, quote,
             taker_fee, maker_fee, taker_leaves, maker_leaves) = event  # fmt: skip
            changes.trades.append((symbol, trade_id, seq, taker_id, maker_id, taker, maker, taker_side, price,
                                   qty, quote, taker_fee, maker_fee, "unsettled", ts))  # fmt: skip
            for order_id, leaves in ((taker_id, taker_leaves), (maker_id, maker_leaves)):
                row = self._row(order_id, changes)
                row[_FILLED] += qty
                row[_LEAVES] = leaves
                row[_UPDATED] = seq
                row[_STATUS] = STATUS_PARTIAL if leaves else STATUS_FILLED
                history.append((seq, len(history) - first, order_id, "fill", price, qty, leaves, None))
            base, quote_asset, lot, _, _ = self.markets[symbol]
            moved = changes.moved
            if taker_side == BUY:
                buyer, seller, buyer_fee, seller_fee = taker, maker, taker_fee, maker_fee
            else:
                buyer, seller, buyer_fee, seller_fee = maker, taker, maker_fee, taker_fee
            _add(moved, buyer, base, qty * lot, 0, seq)
            _add(moved, seller, base, -qty * lot, 0, seq)
            _add(moved, buyer, quote_asset, -(quote + buyer_fee), 0, seq)
            _add(moved, seller, quote_asset, quote - seller_fee, 0, seq)
            _add(moved, self.fee_account, quote_asset, taker_fee + maker_fee, 0, seq)
        elif kind == CANCELLED:
            _, seq, _, order_id, _, _, price, qty, leaves, reason = event
            row = self._row(order_id, changes)
            row[_LEAVES] = leaves
            row[_QTY] -= qty
            row[_UPDATED] = seq
            if not leaves:
                row[_STATUS] = STATUS_EXPIRED if reason in _EXPIRING else STATUS_CANCELLED
            history.append((seq, len(history) - first, order_id, "cancelled", price, qty, leaves, reason))
        elif kind == AMENDED:
            _, seq, _, order_id, _, _, price, leaves, _, old_leaves, _ = event
            row = self._row(order_id, changes)
            row[_PRICE] = price
            row[_LEAVES] = leaves
            change = leaves - old_leaves
            row[_QTY] += change
            row[_UPDATED] = seq
            history.append((seq, len(history) - first, order_id, "amended", price, change, leaves, None))
        elif kind == DEPOSITED:
            _, seq, account, asset, amount, ref = event
            changes.deposits.append((ref, seq, account, asset, amount))
            _add(changes.moved, account, asset, amount, 0, seq)
        elif kind == WITHDRAWN:
            _, seq, account, asset, amount = event
            changes.withdrawals.append((seq, account, asset, amount, "unsettled"))
            _add(changes.moved, account, asset, -amount, 0, seq)

    def _rehold(
        self, before: list[Any] | None, after: list[Any], moved: dict[tuple[int, str], list[int]]
    ) -> None:
        """Move an order's hold from what it held before the batch to what it holds after."""
        for row, sign in ((before, -1), (after, 1)):
            if row is None or row[_STATUS] not in OPEN:
                continue
            base, quote, lot, k, max_fee = self.markets[row[_SYMBOL]]
            if row[_SIDE] == BUY:
                asset, amount = quote, row[_LEAVES] * buy_hold_per_lot(row[_PRICE], k, max_fee)
            else:
                asset, amount = base, row[_LEAVES] * lot
            _add(moved, row[_ACCOUNT], asset, 0, sign * amount, 0)

    def _row(self, order_id: int, changes: Prepared) -> list[Any]:
        """The order's row as this batch has it so far (a copy: the open row changes only once
        the batch commits)."""
        row = changes.new_orders.get(order_id) or changes.changed_orders.get(order_id)
        if row is None:
            row = changes.changed_orders[order_id] = list(self.open_orders[order_id])
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
