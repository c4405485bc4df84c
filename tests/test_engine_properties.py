"""The engine equals the naive model (tests/model.py) after every command, and validates.

A Hypothesis state machine sends the same random commands to ``matcher.engine.Engine`` and to
``ModelEngine`` and compares, after every step: the exact event list, every book's resting orders
in priority order and best prices, every account's balances (the fee account's too), and the
client ids remembered; then calls ``engine.validate()``. Prices stay within a few ticks of 100 and
there are four accounts, so orders cross, self-trade and run out of money often.

Size: 200 examples of up to 100 steps; ``BLUEBOOK_SOAK=1`` runs 2000 of up to 300. On a failure
the message lists the (shrunk) commands, stamped, ready to replay with ``Engine.apply``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from matcher import AmendOrder, CancelAll, CancelOrder, Command, Deposit, PlaceOrder, Tick, Withdraw
from matcher.book import O_ACCOUNT, O_ID, O_LEAVES, O_PRICE, O_SIDE, order_filled, order_status
from matcher.config import AssetConfig, MarketConfig, SymbolConfig
from matcher.engine import Engine
from matcher.events import typed
from tests.model import ModelEngine

SOAK = os.environ.get("BLUEBOOK_SOAK") == "1"
SETTINGS = settings(
    max_examples=2000 if SOAK else 200,
    stateful_step_count=300 if SOAK else 100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)

ACCOUNTS = (1, 2, 3, 4)
FEE_ACCOUNT = 0
ASSETS = ("A", "B", "USD")
SYMBOLS = ("AAA", "BBB")
#: (maker_bps, taker_bps): none, a maker rebate, plain fees, a rebate as large as the fee.
FEES = ((0, 0), (-2, 5), (10, 30), (-5, 5))
CLIENT_IDS = ("c1", "c2", "c3")
RETENTION_NS = 10_000
START_TS = 1_000_000
MID = 100

accounts = st.sampled_from(ACCOUNTS)
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from((1, 2))
prices = st.integers(MID - 5, MID + 5)
quantities = st.integers(1, 14)
tifs = st.sampled_from((1, 1, 2, 3, 4))
stps = st.sampled_from((0, 1, 2, 3, 4))
client_ids = st.sampled_from((None, None, None, *CLIENT_IDS))
dts = st.sampled_from((0, 0, 1, 7, 150, 600))


def market_config(fees_a: tuple[int, int], fees_b: tuple[int, int]) -> MarketConfig:
    """AAA: one lot = one base unit, one tick = one quote unit (k = 1), no limits.

    BBB: a base with one engine decimal, tick 5 and lot 4 (k = 2), size and notional limits, and
    a tighter market protection.
    """
    aaa = SymbolConfig("AAA", "A", "USD", tick_size=1, lot_size=1, maker_bps=fees_a[0], taker_bps=fees_a[1])
    bbb = SymbolConfig(
        "BBB",
        "B",
        "USD",
        tick_size=5,
        lot_size=4,
        min_qty=2,
        max_qty=12,
        min_notional=400,
        max_notional=2_000,
        maker_bps=fees_b[0],
        taker_bps=fees_b[1],
        market_protection_bps=300,
    )
    return MarketConfig(
        assets=(AssetConfig("A", 0, 0), AssetConfig("B", 3, 1), AssetConfig("USD", 2, 0)),
        symbols=(aaa, bbb),
        fee_account=FEE_ACCOUNT,
        client_id_retention_ns=RETENTION_NS,
    )


def place(**fields: Any) -> PlaceOrder:
    """A PlaceOrder (unstamped): a plain GTC limit buy of 1 AAA at 100 unless ``fields`` say."""
    values: dict[str, Any] = dict(
        seq=0, ts=0, account=1, symbol="AAA", side=1, order_type=1, price=MID, qty=1, tif=1,
        post_only=False, stp=0, client_order_id=None, expire_at=0,
    )  # fmt: skip
    values.update(fields)
    return PlaceOrder.of(**values)


def passive_price(side: int, away: int) -> int:
    return MID - away if side == 1 else MID + away


def shape(events: list[Any]) -> list[Any]:
    """Events as their named records (the engine makes most of them as plain tuples)."""
    return [typed(e) for e in events]


def rows(orders: list[Any]) -> list[tuple[int, ...]]:
    return [(o[O_ID], o[O_ACCOUNT], o[O_SIDE], o[O_PRICE], o[O_LEAVES], order_filled(o)) for o in orders]


STATS = {"examples": 0, "steps": 0, "events": 0}


class EngineVsModel(RuleBasedStateMachine):
    engine: Engine
    model: ModelEngine

    def __init__(self) -> None:
        super().__init__()
        self.seq = 0
        self.ts = START_TS
        self.log: list[Command] = []
        self.refs = 0
        STATS["examples"] += 1

    # ------------------------------------------------------------ driving

    def apply(self, command: Command, dt: int = 0) -> None:
        """Stamp ``command``, apply it to both, compare everything, validate the engine."""
        self.seq += 1
        self.ts += dt
        command = command.stamp(self.seq, self.ts)
        self.log.append(command)
        got = shape(self.engine.apply(command))
        want = shape(self.model.apply(command))
        self.check(got == want, "events differ", got, want)
        self.engine.validate()
        self.compare_state()
        STATS["steps"] += 1
        STATS["events"] += len(got)

    def check(self, ok: bool, what: str, got: object, want: object) -> None:
        if ok:
            return
        lines = [f"{what} after command {self.seq}", "commands:"]
        lines += [f"  {c!r}" for c in self.log]
        lines += [f"engine: {got!r}", f"model:  {want!r}"]
        raise AssertionError("\n".join(lines))

    def compare_state(self) -> None:
        for symbol in SYMBOLS:
            book, mbook = self.engine.book(symbol), self.model.book(symbol)
            got = rows(book.resting_orders())
            want = [o.row() for o in mbook.resting_orders()]
            self.check(got == want, f"{symbol} resting orders differ", got, want)
            got_best = (book.best_bid(), book.best_ask())
            want_best = (mbook.best_bid(), mbook.best_ask())
            self.check(got_best == want_best, f"{symbol} best prices differ", got_best, want_best)
        for account in (FEE_ACCOUNT, *ACCOUNTS):
            for asset in ASSETS:
                got_b = self.engine.balance(account, asset)
                want_b = self.model.balance(account, asset)
                self.check(got_b == want_b, f"balance {account} {asset} differs", got_b, want_b)
        for account in ACCOUNTS:
            for cid in CLIENT_IDS:
                entry = self.engine.order_by_client_id(account, cid)
                got_c = None
                if entry is not None:
                    symbol, record = entry
                    got_c = (symbol, record[O_ID], order_status(record), order_filled(record))
                order = self.model.order_by_client_id(account, cid)
                want_c = None if order is None else (order.symbol, order.order_id, order.status, order.filled)
                self.check(got_c == want_c, f"client id {account} {cid} differs", got_c, want_c)

    def deposit_ref(self, account: int, asset: str, amount: int) -> None:
        """Deposit with a fresh ``ref``."""
        self.refs += 1
        ref = f"r{self.refs}"
        self.apply(Deposit.of(seq=0, ts=0, account=account, asset=asset, amount=amount, ref=ref))

    def pick_order_id(self, data: st.DataObject, live: bool) -> int:
        """A resting order's id (when ``live`` and there is one), else any id placed so far."""
        resting = [o.order_id for b in self.model.books.values() for o in b.resting]
        ids = resting if live and resting else sorted(self.model.orders) or [1]
        return data.draw(st.sampled_from(ids), label="order_id")

    # ------------------------------------------------------------ rules

    @initialize(
        fees_a=st.sampled_from(FEES),
        fees_b=st.sampled_from(FEES),
        funds=st.lists(
            st.tuples(st.integers(20, 150), st.integers(100, 600), st.integers(5_000, 40_000)),
            min_size=len(ACCOUNTS),
            max_size=len(ACCOUNTS),
        ),
        seed_orders=st.lists(
            st.tuples(accounts, symbols, sides, st.integers(0, 4), st.integers(2, 8)),
            min_size=4,
            max_size=16,
        ),
    )
    def setup(self, fees_a, fees_b, funds, seed_orders) -> None:
        """Fund the accounts and rest a few orders around 100 so the first commands meet some."""
        config = market_config(fees_a, fees_b)
        self.engine = Engine(config)
        self.model = ModelEngine(config)
        for account, amounts in zip(ACCOUNTS, funds, strict=True):
            for asset, amount in zip(ASSETS, amounts, strict=True):
                self.deposit_ref(account, asset, amount)
        for account, symbol, side, away, qty in seed_orders:
            price = passive_price(side, away)
            self.apply(place(account=account, symbol=symbol, side=side, price=price, qty=qty))

    @rule(
        account=accounts,
        symbol=symbols,
        side=sides,
        price=prices,
        qty=quantities,
        tif=tifs,
        post_only=st.booleans(),
        stp=stps,
        cid=client_ids,
        expire_in=st.sampled_from((-5, 0, 1, 100, 700, 3_000)),
        dt=dts,
    )
    def place_limit(self, account, symbol, side, price, qty, tif, post_only, stp, cid, expire_in, dt):
        """Any limit order: GTC, IOC, FOK or GTD (sometimes already expired), maybe post-only."""
        command = place(
            account=account,
            symbol=symbol,
            side=side,
            price=price,
            qty=qty,
            tif=tif,
            post_only=post_only and tif in (1, 4),
            stp=stp,
            client_order_id=cid,
            expire_at=self.ts + dt + expire_in if tif == 4 else 0,
        )
        self.apply(command, dt)

    @rule(
        orders=st.lists(
            st.tuples(
                accounts, symbols, sides, st.integers(0, 5), quantities, st.booleans(), stps,
                client_ids, dts,
            ),
            min_size=1,
            max_size=3,
        )
    )  # fmt: skip
    def place_passive(self, orders):
        """A few GTC or GTD limits at or away from the middle (100), to keep the book deep."""
        for account, symbol, side, away, qty, gtd, stp, cid, dt in orders:
            command = place(
                account=account,
                symbol=symbol,
                side=side,
                price=passive_price(side, away),
                qty=qty,
                tif=4 if gtd else 1,
                stp=stp,
                client_order_id=cid,
                expire_at=self.ts + dt + 2_000 if gtd else 0,
            )
            self.apply(command, dt)

    @rule(
        account=accounts,
        symbol=symbols,
        side=sides,
        beyond=st.integers(0, 3),
        qty=quantities,
        tif=st.sampled_from((1, 2, 3)),
        stp=stps,
        dt=dts,
    )
    def place_aggressive(self, account, symbol, side, beyond, qty, tif, stp, dt):
        """A limit priced through the opposite best: it trades, and often meets its own orders."""
        book = self.model.book(symbol)
        best = book.best_ask() if side == 1 else book.best_bid()
        if best is None:
            best = MID
        price = best + beyond if side == 1 else best - beyond
        command = place(account=account, symbol=symbol, side=side, price=price, qty=qty, tif=tif, stp=stp)
        self.apply(command, dt)

    @rule(
        account=accounts,
        symbol=symbols,
        side=sides,
        price=st.sampled_from((0, 0, 0, 94, 100, 106)),
        qty=quantities,
        tif=st.sampled_from((1, 2, 3, 4)),
        stp=stps,
        cid=client_ids,
        dt=dts,
    )
    def place_market(self, account, symbol, side, price, qty, tif, stp, cid, dt):
        """A market order, with the engine's protection price (0) or its own."""
        command = place(
            account=account,
            symbol=symbol,
            side=side,
            order_type=2,
            price=price,
            qty=qty,
            tif=tif,
            stp=stp,
            client_order_id=cid,
        )
        self.apply(command, dt)

    @rule(
        account=accounts,
        symbol=symbols,
        field=st.sampled_from(
            (
                ("side", 0), ("side", 3), ("order_type", 0), ("order_type", 3), ("tif", 0),
                ("tif", 5), ("stp", -1), ("stp", 5), ("qty", 0), ("qty", -2), ("qty", 2.0),
                ("price", -1), ("price", 0), ("price", 100.0), ("post_only", True),
                ("expire_at", -1), ("symbol", "ZZZ"),
            )
        ),
        order_type=st.sampled_from((1, 2)),
        tif=tifs,
        cid=client_ids,
    )  # fmt: skip
    def place_malformed(self, account, symbol, field, order_type, tif, cid):
        """A PlaceOrder with one field wrong (or a post-only that is not a GTC/GTD limit)."""
        values = dict(
            account=account,
            symbol=symbol,
            order_type=order_type,
            qty=3,
            tif=tif,
            client_order_id=cid,
            expire_at=self.ts + 50,
        )
        name, value = field
        values[name] = self.ts + value if name == "expire_at" else value
        self.apply(place(**values))

    @rule(data=st.data(), live=st.booleans(), by_cid=st.booleans(), other=st.booleans(), dt=dts)
    def cancel(self, data, live, by_cid, other, dt):
        """Cancel by id or by client id, usually one's own resting order."""
        order_id = self.pick_order_id(data, live)
        order = self.model.orders.get(order_id)
        account = order.account if order and not other else data.draw(accounts)
        symbol = order.symbol if order else data.draw(symbols)
        cid = data.draw(client_ids, label="cid") if by_cid else None
        command = CancelOrder.of(
            seq=0,
            ts=0,
            account=account,
            symbol=symbol,
            order_id=0 if by_cid else order_id,
            client_order_id=cid,
        )
        self.apply(command, dt)

    @rule(account=accounts, symbol=st.sampled_from(("", *SYMBOLS)), dt=dts)
    def cancel_all(self, account, symbol, dt):
        self.apply(CancelAll.of(seq=0, ts=0, account=account, symbol=symbol), dt)

    @rule(
        data=st.data(),
        price=st.one_of(st.just(0), prices),
        qty=st.one_of(st.just(0), quantities),
        other=st.sampled_from((False, False, False, True)),
        dt=dts,
    )
    def amend(self, data, price, qty, other, dt):
        """Amend a resting order's price and/or leaves (0 keeps), usually by its owner."""
        order_id = self.pick_order_id(data, live=True)
        order = self.model.orders.get(order_id)
        account = order.account if order and not other else data.draw(accounts)
        symbol = order.symbol if order else data.draw(symbols)
        command = AmendOrder.of(
            seq=0, ts=0, account=account, symbol=symbol, order_id=order_id, price=price, qty=qty
        )
        self.apply(command, dt)

    @rule(
        account=accounts,
        asset=st.sampled_from(ASSETS),
        amount=st.integers(1, 5_000),
        kind=st.sampled_from(("deposit", "deposit again", "withdraw")),
    )
    def move_money(self, account, asset, amount, kind):
        """Deposit (with a fresh ref, or the first one again) or withdraw."""
        if kind == "deposit":
            self.deposit_ref(account, asset, amount)
        elif kind == "deposit again":
            command = Deposit.of(seq=0, ts=0, account=account, asset=asset, amount=amount, ref="r1")
            self.apply(command)
        else:
            self.apply(Withdraw.of(seq=0, ts=0, account=account, asset=asset, amount=amount))

    @rule(
        data=st.data(),
        account=accounts,
        kind=st.sampled_from(
            (
                "cancel ZZZ", "cancel-all ZZZ", "amend ZZZ", "amend -1 price", "amend -1 qty",
                "deposit ZZ", "deposit 0", "deposit -5", "withdraw ZZ", "withdraw 0",
            )
        ),
    )  # fmt: skip
    def malformed_other(self, data, account, kind):
        """A command other than PlaceOrder with one thing wrong."""
        order_id = self.pick_order_id(data, live=True)
        command: Command
        if kind.startswith("amend -1"):
            order = self.model.orders.get(order_id)
            symbol = order.symbol if order else "AAA"
            account = order.account if order else account
            price, qty = (-1, 0) if kind == "amend -1 price" else (0, -1)
            command = AmendOrder.of(
                seq=0, ts=0, account=account, symbol=symbol, order_id=order_id, price=price, qty=qty
            )
        elif kind == "cancel ZZZ":
            command = CancelOrder.of(
                seq=0, ts=0, account=account, symbol="ZZZ", order_id=order_id, client_order_id=None
            )
        elif kind == "cancel-all ZZZ":
            command = CancelAll.of(seq=0, ts=0, account=account, symbol="ZZZ")
        elif kind == "amend ZZZ":
            command = AmendOrder.of(
                seq=0, ts=0, account=account, symbol="ZZZ", order_id=order_id, price=MID, qty=0
            )
        else:
            verb, what = kind.split()
            asset, amount = (what, 10) if what == "ZZ" else ("USD", int(what))
            if verb == "deposit":
                self.refs += 1
                ref = f"r{self.refs}"
                command = Deposit.of(seq=0, ts=0, account=account, asset=asset, amount=amount, ref=ref)
            else:
                command = Withdraw.of(seq=0, ts=0, account=account, asset=asset, amount=amount)
        self.apply(command)

    @rule(jump=st.sampled_from((0, 1, 500, 2_999, 3_000, 9_999, 10_000, 25_000)))
    def tick(self, jump):
        """Let time pass: GTD orders expire, client ids are forgotten."""
        self.apply(Tick.of(seq=0, ts=0), jump)


def test_engine_equals_naive_model_after_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    STATS.update(examples=0, steps=0, events=0)
    started = time.perf_counter()
    run_state_machine_as_test(EngineVsModel, settings=SETTINGS)
    took = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nengine vs model: {STATS['examples']} examples, {STATS['steps']} commands, "
            f"{STATS['events']} events compared, 0 divergences ({took:.1f} s)"
        )
