"""The route class of every Binance REST route: Binance's error shape and usage headers.

Whatever a handler raises leaves as ``{"code", "msg"}`` with Binance's code and status
(``BinanceError`` as it is, a bluebook ``ApiError`` through ``translate``, anything else -1000
after logging), and every response, error or not, carries ``X-MBX-USED-WEIGHT-1M`` and, after an
order, ``X-MBX-ORDER-COUNT-10S`` (``api.binance.guard``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.binance.errors import BinanceError, Code, translate
from api.binance.guard import ORDER_COUNT_HEADER, WEIGHT_HEADER
from api.errors import ApiError
from api.wire import JsonResponse

log = logging.getLogger(__name__)


class BinanceRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except BinanceError as error:
                response = _error(error)
            except ApiError as error:
                response = _error(translate(error))
            except Exception:
                log.exception("binance api: %s %s failed", request.method, request.url.path)
                response = _error(BinanceError(Code.UNKNOWN))
            state = request.state
            response.headers[WEIGHT_HEADER] = str(getattr(state, "binance_weight", 0))
            if hasattr(state, "binance_orders"):
                response.headers[ORDER_COUNT_HEADER] = str(state.binance_orders)
            return response

        return route


def _error(error: BinanceError) -> Response:
    return JsonResponse(error.body(), status_code=error.status, headers=error.headers())
