"""Order placement served straight from ASGI, ahead of FastAPI's routing and middleware.

``POST /v1/orders`` is the API's hot path, and FastAPI's stack (its middleware, routing,
dependency machinery, Starlette's request and response objects) costs more than the placement
itself. ``FastOrderEntry`` wraps the application: that one route reads its body from ``receive``,
goes to ``api.trading.order_entry``'s handler with the ASGI scope, and sends the JSON answer in
two messages; every other request, and every lifespan and WebSocket scope, goes to the
application untouched. The FastAPI route stays, calling the same handler, so the OpenAPI document
describes it exactly and the two answer alike: the content as ``api.wire.JsonResponse`` renders
it, a refusal (``ApiError``) with the application's error body, status and headers, anything
unexpected logged and answered 500 ``INTERNAL_ERROR``, as ``api.app``'s handlers do. A client
that leaves before its body arrives gets nothing, and nothing is placed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, ErrorCode, error_body

log = logging.getLogger(__name__)

PATH = "/v1/orders"
_JSON = (b"content-type", b"application/json")


class FastOrderEntry:
    def __init__(
        self, app: ASGIApp, place: Callable[[Mapping[str, Any], bytes], Awaitable[dict[str, Any]]]
    ) -> None:
        self.app = app
        self.place = place

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return
        headers: list[tuple[bytes, bytes]] = []
        try:
            status, content = 200, orjson.dumps(await self.place(scope, body))
        except ApiError as error:
            status, content = error.status, orjson.dumps(error.body())
            headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                       for name, value in error.headers().items()]  # fmt: skip
        except Exception:
            log.exception("api: POST %s failed", PATH)
            status, content = 500, orjson.dumps(error_body(ErrorCode.INTERNAL_ERROR))
        headers += [(b"content-length", str(len(content)).encode()), _JSON]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
