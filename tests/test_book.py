"""OrderBook behaviour, one rule per test; the book's invariants are checked after every step."""

from __future__ import annotations

import pytest

from matcher import (
    Accepted,
    Amended,
    Cancelled,
    CancelReason,
    Fill,
    InvariantError,
    OrderBook,
    OrderStatus,
    OrderType,
    Reject,
    Rejected,
    Side,
    Stp,
    TimeInForce,
    typed,
)
from matcher.accounts import Ledger, buy_hold_per_lot
from matcher.book import O_LEAVES, order_status
from matcher.events import FILL as EV_FILL
from matcher.events import REJECTED as EV_REJECTED

BUY, SELL = Side.BUY, Side.SELL


def checked(book: OrderBook) -> OrderBook:
    """Make every command of ``book`` validate the book's invariants after it runs."""

    def validating(command):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            events = command(*args, **kwargs)
            book.validate()
            return [typed(e) for e in events]

        return run

    for name in ("submit", "cancel", "cancel_all", "amend", "expire"):
        setattr(book, name, validating(getattr(book, name)))
    return book


@pytest.fixture
def book() -> OrderBook:
    return checked(OrderBook("TSLAx-USDC"))


def fills(events: list) -> list[tuple[int, int, int, int]]:
    return [(e.taker_order_id, e.maker_order_id, e.price, e.qty) for e in events if isinstance(e, Fill)]


def test_plain_limit_order_rests_and_sets_the_best_price(book: OrderBook) -> None:
    events = book.submit(1, 7, BUY, 100, 5)
    assert [type(e) for e in events] == [Accepted]
    assert book.best_bid() == 100 and book.best_ask() is None
    assert book.depth() == ([(100, 5)], [])


def test_price_time_priority_best_price_first_then_oldest(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 101, 5)
    book.submit(2, 2, SELL, 100, 5)
    book.submit(3, 3, SELL, 100, 5)
    events = book.submit(4, 4, BUY, 101, 12)
    assert fills(events) == [(4, 2, 100, 5), (4, 3, 100, 5), (4, 1, 101, 2)]
    assert book.depth() == ([], [(101, 3)])


def test_trades_print_at_the_makers_price(book: OrderBook) -> None:
    book.submit(1, 1, BUY, 100, 5)
    events = book.submit(2, 2, SELL, 90, 5)
    assert fills(events) == [(2, 1, 100, 5)]


def test_ioc_partial_fill_cancels_the_rest(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 3)
    events = book.submit(2, 2, BUY, 100, 10, TimeInForce.IOC)
    assert fills(events) == [(2, 1, 100, 3)]
    assert events[-1] == Cancelled.of(
        seq=0,
        symbol="TSLAx-USDC",
        order_id=2,
        account=2,
        side=BUY,
        price=100,
        qty=7,
        leaves=0,
        reason=CancelReason.IOC,
    )
    assert book.best_bid() is None and len(book) == 0


def test_fok_that_cannot_fill_completely_trades_nothing(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 3)
    events = book.submit(2, 2, BUY, 100, 4, TimeInForce.FOK)
    assert fills(events) == []
    assert events[-1].reason == CancelReason.FOK
    assert book.depth() == ([], [(100, 3)])


def test_fok_that_can_fill_completely_fills(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 3)
    book.submit(2, 1, SELL, 101, 3)
    events = book.submit(3, 2, BUY, 101, 6, TimeInForce.FOK)
    assert [f[3] for f in fills(events)] == [3, 3]


def test_post_only_is_rejected_when_it_would_take(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 3)
    events = book.submit(2, 2, BUY, 100, 1, post_only=True)
    assert [type(e) for e in events] == [Rejected]
    assert events[0].code == Reject.POST_ONLY_WOULD_TAKE
    assert book.submit(3, 2, BUY, 99, 1, post_only=True)[0].order_id == 3


def test_market_order_stops_at_its_protection_price(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 1)
    book.submit(2, 1, SELL, 105, 1)
    book.submit(3, 1, SELL, 200, 1)
    events = book.submit(4, 2, BUY, 105, 10, order_type=OrderType.MARKET)
    assert fills(events) == [(4, 1, 100, 1), (4, 2, 105, 1)]
    assert events[-1].reason == CancelReason.IOC and events[-1].qty == 8
    assert book.best_ask() == 200


def test_gtd_order_expires_once_time_reaches_its_expiry(book: OrderBook) -> None:
    book.submit(1, 1, BUY, 100, 1, TimeInForce.GTD, expire_at=1_000)
    book.submit(2, 1, BUY, 99, 1)
    assert book.expire(999) == []
    events = book.expire(1_000)
    assert [(e.order_id, e.reason) for e in events] == [(1, CancelReason.EXPIRED)]
    assert book.best_bid() == 99


def test_cancel_is_by_id_and_unknown_ids_are_rejected(book: OrderBook) -> None:
    book.submit(1, 1, BUY, 100, 4)
    events = book.cancel(1)
    assert events == [
        Cancelled.of(
            seq=0,
            symbol="TSLAx-USDC",
            order_id=1,
            account=1,
            side=BUY,
            price=100,
            qty=4,
            leaves=0,
            reason=CancelReason.USER,
        )
    ]
    assert book.cancel(1)[0].code == Reject.UNKNOWN_ORDER


def test_cancel_in_the_middle_of_a_level_keeps_the_queue_order(book: OrderBook) -> None:
    for oid in range(1, 6):
        book.submit(oid, oid, SELL, 100, 1)
    book.cancel(2)
    book.cancel(4)
    events = book.submit(9, 9, BUY, 100, 3)
    assert [f[1] for f in fills(events)] == [1, 3, 5]


def test_a_level_with_many_cancelled_orders_compacts(book: OrderBook) -> None:
    for oid in range(1, 201):
        book.submit(oid, 1, SELL, 100, 1)
    for oid in range(2, 200):
        book.cancel(oid)
    level = book._asks[100]
    assert len(level) < 100
    assert [f[1] for f in fills(book.submit(999, 2, BUY, 100, 2))] == [1, 200]


def test_cancel_all_removes_only_that_accounts_orders(book: OrderBook) -> None:
    book.submit(1, 1, BUY, 100, 1)
    book.submit(2, 2, BUY, 100, 1)
    book.submit(3, 1, SELL, 110, 1)
    events = book.cancel_all(1)
    assert [e.order_id for e in events] == [1, 3]
    assert all(e.reason == CancelReason.CANCEL_ALL for e in events)
    assert book.depth() == ([(100, 1)], [])


def test_amend_quantity_down_keeps_queue_priority(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    book.submit(2, 2, SELL, 100, 5)
    (amended,) = book.amend(1, qty=2)
    assert isinstance(amended, Amended) and amended.kept_priority and amended.leaves == 2
    assert fills(book.submit(3, 3, BUY, 100, 2)) == [(3, 1, 100, 2)]


def test_amend_quantity_up_loses_queue_priority(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    book.submit(2, 2, SELL, 100, 5)
    (amended,) = book.amend(1, qty=6)
    assert not amended.kept_priority
    assert fills(book.submit(3, 3, BUY, 100, 2)) == [(3, 2, 100, 2)]


def test_amend_price_that_crosses_trades_as_a_taker(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    book.submit(2, 2, BUY, 99, 5)
    events = book.amend(2, price=100)
    assert fills(events) == [(2, 1, 100, 5)]
    assert len(book) == 0


def test_stp_expire_taker_cancels_the_incoming_order(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    events = book.submit(2, 1, BUY, 100, 5, stp=Stp.EXPIRE_TAKER)
    assert fills(events) == [] and events[-1].reason == CancelReason.STP
    assert book.depth() == ([], [(100, 5)])


def test_stp_expire_maker_cancels_the_resting_order_and_continues(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    book.submit(2, 2, SELL, 100, 5)
    events = book.submit(3, 1, BUY, 100, 5, stp=Stp.EXPIRE_MAKER)
    assert [(type(e).__name__, e.order_id if isinstance(e, Cancelled) else None) for e in events[1:]] == [
        ("Cancelled", 1),
        ("Fill", None),
    ]
    assert fills(events) == [(3, 2, 100, 5)]


def test_stp_expire_both_cancels_both(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    events = book.submit(2, 1, BUY, 100, 9, stp=Stp.EXPIRE_BOTH)
    assert [(e.order_id, e.qty) for e in events if isinstance(e, Cancelled)] == [(1, 5), (2, 9)]
    assert len(book) == 0


def test_stp_decrement_reduces_both_without_trading(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    events = book.submit(2, 1, BUY, 100, 3, stp=Stp.DECREMENT)
    assert fills(events) == []
    assert [(e.order_id, e.qty, e.leaves) for e in events if isinstance(e, Cancelled)] == [
        (1, 3, 2),
        (2, 3, 0),
    ]
    assert book.depth() == ([], [(100, 2)])


def test_stp_none_lets_an_account_trade_with_itself(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    assert fills(book.submit(2, 1, BUY, 100, 5, stp=Stp.NONE)) == [(2, 1, 100, 5)]


def test_fills_update_the_order_records(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 5)
    maker = book.order(1)
    book.submit(2, 2, BUY, 100, 2)
    assert maker[O_LEAVES] == 3 and order_status(maker) == OrderStatus.PARTIALLY_FILLED
    book.submit(3, 2, BUY, 100, 3)
    assert maker[O_LEAVES] == 0 and order_status(maker) == OrderStatus.FILLED and book.order(1) is None


def test_fees_round_up_and_rebates_round_down() -> None:
    book = checked(OrderBook("X", maker_bps=-1, taker_bps=5, quote_per_tick_lot=1))
    book.submit(1, 1, SELL, 3, 7)  # quote 21: fee 21*5/10000 -> 1, rebate 21*1/10000 -> 0
    (fill,) = fills_of(book.submit(2, 2, BUY, 3, 7))
    assert (fill.quote_qty, fill.taker_fee, fill.maker_fee) == (21, 1, 0)
    book.submit(3, 1, SELL, 10_000, 3)  # quote 30000: fee 15, rebate 3
    (fill,) = fills_of(book.submit(4, 2, BUY, 10_000, 3))
    assert (fill.taker_fee, fill.maker_fee) == (15, -3)


def fills_of(events: list) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_invalid_price_or_quantity_is_rejected(book: OrderBook) -> None:
    assert book.submit(1, 1, BUY, 0, 1)[0].code == Reject.INVALID_PRICE
    assert book.submit(1, 1, BUY, 1, 0)[0].code == Reject.INVALID_QTY
    assert book.submit(1, 1, 3, 1, 1)[0].code == Reject.INVALID_SIDE


def test_a_duplicate_resting_order_id_is_a_caller_bug(book: OrderBook) -> None:
    book.submit(1, 1, BUY, 100, 1)
    with pytest.raises(InvariantError):
        book.submit(1, 1, BUY, 100, 1)


def test_trade_ids_count_up_per_book(book: OrderBook) -> None:
    book.submit(1, 1, SELL, 100, 1)
    book.submit(2, 1, SELL, 100, 1)
    events = book.submit(3, 2, BUY, 100, 2)
    assert [f.trade_id for f in fills_of(events)] == [1, 2]


def test_depth_aggregates_levels_best_first(book: OrderBook) -> None:
    for oid, (side, price, qty) in enumerate(
        [(BUY, 98, 1), (BUY, 99, 2), (BUY, 99, 3), (SELL, 101, 4), (SELL, 103, 5), (SELL, 102, 6)], 1
    ):
        book.submit(oid, oid, side, price, qty)
    assert book.depth(2) == ([(99, 5), (98, 1)], [(101, 4), (102, 6)])


def _ledger_book(rows: dict[int, list[int]], **limits: int) -> OrderBook:
    """A book settling into ``rows``: base in slots 0-1, quote in 2-3, lot 1, fees to account 9."""
    rows.setdefault(9, [0, 0, 0, 0])
    return OrderBook("X", taker_bps=5, ledger=Ledger(rows, 0, 2, 1, 9), **limits)


def test_place_limit_is_the_hold_then_submit_of_a_gtc_limit() -> None:
    orders = [  # order id, account, side, price, qty, post-only, STP
        (1, 1, SELL, 101, 5, False, Stp.EXPIRE_MAKER),
        (2, 2, SELL, 102, 5, True, Stp.NONE),
        (3, 3, BUY, 99, 4, True, Stp.EXPIRE_MAKER),
        (4, 3, BUY, 102, 7, False, Stp.DECREMENT),
        (5, 1, BUY, 102, 2, True, Stp.EXPIRE_MAKER),  # post-only that would take: refused
        (6, 2, SELL, 98, 9, False, Stp.EXPIRE_TAKER),
    ]
    funded = {account: [1_000, 0, 1_000_000, 0] for account in (1, 2, 3)}
    by_hand_rows = {account: list(row) for account, row in funded.items()}
    placed_rows = {account: list(row) for account, row in funded.items()}
    by_hand, placed = _ledger_book(by_hand_rows), _ledger_book(placed_rows)
    for order_id, account, side, price, qty, post_only, stp in orders:
        slot, hold = (2, qty * buy_hold_per_lot(price, 1, 5)) if side == BUY else (0, qty)
        by_hand_rows[account][slot] -= hold
        by_hand_rows[account][slot + 1] += hold
        want = by_hand.submit(order_id, account, side, price, qty, post_only=post_only, stp=stp, seq=order_id)
        if want[0][0] == EV_REJECTED:  # the engine gives a refused order's hold back
            by_hand_rows[account][slot] += hold
            by_hand_rows[account][slot + 1] -= hold
        assert placed.place_limit(order_id, account, side, price, qty, post_only, stp, None) == want
        placed.validate()
        assert placed.resting_orders() == by_hand.resting_orders()
        assert placed_rows == by_hand_rows
    assert any(event[0] == EV_FILL for event in want)  # the last sell traded


@pytest.mark.parametrize(
    ("account", "side", "price", "qty", "code"),
    [
        (1, 3, 100, 1, Reject.INVALID_SIDE),
        (1, BUY, 100, 1, Reject.NOTIONAL_BELOW_MIN),  # 100 < 200
        (1, SELL, 100, 11, Reject.NOTIONAL_ABOVE_MAX),  # 1100 > 1000
        (1, BUY, 100, 10, Reject.INSUFFICIENT_FUNDS),  # 1000 and a fee of 1 against 1000
        (1, SELL, 100, 6, Reject.INSUFFICIENT_FUNDS),  # 6 lots against 5
        (7, SELL, 100, 2, Reject.INSUFFICIENT_FUNDS),  # no balance at all
    ],
)
def test_place_limit_refuses_with_nothing_taken(
    account: int, side: int, price: int, qty: int, code: Reject
) -> None:
    rows = {1: [5, 0, 1_000, 0]}
    book = _ledger_book(rows, min_notional=200, max_notional=1_000)
    events = book.place_limit(4, account, side, price, qty, False, Stp.EXPIRE_MAKER, "c")
    assert events == [(EV_REJECTED, 4, "X", 4, account, int(code), "c")]
    assert rows == {1: [5, 0, 1_000, 0], 9: [0, 0, 0, 0]}
    assert len(book) == 0
