"""Binance-style request checks: parameters, signatures, API keys, rate limits, usage headers.

- Parameters come from the query string and, for a form body, from the body; a name in both
  takes the body's value. Routes read them by hand, so every bad one gets a Binance code.
- A signed request (``SIGNED``) carries ``timestamp`` (ms), optional ``recvWindow`` (ms, at most
  60000, 5000 when absent) and ``signature``: the lowercase hex HMAC-SHA256, under the key's
  secret (the same keys as ``/v1``), of the query string followed directly by the body, both as
  sent, with the ``signature`` pair taken out; for an Ed25519 key, as Binance does, the base64
  Ed25519 signature of those same bytes (percent-encoded in the request). The key id travels in
  ``X-MBX-APIKEY``. Checks run: key header (-2014), timestamp present (-1102), window (-1131),
  freshness (-1021), key known (-2015), signature (-1022), revoked, IP, scope (-2015).
- A ``USER_STREAM`` request (listen keys) needs only a valid ``X-MBX-APIKEY``.
- Every request is charged its route weight by the shared ``RateLimiter`` (to the IP, and to the
  key when signed); a refusal is -1003 with 429 (418 while banned) and ``Retry-After``. A banned
  IP's signed or user-stream request is refused before its key is looked up.
- ``Usage`` counts, for the response headers, the weight each IP used in the current minute
  (``X-MBX-USED-WEIGHT-1M``) and the orders each key placed in the current 10 s
  (``X-MBX-ORDER-COUNT-10S``), in fixed windows as Binance does; it forgets old windows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from fastapi import Request

from api.auth import client_ip
from api.binance.errors import BinanceError, Code, translate
from api.binance.params import integer
from api.context import Services
from api.credentials import Credential, Scope
from api.errors import ApiError
from api.signing import (
    DEFAULT_MAX_SKEW_MS,
    DEFAULT_RECV_WINDOW_MS,
    MAX_RECV_WINDOW_MS,
    check_freshness,
    verify_ed25519,
    verify_hmac,
)

KEY_HEADER = "X-MBX-APIKEY"
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-10S"
WEIGHT_WINDOW_MS = 60_000
ORDER_WINDOW_MS = 10_000
_FORGET_ABOVE = 100_000


@dataclass(slots=True)
class Usage:
    """Fixed-window counters per identity: ``add`` returns the window's total after adding."""

    window_ms: int
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, identity: str, amount: int, now_ms: int) -> int:
        window = now_ms // self.window_ms
        start, used = self.counts.get(identity, (window, 0))
        used = (used if start == window else 0) + amount
        self.counts[identity] = (window, used)
        if len(self.counts) > _FORGET_ABOVE:
            self.counts = {k: v for k, v in self.counts.items() if v[0] == window}
        return used


def signed_payload(query: bytes, body: bytes) -> tuple[bytes, str | None]:
    """The bytes a Binance signature covers, and the signature sent (None when absent)."""
    signature = None
    kept: list[bytes] = []
    for part in (query, body):
        pairs = []
        for pair in part.split(b"&") if part else ():
            if pair.startswith(b"signature="):
                signature = pair[len(b"signature=") :].decode("latin-1")
            else:
                pairs.append(pair)
        kept.append(b"&".join(pairs))
    return kept[0] + kept[1], signature


class Guard:
    """Admits requests to the Binance routes (see the module docstring)."""

    def __init__(self, services: Services, weights: Callable[[str], int]) -> None:
        self.services = services
        self.weight = weights
        self.used_weight = Usage(WEIGHT_WINDOW_MS)
        self.orders = Usage(ORDER_WINDOW_MS)

    async def public(self, request: Request, route: str) -> dict[str, str]:
        self._charge(request, route, None)
        return await params_of(request)

    async def user_stream(self, request: Request, route: str) -> Credential:
        """The credential named by ``X-MBX-APIKEY`` (no signature: Binance's USER_STREAM)."""
        self._refuse_if_banned(request, route)
        key_id = request.headers.get(KEY_HEADER, "")
        credential = self.services.keys.lookup(key_id) if key_id else None
        self._charge(request, route, credential.key_id if credential else None)
        if not key_id:
            raise BinanceError(Code.BAD_API_KEY_FMT)
        if credential is None or not self._allowed(credential, request, Scope.READ):
            raise BinanceError(Code.REJECTED_MBX_KEY)
        return credential

    async def signed(self, request: Request, route: str, scope: Scope) -> tuple[Credential, dict[str, str]]:
        """The credential of a correctly signed, fresh request allowed ``scope``, and its params."""
        self._refuse_if_banned(request, route)
        try:
            credential, params = await self._authenticate(request, scope)
        except BinanceError:
            self._charge(request, route, None)
            raise
        self._charge(request, route, credential.key_id)
        return credential, params

    def count_order(self, request: Request, credential: Credential) -> None:
        """Count one order placed with this key, for ``X-MBX-ORDER-COUNT-10S``."""
        count = self.orders.add(credential.key_id, 1, self.services.clock_ms())
        request.state.binance_orders = count

    async def _authenticate(self, request: Request, scope: Scope) -> tuple[Credential, dict[str, str]]:
        key_id = request.headers.get(KEY_HEADER, "")
        if not key_id:
            raise BinanceError(Code.BAD_API_KEY_FMT)
        params = await params_of(request)
        timestamp = integer(params, "timestamp")
        window = integer(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(Code.BAD_RECV_WINDOW)
        try:
            check_freshness(timestamp, window, self.services.clock_ms(), DEFAULT_MAX_SKEW_MS)
        except ApiError:
            raise BinanceError(Code.INVALID_TIMESTAMP) from None
        credential = self.services.keys.lookup(key_id)
        if credential is None:
            raise BinanceError(Code.REJECTED_MBX_KEY)
        payload, signature = signed_payload(request.scope.get("query_string", b""), await request.body())
        if signature is None or not _signature_matches(credential, payload, signature):
            raise BinanceError(Code.INVALID_SIGNATURE)
        if not self._allowed(credential, request, scope):
            raise BinanceError(Code.REJECTED_MBX_KEY)
        return credential, params

    def _allowed(self, credential: Credential, request: Request, scope: Scope) -> bool:
        return (
            not credential.revoked and credential.allows_ip(client_ip(request)) and scope in credential.scopes
        )

    def _refuse_if_banned(self, request: Request, route: str) -> None:
        """A banned IP is refused before its key is looked up or its signature checked."""
        if self.services.limiter.banned(client_ip(request)) is not None:
            self._charge(request, route, None)  # refuses it (418, -1003), counting no weight

    def _charge(self, request: Request, route: str, key_id: str | None) -> None:
        ip = client_ip(request)
        decision = self.services.limiter.check(route, ip, key_id)
        if decision.allowed:
            used = self.used_weight.add(ip, self.weight(route), self.services.clock_ms())
        else:
            used = self.used_weight.add(ip, 0, self.services.clock_ms())
        request.state.binance_weight = used
        try:
            decision.raise_if_refused()
        except ApiError as error:
            raise translate(error) from None


def _signature_matches(credential: Credential, payload: bytes, signature: str) -> bool:
    if credential.hmac_secret is not None:
        return verify_hmac(credential.hmac_secret, payload, signature)
    if credential.ed25519_public_key is None:
        return False
    try:
        raw = base64.b64decode(unquote_plus(signature), validate=True)
    except (ValueError, binascii.Error):
        return False
    return verify_ed25519(credential.ed25519_public_key, payload, raw)


async def params_of(request: Request) -> dict[str, str]:
    """Query parameters, then form-body parameters over them (Binance sends either)."""
    params = dict(parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    if request.method != "GET" and "json" not in request.headers.get("content-type", ""):
        body = await request.body()
        params.update(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    return params
