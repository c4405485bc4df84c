"""US equity sessions as data: a compact sorted table of session edges, looked up by bisection.

The table is built outside the matcher (``bluebook.calendar``, from the NYSE calendar) and handed
in, so the matcher stays pure and a replay sees the same sessions as the original run (the table
goes into the journal and the snapshot with the rest of the configuration).

Invariants of a ``SessionTable``: ``edges`` strictly increase and end before ``end``; ``kinds[i]``
is the session from ``edges[i]`` (inclusive) to ``edges[i + 1]`` (exclusive; ``end`` for the
last); two neighbours never have the same kind; ``regular_closes`` holds the end of every regular
session in the span, ascending. Times are
nanoseconds since the Unix epoch (UTC), as command times are.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from enum import IntEnum


class Session(IntEnum):
    """The session a moment belongs to; the values are stable (they are journaled)."""

    CLOSED = 0  # weekend, holiday, and the gap after an early close's post session
    PRE = 1  # 04:00-09:30 New York time
    REGULAR = 2  # 09:30-16:00 (13:00 on early-close days)
    POST = 3  # 16:00-20:00 (13:00-17:00 on early-close days)
    OVERNIGHT = 4  # 20:00-04:00, only when the next day is a trading day


@dataclass(frozen=True, slots=True)
class SessionTable:
    edges: tuple[int, ...]
    kinds: tuple[Session, ...]
    end: int
    regular_closes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.kinds) or not self.edges:
            raise ValueError("a session table needs one kind per edge, and at least one edge")
        if any(b <= a for a, b in zip(self.edges, (*self.edges[1:], self.end), strict=True)):
            raise ValueError("session edges must strictly increase")
        if any(b == a for a, b in zip(self.kinds, self.kinds[1:], strict=False)):
            raise ValueError("neighbouring sessions must differ")

    @property
    def start(self) -> int:
        return self.edges[0]

    def covers(self, ts: int) -> bool:
        """Whether ``ts`` lies in the table's span, ``[start, end)``."""
        return self.start <= ts < self.end

    def session_at(self, ts: int) -> Session:
        """The session at ``ts``; outside the table's span, ``CLOSED`` (the safe answer)."""
        if not self.covers(ts):
            return Session.CLOSED
        return self.kinds[bisect_right(self.edges, ts) - 1]

    def span_at(self, ts: int) -> tuple[Session, int, int]:
        """The session at ``ts`` and the span ``[start, end)`` it holds unchanged around ``ts``
        (outside the table: ``CLOSED`` up to the table's start, or from its end on)."""
        if ts < self.start:
            return Session.CLOSED, -(2**63), self.start
        if ts >= self.end:
            return Session.CLOSED, self.end, 2**63
        index = bisect_right(self.edges, ts) - 1
        following = self.edges[index + 1] if index + 1 < len(self.edges) else self.end
        return self.kinds[index], self.edges[index], following

    def next_edge(self, ts: int) -> int | None:
        """The first edge after ``ts`` (when the session next changes; ``end`` for the last), or
        None at or past the end."""
        if ts >= self.end:
            return None
        index = bisect_right(self.edges, ts)
        return self.edges[index] if index < len(self.edges) else self.end

    def last_regular_close(self, ts: int) -> int | None:
        """The end of the last regular session at or before ``ts``, or None if none is known."""
        index = bisect_right(self.regular_closes, ts)
        return self.regular_closes[index - 1] if index else None
