"""The operator's controls, behind the data directory's admin token and kept out of the OpenAPI
document: reference prices (``/v1/admin/references``, as ``bluebook ref`` calls them) and halts
(``/v1/admin/halts``, as ``bluebook halt`` and ``bluebook resume`` do).

- ``GET`` lists the prices that stand; ``POST {underlying, price, status?}`` sets one, which wins
  over the feed for that underlying from the next pump (within a second) until it is cleared;
  ``DELETE /{underlying}`` clears it and hands the underlying back to the feed.
- The price reaches the engine as every reference does, a journaled ``SetReference``, so a replay
  sees it. Without gating there are no references to set: 503 with ``GATING_OFF``.
- ``POST /v1/admin/halts {symbol, reason, on}`` sends a journaled ``SetTradingStatus``: ``reason``
  is ``operator`` (the default), ``corporate_action`` (which also cancels the symbol's open
  orders), ``token_paused``, or, to turn off only, ``circuit_breaker``; ``symbol`` ``""`` means
  every symbol. A halt ends, once every cause is gone and at least the reopening time has passed
  since it began, with the reopening auction; ``GET /v1/sessions`` shows it all.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth import admin
from api.context import OperatorPrices, Services
from api.errors import ApiError, ErrorCode
from matcher.commands import SetTradingStatus
from matcher.events import REJECTED, kind_of
from matcher.halts import OPERATED, HaltReason

Underlying = Annotated[str, Path(min_length=1, max_length=20)]


HALT_REASONS = {reason.name.lower(): reason for reason in (*OPERATED, HaltReason.CIRCUIT_BREAKER)}


class HaltRequest(BaseModel):
    symbol: str = Field(max_length=32)
    reason: str = Field(default="operator", max_length=20)
    on: bool = True


class ReferenceRequest(BaseModel):
    underlying: str = Field(min_length=1, max_length=20)
    price: str = Field(min_length=1, max_length=40)
    status: str = Field(default="open", pattern="^[a-z_]{1,20}$")


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/admin", include_in_schema=False, dependencies=[Depends(admin(services))])

    @router.post("/halts")
    async def halt(request: HaltRequest) -> dict[str, Any]:
        reason = HALT_REASONS.get(request.reason)
        if reason is None:
            known = ", ".join(sorted(HALT_REASONS))
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"reason must be one of {known}")
        if request.on and reason not in OPERATED:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"{request.reason} can only be turned off")
        symbol = services.units.symbol(request.symbol).name if request.symbol else ""
        command = SetTradingStatus.of(account=0, symbol=symbol, reason=int(reason), on=int(request.on))
        ((_, events),) = await services.execute([tuple(command)])
        if isinstance(events, str) or (events and events[0][0] == REJECTED):
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"the engine refused it: {events!r}"[:200])
        return {"symbol": symbol, "reason": request.reason, "on": request.on,
                "events": [kind_of(event).name.lower() for event in events]}  # fmt: skip

    def prices() -> OperatorPrices:
        if services.references is None:
            raise ApiError(ErrorCode.GATING_OFF)
        return services.references

    @router.get("/references")
    async def standing() -> dict[str, Any]:
        return {"references": [_view(name, price, status) for name, (price, status) in
                               sorted(prices().standing().items())]}  # fmt: skip

    @router.post("/references")
    async def set_reference(request: ReferenceRequest) -> dict[str, Any]:
        try:
            prices().set(request.underlying, request.price, request.status)
        except ValueError as error:
            raise ApiError(ErrorCode.INVALID_PARAMETER, str(error)) from None
        price, status = prices().standing()[request.underlying]
        return _view(request.underlying, price, status)

    @router.delete("/references/{underlying}")
    async def clear_reference(underlying: Underlying) -> dict[str, Any]:
        if not prices().clear(underlying):
            raise ApiError(ErrorCode.NOT_FOUND, f"no operator price stands for {underlying!r}")
        return {"underlying": underlying, "cleared": True}

    return router


def _view(underlying: str, price: Any, status: str) -> dict[str, Any]:
    return {"underlying": underlying, "price": str(price), "status": status, "source": "manual"}
