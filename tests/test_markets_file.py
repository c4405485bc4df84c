"""The markets file's ``[gating]`` table: the rules' defaults unless it says otherwise, exact
units, and a clear refusal of what it cannot mean."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from bluebook.markets import default_markets, parse_markets
from matcher.gating import NS_PER_S, GatingRules
from matcher.sessions import Session


def markets_with(gating: str) -> dict:
    text = resources.files("bluebook").joinpath("markets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text + "\n" + gating)


def test_without_a_gating_table_the_rules_are_the_defaults() -> None:
    assert default_markets().gating_rules == GatingRules()


def test_the_gating_table_sets_rules_and_sessions() -> None:
    rules = parse_markets(
        markets_with("""
[gating]
reopening_auction_s = 120
limit_state_s = 7.5
index_symbol = "TSLAx-USDC"
breaker_levels_pct = [5, 10, 17.5]
regular_band_pct_by_tier = [4, 8.25]
[gating.sessions.overnight]
band_pct = 15
stale_after_s = 300
""")
    ).gating_rules
    assert rules.reopening_auction_ns == 120 * NS_PER_S and rules.limit_state_ns == 7_500_000_000
    assert rules.index_symbol == "TSLAx-USDC" and rules.breaker_levels_bps == (500, 1_000, 1_750)
    assert rules.regular_band_bps_by_tier == (400, 825)
    overnight = rules.sessions[Session.OVERNIGHT]
    assert (overnight.band_bps, overnight.stale_after_ns) == (1_500, 300 * NS_PER_S)
    assert (overnight.market_orders, overnight.size_cap_pct) == (False, 50)  # the defaults stay
    assert rules.sessions[Session.PRE] == GatingRules().sessions[Session.PRE]


@pytest.mark.parametrize(
    ("gating", "message"),
    [
        ("[gating]\nreopen_s = 1", "unknown keys"),
        ("[gating]\nbreaker_levels_pct = [7.001]", "basis points"),
        ("[gating.sessions.lunch]\nband_pct = 1", "LUNCH"),
        ("[gating.sessions.pre]\nband = 1", "unknown keys"),
    ],
)
def test_what_the_gating_table_cannot_mean_is_refused(gating: str, message: str) -> None:
    with pytest.raises((ValueError, KeyError), match=message):
        parse_markets(markets_with(gating))
