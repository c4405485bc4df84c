"""Rate limits: token buckets per API key and per client IP, a weight per route, temporary bans.

- Every identity (an IP address, an API key) has a bucket holding up to ``capacity`` weight and
  refilling at ``capacity / period_s`` per second. A request of weight ``w`` passes when each bucket
  it touches (its IP's, and its key's when it names one) holds ``w``, and then takes ``w`` from
  each; a refused request takes nothing.
- A refusal counts one violation against each identity whose bucket was short. ``ban_after``
  violations within ``violation_window_s`` ban that identity for ``ban_s``: until then every
  request it makes is refused with BANNED, whatever its bucket holds.
- ``retry_after`` is whole seconds, at least 1: when the short buckets will hold ``w`` again, or
  when the ban ends.
- Memory is bounded. An identity untouched for longer than ``forget_after_s`` (its bucket full
  again, its violations and ban over) is forgotten, which changes no decision; past
  ``max_identities`` the least recently seen go first, which can only forgive.
- Time comes from ``clock`` (monotonic seconds), so tests drive it. Safe to share between threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from api.errors import ApiError, ErrorCode


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket of ``capacity`` weight that refills fully in ``period_s`` seconds."""

    capacity: int
    period_s: float

    @property
    def rate(self) -> float:
        return self.capacity / self.period_s


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Budgets, route weights (1 by default, never above a bucket's capacity) and the ban rule."""

    per_key: Limit = Limit(1_200, 60.0)
    per_ip: Limit = Limit(2_400, 60.0)
    route_weights: Mapping[str, int] = field(default_factory=dict)
    default_weight: int = 1
    ban_after: int = 10
    violation_window_s: float = 60.0
    ban_s: float = 120.0
    max_identities: int = 100_000

    def __post_init__(self) -> None:
        weights = [self.default_weight, *self.route_weights.values()]
        if min(weights) < 1 or max(weights) > min(self.per_key.capacity, self.per_ip.capacity):
            raise ValueError("every route weight must be from 1 to the smallest bucket capacity")
        if min(self.per_key.period_s, self.per_ip.period_s, self.violation_window_s, self.ban_s) <= 0:
            raise ValueError("periods, the violation window and the ban must be longer than 0 s")
        if self.ban_after < 1 or self.max_identities < 2:
            raise ValueError("ban_after must be at least 1 and max_identities at least 2")

    def weight(self, route: str) -> int:
        return self.route_weights.get(route, self.default_weight)

    @property
    def forget_after_s(self) -> float:
        return max(self.per_key.period_s, self.per_ip.period_s, self.violation_window_s, self.ban_s)


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or refused with the whole seconds to wait (``banned`` when a ban refused it)."""

    allowed: bool
    retry_after: int = 0
    banned: bool = False

    def raise_if_refused(self) -> None:
        """RATE_LIMITED (429) or BANNED (418), each with ``Retry-After``, unless allowed."""
        if not self.allowed:
            code = ErrorCode.BANNED if self.banned else ErrorCode.RATE_LIMITED
            raise ApiError(code, retry_after=self.retry_after)


ALLOWED = Decision(True)


class _Identity:
    __slots__ = ("banned_until", "seen", "tokens", "violations")

    def __init__(self, tokens: float, now: float, ban_after: int) -> None:
        self.tokens = tokens
        self.seen = now
        self.violations: deque[float] = deque(maxlen=ban_after)
        self.banned_until = -math.inf


class RateLimiter:
    """Admits or refuses each request by its route's weight, client IP and API key."""

    def __init__(self, policy: RateLimitPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._identities: OrderedDict[str, _Identity] = OrderedDict()
        self._lock = threading.Lock()
        self._forget_after_s = policy.forget_after_s

    def __len__(self) -> int:
        """How many identities are remembered."""
        return len(self._identities)

    def check(self, route: str, client_ip: str, key_id: str | None = None) -> Decision:
        """Admit (and charge) or refuse one request; see the module docstring for the rules.

        ``route`` names the endpoint as ``route_weights`` does, e.g. ``"GET /v1/depth"`` (the path
        template, not the concrete path, so weights and budgets do not depend on parameters).
        """
        policy = self._policy
        weight = policy.weight(route)
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            ip = self._touch(f"ip:{client_ip}", policy.per_ip, now)
            if key_id is None:
                if ip.tokens >= weight and ip.banned_until <= now:  # the common case, first
                    ip.tokens -= weight
                    return ALLOWED
                return self._refuse([(ip, policy.per_ip)], weight, now)
            key = self._touch(f"key:{key_id}", policy.per_key, now)
            if ip.tokens >= weight and key.tokens >= weight and max(ip.banned_until, key.banned_until) <= now:
                ip.tokens -= weight
                key.tokens -= weight
                return ALLOWED
            return self._refuse([(ip, policy.per_ip), (key, policy.per_key)], weight, now)

    def banned(self, client_ip: str) -> Decision | None:
        """The refusal of an IP that is banned now (charging nothing), else None: asked before a
        request's signature is checked, so a banned client costs no key lookup."""
        with self._lock:
            identity = self._identities.get(f"ip:{client_ip}")
            now = self._clock()
            if identity is None or identity.banned_until <= now:
                return None
            return Decision(False, _seconds(identity.banned_until - now), banned=True)

    def _refuse(self, touched: list[tuple[_Identity, Limit]], weight: int, now: float) -> Decision:
        """The decision for identities that are banned or short of ``weight`` (a violation)."""
        ban_ends = [identity.banned_until for identity, _ in touched if identity.banned_until > now]
        if ban_ends:
            return Decision(False, _seconds(max(ban_ends) - now), banned=True)
        short = [(identity, limit) for identity, limit in touched if identity.tokens < weight]
        if any(self._violate(identity, now) for identity, _ in short):
            return Decision(False, _seconds(self._policy.ban_s), banned=True)
        wait = max((weight - identity.tokens) / limit.rate for identity, limit in short)
        return Decision(False, _seconds(wait))

    def _touch(self, name: str, limit: Limit, now: float) -> _Identity:
        identity = self._identities.get(name)
        if identity is None:
            identity = self._identities[name] = _Identity(limit.capacity, now, self._policy.ban_after)
            while len(self._identities) > self._policy.max_identities:
                self._identities.popitem(last=False)
        else:
            identity.tokens = min(limit.capacity, identity.tokens + (now - identity.seen) * limit.rate)
            identity.seen = now
            self._identities.move_to_end(name)
        return identity

    def _violate(self, identity: _Identity, now: float) -> bool:
        """Record a violation; True when it bans the identity."""
        violations = identity.violations
        violations.append(now)
        while violations[0] <= now - self._policy.violation_window_s:
            violations.popleft()
        if len(violations) < self._policy.ban_after:
            return False
        identity.banned_until = now + self._policy.ban_s
        violations.clear()
        return True

    def _forget_idle(self, now: float) -> None:
        horizon = now - self._forget_after_s
        identities = self._identities
        while identities:
            oldest = next(iter(identities.values()))
            if oldest.seen > horizon:
                return
            identities.popitem(last=False)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
