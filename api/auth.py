"""Request guards as FastAPI dependencies: signatures, scopes, rate limits, the admin token.

- A private route refuses a banned client IP at once (no key lookup, no signature check). Else it
  verifies the signed request (``api.signing``) over the exact request target, ``raw_path`` plus
  ``?`` and the query string as sent, and the raw body; then it is charged to both its client IP
  and its key. A request that fails authentication is charged to its IP alone
  (so a flood of bad signatures is limited too) and answered with the rate limit's refusal if the
  IP is over its budget, else with the authentication error.
- A public route is charged to its client IP.
- Admin routes (not in the OpenAPI document) need the ``BB-ADMIN-TOKEN`` header to equal the
  token kept in the data directory.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request

from api.context import Services
from api.credentials import Credential, Scope
from api.errors import ApiError, ErrorCode
from api.ratelimit import ALLOWED
from api.signing import asgi_signed_headers, authenticate

ADMIN_HEADER = "BB-ADMIN-TOKEN"


def request_target(request: Request) -> str:
    """The path and query exactly as the client sent them (what the signature covers)."""
    return _target(request.scope)


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def signed_asgi(
    services: Services, scope: Scope, route: str
) -> Callable[[Mapping[str, Any], bytes], Credential]:
    """The credential of a signed request allowed ``scope``, from its ASGI scope and its body
    (``signed`` for FastAPI routes; ``api.fastpath`` calls it with no ``Request`` built)."""
    limiter, lookup, clock_ms = services.limiter, services.keys.lookup, services.clock_ms

    def check(asgi: Mapping[str, Any], body: bytes) -> Credential:
        client = asgi.get("client")
        ip = client[0] if client else ""
        (limiter.banned(ip) or ALLOWED).raise_if_refused()  # before any key lookup
        try:
            headers = asgi_signed_headers(asgi["headers"])
            credential = authenticate(headers, asgi["method"], _target(asgi), body, now_ms=clock_ms(),
                                      lookup=lookup, client_ip=ip, scope=scope)  # fmt: skip
        except ApiError:
            limiter.check(route, ip).raise_if_refused()
            raise
        limiter.check(route, ip, credential.key_id).raise_if_refused()
        return credential

    return check


def signed(services: Services, scope: Scope, route: str) -> Callable[[Request], Awaitable[Credential]]:
    """A dependency giving the credential of a signed request allowed ``scope``."""
    check = signed_asgi(services, scope, route)

    async def guard(request: Request) -> Credential:
        return check(request.scope, await request.body())

    return guard


def _target(asgi: Mapping[str, Any]) -> str:
    path: bytes = asgi.get("raw_path") or asgi["path"].encode()
    query: bytes = asgi.get("query_string", b"")
    return (path + b"?" + query if query else path).decode("latin-1")


def public(services: Services, route: str) -> Callable[[Request], None]:
    """A dependency charging a public request to its client IP."""

    def guard(request: Request) -> None:
        services.limiter.check(route, client_ip(request)).raise_if_refused()

    return guard


def admin(services: Services) -> Callable[[Request], None]:
    """A dependency refusing any request without the data directory's admin token."""

    def guard(request: Request) -> None:
        token = request.headers.get(ADMIN_HEADER, "")
        if not hmac.compare_digest(token.encode(), services.admin_token.encode()):
            raise ApiError(ErrorCode.ADMIN_TOKEN_INVALID)

    return guard
