"""Market-hours gating in the engine: halted without a fresh reference, bands around the
reference, order types and sizes by session, market orders bounded by the band, and the state
carried through snapshots."""

from __future__ import annotations

import json

import pytest

from bench import matching as bench
from matcher import (
    Deposit,
    OrderType,
    PlaceOrder,
    Reject,
    Rejected,
    SetReference,
    SetSessions,
    Side,
    Stp,
    TimeInForce,
    typed,
)
from matcher.commands import AmendOrder
from matcher.engine import Engine
from matcher.events import Fill, Halted, Resumed
from matcher.halts import HaltReason
from matcher.sessions import Session
from matcher.snapshot import export_state, restore, state_hash

T0 = 1_800_000_000 * 10**9  # far inside the pinned table below
NS = 10**9
SYMBOL = "SYM0"


class Run:
    def __init__(self) -> None:
        self.engine = Engine(bench._engine_config())
        self.ts = T0
        for account in (1, 2):
            self(Deposit.of(account=account, asset="USDC", amount=10**12, ref=f"u{account}"))
            self(Deposit.of(account=account, asset="ASSET0", amount=10**9, ref=f"a{account}"))

    def __call__(self, command, dt: int = 0) -> list:  # noqa: ANN001
        self.ts += dt
        stamped = (command[0], self.engine.seq + 1, self.ts, *command[3:])
        return [typed(event) for event in self.engine.apply(stamped)]

    def pin(self, session: Session) -> None:
        """A table with one session for all time (as ``--session`` pins it for tests and demos)."""
        self(SetSessions.of(account=0, edges=(0,), kinds=(int(session),), end=2**62, regular_closes=()))

    def reference(self, price: int, age_s: int = 0) -> list:
        return self(SetReference.of(account=0, symbol=SYMBOL, price=price, source_ns=self.ts - age_s * NS,
                             source="test", status="open"))  # fmt: skip

    def place(self, account: int, side: Side, price: int, qty: int, order_type: OrderType = OrderType.LIMIT):
        tif = TimeInForce.IOC if order_type == OrderType.MARKET else TimeInForce.GTC
        fields = dict(side=int(side), order_type=int(order_type), price=price, qty=qty, tif=int(tif))
        return self(PlaceOrder.of(account=account, symbol=SYMBOL, post_only=False, stp=int(Stp.EXPIRE_MAKER),
                                  client_order_id=None, expire_at=0, **fields))  # fmt: skip


def code(events: list) -> Reject | None:
    return Reject(events[0].code) if isinstance(events[0], Rejected) else None


def test_without_a_session_table_nothing_is_gated() -> None:
    run = Run()
    assert code(run.place(1, Side.BUY, 1, 1)) is None  # any price, no reference needed


def test_a_symbol_without_a_fresh_reference_is_halted() -> None:
    run = Run()
    run.pin(Session.REGULAR)
    assert code(run.place(1, Side.BUY, 0, 1, OrderType.MARKET)) is Reject.SYMBOL_HALTED
    assert code(run.place(1, Side.BUY, 25_000, 1)) is None  # collected
    assert any(isinstance(e, Resumed) for e in run.reference(25_000))  # an opening halt ends at once
    halted = run.reference(25_000, age_s=11)  # regular hours: stale past 10 s
    assert Halted.of(seq=run.engine.seq, symbol=SYMBOL, reason=HaltReason.STALE_REFERENCE) in halted
    assert code(run.place(1, Side.BUY, 0, 1, OrderType.MARKET)) is Reject.SYMBOL_HALTED
    assert code(run.place(1, Side.BUY, 25_000, 1)) is None  # collected, not matched


def test_limit_prices_must_lie_in_the_band() -> None:
    run = Run()
    run.pin(Session.REGULAR)
    run.reference(25_000)  # 5% for tier 1: 23_750 .. 26_250
    assert code(run.place(2, Side.SELL, 26_250, 1)) is None
    assert code(run.place(2, Side.SELL, 26_251, 1)) is Reject.PRICE_OUTSIDE_BAND
    assert code(run.place(1, Side.BUY, 23_749, 1)) is Reject.PRICE_OUTSIDE_BAND
    assert code(run.place(1, Side.BUY, 23_750, 1)) is None
    resting = run.place(2, Side.SELL, 26_000, 1)[0].order_id
    amended = run(AmendOrder.of(account=2, symbol=SYMBOL, order_id=resting, price=26_300, qty=0))
    assert code(amended) is Reject.PRICE_OUTSIDE_BAND


def test_a_market_order_never_trades_outside_the_band() -> None:
    run = Run()
    run.pin(Session.REGULAR)
    run.reference(25_000)
    run.place(2, Side.SELL, 25_100, 2)
    run.place(2, Side.SELL, 26_200, 2)
    run.reference(24_500)  # the band's top is now 25_725
    fills = [e for e in run.place(1, Side.BUY, 0, 4, OrderType.MARKET) if isinstance(e, Fill)]
    assert [(f.price, f.qty) for f in fills] == [(25_100, 2)]  # not the ask at 26_200


def test_extended_sessions_allow_limits_only_and_cap_sizes() -> None:
    run = Run()
    run.pin(Session.PRE)
    run.reference(25_000)
    assert code(run.place(1, Side.BUY, 0, 1, OrderType.MARKET)) is Reject.ORDER_TYPE_NOT_ALLOWED
    max_qty = run.engine.markets[SYMBOL].limits[1]
    assert code(run.place(1, Side.BUY, 25_000, max_qty // 2 + 1)) is Reject.SIZE_ABOVE_SESSION_CAP
    assert code(run.place(1, Side.BUY, 27_000, 1)) is None  # 10% band outside regular hours
    run.pin(Session.CLOSED)
    assert code(run.place(1, Side.BUY, 25_000, max_qty // 4 + 1)) is Reject.SIZE_ABOVE_SESSION_CAP


@pytest.mark.parametrize("session", [Session.REGULAR, Session.OVERNIGHT])
def test_gating_state_goes_through_a_snapshot(session: Session) -> None:
    run = Run()
    run.pin(session)
    run.reference(25_000)
    run.place(1, Side.BUY, 24_900, 3)
    copy = restore(bench._engine_config(), json.loads(json.dumps(export_state(run.engine))))
    assert state_hash(copy) == state_hash(run.engine)
    after = (1, run.engine.seq + 1, run.ts, 1, SYMBOL, 1, 1, 30_000, 1, 1, False, 2, None, 0)
    assert copy.apply(after) == run.engine.apply(after)  # both refuse it: outside the band
