"""Gating rules: what each session allows, and the price band around the reference.

Pure data and arithmetic, used by the engine on every order when gating is on. Prices are ticks,
times nanoseconds, rates basis points; nothing here reads a clock.

Defaults (``GatingRules()``), per session:

- regular: a band of 5% around the reference for tier 1 symbols, 10% for tier 2, doubled in the
  first 15 minutes after the open and the last 25 minutes before the close (09:30-09:45 and
  15:35-16:00 on a normal day); market and limit orders; full size;
- pre, post, overnight: 10%; limit orders only; sizes capped at half the symbol's maximum;
- closed (weekends, holidays): 10% around the last regular close, re-anchored to the book's mid
  when the mid reaches 90% of the way to a band edge, at most twice per direction per closure;
  limit orders only; sizes capped at a quarter of the maximum.

A reference older than its session's staleness limit (judged by command time) halts the symbol,
as does having no reference at all.

Band edges round inwards to whole ticks (the low edge up, the high edge down), so no price
outside the exact band is ever accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matcher.enums import OrderType, Side
from matcher.rejects import Reject
from matcher.sessions import Session, SessionTable

NS_PER_S = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_S


@dataclass(frozen=True, slots=True)
class SessionRules:
    band_bps: int
    market_orders: bool
    size_cap_pct: int  # of the symbol's max quantity
    stale_after_ns: int


def _default_sessions() -> dict[Session, SessionRules]:
    extended = SessionRules(
        band_bps=1_000, market_orders=False, size_cap_pct=50, stale_after_ns=60 * NS_PER_S
    )
    return {
        Session.REGULAR: SessionRules(
            band_bps=500, market_orders=True, size_cap_pct=100, stale_after_ns=10 * NS_PER_S
        ),
        Session.PRE: extended,
        Session.POST: extended,
        Session.OVERNIGHT: SessionRules(1_000, False, 50, 120 * NS_PER_S),
        Session.CLOSED: SessionRules(1_000, False, 25, 0),  # anchored to the last close: never stale
    }


@dataclass(frozen=True, slots=True)
class GatingRules:
    sessions: dict[Session, SessionRules] = field(default_factory=_default_sessions)
    #: Regular-session band by tier (tier 1: the default above; tier 2: wider).
    regular_band_bps_by_tier: tuple[int, int] = (500, 1_000)
    doubled_after_open_ns: int = 15 * NS_PER_MINUTE
    doubled_before_close_ns: int = 25 * NS_PER_MINUTE
    reanchor_at_pct: int = 90
    reanchors_per_direction: int = 2
    reopening_auction_ns: int = 5 * NS_PER_MINUTE

    def band_bps(self, session: Session, tier: int, ts: int, session_start: int, session_end: int) -> int:
        """The band's half-width in basis points for a symbol of ``tier`` at ``ts``, inside a
        session running from ``session_start`` to ``session_end``."""
        if session is not Session.REGULAR:
            return self.sessions[session].band_bps
        width = self.regular_band_bps_by_tier[tier - 1]
        near_open = ts < session_start + self.doubled_after_open_ns
        near_close = ts >= session_end - self.doubled_before_close_ns
        return 2 * width if near_open or near_close else width

    def is_stale(self, session: Session, reference_ns: int, ts: int) -> bool:
        limit = self.sessions[session].stale_after_ns
        return limit > 0 and ts - reference_ns > limit

    def size_cap(self, session: Session, max_qty: int) -> int:
        """The largest quantity (lots) an order may have in ``session``."""
        return max_qty * self.sessions[session].size_cap_pct // 100


def band(reference: int, bps: int) -> tuple[int, int]:
    """``[low, high]`` in ticks around ``reference`` (ticks), rounded inwards to whole ticks."""
    low = -(-reference * (10_000 - bps) // 10_000)  # ceiling
    high = reference * (10_000 + bps) // 10_000  # floor
    return low, high


def should_reanchor(mid: int, anchor: int, low: int, high: int, at_pct: int) -> int:
    """+1 or -1 when the book's mid has moved ``at_pct`` of the way from the anchor to the upper or
    lower band edge (re-anchor in that direction), else 0."""
    if mid >= anchor and (mid - anchor) * 100 >= (high - anchor) * at_pct and high > anchor:
        return 1
    if mid <= anchor and (anchor - mid) * 100 >= (anchor - low) * at_pct and low < anchor:
        return -1
    return 0


SYMBOL_HALTED = int(Reject.SYMBOL_HALTED)
ORDER_TYPE_NOT_ALLOWED = int(Reject.ORDER_TYPE_NOT_ALLOWED)
PRICE_OUTSIDE_BAND = int(Reject.PRICE_OUTSIDE_BAND)
SIZE_ABOVE_SESSION_CAP = int(Reject.SIZE_ABOVE_SESSION_CAP)
MARKET = int(OrderType.MARKET)
BUY = int(Side.BUY)


class Gate:
    """The engine's gating state: the session table, each symbol's latest reference, and, per
    symbol, what gating allows until the next moment that can change it (a session edge, the end
    of a doubled-band window, the reference going stale), so most orders pay one dict lookup and
    a few comparisons.

    A symbol without a reference, or with one older than its session's staleness limit, is
    halted: its orders are refused with ``SYMBOL_HALTED``. The closed session's band is taken
    around the latest reference (the last regular close's re-anchoring is not built yet).
    """

    __slots__ = ("rules", "table", "references", "tiers", "_allowed")

    def __init__(self, table: SessionTable, rules: GatingRules | None = None) -> None:
        self.rules = rules or GatingRules()
        self.table = table
        #: symbol -> (reference price in ticks, source time in ns)
        self.references: dict[str, tuple[int, int]] = {}
        self.tiers: dict[str, int] = {}
        #: symbol -> (valid from, valid until, stale at, low, high, market orders, size cap %)
        self._allowed: dict[str, tuple[int, int, int, int, int, bool, int]] = {}

    def set_reference(self, symbol: str, price: int, source_ns: int) -> None:
        self.references[symbol] = (price, source_ns)
        self._allowed.pop(symbol, None)

    def set_table(self, table: SessionTable) -> None:
        self.table = table
        self._allowed.clear()

    def check(
        self, symbol: str, side: int, order_type: int, price: int, qty: int, max_qty: int, ts: int
    ) -> tuple[int, int]:
        """(0, the price to use) for an order gating allows, else (its reject code, price). A
        market order's protection price is the band's edge, or its own if that is inside."""
        allowed = self._allowed.get(symbol)
        if allowed is None or not allowed[0] <= ts < allowed[1]:
            if symbol not in self.references:
                return SYMBOL_HALTED, price
            allowed = self._allowed[symbol] = self._allowed_at(symbol, ts)
        _, _, stale_at, low, high, market_orders, cap_pct = allowed
        if ts > stale_at:
            return SYMBOL_HALTED, price
        if order_type == MARKET and not market_orders:
            return ORDER_TYPE_NOT_ALLOWED, price
        if qty * 100 > max_qty * cap_pct:
            return SIZE_ABOVE_SESSION_CAP, price
        if order_type == MARKET:  # bounded by the band's edge, whatever protection it asked for
            if side == BUY:
                return 0, min(price, high) if price else high
            return 0, max(price, low)
        if not low <= price <= high:
            return PRICE_OUTSIDE_BAND, price
        return 0, price

    def view(self, symbol: str, ts: int) -> dict[str, object]:
        """What gating says of ``symbol`` at ``ts``, as plain data: the session, whether it is
        halted and why, its reference (ticks, source time) and band (ticks)."""
        session = self.table.span_at(ts)[0]
        reference = self.references.get(symbol)
        if reference is None:
            return {"session": session.name.lower(), "halted": True, "reason": "no reference price yet"}
        low, high = self.band(symbol, ts)
        stale = self.rules.is_stale(session, reference[1], ts)
        return {
            "session": session.name.lower(), "halted": stale,
            "reason": "the reference price is stale" if stale else None,
            "reference": reference[0], "reference_ns": reference[1], "band": [low, high],
        }  # fmt: skip

    def band(self, symbol: str, ts: int) -> tuple[int, int]:
        """``[low, high]`` in ticks for ``symbol`` at ``ts`` (it must have a reference)."""
        allowed = self._allowed_at(symbol, ts)
        return allowed[3], allowed[4]

    def _allowed_at(self, symbol: str, ts: int) -> tuple[int, int, int, int, int, bool, int]:
        rules = self.rules
        session, start, end = self.table.span_at(ts)
        reference, source_ns = self.references[symbol]
        width = rules.band_bps(session, self.tiers.get(symbol, 1), ts, start, end)
        if session is Session.REGULAR:  # the doubled windows split the session
            opening, closing = start + rules.doubled_after_open_ns, end - rules.doubled_before_close_ns
            start, end = (
                (start, opening) if ts < opening else (opening, closing) if ts < closing else (closing, end)
            )
        limit = rules.sessions[session].stale_after_ns
        stale_at = source_ns + limit if limit else 2**63
        low, high = band(reference, width)
        session_rules = rules.sessions[session]
        return start, end, stale_at, low, high, session_rules.market_orders, session_rules.size_cap_pct

    def export(self) -> dict[str, object]:
        table = self.table
        return {
            "edges": list(table.edges), "kinds": [int(k) for k in table.kinds], "end": table.end,
            "regular_closes": list(table.regular_closes),
            "references": {name: list(ref) for name, ref in sorted(self.references.items())},
        }  # fmt: skip

    @classmethod
    def restore(cls, state: dict[str, object]) -> Gate:
        gate = cls(table_of(state["edges"], state["kinds"], state["end"], state["regular_closes"]))  # type: ignore[arg-type]
        references = state["references"]
        assert isinstance(references, dict)
        gate.references = {name: (ref[0], ref[1]) for name, ref in references.items()}
        return gate


def table_of(edges: Sequence[int], kinds: Sequence[int], end: int, closes: Sequence[int]) -> SessionTable:
    """A session table from plain data (a command's fields, a snapshot's)."""
    return SessionTable(tuple(edges), tuple(Session(k) for k in kinds), end, tuple(closes))
