"""What a batch carries: the store's unsettled trades and withdrawals, packed with vault ids.

Items are taken in the engine's order: trades by (seq, trade id), withdrawals by seq. A
withdrawal joins a batch only when every trade before it (by seq) is in that batch or an earlier
one, so the vault has already credited what the engine let the account withdraw; the contract
applies all of a batch's trades before its withdrawals, which only raises the balances in between.

An item whose account has no vault id yet (no deposit seen) cannot be packed: it is reported as
``unpackable`` for the worker to hold, and the batch stops before it so that order is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, select

from matcher.events import Fill
from settlement.layout import VaultLayout
from settlement.packing import HEADER_BYTES, TRADE_BYTES, WITHDRAWAL_BYTES, Trade, Withdrawal, trade_from_fill
from store.models import Trade as TradeRow
from store.models import Withdrawal as WithdrawalRow

#: An item's identity: ("trade", symbol, trade id) or ("withdrawal", "", seq).
ItemKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Item:
    key: ItemKey
    seq: int
    packed: Trade | Withdrawal

    @property
    def is_trade(self) -> bool:
        return self.key[0] == "trade"


def payload_bytes(trades: int, withdrawals: int) -> int:
    return HEADER_BYTES + trades * TRADE_BYTES + withdrawals * WITHDRAWAL_BYTES


def trade_key(symbol: str, trade_id: int) -> ItemKey:
    return ("trade", symbol, trade_id)


def withdrawal_key(seq: int) -> ItemKey:
    return ("withdrawal", "", seq)


def pack_trade_row(row: Any, layout: VaultLayout, vault_ids: dict[int, int]) -> Trade:
    """The vault trade for a ``trades`` row; raises ``KeyError`` for an account with no vault id."""
    fill = Fill.of(seq=row.seq, symbol=row.symbol, trade_id=row.trade_id, taker_order_id=row.taker_order_id,
                   maker_order_id=row.maker_order_id, taker_account=row.taker_account,
                   maker_account=row.maker_account, taker_side=row.taker_side, price=row.price, qty=row.qty,
                   quote_qty=row.quote_qty, taker_fee=row.taker_fee, maker_fee=row.maker_fee, taker_leaves=0,
                   maker_leaves=0)  # fmt: skip
    trade = trade_from_fill(fill, layout.market_ids[row.symbol], layout.symbols[row.symbol][0])
    return replace(trade, buyer=vault_ids[trade.buyer], seller=vault_ids[trade.seller])


def pack_withdrawal_row(row: Any, layout: VaultLayout, vault_ids: dict[int, int]) -> Withdrawal:
    return Withdrawal(vault_ids[row.account_id], layout.asset_ids[row.asset], row.amount)


@dataclass
class Waiting:
    """The head of the backlog: items ready to batch, in order, and the first one that is not."""

    items: list[Item]
    #: True when a cap (count or bytes) stopped the batch with more items waiting.
    full: bool = False
    unpackable: ItemKey | None = None
    unpackable_reason: str = ""


def waiting_items(
    connection: Connection,
    layout: VaultLayout,
    vault_ids: dict[int, int],
    *,
    max_trades: int,
    max_payload_bytes: int,
) -> Waiting:
    """Up to ``max_trades`` unsettled trades and the withdrawals they allow, within the byte cap."""
    trades = connection.execute(
        select(TradeRow)
        .where(TradeRow.settlement_status == "unsettled")
        .order_by(TradeRow.seq, TradeRow.trade_id)
        .limit(max_trades + 1)
    ).all()
    withdrawals = connection.execute(
        select(WithdrawalRow)
        .where(WithdrawalRow.settlement_status == "unsettled")
        .order_by(WithdrawalRow.seq)
    ).all()
    waiting = Waiting([])
    taken_trades = 0
    waiting.full = len(trades) > max_trades
    for row in trades[:max_trades]:
        if payload_bytes(taken_trades + 1, 0) > max_payload_bytes:
            waiting.full = True
            break
        try:
            packed: Trade | Withdrawal = pack_trade_row(row, layout, vault_ids)
        except KeyError as missing:
            return _stop(waiting, trade_key(row.symbol, row.trade_id), f"account {missing} has no vault id")
        waiting.items.append(Item(trade_key(row.symbol, row.trade_id), row.seq, packed))
        taken_trades += 1
    complete = taken_trades == len(trades)
    next_trade_seq = None if complete else trades[taken_trades].seq
    for taken_withdrawals, withdrawal in enumerate(withdrawals):
        if next_trade_seq is not None and withdrawal.seq > next_trade_seq:
            break
        if payload_bytes(taken_trades, taken_withdrawals + 1) > max_payload_bytes:
            waiting.full = True
            break
        try:
            packed = pack_withdrawal_row(withdrawal, layout, vault_ids)
        except KeyError as missing:
            return _stop(waiting, withdrawal_key(withdrawal.seq), f"account {missing} has no vault id")
        waiting.items.append(Item(withdrawal_key(withdrawal.seq), withdrawal.seq, packed))
    return waiting


def _stop(waiting: Waiting, key: ItemKey, reason: str) -> Waiting:
    waiting.unpackable, waiting.unpackable_reason = key, reason
    return waiting
