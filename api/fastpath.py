"""Order placement served straight from ASGI, ahead of FastAPI's routing and middleware.

``POST /v1/orders`` is the API's hot path, and FastAPI's stack (its middleware, routing,
dependency machinery) costs more than the placement itself. ``FastOrderEntry`` wraps the
application: that one route goes to ``api.trading.order_entry``'s handler directly; every other
request, and every lifespan and WebSocket scope, goes to the application untouched. The FastAPI
route stays, calling the same handler, so the OpenAPI document describes it exactly and the two
answer alike: a refusal (``ApiError``) gets the application's error body, status and headers,
anything unexpected is logged and answered 500 ``INTERNAL_ERROR``, as ``api.app``'s handlers do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, ErrorCode, error_body
from api.wire import JsonResponse

log = logging.getLogger(__name__)

PATH = "/v1/orders"


class FastOrderEntry:
    def __init__(self, app: ASGIApp, place: Callable[[Request], Awaitable[JsonResponse]]) -> None:
        self.app = app
        self.place = place

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await self.place(Request(scope, receive))
        except ApiError as error:
            response = JsonResponse(error.body(), status_code=error.status, headers=error.headers())
        except Exception:
            log.exception("api: POST %s failed", PATH)
            response = JsonResponse(error_body(ErrorCode.INTERNAL_ERROR), status_code=500)
        await response(scope, receive, send)
