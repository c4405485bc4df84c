"""Gating rules: bands per session and tier (doubled near the open and close), size caps,
staleness, and when the weekend band re-anchors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matcher.gating import NS_PER_MINUTE, NS_PER_S, GatingRules, band, should_reanchor
from matcher.sessions import Session

RULES = GatingRules()
OPEN, CLOSE = 0, 390 * NS_PER_MINUTE  # a 09:30-16:00 regular session


def test_regular_bands_by_tier_doubled_in_the_first_15_and_last_25_minutes() -> None:
    for tier, width in ((1, 500), (2, 1_000)):
        assert RULES.band_bps(Session.REGULAR, tier, OPEN, OPEN, CLOSE) == 2 * width
        assert RULES.band_bps(Session.REGULAR, tier, OPEN + 15 * NS_PER_MINUTE - 1, OPEN, CLOSE) == 2 * width
        assert RULES.band_bps(Session.REGULAR, tier, OPEN + 15 * NS_PER_MINUTE, OPEN, CLOSE) == width
        assert RULES.band_bps(Session.REGULAR, tier, CLOSE - 25 * NS_PER_MINUTE - 1, OPEN, CLOSE) == width
        assert RULES.band_bps(Session.REGULAR, tier, CLOSE - 25 * NS_PER_MINUTE, OPEN, CLOSE) == 2 * width
    for session in (Session.PRE, Session.POST, Session.OVERNIGHT, Session.CLOSED):
        assert RULES.band_bps(session, 1, OPEN, OPEN, CLOSE) == 1_000


def test_market_orders_and_sizes_by_session() -> None:
    allowed = {s: RULES.sessions[s].market_orders for s in Session}
    assert allowed == {Session.REGULAR: True, Session.PRE: False, Session.POST: False,
                       Session.OVERNIGHT: False, Session.CLOSED: False}  # fmt: skip
    assert [RULES.size_cap(s, 1_000) for s in (Session.REGULAR, Session.PRE, Session.CLOSED)] == [
        1_000,
        500,
        250,
    ]


def test_staleness_is_judged_by_command_time_per_session() -> None:
    assert not RULES.is_stale(Session.REGULAR, 0, 10 * NS_PER_S)
    assert RULES.is_stale(Session.REGULAR, 0, 10 * NS_PER_S + 1)
    assert not RULES.is_stale(Session.OVERNIGHT, 0, 120 * NS_PER_S)
    assert not RULES.is_stale(Session.CLOSED, 0, 10**18)  # anchored to the last close


@given(st.integers(1, 10**9), st.integers(1, 5_000))
def test_a_band_never_admits_a_price_outside_the_exact_band(reference: int, bps: int) -> None:
    low, high = band(reference, bps)
    assert low * 10_000 >= reference * (10_000 - bps) and (low - 1) * 10_000 < reference * (10_000 - bps)
    assert high * 10_000 <= reference * (10_000 + bps) and (high + 1) * 10_000 > reference * (10_000 + bps)


def test_the_band_re_anchors_at_90_percent_of_the_way_to_an_edge() -> None:
    low, high = band(25_000, 1_000)  # 22_500 .. 27_500
    assert should_reanchor(27_249, 25_000, low, high, 90) == 0
    assert should_reanchor(27_250, 25_000, low, high, 90) == 1
    assert should_reanchor(22_750, 25_000, low, high, 90) == -1
    assert should_reanchor(25_000, 25_000, low, high, 90) == 0
