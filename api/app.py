"""The FastAPI application: routes under ``/v1``, one error shape, and an exact OpenAPI document.

- Every error is ``{"code", "msg"}`` (``api.errors``). Input FastAPI itself refuses (a query
  parameter of the wrong type, a body that does not fit its model) is INVALID_PARAMETER or
  MISSING_PARAMETER with status 400, not FastAPI's 422; an unknown route is NOT_FOUND (404, for a
  wrong method too); anything unexpected is logged and answered INTERNAL_ERROR (500).
- The OpenAPI document says so: FastAPI's 422 responses are replaced by 400 with the error schema,
  and every signed route lists the BB-KEY, BB-TIMESTAMP, BB-RECV-WINDOW and BB-SIGNATURE headers
  and its 401, 403 and 429 answers.
- At start, market data loads the books and subscribes to the node (``api.marketdata``); then
  the WebSocket gateway (``api.ws``) starts its user streams and cancels the orders of sessions
  that had opted in to cancel-on-disconnect before a restart, all before the first request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException

from api import accounts, binance, dashboard, metrics, operator, public, schemas, settlement, trading
from api.context import Services
from api.errors import ApiError, ErrorCode, error_body
from api.ratelimit import RateLimitPolicy
from api.signing import KEY_HEADER, RECV_WINDOW_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from api.wire import JsonResponse
from api.ws import Gateway

log = logging.getLogger(__name__)

#: Rate limit weight per route (1 when not listed): what a request costs the server.
ROUTE_WEIGHTS = {
    "GET /v1/depth": 5,
    "GET /v1/candles": 2,
    "GET /v1/ticker": 2,
    "GET /v1/trades": 2,
    "POST /v1/batch": 10,
    "DELETE /v1/orders": 5,
    "GET /v1/orders/open": 3,
    "GET /v1/orders/history": 5,
    "GET /v1/fills": 5,
    "GET /v1/withdrawals": 2,
    "POST /v1/auth/challenge": 5,
    "POST /v1/auth/login": 10,
    "GET /v1/settlement/status": 5,
    "GET /v1/settlement/batches": 2,
    "GET /metrics": 5,
    **binance.ROUTE_WEIGHTS,
}
DEFAULT_POLICY = RateLimitPolicy(route_weights=ROUTE_WEIGHTS)
SIGNED_TAGS = {"trading", "account"}
PUBLIC_AUTH_PATHS = {"/v1/auth/challenge", "/v1/auth/login"}


def create_app(services: Services) -> FastAPI:
    gateway = Gateway(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.market.attach(services.node)
        refresh = services.market.refresh_sessions(services.node, services.units)
        sessions = asyncio.ensure_future(refresh)
        await gateway.start()
        yield
        sessions.cancel()

    app = FastAPI(
        title="bluebook",
        version="1",
        description="Order entry and market data. Prices and quantities are decimal strings.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.services = services
    app.include_router(public.routes(services))
    app.include_router(trading.routes(services))
    app.include_router(accounts.routes(services))
    app.include_router(operator.routes(services))
    app.include_router(gateway.router)
    app.include_router(binance.router(services))
    app.include_router(settlement.routes(services))
    app.include_router(metrics.routes(services))
    dashboard.mount(app)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JsonResponse:
        return JsonResponse(error.body(), status_code=error.status, headers=error.headers())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JsonResponse:
        problem = error.errors()[0] if error.errors() else {}
        where = ".".join(
            str(part) for part in problem.get("loc", ()) if part not in ("query", "body", "path")
        )
        code = (
            ErrorCode.MISSING_PARAMETER if problem.get("type") == "missing" else ErrorCode.INVALID_PARAMETER
        )
        if problem.get("type") in ("json_invalid", "model_attributes_type", "dict_type"):
            code = ErrorCode.BODY_MALFORMED
        message = (
            f"{where}: {problem.get('msg', code.message)}" if where else str(problem.get("msg", code.message))
        )
        return JsonResponse(error_body(code, message[:200]), status_code=code.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JsonResponse:
        code = ErrorCode.NOT_FOUND if error.status_code in (404, 405) else ErrorCode.INVALID_PARAMETER
        return JsonResponse(error_body(code, str(error.detail)[:200]), status_code=code.status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JsonResponse:
        log.exception("api: %s %s failed", request.method, request.url.path)
        return JsonResponse(error_body(ErrorCode.INTERNAL_ERROR), status_code=500)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def describe(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with this API's error shape and signed-request headers."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = schemas.ERROR
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    headers = [
        {"name": KEY_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": TIMESTAMP_HEADER, "in": "header", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]{1,16}$"}, "description": "ms since the epoch"},
        {"name": RECV_WINDOW_HEADER, "in": "header", "required": False,
         "schema": {"type": "string", "pattern": "^[0-9]{1,5}$"}, "description": "ms, 1 to 60000 (5000)"},
        {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "hex HMAC-SHA256 or Ed25519 signature of the canonical payload (see README)"},
    ]  # fmt: skip
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = {"description": "Bad input", **error}
            responses["429"] = {"description": "Rate limited (Retry-After says when to retry)", **error}
            responses["418"] = {
                "description": "Banned for a while after repeated rate limit violations",
                **error,
            }
            if SIGNED_TAGS & set(operation.get("tags", ())) and path not in PUBLIC_AUTH_PATHS:
                operation["parameters"] = [*headers, *operation.get("parameters", [])]
                responses["401"] = {"description": "Not authenticated", **error}
                responses["403"] = {"description": "Not allowed (scope or IP)", **error}
                responses["404"] = {"description": "Not found", **error}
                responses["503"] = {"description": "The engine is not taking commands", **error}
    return document
