"""Journal payloads: every command round-trips exactly; damaged payloads are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Deposit,
    PlaceOrder,
    SetReference,
    SetSessions,
    SetTradingStatus,
    Tick,
    Withdraw,
)
from store.codec import ENCODE_ERRORS, STAMPERS, CodecError, decode, encode

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
small = st.integers(min_value=0, max_value=255)
names = st.text(min_size=0, max_size=12)
optional_names = st.none() | names
int_lists = st.lists(ints).map(tuple)

commands = st.one_of(
    st.builds(
        lambda *v: tuple(PlaceOrder((1, *v))),
        *(
            ints,
            ints,
            ints,
            names,
            small,
            small,
            ints,
            ints,
            small,
            st.booleans(),
            small,
            optional_names,
            ints,
        ),
    ),
    st.builds(lambda *v: tuple(CancelOrder((2, *v))), ints, ints, ints, names, ints, optional_names),
    st.builds(lambda *v: tuple(CancelAll((3, *v))), ints, ints, ints, names),
    st.builds(lambda *v: tuple(AmendOrder((4, *v))), ints, ints, ints, names, ints, ints, ints),
    st.builds(lambda *v: tuple(Deposit((5, *v))), ints, ints, ints, names, ints, names),
    st.builds(lambda *v: tuple(Withdraw((6, *v))), ints, ints, ints, names, ints),
    st.builds(lambda *v: tuple(Tick((7, *v))), ints, ints),
    st.builds(lambda *v: tuple(SetReference((8, *v))), ints, ints, ints, names, ints, ints, names, names),
    st.builds(
        lambda *v: tuple(SetSessions((9, *v))),
        ints,
        ints,
        ints,
        st.lists(ints).map(tuple),
        st.lists(small).map(tuple),
        ints,
        st.lists(ints).map(tuple),
    ),  # fmt: skip
    st.builds(lambda *v: tuple(SetTradingStatus((10, *v))), ints, ints, ints, names, ints, ints),
)


@given(commands)
def test_every_command_round_trips_exactly(command: tuple) -> None:
    assert decode(encode(command)) == command


def test_a_typical_order_is_compact() -> None:
    order = PlaceOrder.of(seq=1_000_000, ts=1_767_225_600_000_000_000, account=42, symbol="TSLAx-USDC",
                          side=1, order_type=1, price=25_000, qty=1_000, tif=1, post_only=False, stp=2,
                          client_order_id=None, expire_at=0)  # fmt: skip
    assert len(encode(order)) <= 80


def test_typed_and_plain_commands_encode_alike() -> None:
    typed = CancelAll.of(seq=3, ts=4, account=5, symbol="X")
    assert encode(typed) == encode(tuple(typed))


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x63", b"\x07\x02", b"\x07\x02\x04\x00", b"\x03\x02\x04\x06\x05ab"],
)
def test_damaged_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(CodecError):
        decode(payload)


@pytest.mark.parametrize(
    "command",
    [
        (1, 2, 3),
        (7, 1, 2.5),
        (7, 2**63, 0),
        (3, 1, 2, 3, None),
        (3, 1, 2, 3, "x" * 300),
        (3, 1, 2, 3, 4),
        (99, 1, 2),
    ],
)
def test_a_command_that_does_not_fit_its_schema_is_refused(command: tuple) -> None:
    with pytest.raises(CodecError):
        encode(command)


@given(commands, ints, ints)
def test_a_stamper_gives_the_stamped_command_and_its_encoding(command: tuple, seq: int, ts: int) -> None:
    unstamped = (command[0], 0, 0, *command[3:])
    stamped, payload = STAMPERS[command[0]](unstamped, seq, ts)
    assert stamped == (command[0], seq, ts, *command[3:])
    assert payload == encode(stamped)


malformed_orders_and_cancels = [
    (1, 0, 0, 5, "X", 1, 1, 100, 2.5, 1, False, 2, None, 0),  # a float quantity
    (1, 0, 0, 5, "X", 1, 1, 100, 2, 1, False, 2, None),  # a field short
    (1, 0, 0, 5, 7, 1, 1, 100, 2, 1, False, 2, None, 0),  # a symbol that is not a string
    (1, 0, 0, 5, "X", 1, 1, 100, 2, 1, False, 2, "c" * 300, 0),  # a client id too long
    (1, 0, 0, 5, ["X"], 1, 1, 100, 2, 1, False, 2, None, 0),  # an unhashable symbol
    (2, 0, 0, 5, "X", 2**63, None),  # an order id out of int64
    (2, 0, 0, 5, "X", 9, 3),  # a client id that is not a string
]


@pytest.mark.parametrize("command", malformed_orders_and_cancels)
def test_the_hot_stampers_refuse_what_the_encoders_refuse(command: tuple) -> None:
    with pytest.raises(CodecError):
        encode((command[0], 1, 2, *command[3:]))
    with pytest.raises(ENCODE_ERRORS):
        STAMPERS[command[0]](command, 1, 2)
