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

Halts (``matcher.halts``): a symbol halts when it has no reference yet, when its reference grows
older than its session's staleness limit (judged by command time), when its best bid sits at the
band's high edge or its best ask at the low edge for ``limit_state_ns`` (15 s) of command time, on
a corporate action, a paused token or an operator's halt (``SetTradingStatus``), and, every symbol
at once, when the index reference (``index_symbol``) falls 7%, 13% or 20% below its last regular
close in the regular session (each level once per day; levels 1 and 2 hold ``breaker_halt_ns``,
level 3 until the next session or an operator's resume). A halted symbol collects limit orders
without matching; the halt ends with the reopening auction once every cause is gone and
``reopening_auction_ns`` has passed since it began.

Time-driven changes (staleness, session edges, a halt's end, a limit state's 15 s) happen in
``advance(ts)``, which the engine runs before the first command whose time reaches ``next_due``:
the engine has no clock, so a halt ends, and its auction runs, on the first command of any kind
(the feed's ``SetReference`` every second is one) at or after its end. A limit state is watched
from the command that put the book at the edge, and looked at again before every later command
time while it lasts.

Session edges: orders resting when a session begins stay, whatever the new session allows (a
limit order above the new size cap or outside the new band is kept; market orders never rest),
and GTD orders expire by command time in every session. The first command of a new session
emits one ``SessionChanged`` per symbol.

The closed session's band is taken around the reference in force at the last regular close,
frozen for the closure; when the book's mid (looked at as each order arrives, on the book the
earlier commands left) reaches ``reanchor_at_pct`` of the way to an edge, the band re-anchors on
the mid, at most ``reanchors_per_direction`` times up and as many down per closure, each with a
``Reanchored`` event.

Band edges round inwards to whole ticks (the low edge up, the high edge down), so no price
outside the exact band is ever accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.auction import Uncross
from matcher.enums import OrderType, Side
from matcher.events import HALTED, REANCHORED, SESSION_CHANGED
from matcher.halts import DESCRIPTIONS, UNTIL_CLEARED, Halt, HaltReason
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
    limit_state_ns: int = 15 * NS_PER_S
    #: The reference symbol of the market-wide circuit breaker ("": none).
    index_symbol: str = ""
    breaker_levels_bps: tuple[int, ...] = (700, 1_300, 2_000)
    #: How long the breaker's levels below the last halt the market (the last: until cleared).
    breaker_halt_ns: int = 15 * NS_PER_MINUTE

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
#: ``check``'s codes for an order it lets through on the engine's slower path (all negative; a
#: reject code is positive): collect it without matching (its symbol is halted); look at the book's
#: mid first (the closed session's re-anchoring), then ``check(..., reviewed=True)``; place it
#: and watch for a limit state (a buy at the high edge, a sell at the low edge).
COLLECT = -1
REVIEW = -2
AT_EDGE = -3
NEVER = 1 << 63

Events = list[tuple[Any, ...]]
#: The best bid and ask of a symbol's book (None for an empty side).
Quotes = Callable[[str], tuple[int | None, int | None]]
#: What ``check`` caches per symbol: valid from, valid until, the band's inside (its edges
#: excluded), the band, market orders allowed, size cap %.
Allowed = tuple[int, int, int, int, int, int, bool, int]


class Gate:
    """The engine's gating state: the session table, each symbol's latest reference and halt,
    and, per symbol, what gating allows until the next moment that can change it (a session edge,
    the end of a doubled-band window, the reference going stale), so an order on a symbol that is
    not halted pays one dict lookup and a few comparisons.

    Invariants: every symbol without a reference is halted (``start``); ``advance(ts)`` has run
    for any ``ts >= next_due`` before ``check`` is asked about ``ts`` (the engine's housekeeping
    does it), so a cached entry never outlives its reference's freshness; a halted symbol has no
    cached entry; ``closes[s]`` is the reference in force at the regular close it names.
    """

    __slots__ = ("rules", "table", "references", "tiers", "halts", "closes", "anchors", "watch",
                 "breaker", "segment", "next_due", "_timed_due", "_allowed")  # fmt: skip

    def __init__(self, table: SessionTable, rules: GatingRules | None = None) -> None:
        self.rules = rules or GatingRules()
        self.table = table
        #: symbol -> (reference price in ticks, source time in ns)
        self.references: dict[str, tuple[int, int]] = {}
        self.tiers: dict[str, int] = {}
        self.halts: dict[str, Halt] = {}
        #: symbol -> (a regular close, the reference in force at it)
        self.closes: dict[str, tuple[int, int]] = {}
        #: symbol -> [the closure's start, the band's anchor, re-anchors up, re-anchors down],
        #: once the band re-anchored in that closure
        self.anchors: dict[str, list[int]] = {}
        #: symbol -> since when its book has been at a band edge (a limit state)
        self.watch: dict[str, int] = {}
        #: (the regular close the index is measured from, the highest breaker level hit since)
        self.breaker = (0, 0)
        #: (session, start, end) of the span ``advance`` last saw: a session, or a doubled-band
        #: window of the regular session
        self.segment = (int(Session.CLOSED), 0, 0)
        #: The command time from which ``advance`` must run (the engine's housekeeping).
        self.next_due = 0
        self._timed_due = 0
        self._allowed: dict[str, Allowed] = {}

    # ------------------------------------------------------------ commands

    def start(self, tiers: dict[str, int], ts: int, seq: int) -> Events:
        """Gate these symbols (name -> tier) from ``ts``: those without a reference halt (an
        opening halt: they reopen as soon as a fresh reference comes)."""
        self.tiers = dict(tiers)
        self.segment = self._segment_at(ts)
        events: Events = []
        for symbol in self.tiers:
            if symbol not in self.references:
                self.halts[symbol] = Halt(ts, opening=True)
                events += self._halt(symbol, HaltReason.NO_REFERENCE, ts, UNTIL_CLEARED, seq)
        self._timed_due = ts + 1
        self.next_due = ts + 1
        return events

    def set_table(self, table: SessionTable, ts: int) -> None:
        """Replace the session table; the next ``advance`` takes up the session it says."""
        self.table = table
        self._allowed.clear()
        self.segment = (self.segment[0], self.segment[1], ts)
        self._lower_due(ts)

    def set_reference(self, symbol: str, price: int, source_ns: int, ts: int, seq: int) -> Events:
        """Record a reference seen at command time ``ts``; a fresh one clears its symbol's
        reference causes; the index's may trip the circuit breaker (its events)."""
        close = self.table.last_regular_close(ts)
        old = self.references.get(symbol)
        if close is not None and old is not None and self.closes.get(symbol, (None,))[0] != close:
            self.closes[symbol] = (close, old[0])
        self.references[symbol] = (price, source_ns)
        self._allowed.pop(symbol, None)
        if symbol == self.rules.index_symbol:
            return self._trip_breaker(price, close, ts, seq)
        halt = self.halts.get(symbol)
        session = Session(self.segment[0])
        limit = self.rules.sessions[session].stale_after_ns
        if halt is not None and not self.rules.is_stale(session, source_ns, ts):
            halt.causes.pop(HaltReason.NO_REFERENCE, None)
            halt.causes.pop(HaltReason.STALE_REFERENCE, None)
            self._lower_due(ts)
        elif limit:
            self._lower_due(source_ns + limit + 1)  # when this reference goes stale
        return []

    def set_status(self, symbol: str, reason: HaltReason, on: bool, ts: int, seq: int) -> Events:
        """Turn an operated halt reason on or off for one symbol, or every one (``symbol`` "")."""
        events: Events = []
        for name in [symbol] if symbol else list(self.tiers):
            if on:
                events += self._halt(name, reason, ts, UNTIL_CLEARED, seq)
            elif name in self.halts:
                self.halts[name].causes.pop(reason, None)
        self._lower_due(ts)
        return events

    def advance(self, ts: int, seq: int, quotes: Quotes) -> tuple[Events, list[str]]:
        """Bring the state to command time ``ts``: session edges, stale references, causes that
        clear by themselves, limit states. Return the events and the symbols whose halt ends now
        (the engine runs their auctions, then calls ``resume``)."""
        events: Events = []
        if ts >= self._timed_due:
            events += self._timed_pass(ts, seq, quotes)
        if self.watch:
            events += self._watch_limit_states(ts, seq, quotes)
        collect_ns = self.rules.reopening_auction_ns
        reopening = []
        for symbol, halt in self.halts.items():
            at = halt.reopens_at(collect_ns)
            if at is not None and at <= ts:
                reopening.append(symbol)
        self.next_due = ts + 1 if self.watch else self._timed_due
        return events, reopening

    def resume(self, symbol: str) -> None:
        """End ``symbol``'s halt (after its auction)."""
        del self.halts[symbol]
        self._allowed.pop(symbol, None)

    def watch_book(self, symbol: str, ts: int, bid: int | None, ask: int | None) -> None:
        """Start watching a limit state if ``symbol``'s book is at a band edge (after the band or
        the book moved other than by an order ``check`` saw)."""
        if symbol in self.halts or symbol in self.watch or symbol not in self.references:
            return
        low, high = self.band(symbol, ts)
        if (bid is not None and bid >= high) or (ask is not None and ask <= low):
            self.watch[symbol] = ts
            self.next_due = min(self.next_due, ts + 1)

    def reanchor(self, symbol: str, ts: int, seq: int, bid: int | None, ask: int | None) -> Events:
        """In the closed session, move ``symbol``'s band to the book's mid if the mid reached
        ``reanchor_at_pct`` of the way to an edge and that direction has re-anchors left."""
        session, start, _ = self._segment_at(ts)
        if session != Session.CLOSED or bid is None or ask is None or symbol not in self.references:
            return []
        rules = self.rules
        width = rules.sessions[Session.CLOSED].band_bps
        entry = self._anchor(symbol, start, ts)
        low, high = band(entry[1], width)
        mid = (bid + ask) // 2
        direction = should_reanchor(mid, entry[1], low, high, rules.reanchor_at_pct)
        slot = 2 if direction > 0 else 3
        if not direction or entry[slot] >= rules.reanchors_per_direction:
            return []
        entry[1] = mid
        entry[slot] += 1
        self.anchors[symbol] = entry
        self._allowed.pop(symbol, None)
        low, high = band(mid, width)
        return [(REANCHORED, seq, symbol, mid, low, high, direction, entry[slot])]

    # ------------------------------------------------------------ orders

    def check(
        self, symbol: str, side: int, order_type: int, price: int, qty: int, max_qty: int, ts: int,
        reviewed: bool = False,
    ) -> tuple[int, int]:  # fmt: skip
        """(0, the price to use) for an order gating allows, a reject code (positive), or one of
        ``COLLECT``, ``REVIEW``, ``AT_EDGE`` (negative). A market order's protection price is the
        band's edge, or its own if that is inside."""
        allowed = self._allowed.get(symbol)
        if allowed is None or not allowed[0] <= ts < allowed[1]:
            if symbol in self.halts:
                return self._check_halted(symbol, order_type, price, qty, max_qty, ts), price
            allowed = self._allowed_at(symbol, ts)
            if allowed[1] > ts:
                self._allowed[symbol] = allowed
            elif not reviewed:  # the closed session: the band may re-anchor on the book's mid
                return REVIEW, price
        _, _, inside_low, inside_high, low, high, market_orders, cap_pct = allowed
        if order_type == MARKET and not market_orders:
            return ORDER_TYPE_NOT_ALLOWED, price
        if qty * 100 > max_qty * cap_pct:
            return SIZE_ABOVE_SESSION_CAP, price
        if order_type == MARKET:  # bounded by the band's edge, whatever protection it asked for
            if side == BUY:
                return 0, min(price, high) if price else high
            return 0, max(price, low)
        if not inside_low <= price <= inside_high:
            if not low <= price <= high:
                return PRICE_OUTSIDE_BAND, price
            if price == (high if side == BUY else low):
                self.watch.setdefault(symbol, ts)
                return AT_EDGE, price
        return 0, price

    def _check_halted(self, symbol: str, order_type: int, price: int, qty: int, max_qty: int, ts: int) -> int:
        """A halted symbol collects limit orders within the session's size cap and, once it has
        a reference, the band around it."""
        if order_type == MARKET:
            return SYMBOL_HALTED
        session = self.table.session_at(ts)
        if qty * 100 > max_qty * self.rules.sessions[session].size_cap_pct:
            return SIZE_ABOVE_SESSION_CAP
        if symbol in self.references:
            low, high = self.band(symbol, ts)
            if not low <= price <= high:
                return PRICE_OUTSIDE_BAND
        return COLLECT

    def auction_terms(self, symbol: str, ts: int) -> tuple[int, int, int]:
        """(reference, low, high) the reopening auction of ``symbol`` prices within: its band, or
        every price while it has no reference."""
        reference = self.references.get(symbol)
        if reference is None:
            return 0, 1, NEVER
        low, high = self.band(symbol, ts)
        return reference[0], low, high

    def indicate(self, symbol: str, uncross: Uncross | None) -> tuple[int, int, int] | None:
        """Note a halted symbol's auction indication; return it if it changed (to publish)."""
        halt = self.halts[symbol]
        indicative = (uncross.price, uncross.volume, uncross.imbalance) if uncross else (0, 0, 0)
        if indicative == halt.indicative:
            return None
        halt.indicative = indicative
        return indicative

    # ------------------------------------------------------------ queries

    def view(self, symbol: str, ts: int) -> dict[str, object]:
        """What gating says of ``symbol`` at ``ts``, as plain data: the session, whether it is
        halted and why (``reason``: the first cause in words; ``halt_reasons``: every cause's
        name), since when, the reopening auction (collecting until, when known, and the last
        indication), its reference (ticks, source time), band (ticks) and, in the closed
        session, the anchor and the re-anchors made each way this closure."""
        session = Session(self._segment_at(ts)[0])
        halt = self.halts.get(symbol)
        causes = sorted(halt.causes) if halt is not None else []
        out: dict[str, object] = {
            "session": session.name.lower(), "halted": halt is not None,
            "reason": DESCRIPTIONS[HaltReason(causes[0])] if causes else None,
            "halt_reasons": [HaltReason(reason).name.lower() for reason in causes],
            "halted_since": halt.since if halt is not None else None,
            "auction": None,
        }  # fmt: skip
        if halt is not None:
            price, volume, imbalance = halt.indicative or (0, 0, 0)
            out["auction"] = {
                "collecting_until": halt.reopens_at(self.rules.reopening_auction_ns),
                "indicative_price": price or None, "indicative_volume": volume, "imbalance": imbalance,
            }  # fmt: skip
        reference = self.references.get(symbol)
        if reference is None:
            return out
        out.update(reference=reference[0], reference_ns=reference[1], band=list(self.band(symbol, ts)))
        if session == Session.CLOSED:
            _, anchor, up, down = self._anchor(symbol, self._segment_at(ts)[1], ts)
            out.update(anchor=anchor, reanchors={"up": up, "down": down})
        return out

    def band(self, symbol: str, ts: int) -> tuple[int, int]:
        """``[low, high]`` in ticks for ``symbol`` at ``ts`` (it must have a reference)."""
        allowed = self._allowed_at(symbol, ts)
        return allowed[4], allowed[5]

    # ------------------------------------------------------------ inside

    def _segment_at(self, ts: int) -> tuple[int, int, int]:
        """(session, start, end) of the span around ``ts`` in which the band's width holds."""
        rules = self.rules
        session, start, end = self.table.span_at(ts)
        if session is Session.REGULAR:  # the doubled windows split the session
            opening, closing = start + rules.doubled_after_open_ns, end - rules.doubled_before_close_ns
            start, end = (
                (start, opening) if ts < opening else (opening, closing) if ts < closing else (closing, end)
            )
        return int(session), start, end

    def _allowed_at(self, symbol: str, ts: int) -> Allowed:
        rules = self.rules
        session, start, end = self.table.span_at(ts)
        reference, source_ns = self.references[symbol]
        width = rules.band_bps(session, self.tiers.get(symbol, 1), ts, start, end)
        _, start, end = self._segment_at(ts)
        limit = rules.sessions[session].stale_after_ns
        until = min(end, source_ns + limit + 1) if limit else end
        if session is Session.CLOSED:
            reference = self._anchor(symbol, start, ts)[1]
            until = ts  # not cached: the anchor may move with the book
        low, high = band(reference, width)
        session_rules = rules.sessions[session]
        return (
            start,
            until,
            low + 1,
            high - 1,
            low,
            high,
            session_rules.market_orders,
            session_rules.size_cap_pct,
        )

    def _anchor(self, symbol: str, closure: int, ts: int) -> list[int]:
        """[closure, anchor, re-anchors up, down] for the closure that began at ``closure``: as
        kept once it re-anchored, else the reference in force at the last regular close (it is
        the current one unless a reference came since that close: ``closes`` then holds it).
        Reads only, so views never change the state."""
        entry = self.anchors.get(symbol)
        if entry is not None and entry[0] == closure:
            return list(entry)
        close = self.table.last_regular_close(ts)
        recorded = self.closes.get(symbol)
        at_close = (
            recorded[1] if recorded is not None and recorded[0] == close else self.references[symbol][0]
        )
        return [closure, at_close, 0, 0]

    def _halt(self, symbol: str, reason: HaltReason, ts: int, clears_at: int, seq: int) -> Events:
        """Add a cause to ``symbol``'s halt (starting one if it trades); its event if new."""
        halt = self.halts.get(symbol)
        if halt is None:
            halt = self.halts[symbol] = Halt(ts, opening=False)
            self._allowed.pop(symbol, None)
            self.watch.pop(symbol, None)
        elif reason in halt.causes:
            halt.causes[reason] = max(halt.causes[reason], clears_at)
            return []
        halt.causes[reason] = clears_at
        self._lower_due(min(clears_at, ts + self.rules.reopening_auction_ns))
        return [(HALTED, seq, symbol, int(reason))]

    def _trip_breaker(self, price: int, close: int | None, ts: int, seq: int) -> Events:
        """Halt every symbol if the index fell past a breaker level it had not reached since the
        last regular close (regular session only)."""
        recorded = self.closes.get(self.rules.index_symbol)
        if self.segment[0] != Session.REGULAR or recorded is None or recorded[0] != close:
            return []
        levels = self.rules.breaker_levels_bps
        decline = (recorded[1] - price) * 10_000
        level = sum(1 for bps in levels if decline >= bps * recorded[1])
        known_close, reached = self.breaker
        if level <= (reached if known_close == close else 0):
            return []
        self.breaker = (recorded[0], level)
        clears_at = UNTIL_CLEARED if level == len(levels) else ts + self.rules.breaker_halt_ns
        events: Events = []
        for symbol in self.tiers:
            events += self._halt(symbol, HaltReason.CIRCUIT_BREAKER, ts, clears_at, seq)
        return events

    def _timed_pass(self, ts: int, seq: int, quotes: Quotes) -> Events:
        """Session edges, stale references and self-clearing causes; then the next due time."""
        events: Events = []
        if ts >= self.segment[2]:
            session = self.segment[0]
            self.segment = self._segment_at(ts)
            self._allowed.clear()
            if self.segment[0] != session:
                events += [(SESSION_CHANGED, seq, symbol, self.segment[0]) for symbol in self.tiers]
                for halt in self.halts.values():  # a level 3 breaker lasts until the next session
                    if halt.causes.get(HaltReason.CIRCUIT_BREAKER) == UNTIL_CLEARED:
                        del halt.causes[HaltReason.CIRCUIT_BREAKER]
            for symbol in self.tiers:  # the band moved under the books
                self.watch_book(symbol, ts, *quotes(symbol))
        session = Session(self.segment[0])
        limit = self.rules.sessions[session].stale_after_ns
        due = self.segment[2]
        for symbol in self.tiers:
            reference = self.references.get(symbol)
            if reference is None or not limit:
                continue
            if ts - reference[1] > limit:
                events += self._halt(symbol, HaltReason.STALE_REFERENCE, ts, UNTIL_CLEARED, seq)
            else:
                due = min(due, reference[1] + limit + 1)
        collect_ns = self.rules.reopening_auction_ns
        for halt in self.halts.values():
            halt.drop_cleared(ts)
            due = min([due, *(at for at in halt.causes.values() if at != UNTIL_CLEARED)])
            at = halt.reopens_at(collect_ns)
            if at is not None:
                due = min(due, at)
        self._timed_due = max(due, ts + 1)
        return events

    def _watch_limit_states(self, ts: int, seq: int, quotes: Quotes) -> Events:
        """Halt a symbol whose book has sat at a band edge for ``limit_state_ns``; stop watching
        one that left the edge."""
        events: Events = []
        for symbol, since in list(self.watch.items()):
            bid, ask = quotes(symbol)
            low, high = self.band(symbol, ts)
            if symbol in self.halts or not (
                (bid is not None and bid >= high) or (ask is not None and ask <= low)
            ):
                del self.watch[symbol]
            elif ts - since >= self.rules.limit_state_ns:
                events += self._halt(symbol, HaltReason.LIMIT_STATE, ts, ts, seq)
        return events

    def _lower_due(self, at: int) -> None:
        self._timed_due = min(self._timed_due, at)
        self.next_due = min(self.next_due, at)

    # ------------------------------------------------------------ state

    def export(self) -> dict[str, object]:
        table = self.table
        return {
            "edges": list(table.edges), "kinds": [int(k) for k in table.kinds], "end": table.end,
            "regular_closes": list(table.regular_closes),
            "references": {name: list(ref) for name, ref in sorted(self.references.items())},
            "halts": {name: halt.export() for name, halt in sorted(self.halts.items())},
            "closes": {name: list(close) for name, close in sorted(self.closes.items())},
            "anchors": {name: list(entry) for name, entry in sorted(self.anchors.items())},
            "watch": dict(sorted(self.watch.items())), "breaker": list(self.breaker),
            "segment": list(self.segment), "due": [self.next_due, self._timed_due],
        }  # fmt: skip

    @classmethod
    def restore(cls, state: dict[str, Any], rules: GatingRules, tiers: dict[str, int]) -> Gate:
        """The exported gate. A state from before halts were kept (no ``halts`` key) halts the
        symbols without a reference, as ``start`` does, and runs ``advance`` at the next command."""
        gate = cls(table_of(state["edges"], state["kinds"], state["end"], state["regular_closes"]), rules)
        gate.tiers = dict(tiers)
        gate.references = {name: (ref[0], ref[1]) for name, ref in state["references"].items()}
        if "halts" not in state:
            gate.start(tiers, 0, 0)
            return gate
        gate.halts = {name: Halt.restore(halt) for name, halt in state["halts"].items()}
        gate.closes = {name: (close[0], close[1]) for name, close in state["closes"].items()}
        gate.anchors = {name: list(entry) for name, entry in state["anchors"].items()}
        gate.watch = dict(state["watch"])
        gate.breaker = (state["breaker"][0], state["breaker"][1])
        gate.segment = (state["segment"][0], state["segment"][1], state["segment"][2])
        gate.next_due, gate._timed_due = state["due"]
        return gate


def table_of(edges: Sequence[int], kinds: Sequence[int], end: int, closes: Sequence[int]) -> SessionTable:
    """A session table from plain data (a command's fields, a snapshot's)."""
    return SessionTable(tuple(edges), tuple(Session(k) for k in kinds), end, tuple(closes))
