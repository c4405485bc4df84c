"""The NYSE calendar turned into a ``matcher.sessions.SessionTable``, once, at start.

pandas_market_calendars gives each trading day's regular open and close (holidays, early closes
and daylight saving included); the extended sessions are placed around them in New York time:

- pre-market 04:00 to the open; regular from the open to the close;
- post-market from the close to 20:00, or to 17:00 on an early-close day (closed from then on);
- overnight 20:00 to 04:00 the next morning, but only when that next day is a trading day;
- every other moment is ``CLOSED`` (weekends, holidays; trading continues there under the
  weekend rules of the gating layer).

An operator override adds ad-hoc closures (whole days treated as holidays) and early closes (a
day's regular session ending at a given New York time). The span defaults to 7 days back and 400
days ahead of ``now``. pandas is used here only; lookups afterwards are a bisection in the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

import pandas_market_calendars as market_calendars

from matcher.sessions import Session, SessionTable

NEW_YORK = ZoneInfo("America/New_York")
PRE_OPEN = dt.time(4, 0)
POST_CLOSE = dt.time(20, 0)
EARLY_POST_CLOSE = dt.time(17, 0)
#: A regular close before this (New York time) makes an early-close day.
NORMAL_CLOSE = dt.time(16, 0)
DAYS_BACK = 7
DAYS_AHEAD = 400


def session_table(
    now: dt.datetime,
    *,
    days_back: int = DAYS_BACK,
    days_ahead: int = DAYS_AHEAD,
    closed_days: Iterable[dt.date] = (),
    early_closes: Mapping[dt.date, dt.time] | None = None,
) -> SessionTable:
    """The session table from ``days_back`` days before ``now`` to ``days_ahead`` after it."""
    first = now.astimezone(NEW_YORK).date() - dt.timedelta(days=days_back)
    last = now.astimezone(NEW_YORK).date() + dt.timedelta(days=days_ahead)
    regular = nyse_regular_sessions(
        first - dt.timedelta(days=1), last + dt.timedelta(days=1), closed_days, early_closes or {}
    )
    return build_table(first, last, regular)


def nyse_regular_sessions(
    first: dt.date, last: dt.date, closed_days: Iterable[dt.date], early_closes: Mapping[dt.date, dt.time]
) -> dict[dt.date, tuple[dt.datetime, dt.datetime]]:
    """Each trading day's regular (open, close) in New York time, overrides applied."""
    schedule = market_calendars.get_calendar("NYSE").schedule(start_date=first, end_date=last)
    closed = set(closed_days)
    sessions: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
    for opened, closes in zip(schedule["market_open"], schedule["market_close"], strict=True):
        open_at = opened.to_pydatetime().astimezone(NEW_YORK)
        close_at = closes.to_pydatetime().astimezone(NEW_YORK)
        day = open_at.date()
        if day in closed:
            continue
        if day in early_closes:
            close_at = min(close_at, _at(day, early_closes[day]))
        sessions[day] = (open_at, close_at)
    return sessions


def build_table(
    first: dt.date, last: dt.date, regular: Mapping[dt.date, tuple[dt.datetime, dt.datetime]]
) -> SessionTable:
    """Lay the sessions of the days ``first``..``last`` (New York dates) out as edges, from
    midnight before ``first`` to midnight after ``last``. ``regular`` must include the day before
    ``first`` and the day after ``last`` when they trade (an overnight session crosses midnight)."""
    spans: list[tuple[dt.datetime, Session]] = [
        (_at(first - dt.timedelta(days=2), dt.time(0)), Session.CLOSED)
    ]
    day = first - dt.timedelta(days=1)
    while day <= last:
        following = day + dt.timedelta(days=1)
        if day in regular:
            opened, closed = regular[day]
            early = closed.time() < NORMAL_CLOSE
            spans += [
                (_at(day, PRE_OPEN), Session.PRE),
                (opened, Session.REGULAR),
                (closed, Session.POST),
                (_at(day, EARLY_POST_CLOSE if early else POST_CLOSE), Session.CLOSED),
            ]
        if following in regular:
            spans.append((_at(day, POST_CLOSE), Session.OVERNIGHT))
            spans.append((_at(following, PRE_OPEN), Session.CLOSED))  # the pre session follows
        day = following
    start, end = _ns(_at(first, dt.time(0))), _ns(_at(last + dt.timedelta(days=1), dt.time(0)))
    edges: list[int] = []
    kinds: list[Session] = []
    for at, kind in spans:
        ns = max(_ns(at), start)  # what began before the span is in force at its start
        if ns >= end:
            break
        if edges and ns == edges[-1]:  # a later span starting at the same moment wins
            edges.pop()
            kinds.pop()
        if kinds and kinds[-1] == kind:
            continue
        edges.append(ns)
        kinds.append(kind)
    closes = tuple(_ns(closed) for _, closed in sorted(regular.values()) if start <= _ns(closed) < end)
    return SessionTable(tuple(edges), tuple(kinds), end, closes)


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=NEW_YORK)


def _ns(moment: dt.datetime) -> int:
    """Exact nanoseconds since the epoch (whole seconds, so no float rounding)."""
    return int(moment.timestamp()) * 1_000_000_000
