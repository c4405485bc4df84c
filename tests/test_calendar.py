"""The session table: NYSE days from pandas_market_calendars, extended sessions around them, in
New York time across daylight saving; checked against the library and by hand for 2025-2027."""

from __future__ import annotations

import datetime as dt

import pandas_market_calendars as market_calendars
import pytest

from bluebook.calendar import NEW_YORK, session_table
from matcher.sessions import Session, SessionTable

UTC = dt.UTC
NS = 1_000_000_000


@pytest.fixture(scope="module")
def table() -> SessionTable:
    """2025-01-01 .. 2027-12-31 (New York dates)."""
    middle = dt.datetime(2026, 7, 2, 12, tzinfo=UTC)
    return session_table(middle, days_back=(middle.date() - dt.date(2025, 1, 1)).days,
                         days_ahead=(dt.date(2027, 12, 31) - middle.date()).days)  # fmt: skip


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).timestamp()) * NS


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * NS


def test_every_regular_session_matches_the_library_to_the_nanosecond(table: SessionTable) -> None:
    schedule = market_calendars.get_calendar("NYSE").schedule(start_date="2025-01-01", end_date="2027-12-31")
    assert len(schedule) > 700
    for opened, closed in zip(schedule["market_open"], schedule["market_close"], strict=True):
        open_ns, close_ns = int(opened.timestamp()) * NS, int(closed.timestamp()) * NS
        assert table.session_at(open_ns - 1) is Session.PRE
        assert table.session_at(open_ns) is Session.REGULAR
        assert table.session_at(close_ns - 1) is Session.REGULAR
        assert table.session_at(close_ns) is Session.POST
    assert len(table.regular_closes) == len(schedule)


def test_the_2026_holidays_are_closed_all_day(table: SessionTable) -> None:
    holidays = [(1, 1), (1, 19), (2, 16), (4, 3), (5, 25), (6, 19), (7, 3), (9, 7), (11, 26), (12, 25)]
    for month, day in holidays:
        for hour in (5, 10, 14, 18):
            assert table.session_at(ny(2026, month, day, hour)) is Session.CLOSED, (month, day, hour)
    # The evening before a holiday has no overnight session; the holiday evening before a
    # trading day has one.
    assert table.session_at(ny(2026, 11, 25, 21)) is Session.CLOSED
    assert table.session_at(ny(2026, 11, 26, 21)) is Session.OVERNIGHT


def test_the_day_after_thanksgiving_2026_closes_early(table: SessionTable) -> None:
    assert table.session_at(ny(2026, 11, 27, 12, 59)) is Session.REGULAR
    assert table.session_at(utc(2026, 11, 27, 18)) is Session.POST  # 13:00 New York
    assert table.session_at(ny(2026, 11, 27, 16, 59)) is Session.POST
    assert table.session_at(ny(2026, 11, 27, 17)) is Session.CLOSED  # post ends at 17:00
    assert table.session_at(ny(2026, 11, 27, 20)) is Session.CLOSED  # Saturday does not trade
    assert table.last_regular_close(ny(2026, 11, 28, 12)) == utc(2026, 11, 27, 18)


def test_the_2026_clock_changes_move_the_sessions_in_utc(table: SessionTable) -> None:
    # 2026-03-08: clocks go forward; the open moves from 14:30 to 13:30 UTC.
    assert table.session_at(utc(2026, 3, 6, 14, 29)) is Session.PRE
    assert table.session_at(utc(2026, 3, 6, 14, 30)) is Session.REGULAR
    assert table.session_at(utc(2026, 3, 9, 13, 29)) is Session.PRE
    assert table.session_at(utc(2026, 3, 9, 13, 30)) is Session.REGULAR
    assert table.session_at(utc(2026, 3, 9, 0, 0) - 1) is Session.CLOSED  # Sunday 19:59:59 EDT
    assert table.session_at(utc(2026, 3, 9, 0, 0)) is Session.OVERNIGHT  # Sunday 20:00 EDT
    # 2026-11-01: clocks go back; the open moves from 13:30 to 14:30 UTC.
    assert table.session_at(utc(2026, 10, 30, 13, 30)) is Session.REGULAR
    assert table.session_at(utc(2026, 11, 2, 14, 29)) is Session.PRE
    assert table.session_at(utc(2026, 11, 2, 14, 30)) is Session.REGULAR
    assert table.session_at(utc(2026, 11, 2, 1, 0) - 1) is Session.CLOSED  # Sunday 19:59:59 EST
    assert table.session_at(utc(2026, 11, 2, 1, 0)) is Session.OVERNIGHT
    assert table.session_at(utc(2026, 11, 2, 9, 0)) is Session.PRE  # 04:00 EST


def test_a_normal_week_by_hand(table: SessionTable) -> None:
    day = (2026, 12, 2)  # a Wednesday
    overnight, pre, regular, post = Session.OVERNIGHT, Session.PRE, Session.REGULAR, Session.POST
    expected = [((3, 59), overnight), ((4, 0), pre), ((9, 29), pre), ((9, 30), regular), ((15, 59), regular),
                ((16, 0), post), ((19, 59), post), ((20, 0), overnight), ((23, 59), overnight)]  # fmt: skip
    for (hour, minute), session in expected:
        assert table.session_at(ny(*day, hour, minute)) is session, (hour, minute)
    assert table.session_at(ny(2026, 12, 4, 20)) is Session.CLOSED  # Friday night
    assert table.session_at(ny(2026, 12, 5, 12)) is Session.CLOSED  # Saturday
    assert table.session_at(ny(2026, 12, 6, 20)) is Session.OVERNIGHT  # Sunday night


def test_every_edge_plus_and_minus_one_nanosecond(table: SessionTable) -> None:
    for index, edge in enumerate(table.edges[1:], start=1):
        assert table.session_at(edge - 1) is table.kinds[index - 1]
        assert table.session_at(edge) is table.kinds[index]
        assert table.next_edge(edge - 1) == edge
    assert table.session_at(table.start - 1) is Session.CLOSED
    assert table.session_at(table.end) is Session.CLOSED and table.next_edge(table.end) is None


def test_operator_overrides_close_a_day_or_end_it_early() -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    table = session_table(now, closed_days=[dt.date(2026, 12, 3)],
                          early_closes={dt.date(2026, 12, 4): dt.time(12, 0)})  # fmt: skip
    assert table.session_at(ny(2026, 12, 3, 11)) is Session.CLOSED
    assert table.session_at(ny(2026, 12, 2, 21)) is Session.CLOSED  # no overnight into a closed day
    assert table.session_at(ny(2026, 12, 3, 21)) is Session.OVERNIGHT  # into Friday
    assert table.session_at(ny(2026, 12, 4, 11, 59)) is Session.REGULAR
    assert table.session_at(ny(2026, 12, 4, 12)) is Session.POST
    assert table.session_at(ny(2026, 12, 4, 17)) is Session.CLOSED


def test_the_default_span_is_a_week_back_and_400_days_ahead() -> None:
    now = dt.datetime(2026, 11, 26, 12, tzinfo=UTC)
    table = session_table(now)
    assert table.start == ny(2026, 11, 19, 0)
    assert table.end == ny(2028, 1, 1, 0)  # through 2027-12-31, 400 days on
    assert table.session_at(int(now.timestamp()) * NS) is Session.CLOSED  # Thanksgiving


def test_a_malformed_table_is_refused() -> None:
    with pytest.raises(ValueError):
        SessionTable((1, 1), (Session.PRE, Session.REGULAR), 5, ())
    with pytest.raises(ValueError):
        SessionTable((1, 2), (Session.PRE, Session.PRE), 5, ())
