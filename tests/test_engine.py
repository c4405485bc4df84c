"""Engine behaviour: validation, risk and holds, fees, client ids, time; state checked every step."""

from __future__ import annotations

import pytest

from bluebook.markets import default_markets
from matcher import (
    AmendOrder,
    CancelAll,
    Cancelled,
    CancelOrder,
    CancelReason,
    Command,
    Deposit,
    Duplicate,
    Fill,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Reject,
    Rejected,
    SequenceError,
    Side,
    Stp,
    Tick,
    TimeInForce,
    Withdraw,
    typed,
)
from matcher.config import AssetConfig, MarketConfig, SymbolConfig
from matcher.engine import Engine

BUY, SELL = int(Side.BUY), int(Side.SELL)
SYMBOL = "TSLAx-USDC"
USDC = 10**6  # engine units per USDC
SHARE = 10**9  # engine units per TSLAx share


class Driver:
    """Stamps commands like the sequencer, applies them and validates the engine after each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ts = 1_000

    def __call__(self, command: Command, advance: int = 1) -> list:
        self.ts += advance
        events = self.engine.apply(command.stamp(self.engine.seq + 1, self.ts))
        self.engine.validate()
        return [typed(e) for e in events]

    def place(self, account: int, side: int, price: int, qty: int, **fields) -> list:
        values = dict(
            seq=0, ts=0, account=account, symbol=SYMBOL, side=side, order_type=OrderType.LIMIT,
            price=price, qty=qty, tif=TimeInForce.GTC, post_only=False, stp=Stp.EXPIRE_MAKER,
            client_order_id=None, expire_at=0,
        )  # fmt: skip
        values.update(fields)
        return self(PlaceOrder.of(**values))

    def state(self) -> tuple:
        books = {
            name: [list(order) for order in market.book.resting_orders()]
            for name, market in self.engine.markets.items()
        }
        return books, {a: list(row) for a, row in self.engine.accounts.rows.items()}


@pytest.fixture
def run() -> Driver:
    driver = Driver(Engine(default_markets()))
    for account in (1, 2, 3):
        driver(
            Deposit.of(seq=0, ts=0, account=account, asset="USDC", amount=100_000 * USDC, ref=f"u{account}")
        )
        driver(Deposit.of(seq=0, ts=0, account=account, asset="TSLAx", amount=100 * SHARE, ref=f"t{account}"))
    return driver


def test_order_ids_are_the_placing_commands_sequence_number(run: Driver) -> None:
    events = run.place(1, BUY, 25_000, 10)
    assert events[0].order_id == run.engine.seq


def test_a_buy_holds_price_times_quantity_plus_the_maximum_fee(run: Driver) -> None:
    run.place(1, BUY, 25_000, 1_000)  # 1 share at $250.00, taker fee 5 bps
    available, held = run.engine.balance(1, "USDC")
    assert held == 250 * USDC + 125_000  # $250 + $0.125
    assert available + held == 100_000 * USDC


def test_a_sell_holds_its_base_quantity(run: Driver) -> None:
    run.place(1, SELL, 25_000, 1_500)
    assert run.engine.balance(1, "TSLAx") == (100 * SHARE - 1_500_000_000, 1_500_000_000)


def test_a_fill_moves_money_and_fees_to_the_fee_account(run: Driver) -> None:
    run.place(1, SELL, 25_000, 1_000)
    run.place(2, BUY, 25_100, 1_000)  # price improvement: trades at $250.00
    assert run.engine.balance(2, "TSLAx") == (101 * SHARE, 0)
    assert run.engine.balance(2, "USDC") == (100_000 * USDC - 250 * USDC - 125_000, 0)
    assert run.engine.balance(1, "USDC") == (100_000 * USDC + 250 * USDC + 25_000, 0)  # 1 bp rebate
    assert run.engine.balance(0, "USDC") == (125_000 - 25_000, 0)


def test_insufficient_funds_is_rejected_and_changes_nothing(run: Driver) -> None:
    before = run.state()
    events = run.place(1, BUY, 25_000, 10_000_000)  # 10,000 shares at $250: more than $100k
    assert events == [
        Rejected.of(
            seq=run.engine.seq,
            symbol=SYMBOL,
            order_id=run.engine.seq,
            account=1,
            code=Reject.INSUFFICIENT_FUNDS,
            client_order_id=None,
        )
    ]
    assert run.state() == before


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"symbol": "NOPE-USDC"}, Reject.UNKNOWN_SYMBOL),
        ({"side": 3}, Reject.INVALID_SIDE),
        ({"order_type": 9}, Reject.INVALID_ORDER_TYPE),
        ({"tif": 9}, Reject.INVALID_TIME_IN_FORCE),
        ({"stp": 9}, Reject.INVALID_STP),
        ({"qty": 0}, Reject.INVALID_QTY),
        ({"price": 0}, Reject.INVALID_PRICE),
        ({"qty": 200_000_000}, Reject.QTY_ABOVE_MAX),
        ({"price": 1, "qty": 1}, Reject.NOTIONAL_BELOW_MIN),
        ({"price": 10**9, "qty": 10**7}, Reject.NOTIONAL_ABOVE_MAX),
        ({"tif": TimeInForce.GTD, "expire_at": 5}, Reject.INVALID_EXPIRY),
        ({"post_only": True, "tif": TimeInForce.IOC}, Reject.POST_ONLY_NOT_LIMIT),
        ({"order_type": OrderType.MARKET, "price": 0}, Reject.NO_LIQUIDITY),
    ],
)
def test_each_invalid_order_gets_its_own_code_and_changes_nothing(
    run: Driver, fields: dict, code: Reject
) -> None:
    before = run.state()
    defaults = {"account": 1, "side": BUY, "price": 25_000, "qty": 10}
    defaults.update(fields)
    events = run.place(
        defaults.pop("account"), defaults.pop("side"), defaults.pop("price"), defaults.pop("qty"), **defaults
    )
    assert [type(e) for e in events] == [Rejected] and events[0].code == code
    assert run.state() == before


def test_market_order_without_a_price_is_bounded_by_the_protection(run: Driver) -> None:
    run.place(1, SELL, 25_000, 10)
    run.place(1, SELL, 26_000, 10)  # 4% above the best: inside the 5% protection
    run.place(1, SELL, 27_000, 10)  # 8% above: outside
    events = run.place(2, BUY, 0, 100, order_type=OrderType.MARKET)
    assert [f.price for f in events if isinstance(f, Fill)] == [25_000, 26_000]
    assert events[-1].reason == CancelReason.IOC and events[-1].qty == 80
    assert run.engine.balance(2, "USDC")[1] == 0


def test_cancel_releases_the_hold(run: Driver) -> None:
    events = run.place(1, BUY, 25_000, 1_000)
    run(
        CancelOrder.of(
            seq=0, ts=0, account=1, symbol=SYMBOL, order_id=events[0].order_id, client_order_id=None
        )
    )
    assert run.engine.balance(1, "USDC") == (100_000 * USDC, 0)


def test_an_account_cannot_cancel_another_accounts_order(run: Driver) -> None:
    events = run.place(1, BUY, 25_000, 1_000)
    result = run(
        CancelOrder.of(
            seq=0, ts=0, account=2, symbol=SYMBOL, order_id=events[0].order_id, client_order_id=None
        )
    )
    assert result[0].code == Reject.UNKNOWN_ORDER


def test_cancel_all_spans_every_symbol(run: Driver) -> None:
    run.place(1, BUY, 25_000, 10)
    run.place(1, BUY, 20_000, 10, symbol="AAPLx-USDC")
    run.place(2, BUY, 20_000, 10, symbol="AAPLx-USDC")
    events = run(CancelAll.of(seq=0, ts=0, account=1, symbol=""))
    assert [(e.symbol, e.reason) for e in events] == [
        (SYMBOL, CancelReason.CANCEL_ALL),
        ("AAPLx-USDC", CancelReason.CANCEL_ALL),
    ]
    assert run.engine.balance(1, "USDC") == (100_000 * USDC, 0)


def test_client_order_id_repeat_of_an_open_order_returns_it_and_creates_nothing(run: Driver) -> None:
    first = run.place(1, BUY, 25_000, 10, client_order_id="abc")
    before = run.state()
    again = run.place(1, BUY, 25_000, 10, client_order_id="abc")
    assert again == [
        Duplicate.of(
            seq=run.engine.seq,
            symbol=SYMBOL,
            order_id=first[0].order_id,
            account=1,
            client_order_id="abc",
            status=OrderStatus.NEW,
            filled=0,
            leaves=10,
        )
    ]
    assert run.state() == before


def test_client_order_id_repeat_of_a_filled_order_returns_its_final_state(run: Driver) -> None:
    run.place(2, SELL, 25_000, 10)
    first = run.place(1, BUY, 25_000, 10, client_order_id="abc")
    again = run.place(1, BUY, 25_000, 10, client_order_id="abc")
    assert again[0].order_id == first[0].order_id
    assert (again[0].status, again[0].filled, again[0].leaves) == (OrderStatus.FILLED, 10, 0)


def test_client_order_ids_are_per_account(run: Driver) -> None:
    run.place(1, BUY, 25_000, 10, client_order_id="abc")
    events = run.place(2, BUY, 25_000, 10, client_order_id="abc")
    assert events[0].order_id == run.engine.seq


def test_client_order_id_of_a_done_order_is_forgotten_after_the_retention_window(run: Driver) -> None:
    day = run.engine.config.client_id_retention_ns
    run.place(2, SELL, 25_000, 10)
    run.place(1, BUY, 25_000, 10, client_order_id="abc")
    run(Tick.of(seq=0, ts=0), advance=day - 10)
    assert isinstance(run.place(1, BUY, 25_000, 10, client_order_id="abc")[0], Duplicate)
    run(Tick.of(seq=0, ts=0), advance=day)
    events = run.place(1, BUY, 24_000, 10, client_order_id="abc")
    assert events[0].order_id == run.engine.seq and not isinstance(events[0], Duplicate)


def test_client_order_id_of_an_open_order_outlives_the_retention_window(run: Driver) -> None:
    day = run.engine.config.client_id_retention_ns
    first = run.place(1, BUY, 25_000, 10, client_order_id="abc")
    run(Tick.of(seq=0, ts=0), advance=3 * day)
    assert run.place(1, BUY, 25_000, 10, client_order_id="abc")[0].order_id == first[0].order_id


def test_cancel_by_client_order_id(run: Driver) -> None:
    run.place(1, BUY, 25_000, 10, client_order_id="abc")
    events = run(CancelOrder.of(seq=0, ts=0, account=1, symbol=SYMBOL, order_id=0, client_order_id="abc"))
    assert isinstance(events[0], Cancelled) and events[0].reason == CancelReason.USER


def test_gtd_expires_by_command_time_and_releases_its_hold(run: Driver) -> None:
    run.place(1, BUY, 25_000, 10, tif=TimeInForce.GTD, expire_at=run.ts + 1_000)
    assert run(Tick.of(seq=0, ts=0), advance=500) == []
    events = run(Tick.of(seq=0, ts=0), advance=500)
    assert [e.reason for e in events] == [CancelReason.EXPIRED]
    assert run.engine.balance(1, "USDC") == (100_000 * USDC, 0)


def test_amend_up_holds_more_and_is_refused_when_funds_are_short(run: Driver) -> None:
    order_id = run.place(1, BUY, 25_000, 1_000)[0].order_id
    events = run(AmendOrder.of(seq=0, ts=0, account=1, symbol=SYMBOL, order_id=order_id, price=0, qty=2_000))
    assert not events[0].kept_priority
    assert run.engine.balance(1, "USDC")[1] == 2 * (250 * USDC + 125_000)
    before = run.state()
    events = run(AmendOrder.of(seq=0, ts=0, account=1, symbol=SYMBOL, order_id=order_id, price=0, qty=10**7))
    assert events[0].code == Reject.INSUFFICIENT_FUNDS and run.state() == before


def test_amend_down_releases_the_difference(run: Driver) -> None:
    order_id = run.place(1, SELL, 25_000, 1_000)[0].order_id
    run(AmendOrder.of(seq=0, ts=0, account=1, symbol=SYMBOL, order_id=order_id, price=0, qty=400))
    assert run.engine.balance(1, "TSLAx")[1] == 400 * 10**6


def test_stp_decrement_releases_both_holds(run: Driver) -> None:
    run.place(1, SELL, 25_000, 1_000)
    events = run.place(1, BUY, 25_000, 400, stp=Stp.DECREMENT)
    assert not any(isinstance(e, Fill) for e in events)
    assert run.engine.balance(1, "TSLAx")[1] == 600 * 10**6
    assert run.engine.balance(1, "USDC")[1] == 0


def test_deposits_are_applied_once_per_reference(run: Driver) -> None:
    events = run(Deposit.of(seq=0, ts=0, account=1, asset="USDC", amount=5, ref="u1"))
    assert events[0].code == Reject.DUPLICATE_DEPOSIT


def test_withdrawal_takes_only_available_funds(run: Driver) -> None:
    run.place(1, SELL, 25_000, 50_000)  # holds 50 shares
    events = run(Withdraw.of(seq=0, ts=0, account=1, asset="TSLAx", amount=60 * SHARE))
    assert events[0].code == Reject.INSUFFICIENT_FUNDS
    events = run(Withdraw.of(seq=0, ts=0, account=1, asset="TSLAx", amount=50 * SHARE))
    assert events[0].amount == 50 * SHARE and run.engine.balance(1, "TSLAx") == (0, 50 * SHARE)


def test_commands_out_of_sequence_or_back_in_time_raise(run: Driver) -> None:
    seq = run.engine.seq
    with pytest.raises(SequenceError):
        run.engine.apply(Tick.of(seq=seq + 2, ts=run.ts + 1))
    with pytest.raises(SequenceError):
        run.engine.apply(Tick.of(seq=seq + 1, ts=run.ts - 1))


def test_every_event_carries_the_commands_sequence_number(run: Driver) -> None:
    run.place(1, SELL, 25_000, 10)
    events = run.place(2, BUY, 25_000, 20, tif=TimeInForce.IOC)
    assert {e.seq for e in events} == {run.engine.seq}


def test_cross_pair_scales_base_and_quote_exactly() -> None:
    config = MarketConfig(
        assets=(AssetConfig("TSLAx", 18, 9), AssetConfig("WBTC", 8, 8)),
        symbols=(SymbolConfig("TSLAx-WBTC", "TSLAx", "WBTC", tick_size=100, lot_size=10**7, taker_bps=8),),
    )
    driver = Driver(Engine(config))
    driver(Deposit.of(seq=0, ts=0, account=1, asset="WBTC", amount=10**8, ref="w"))
    driver(Deposit.of(seq=0, ts=0, account=2, asset="TSLAx", amount=SHARE, ref="t"))
    driver(PlaceOrder.of(seq=0, ts=0, account=2, symbol="TSLAx-WBTC", side=SELL, order_type=1,
                         price=2_500, qty=100, tif=1, post_only=False, stp=2, client_order_id=None,
                         expire_at=0))  # fmt: skip
    events = driver(PlaceOrder.of(seq=0, ts=0, account=1, symbol="TSLAx-WBTC", side=BUY, order_type=1,
                                  price=2_500, qty=100, tif=1, post_only=False, stp=2, client_order_id=None,
                                  expire_at=0))  # fmt: skip
    fill = events[1]
    assert fill.quote_qty == 250_000  # 1 share at 0.0025 BTC = 250,000 sat
    assert driver.engine.balance(1, "TSLAx") == (SHARE, 0)
    assert driver.engine.balance(1, "WBTC") == (10**8 - 250_000 - 200, 0)


def test_market_config_refuses_a_lot_that_is_not_a_whole_quote_unit() -> None:
    with pytest.raises(ValueError, match="whole quote unit"):
        MarketConfig(
            assets=(AssetConfig("TSLAx", 18, 9), AssetConfig("WBTC", 8, 8)),
            symbols=(SymbolConfig("TSLAx-WBTC", "TSLAx", "WBTC", tick_size=100, lot_size=10**6),),
        )


def test_a_price_of_the_wrong_type_is_rejected_not_raised(run: Driver) -> None:
    before = run.state()
    for price in ("25000", 250.0):
        events = run.place(1, BUY, price, 10)
        assert [type(e) for e in events] == [Rejected] and events[0].code == Reject.INVALID_PRICE
    assert run.state() == before


def test_an_unknown_command_is_refused_and_changes_nothing(run: Driver) -> None:
    seq, ts = run.engine.seq, run.engine.ts
    with pytest.raises(TypeError):
        run.engine.apply((99, seq + 1, ts + 5))
    assert (run.engine.seq, run.engine.ts) == (seq, ts)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("order_type", [1], Reject.INVALID_ORDER_TYPE),
        ("tif", {"gtc": 1}, Reject.INVALID_TIME_IN_FORCE),
        ("stp", [2], Reject.INVALID_STP),
        ("side", [1], Reject.INVALID_SIDE),
        ("tif", "GTC", Reject.INVALID_TIME_IN_FORCE),
    ],
)
def test_a_field_of_the_wrong_type_is_rejected_not_raised(run: Driver, field: str, value, code) -> None:  # noqa: ANN001
    before = run.state()
    fields = {"side": BUY, field: value}
    side = fields.pop("side")
    events = run.place(1, side, 25_000, 10, **fields)
    assert [type(e) for e in events] == [Rejected] and events[0].code == code
    assert run.state() == before
