"""The bare OrderBook equals the naive model book (tests/model.py) after every call, and validates.

A Hypothesis state machine drives ``matcher.OrderBook`` (one symbol, no money, no client ids) and
the model ``Book`` with the same submits, cancels, cancel-alls, amends and expiries, and compares
after every call: the exact event list, the resting orders in priority order, the best prices and
the order count; then calls ``book.validate()``. ``BLUEBOOK_SOAK=1`` runs it much longer.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from matcher import OrderBook
from matcher.book import O_ACCOUNT, O_ID, O_LEAVES, O_PRICE, O_SIDE, order_filled
from matcher.events import typed
from tests.model import Book

SOAK = os.environ.get("BLUEBOOK_SOAK") == "1"

SETTINGS = settings(
    max_examples=2000 if SOAK else 200,
    stateful_step_count=300 if SOAK else 100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)

#: (maker_bps, taker_bps): none, a maker rebate, plain fees, a rebate as large as the fee.
FEES = ((0, 0), (-2, 5), (10, 30), (-5, 5))

accounts = st.sampled_from((1, 2, 3))
sides = st.sampled_from((1, 2))
prices = st.integers(95, 105)
quantities = st.integers(1, 10)
stps = st.sampled_from((0, 1, 2, 3, 4))

STATS = {"examples": 0, "steps": 0, "events": 0}


def shape(events: list[Any]) -> list[Any]:
    """Events as their named records (the engine makes most of them as plain tuples)."""
    return [typed(e) for e in events]


def rows(orders: list[Any]) -> list[tuple[int, ...]]:
    return [(o[O_ID], o[O_ACCOUNT], o[O_SIDE], o[O_PRICE], o[O_LEAVES], order_filled(o)) for o in orders]


class BookVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.seq = 0
        self.next_id = 100
        self.now = 0
        self.ids: list[int] = []
        self.log: list[str] = []
        STATS["examples"] += 1

    @initialize(fees=st.sampled_from(FEES), k=st.sampled_from((1, 3)))
    def setup(self, fees, k) -> None:
        maker_bps, taker_bps = fees
        self.book = OrderBook("X", maker_bps=maker_bps, taker_bps=taker_bps, quote_per_tick_lot=k)
        self.model = Book("X", maker_bps=maker_bps, taker_bps=taker_bps, quote_per_tick_lot=k)
        self.log.append(
            f"book = OrderBook('X', maker_bps={maker_bps}, taker_bps={taker_bps}, quote_per_tick_lot={k})"
        )

    # ------------------------------------------------------------ driving

    def call(self, method: str, *args, **kwargs) -> None:
        """Call ``method`` on both books with the same arguments (and a fresh ``seq``); compare."""
        self.seq += 1
        kwargs["seq"] = self.seq
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        self.log.append(f"book.{method}({shown})")
        got = shape(getattr(self.book, method)(*args, **kwargs))
        want = shape(getattr(self.model, method)(*args, **kwargs))
        self.check(got == want, "events differ", got, want)
        self.book.validate()
        got_rows = rows(self.book.resting_orders())
        want_rows = [o.row() for o in self.model.resting_orders()]
        self.check(got_rows == want_rows, "resting orders differ", got_rows, want_rows)
        got_best = (self.book.best_bid(), self.book.best_ask(), len(self.book))
        want_best = (self.model.best_bid(), self.model.best_ask(), len(self.model.resting))
        self.check(got_best == want_best, "best prices or size differ", got_best, want_best)
        STATS["steps"] += 1
        STATS["events"] += len(got)

    def check(self, ok: bool, what: str, got: object, want: object) -> None:
        if ok:
            return
        lines = [f"{what} after call {self.seq}", "calls:", *(f"  {c}" for c in self.log)]
        lines += [f"book:  {got!r}", f"model: {want!r}"]
        raise AssertionError("\n".join(lines))

    def fresh_id(self) -> int:
        self.next_id += 1
        self.ids.append(self.next_id)
        return self.next_id

    def pick_id(self, data: st.DataObject, live: bool) -> int:
        resting = [o.order_id for o in self.model.resting]
        ids = resting if live and resting else self.ids or [1]
        return data.draw(st.sampled_from(ids), label="order_id")

    # ------------------------------------------------------------ rules

    @rule(
        account=accounts,
        side=sides,
        price=prices,
        qty=quantities,
        tif=st.sampled_from((1, 1, 2, 3, 4)),
        post_only=st.booleans(),
        stp=stps,
        expire_in=st.integers(1, 50),
    )
    def submit_limit(self, account, side, price, qty, tif, post_only, stp, expire_in):
        self.call(
            "submit",
            self.fresh_id(),
            account,
            side,
            price,
            qty,
            tif,
            order_type=1,
            post_only=post_only and tif in (1, 4),
            stp=stp,
            expire_at=self.now + expire_in if tif == 4 else 0,
        )

    @rule(
        orders=st.lists(
            st.tuples(accounts, sides, st.integers(0, 5), quantities, stps), min_size=1, max_size=3
        )
    )
    def submit_passive(self, orders):
        for account, side, away, qty, stp in orders:
            price = 100 - away if side == 1 else 100 + away
            self.call("submit", self.fresh_id(), account, side, price, qty, 1, stp=stp)

    @rule(account=accounts, side=sides, price=st.integers(90, 110), qty=quantities, stp=stps)
    def submit_market(self, account, side, price, qty, stp):
        # The book takes a market order's protection price as given; tif IOC as the engine sends.
        self.call("submit", self.fresh_id(), account, side, price, qty, 2, order_type=2, stp=stp)

    @rule(data=st.data(), live=st.booleans())
    def cancel(self, data, live):
        self.call("cancel", self.pick_id(data, live))

    @rule(account=accounts)
    def cancel_all(self, account):
        self.call("cancel_all", account)

    @rule(data=st.data(), price=st.one_of(st.just(0), prices), qty=st.one_of(st.just(0), quantities))
    def amend(self, data, price, qty):
        self.call("amend", self.pick_id(data, live=True), price=price, qty=qty)

    @rule(jump=st.integers(0, 30))
    def expire(self, jump):
        self.now += jump
        self.call("expire", self.now)


def test_book_equals_naive_model_after_every_call(capsys: pytest.CaptureFixture[str]) -> None:
    STATS.update(examples=0, steps=0, events=0)
    started = time.perf_counter()
    run_state_machine_as_test(BookVsModel, settings=SETTINGS)
    took = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nbook vs model: {STATS['examples']} examples, {STATS['steps']} calls, "
            f"{STATS['events']} events compared, 0 divergences ({took:.1f} s)"
        )
