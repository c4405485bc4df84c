"""Request guards as FastAPI dependencies: signatures, scopes, rate limits, the admin token.

- A private route verifies the signed request (``api.signing``) over the exact request target,
  ``raw_path`` plus ``?`` and the query string as sent, and the raw body. Then it is charged to
  both its client IP and its key. A request that fails authentication is charged to its IP alone
  (so a flood of bad signatures is limited too) and answered with the rate limit's refusal if the
  IP is over its budget, else with the authentication error.
- A public route is charged to its client IP.
- Admin routes (not in the OpenAPI document) need the ``BB-ADMIN-TOKEN`` header to equal the
  token kept in the data directory.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request

from api.context import Services
from api.credentials import Credential, Scope
from api.errors import ApiError, ErrorCode
from api.signing import authenticate

ADMIN_HEADER = "BB-ADMIN-TOKEN"


def request_target(request: Request) -> str:
    """The path and query exactly as the client sent them (what the signature covers)."""
    scope = request.scope
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return (path + b"?" + query if query else path).decode("latin-1")


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def signed(services: Services, scope: Scope, route: str) -> Callable[[Request], Awaitable[Credential]]:
    """A dependency giving the credential of a signed request allowed ``scope``."""

    async def guard(request: Request) -> Credential:
        ip = client_ip(request)
        try:
            credential = authenticate(
                request.headers,
                request.method,
                request_target(request),
                await request.body(),
                now_ms=services.clock_ms(),
                lookup=services.keys.lookup,
                client_ip=ip,
                scope=scope,
            )
        except ApiError:
            services.limiter.check(route, ip).raise_if_refused()
            raise
        services.limiter.check(route, ip, credential.key_id).raise_if_refused()
        return credential

    return guard


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
