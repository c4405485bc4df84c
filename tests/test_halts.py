"""Halts and the reopening auction: every cause halts with its event, a halted symbol collects
limit orders without matching (cancels work, market orders do not), the auction uncrosses at
``clearing_price``'s price after the collection time, leftovers keep their priority, the closed
session's band re-anchors at most twice each way, session edges keep resting orders, and all of
it replays and snapshots exactly."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench import matching as bench
from matcher import (
    Accepted,
    Amended,
    CancelAll,
    Cancelled,
    CancelOrder,
    CancelReason,
    Deposit,
    OrderType,
    PlaceOrder,
    Reject,
    Rejected,
    SetReference,
    SetSessions,
    Side,
    Stp,
    Tick,
    TimeInForce,
    typed,
)
from matcher.auction import clearing_price
from matcher.commands import AmendOrder, SetTradingStatus
from matcher.engine import Engine
from matcher.events import (
    AuctionIndicative,
    Fill,
    Halted,
    Reanchored,
    Resumed,
    SessionChanged,
    Uncrossed,
)
from matcher.gating import GatingRules
from matcher.halts import HaltReason
from matcher.sessions import Session
from matcher.snapshot import export_state, restore, state_hash

T0 = 1_800_000_000 * 10**9
NS = 10**9
MINUTE = 60 * NS
SYMBOL = "SYM0"
REFERENCE = 25_000  # regular band (tier 1, 5%): 23_750 .. 26_250


def config(**rules: Any) -> Any:
    base = bench._engine_config()
    symbols = (dataclasses.replace(base.symbols[0], max_qty=1_000), *base.symbols[1:])
    return dataclasses.replace(base, symbols=symbols, gating_rules=GatingRules(**rules))


class Run:
    """An engine fed stamped commands, keeping every command it applied."""

    def __init__(self, **rules: Any) -> None:
        self.config = config(**rules)
        self.engine = Engine(self.config)
        self.ts = T0
        self.log: list[tuple[Any, ...]] = []
        for account in (1, 2, 3):
            self(Deposit.of(account=account, asset="USDC", amount=10**12, ref=f"u{account}"))
            self(Deposit.of(account=account, asset="ASSET0", amount=10**9, ref=f"a{account}"))

    def __call__(self, command: tuple[Any, ...], dt: int = 0) -> list[Any]:
        self.ts += dt
        stamped = (command[0], self.engine.seq + 1, self.ts, *command[3:])
        self.log.append(stamped)
        events = [typed(event) for event in self.engine.apply(stamped)]
        self.engine.validate()
        return events

    def table(self, *spans: tuple[Session, int], closes: tuple[int, ...] = ()) -> list[Any]:
        """Sessions from ``T0 + offset`` each; the first from the epoch."""
        edges = (0, *(T0 + offset for _, offset in spans[1:]))
        kinds = tuple(int(session) for session, _ in spans)
        return self(SetSessions.of(account=0, edges=edges, kinds=kinds, end=2**62,
                                   regular_closes=tuple(T0 + c for c in closes)))  # fmt: skip

    def pin(self, session: Session) -> list[Any]:
        return self.table((session, 0))

    def reference(self, price: int = REFERENCE, symbol: str = SYMBOL, dt: int = 0) -> list[Any]:
        return self(SetReference.of(account=0, symbol=symbol, price=price, source_ns=self.ts + dt,
                                    source="test", status="open"), dt)  # fmt: skip

    def place(self, account: int, side: Side, price: int, qty: int, order_type: OrderType = OrderType.LIMIT,
              tif: TimeInForce = TimeInForce.GTC, expire_at: int = 0, dt: int = 0) -> list[Any]:  # fmt: skip
        return self(PlaceOrder.of(account=account, symbol=SYMBOL, side=int(side), order_type=int(order_type),
                                  price=price, qty=qty, tif=int(tif), post_only=False, stp=int(Stp.NONE),
                                  client_order_id=None, expire_at=expire_at), dt)  # fmt: skip

    def status(self, reason: HaltReason, on: bool, symbol: str = SYMBOL, dt: int = 0) -> list[Any]:
        return self(SetTradingStatus.of(account=0, symbol=symbol, reason=int(reason), on=int(on)), dt)

    def tick(self, dt: int) -> list[Any]:
        return self(Tick.of(), dt)

    def wait(self, dt: int, price: int = REFERENCE) -> list[Any]:
        """Let ``dt`` pass with SYM0's reference sent every 5 s, as a feed does."""
        events: list[Any] = []
        while dt > 0:
            step = min(dt, 5 * NS)
            events += self.reference(price, dt=step)
            dt -= step
        return events


def of(events: list[Any], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def reject(events: list[Any]) -> Reject | None:
    return Reject(events[0].code) if isinstance(events[0], Rejected) else None


def trading() -> Run:
    """Regular hours, SYM0 with a fresh reference and trading."""
    run = Run()
    run.pin(Session.REGULAR)
    run.reference()
    assert SYMBOL not in run.engine.gate.halts
    return run


# ------------------------------------------------------------------ causes


def test_no_reference_yet_halts_from_the_session_table_on() -> None:
    run = Run()
    events = run.pin(Session.REGULAR)
    assert Halted.of(seq=run.engine.seq, symbol=SYMBOL, reason=HaltReason.NO_REFERENCE) in events
    assert len(of(events, Halted)) == 8  # every symbol


def test_a_reference_going_stale_halts_at_the_first_command_after() -> None:
    run = trading()
    assert run.tick(10 * NS) == []  # regular hours: stale past 10 s
    assert of(run.tick(1), Halted) == [Halted.of(seq=run.engine.seq, symbol=SYMBOL,
                                                 reason=HaltReason.STALE_REFERENCE)]  # fmt: skip


def test_the_book_held_at_the_band_edge_for_15_s_halts() -> None:
    run = trading()
    run.place(1, Side.BUY, 26_250, 1)  # the high edge
    for _ in range(2):
        assert of(run.reference(dt=7 * NS), Halted) == []
    assert of(run.reference(dt=NS), Halted) == [Halted.of(seq=run.engine.seq, symbol=SYMBOL,
                                                          reason=HaltReason.LIMIT_STATE)]  # fmt: skip


def test_leaving_the_band_edge_stops_the_limit_state_clock() -> None:
    run = trading()
    order = run.place(1, Side.BUY, 26_250, 1)[0].order_id
    run.reference(dt=7 * NS)
    run(CancelOrder.of(account=1, symbol=SYMBOL, order_id=order, client_order_id=None), 3 * NS)
    run.place(1, Side.BUY, 26_250, 1, dt=NS)  # the clock starts again here
    assert of(run.wait(14 * NS), Halted) == []
    assert of(run.reference(dt=NS), Halted) != []


def test_a_band_moving_under_a_resting_bid_starts_the_limit_state_clock() -> None:
    run = trading()
    run.place(1, Side.BUY, 26_000, 1)
    run.reference(24_700)  # the band's top is now 25_935, under the bid
    assert of(run.wait(14 * NS, 24_700), Halted) == []
    assert of(run.reference(24_700, dt=NS), Halted)[0].reason == HaltReason.LIMIT_STATE


def test_a_corporate_action_halts_and_cancels_the_open_orders() -> None:
    run = trading()
    order = run.place(1, Side.BUY, 25_000, 2)[0].order_id
    events = run.status(HaltReason.CORPORATE_ACTION, True)
    assert [(e.symbol, e.reason) for e in of(events, Halted)] == [(SYMBOL, HaltReason.CORPORATE_ACTION)]
    assert [(e.order_id, e.qty) for e in of(events, Cancelled)] == [(order, 2)]
    assert len(run.engine.book(SYMBOL)) == 0


def test_a_paused_token_and_the_operator_halt_until_turned_off() -> None:
    run = trading()
    for reason in (HaltReason.TOKEN_PAUSED, HaltReason.OPERATOR):
        assert of(run.status(reason, True), Halted)[0].reason == reason
    run.wait(6 * MINUTE)
    run.status(HaltReason.TOKEN_PAUSED, False)
    assert of(run.reference(), Resumed) == []  # the operator's halt still holds
    resumed = of(run.status(HaltReason.OPERATOR, False), Resumed)
    assert resumed == [Resumed.of(seq=run.engine.seq, symbol=SYMBOL)]


def test_an_operator_may_not_raise_the_reference_causes() -> None:
    run = trading()
    assert reject(run.status(HaltReason.STALE_REFERENCE, True)) is Reject.INVALID_AMOUNT
    assert reject(run.status(HaltReason.OPERATOR, True, symbol="NOPE")) is Reject.UNKNOWN_SYMBOL


HOUR = 3_600 * NS


def breaker_run() -> Run:
    """An index "SPX" closing at 10_000 yesterday; today's regular session from T0 + 2 h to 3 h."""
    run = Run(index_symbol="SPX")
    regular, post = Session.REGULAR, Session.POST
    spans = ((regular, 0), (post, HOUR), (regular, 2 * HOUR), (post, 3 * HOUR))
    run.table(*spans, closes=(HOUR, 3 * HOUR))
    run.reference(10_000, symbol="SPX")
    run.tick(7_200 * NS)
    run.reference(10_000, symbol="SPX")  # in force at the close, now recorded as it
    run.reference()
    return run


def test_the_index_falling_7_percent_halts_every_symbol_for_15_minutes() -> None:
    run = breaker_run()
    assert of(run.reference(9_301, symbol="SPX"), Halted) == []
    halted = of(run.reference(9_300, symbol="SPX"), Halted)
    assert len(halted) == 8 and {e.reason for e in halted} == {HaltReason.CIRCUIT_BREAKER}
    assert of(run.reference(9_200, symbol="SPX"), Halted) == []  # level 1 trips once a day
    run.wait(15 * MINUTE - 1)
    assert SYMBOL in run.engine.gate.halts
    assert of(run.reference(dt=1), Resumed) == [Resumed.of(seq=run.engine.seq, symbol=SYMBOL)]


def test_level_3_holds_until_the_operator_resumes() -> None:
    run = breaker_run()
    run.reference(8_000, symbol="SPX")  # -20%
    run.wait(30 * MINUTE)
    assert SYMBOL in run.engine.gate.halts
    events = run.status(HaltReason.CIRCUIT_BREAKER, False, symbol="")
    assert Resumed.of(seq=run.engine.seq, symbol=SYMBOL) in events


def test_level_3_holds_until_the_next_session() -> None:
    run = breaker_run()
    run.reference(8_000, symbol="SPX")
    assert of(run.wait(HOUR - NS), Resumed) == []  # to a second before the regular close
    events = run.wait(NS)  # the post session begins
    assert of(events, SessionChanged) and Resumed.of(seq=run.engine.seq, symbol=SYMBOL) in events


# ------------------------------------------------------------------ while halted


def halted() -> Run:
    run = trading()
    run.status(HaltReason.OPERATOR, True)
    return run


def test_orders_are_collected_not_matched_while_halted() -> None:
    run = halted()
    buy = run.place(1, Side.BUY, 25_200, 3)
    sell = run.place(2, Side.SELL, 25_100, 2)
    assert isinstance(buy[0], Accepted) and isinstance(sell[0], Accepted)
    assert of(buy + sell, Fill) == []
    book = run.engine.book(SYMBOL)
    assert (book.best_bid(), book.best_ask()) == (25_200, 25_100)  # crossed, as collected
    (indicative,) = of(sell, AuctionIndicative)
    assert (indicative.price, indicative.volume, indicative.imbalance) == (25_100, 2, 1)


def test_cancels_work_while_halted_and_move_the_indication() -> None:
    run = halted()
    run.place(1, Side.BUY, 25_200, 3)
    order = run.place(2, Side.SELL, 25_100, 2)[0].order_id
    events = run(CancelOrder.of(account=2, symbol=SYMBOL, order_id=order, client_order_id=None))
    assert [type(e) for e in events] == [Cancelled, AuctionIndicative]
    assert (events[1].price, events[1].volume) == (0, 0)


def test_market_ioc_and_fok_orders_are_refused_while_halted() -> None:
    run = halted()
    assert reject(run.place(1, Side.BUY, 0, 1, OrderType.MARKET, TimeInForce.IOC)) is Reject.SYMBOL_HALTED
    assert reject(run.place(1, Side.BUY, 25_000, 1, tif=TimeInForce.IOC)) is Reject.SYMBOL_HALTED
    assert reject(run.place(1, Side.BUY, 25_000, 1, tif=TimeInForce.FOK)) is Reject.SYMBOL_HALTED
    assert reject(run.place(1, Side.BUY, 27_000, 1)) is Reject.PRICE_OUTSIDE_BAND


def test_amends_while_halted_only_cut_quantity() -> None:
    run = halted()
    order = run.place(1, Side.BUY, 25_200, 3)[0].order_id
    run.place(2, Side.SELL, 25_100, 2)
    for price, qty in ((25_300, 0), (0, 4)):
        amend = AmendOrder.of(account=1, symbol=SYMBOL, order_id=order, price=price, qty=qty)
        assert reject(run(amend)) is Reject.SYMBOL_HALTED
    events = run(AmendOrder.of(account=1, symbol=SYMBOL, order_id=order, price=0, qty=1))
    assert [type(e) for e in events] == [Amended, AuctionIndicative] and events[1].volume == 1


# ------------------------------------------------------------------ the auction


def test_the_auction_uncrosses_at_the_clearing_price_after_5_minutes() -> None:
    run = trading()
    run.place(2, Side.SELL, 25_100, 2)
    run.status(HaltReason.OPERATOR, True)
    first = run.place(1, Side.BUY, 25_200, 3)[0].order_id
    second = run.place(3, Side.BUY, 25_200, 2)[0].order_id
    run.place(2, Side.SELL, 25_150, 2)
    run.wait(MINUTE)
    assert of(run.status(HaltReason.OPERATOR, False), Resumed) == []
    assert of(run.wait(4 * MINUTE - 1), Uncrossed) == []
    events = run.reference(dt=1)
    assert of(events, Uncrossed) == [Uncrossed.of(seq=run.engine.seq, symbol=SYMBOL, price=25_150, volume=4)]
    fills = of(events, Fill)
    assert {f.price for f in fills} == {25_150} and [f.qty for f in fills] == [2, 1, 1]
    buyers = [f.taker_order_id if f.taker_side == Side.BUY else f.maker_order_id for f in fills]
    assert buyers == [first, first, second]
    assert isinstance(events[-1], Resumed)
    # the leftover lot of ``second`` keeps its place ahead of a later bid at its price
    run.place(1, Side.BUY, 25_200, 1)
    fill = of(run.place(2, Side.SELL, 25_200, 1), Fill)[0]
    assert fill.maker_order_id == second


def test_orders_left_crossing_beyond_the_band_are_cancelled_after_the_auction() -> None:
    run = halted()
    bid = run.place(1, Side.BUY, 26_000, 1)[0].order_id
    run.place(2, Side.SELL, 25_900, 1)
    run.reference(24_000)  # the band is now 22_800 .. 25_200: nothing crosses inside it
    events = run.status(HaltReason.OPERATOR, False, dt=5 * MINUTE - NS) + run.reference(24_000, dt=NS)
    assert of(events, Uncrossed) == [] and of(events, Fill) == []
    assert [(e.order_id, e.reason) for e in of(events, Cancelled)] == [(bid, CancelReason.AUCTION)]
    assert run.engine.book(SYMBOL).best_ask() == 25_900


def test_an_expiring_order_moves_the_indication() -> None:
    run = halted()
    run.place(1, Side.BUY, 25_200, 1, tif=TimeInForce.GTD, expire_at=T0 + NS)
    run.place(2, Side.SELL, 25_100, 1)
    events = run.reference(dt=NS)
    assert [type(e) for e in events][:2] == [Cancelled, AuctionIndicative] and events[1].volume == 0


def test_an_opening_halt_reopens_as_soon_as_a_reference_comes() -> None:
    run = Run()
    run.pin(Session.REGULAR)
    run.place(1, Side.BUY, 25_000, 1)
    run.place(2, Side.SELL, 25_000, 1)
    events = run.reference()
    assert of(events, Uncrossed) == [Uncrossed.of(seq=run.engine.seq, symbol=SYMBOL, price=25_000, volume=1)]


levels = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(24_800, 25_200), st.integers(1, 5))


@settings(max_examples=60, deadline=None)
@given(st.lists(levels, min_size=1, max_size=25))
def test_the_auction_executes_what_clearing_price_reports(orders: list[tuple[Side, int, int]]) -> None:
    run = halted()
    for side, price, qty in orders:
        run.place(1 if side == Side.BUY else 2, side, price, qty)
    bids, asks = run.engine.book(SYMBOL).levels()
    expected = clearing_price(bids, asks, REFERENCE, 23_750, 26_250)
    run.status(HaltReason.OPERATOR, False)
    events = run.wait(5 * MINUTE)
    fills = of(events, Fill)
    if expected is None:
        assert of(events, Uncrossed) == [] and fills == []
    else:
        assert of(events, Uncrossed)[0].price == expected.price
        assert sum(f.qty for f in fills) == expected.volume
        assert {f.price for f in fills} == {expected.price}
    book = run.engine.book(SYMBOL)
    assert book.best_bid() is None or book.best_ask() is None or book.best_bid() < book.best_ask()


# ------------------------------------------------------------------ sessions


def test_the_closed_band_is_the_last_close_and_re_anchors_at_most_twice_each_way() -> None:
    run = Run()
    run.table((Session.REGULAR, 0), (Session.CLOSED, 3_600 * NS), closes=(3_600 * NS,))
    run.reference()
    before = state_hash(run.engine)
    assert run.engine.gate.view(SYMBOL, T0 + 3_600 * NS)["band"] == [22_500, 27_500]  # read ahead
    assert state_hash(run.engine) == before  # a view changes nothing
    run.tick(3_600 * NS)
    run.reference(30_000)  # a weekend print: the band stays on the close's 25_000
    assert run.engine.gate.view(SYMBOL, run.ts)["band"] == [22_500, 27_500]
    reanchors = []
    for bid, ask in ((27_000, 27_500), (29_500, 29_975), (32_500, 32_700)):
        run.place(1, Side.BUY, bid, 1)
        reanchors += of(run.place(2, Side.SELL, ask, 1), Reanchored)
        reanchors += of(run.place(3, Side.BUY, bid - 100, 1), Reanchored)
        for account in (1, 2, 3):
            run(CancelAll.of(account=account, symbol=SYMBOL))
    assert [(e.anchor, e.direction, e.reanchors) for e in reanchors] == [(27_250, 1, 1), (29_737, 1, 2)]
    assert run.engine.gate.view(SYMBOL, run.ts)["reanchors"] == {"up": 2, "down": 0}


def test_a_new_session_keeps_resting_orders_and_says_so_once_per_symbol() -> None:
    run = Run()
    run.table((Session.REGULAR, 0), (Session.POST, 60 * NS))
    run.reference()
    big = run.place(1, Side.BUY, 25_000, 600)[0].order_id  # above the post session's cap of 500
    gtd = run.place(1, Side.BUY, 24_000, 1, tif=TimeInForce.GTD, expire_at=T0 + 70 * NS)[0].order_id
    events = run.reference(dt=60 * NS)
    changed = [(e.symbol, e.session) for e in of(events, SessionChanged)]
    assert changed == [(f"SYM{i}", Session.POST) for i in range(8)]
    assert run.engine.book(SYMBOL).order(big) is not None
    assert of(run.reference(dt=NS), SessionChanged) == []
    assert [e.order_id for e in of(run.tick(9 * NS), Cancelled)] == [gtd]  # GTD expires by command time


# ------------------------------------------------------------------ replay


def halt_script(run: Run) -> None:
    run.pin(Session.REGULAR)
    run.reference()
    run.place(2, Side.SELL, 25_100, 2)
    run.status(HaltReason.OPERATOR, True)
    run.place(1, Side.BUY, 25_200, 3)
    order = run.place(3, Side.BUY, 25_150, 2)[0].order_id
    run(CancelOrder.of(account=3, symbol=SYMBOL, order_id=order, client_order_id=None), NS)
    run.place(2, Side.SELL, 25_000, 4)


def after_script(run: Run) -> list[Any]:
    events = run.status(HaltReason.OPERATOR, False, dt=MINUTE)
    events += run.wait(4 * MINUTE)
    events += run.place(1, Side.BUY, 25_100, 1)
    return events


def test_replaying_a_halt_gives_the_same_state() -> None:
    first = Run()
    halt_script(first)
    after_script(first)
    second = Engine(first.config)
    for command in first.log:
        second.apply(command)
    assert state_hash(second) == state_hash(first.engine)


def test_a_snapshot_mid_halt_continues_as_if_uninterrupted() -> None:
    straight, stopped = Run(), Run()
    halt_script(straight)
    halt_script(stopped)
    state = json.loads(json.dumps(export_state(stopped.engine)))
    stopped.engine = restore(stopped.config, state)
    assert state_hash(stopped.engine) == state_hash(straight.engine)
    assert after_script(stopped) == after_script(straight)
    assert state_hash(stopped.engine) == state_hash(straight.engine)
    assert SYMBOL not in straight.engine.gate.halts


def test_a_snapshot_from_before_halts_halts_the_symbols_without_a_reference() -> None:
    run = trading()
    state = json.loads(json.dumps(export_state(run.engine)))
    state["gate"] = {
        key: state["gate"][key] for key in ("edges", "kinds", "end", "regular_closes", "references")
    }
    gate = restore(run.config, state).gate
    assert sorted(gate.halts) == [f"SYM{i}" for i in range(1, 8)]


def test_view_shows_the_halt_and_the_auction() -> None:
    run = halted()
    run.place(1, Side.BUY, 25_200, 3)
    run.place(2, Side.SELL, 25_100, 2)
    view = run.engine.gate.view(SYMBOL, run.ts)
    assert view["halted"] and view["halt_reasons"] == ["operator"]
    assert view["reason"] == "halted by the operator"
    assert view["auction"] == {"collecting_until": None, "indicative_price": 25_100, "indicative_volume": 2,
                               "imbalance": 1}  # fmt: skip
    assert {"session", "reference", "reference_ns", "band", "halted_since"} <= set(view)
