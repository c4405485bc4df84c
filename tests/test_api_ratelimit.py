"""Rate limits with an injected clock: a burst at twice the limit admits exactly the budget, buckets
refill at their rate, weights count, key and IP budgets are separate, Retry-After is honest, repeated
violations ban for a while, and idle identities are forgotten so memory stays bounded."""

from __future__ import annotations

import pytest

from api.errors import ApiError, ErrorCode
from api.ratelimit import Limit, RateLimiter, RateLimitPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **overrides) -> RateLimiter:
    settings = {
        "per_key": Limit(10, 10.0),  # 1 weight a second
        "per_ip": Limit(20, 10.0),  # 2 a second
        "route_weights": {"GET /v1/depth": 5},
        "ban_after": 3,
        "violation_window_s": 60.0,
        "ban_s": 120.0,
    }
    return RateLimiter(RateLimitPolicy(**{**settings, **overrides}), clock=clock)


def admitted(
    rl: RateLimiter, count: int, route: str = "GET /v1/ticker", ip: str = "198.51.100.1", key=None
) -> int:
    return sum(rl.check(route, ip, key).allowed for _ in range(count))


def test_a_burst_at_twice_the_limit_admits_exactly_the_budget() -> None:
    clock = Clock()
    rl = limiter(clock, ban_after=1_000)
    decisions = [rl.check("GET /v1/ticker", "198.51.100.1", "k1") for _ in range(20)]
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.allowed for d in decisions[:10])
    for decision in decisions[10:]:
        with pytest.raises(ApiError) as caught:
            decision.raise_if_refused()
        error = caught.value
        assert (error.code, error.status, error.headers()) == (
            ErrorCode.RATE_LIMITED,
            429,
            {"Retry-After": "1"},
        )


def test_buckets_refill_at_their_rate_up_to_their_capacity() -> None:
    clock = Clock()
    rl = limiter(clock)
    assert admitted(rl, 10, key="k1") == 10
    clock.now += 3.5
    assert admitted(rl, 10, key="k1") == 3  # 3.5 weight back: three requests of 1
    clock.now += 1_000
    assert admitted(rl, 15, key="k1") == 10  # never more than the capacity


def test_retry_after_is_when_the_request_would_pass() -> None:
    clock = Clock()
    rl = limiter(clock, ban_after=100)
    assert admitted(rl, 1, route="GET /v1/depth", key="k1") == 1
    assert admitted(rl, 1, route="GET /v1/depth", key="k1") == 1  # bucket now empty
    refused = rl.check("GET /v1/depth", "198.51.100.1", "k1")
    assert (refused.allowed, refused.retry_after) == (False, 5)  # 5 weight at 1 a second
    clock.now += 4.9
    assert not rl.check("GET /v1/depth", "198.51.100.1", "k1").allowed
    clock.now += 0.1
    assert rl.check("GET /v1/depth", "198.51.100.1", "k1").allowed


def test_route_weights_count_and_a_refusal_costs_nothing() -> None:
    clock = Clock()
    rl = limiter(clock, ban_after=100)
    assert admitted(rl, 1, route="GET /v1/depth", key="k1") == 1
    assert admitted(rl, 4, key="k1") == 4  # 5 + 4 of 10 used
    assert not rl.check("GET /v1/depth", "198.51.100.1", "k1").allowed  # needs 5, 1 left
    assert admitted(rl, 2, key="k1") == 1  # the refusal took nothing


def test_key_and_ip_budgets_are_separate_and_both_apply() -> None:
    clock = Clock()
    rl = limiter(clock, ban_after=100)
    # Two keys behind one IP share the IP's 20.
    assert admitted(rl, 10, key="k1") + admitted(rl, 10, key="k2") == 20
    assert admitted(rl, 1, key="k3") == 0
    assert admitted(rl, 1, ip="198.51.100.2", key="k3") == 1
    # One key from two IPs shares the key's 10.
    assert admitted(rl, 9, ip="203.0.113.1", key="k3") == 9
    assert admitted(rl, 1, ip="203.0.113.2", key="k3") == 0
    # Unsigned requests count against the IP only.
    assert admitted(rl, 25, ip="203.0.113.3") == 20


def test_repeated_violations_ban_for_a_while() -> None:
    clock = Clock()
    rl = limiter(clock)
    admitted(rl, 10, key="k1")
    first, second = (
        rl.check("GET /v1/ticker", "198.51.100.1", "k1"),
        rl.check("GET /v1/ticker", "198.51.100.1", "k1"),
    )
    assert not first.banned and not second.banned
    third = rl.check("GET /v1/ticker", "198.51.100.1", "k1")
    assert (third.allowed, third.banned, third.retry_after) == (False, True, 120)
    with pytest.raises(ApiError) as caught:
        third.raise_if_refused()
    assert (caught.value.code, caught.value.status, caught.value.headers()) == (
        ErrorCode.BANNED,
        418,
        {"Retry-After": "120"},
    )
    clock.now += 100  # the bucket is full again, the ban still holds
    during = rl.check("GET /v1/ticker", "198.51.100.1", "k1")
    assert (during.banned, during.retry_after) == (True, 20)
    # The ban is on the key, whichever IP it comes from; the IP's other keys still pass.
    assert rl.check("GET /v1/ticker", "203.0.113.9", "k1").banned
    assert rl.check("GET /v1/ticker", "198.51.100.1", "k2").allowed
    clock.now += 20
    assert rl.check("GET /v1/ticker", "198.51.100.1", "k1").allowed


def test_violations_spread_wider_than_the_window_do_not_ban() -> None:
    clock = Clock()
    rl = limiter(clock, per_key=Limit(1, 40.0), route_weights={})
    for _ in range(6):
        assert rl.check("GET /v1/ticker", "198.51.100.1", "k1").allowed
        decision = rl.check("GET /v1/ticker", "198.51.100.1", "k1")
        assert not decision.allowed and not decision.banned
        clock.now += 40.0  # two violations in any 60 s, never three


def test_an_ip_is_banned_for_hammering_without_a_key() -> None:
    clock = Clock()
    rl = limiter(clock)
    admitted(rl, 20)
    outcomes = [rl.check("GET /v1/ticker", "198.51.100.1") for _ in range(3)]
    assert [d.banned for d in outcomes] == [False, False, True]
    assert rl.check("GET /v1/ticker", "198.51.100.1", "fresh-key").banned  # the IP's ban covers its keys
    assert rl.check("GET /v1/ticker", "198.51.100.2").allowed


def test_idle_identities_are_forgotten_without_changing_any_decision() -> None:
    clock = Clock()
    rl = limiter(clock)
    for i in range(1_000):
        rl.check("GET /v1/ticker", f"10.0.{i // 256}.{i % 256}", f"key-{i}")
    assert len(rl) == 2_000
    clock.now += 119.0  # the ban (120 s) is the longest memory; not yet past it
    rl.check("GET /v1/ticker", "198.51.100.1")
    assert len(rl) == 2_001
    clock.now += 1.0
    rl.check("GET /v1/ticker", "198.51.100.1")
    assert len(rl) == 1


def test_a_ban_outlives_the_bucket_and_window_in_memory() -> None:
    clock = Clock()
    rl = limiter(clock, ban_s=300.0)
    admitted(rl, 13, key="k1")  # 10 pass, 3 violations: banned
    clock.now += 299.0
    rl.check("GET /v1/ticker", "203.0.113.1")  # sweeps what is idle long enough
    assert rl.check("GET /v1/ticker", "198.51.100.1", "k1").banned


def test_memory_is_capped_forgetting_the_least_recently_seen() -> None:
    clock = Clock()
    rl = limiter(clock, max_identities=50)
    for i in range(200):
        rl.check("GET /v1/ticker", f"10.1.0.{i}")
    assert len(rl) == 50


@pytest.mark.parametrize(
    "overrides",
    [
        {"route_weights": {"GET /v1/huge": 11}},
        {"route_weights": {"GET /v1/free": 0}},
        {"default_weight": 0},
        {"ban_after": 0},
        {"max_identities": 1},
        {"per_key": Limit(10, 0.0)},
        {"violation_window_s": 0.0},
    ],
)
def test_an_impossible_policy_is_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        limiter(Clock(), **overrides)


def test_a_banned_ip_is_told_so_before_any_work_and_charged_nothing() -> None:
    clock = Clock()
    rl = limiter(clock)
    assert rl.banned("198.51.100.1") is None  # never seen
    admitted(rl, 20)
    assert rl.banned("198.51.100.1") is None  # out of tokens, not banned
    assert [rl.check("GET /v1/ticker", "198.51.100.1").banned for _ in range(3)] == [False, False, True]
    ban = rl.banned("198.51.100.1")
    assert ban is not None and (ban.allowed, ban.banned, ban.retry_after) == (False, True, 120)
    clock.now += 119.5
    assert rl.banned("198.51.100.1").retry_after == 1
    clock.now += 0.5
    assert rl.banned("198.51.100.1") is None
    assert rl.check("GET /v1/ticker", "198.51.100.1").allowed
