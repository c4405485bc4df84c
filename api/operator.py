"""The operator's reference prices: ``/v1/admin/references`` (kept out of the OpenAPI document),
behind the data directory's admin token, as ``bluebook ref`` calls them.

- ``GET`` lists the prices that stand; ``POST {underlying, price, status?}`` sets one, which wins
  over the feed for that underlying from the next pump (within a second) until it is cleared;
  ``DELETE /{underlying}`` clears it and hands the underlying back to the feed.
- The price reaches the engine as every reference does, a journaled ``SetReference``, so a replay
  sees it. Without gating there are no references to set: 503 with ``GATING_OFF``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth import admin
from api.context import OperatorPrices, Services
from api.errors import ApiError, ErrorCode

Underlying = Annotated[str, Path(min_length=1, max_length=20)]


class ReferenceRequest(BaseModel):
    underlying: str = Field(min_length=1, max_length=20)
    price: str = Field(min_length=1, max_length=40)
    status: str = Field(default="open", pattern="^[a-z_]{1,20}$")


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/admin/references", include_in_schema=False,
                       dependencies=[Depends(admin(services))])  # fmt: skip

    def prices() -> OperatorPrices:
        if services.references is None:
            raise ApiError(ErrorCode.GATING_OFF)
        return services.references

    @router.get("")
    async def standing() -> dict[str, Any]:
        return {"references": [_view(name, price, status) for name, (price, status) in
                               sorted(prices().standing().items())]}  # fmt: skip

    @router.post("")
    async def set_reference(request: ReferenceRequest) -> dict[str, Any]:
        try:
            prices().set(request.underlying, request.price, request.status)
        except ValueError as error:
            raise ApiError(ErrorCode.INVALID_PARAMETER, str(error)) from None
        price, status = prices().standing()[request.underlying]
        return _view(request.underlying, price, status)

    @router.delete("/{underlying}")
    async def clear_reference(underlying: Underlying) -> dict[str, Any]:
        if not prices().clear(underlying):
            raise ApiError(ErrorCode.NOT_FOUND, f"no operator price stands for {underlying!r}")
        return {"underlying": underlying, "cleared": True}

    return router


def _view(underlying: str, price: Any, status: str) -> dict[str, Any]:
    return {"underlying": underlying, "price": str(price), "status": status, "source": "manual"}
