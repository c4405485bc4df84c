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

from dataclasses import dataclass, field

from matcher.sessions import Session

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
