"""Private routes: orders (place, cancel, cancel-all, amend, batch, queries), fills, balances,
withdrawals. Every one is signed (``api.auth``) and acts on the key's own account.

Commands go through the node and are answered after the journal commit. Live state (an order by
id or client order id, open orders, balances) is read from the engine on its sequencer thread
(``Node.read``); history, fills and withdrawals come from the SQL store, which the projector keeps
a little behind the engine: those responses carry ``projected_seq`` (the last engine seq the store
holds) so a client can tell.

Order placement is the hot path: its body is parsed with orjson and checked by hand
(``api.orders``); its OpenAPI schema is declared explicitly (``api.schemas``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.auth import signed, signed_asgi
from api.context import Services
from api.credentials import Scope
from api.entry import by_client_id, execute_batch, execute_one
from api.errors import ApiError, ErrorCode, reject_code
from api.orders import (
    amend_command,
    cancel_all_command,
    cancel_command,
    order_view,
    parse_body,
    place_command,
    record_view,
)
from api.wire import SIDE_NAMES, JsonResponse, Units
from matcher.commands import Withdraw
from matcher.engine import Engine
from matcher.events import REJECTED
from store.models import Order, ProjectionCursor, Trade, Withdrawal
from store.projection import CURSOR

HISTORY_LIMIT = 1_000

#: The scope each route needs; each route's name is also its rate limit name.
SCOPES = {
    "POST /v1/orders": Scope.TRADE,
    "DELETE /v1/order": Scope.TRADE,
    "DELETE /v1/orders": Scope.TRADE,
    "PATCH /v1/order": Scope.TRADE,
    "POST /v1/batch": Scope.TRADE,
    "GET /v1/order": Scope.READ,
    "GET /v1/orders/open": Scope.READ,
    "GET /v1/orders/history": Scope.READ,
    "GET /v1/fills": Scope.READ,
    "GET /v1/balances": Scope.READ,
    "POST /v1/withdrawals": Scope.WITHDRAW,
    "GET /v1/withdrawals": Scope.READ,
}

Symbol = Annotated[str | None, Query(min_length=1, max_length=32)]
Limit = Annotated[int, Query(ge=1, le=HISTORY_LIMIT)]


def order_entry(services: Services) -> Callable[[Mapping[str, Any], bytes], Awaitable[dict[str, Any]]]:
    """``POST /v1/orders``' handler, from the request's ASGI scope and body to the response's
    content: the route below, and ``api.fastpath`` ahead of the router."""
    check = signed_asgi(services, SCOPES["POST /v1/orders"], "POST /v1/orders")
    units = services.units

    async def place(asgi: Mapping[str, Any], body: bytes) -> dict[str, Any]:
        key = check(asgi, body)
        return await execute_one(services, place_command(units, key.account_id, parse_body(body)))

    return place


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["trading"], default_response_class=JsonResponse)
    units = services.units

    guards = {route: signed(services, scope, route) for route, scope in SCOPES.items()}
    place_order = order_entry(services)

    @router.post("/orders", openapi_extra=schemas.body(schemas.PLACE_ORDER), responses=schemas.PLACED)
    async def place(request: Request) -> JsonResponse:
        """Place an order of any type. A client order id seen in the last 24 hours returns that
        order (``duplicate: true``) and makes none."""
        return JsonResponse(await place_order(request.scope, await request.body()))

    @router.delete("/order", responses=schemas.CHANGED)
    async def cancel(
        request: Request,
        symbol: Annotated[str, Query(min_length=1, max_length=32)],
        order_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
        client_order_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    ) -> JsonResponse:
        """Cancel one open order, by ``order_id`` or ``client_order_id``."""
        key = await guards["DELETE /v1/order"](request)
        fields = {"symbol": symbol, "order_id": order_id, "client_order_id": client_order_id}
        command = cancel_command(units, key.account_id, {k: v for k, v in fields.items() if v is not None})
        return JsonResponse(await execute_one(services, command))

    @router.delete("/orders", responses=schemas.CANCELLED_ALL)
    async def cancel_all(request: Request, symbol: Symbol = None) -> JsonResponse:
        """Cancel every open order of the account, on one symbol or on all."""
        key = await guards["DELETE /v1/orders"](request)
        fields = {} if symbol is None else {"symbol": symbol}
        return JsonResponse(await execute_one(services, cancel_all_command(units, key.account_id, fields)))

    @router.patch("/order", openapi_extra=schemas.body(schemas.AMEND_ORDER), responses=schemas.CHANGED)
    async def amend(request: Request) -> JsonResponse:
        """Amend an open order: quantity down at the same price keeps its queue place; a new price
        or a larger quantity loses it (and may trade)."""
        key = await guards["PATCH /v1/order"](request)
        fields = parse_body(await request.body())
        return JsonResponse(await execute_one(services, amend_command(units, key.account_id, fields)))

    @router.post("/batch", openapi_extra=schemas.body(schemas.BATCH), responses=schemas.BATCHED)
    async def batch(request: Request) -> JsonResponse:
        """Up to 100 actions (place, cancel, amend, cancel_all), applied in order in one journal
        group; each gets its own result, ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``."""
        key = await guards["POST /v1/batch"](request)
        actions = parse_body(await request.body()).get("actions")
        return JsonResponse(await execute_batch(services, key.account_id, actions))

    @router.get("/order", responses=schemas.ORDER)
    async def get_order(
        request: Request,
        order_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
        client_order_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    ) -> JsonResponse:
        """One order by ``order_id`` or ``client_order_id``: its live state while the engine
        holds it (open, or a client id in its 24 h window), else as the SQL store has it."""
        key = await guards["GET /v1/order"](request)
        if (order_id is None) == (client_order_id is None):
            raise ApiError(ErrorCode.MISSING_PARAMETER, "give exactly one of order_id and client_order_id")
        account = key.account_id
        if order_id is not None:
            found = await services.read(_by_order_id(account, order_id))
        else:
            found = await services.read(by_client_id(account, client_order_id))
        if found is not None:
            return JsonResponse({"order": record_view(units, *found), "source": "engine"})
        row = await run_in_threadpool(_stored_order, services, account, order_id, client_order_id)
        if row is None:
            raise ApiError(ErrorCode.NOT_FOUND, "no such order on this account")
        return JsonResponse({"order": row, "source": "store"})

    @router.get("/orders/open", responses=schemas.ORDERS)
    async def open_orders(request: Request, symbol: Symbol = None) -> JsonResponse:
        """The account's open orders, oldest first per symbol (from the engine)."""
        key = await guards["GET /v1/orders/open"](request)
        if symbol is not None:
            units.symbol(symbol)
        account = key.account_id

        def query(engine: Engine) -> list[tuple[str, list[Any]]]:
            markets = [engine.markets[symbol]] if symbol is not None else engine.markets.values()
            return [(m.config.name, list(o)) for m in markets for o in m.book.orders_of(account)]

        found = await services.read(query)
        return JsonResponse({"orders": [record_view(units, name, order) for name, order in found]})

    @router.get("/orders/history", responses=schemas.ORDERS)
    async def history(
        request: Request,
        symbol: Symbol = None,
        limit: Limit = 100,
    ) -> JsonResponse:
        """The account's orders, newest first, open and done (from the SQL store)."""
        key = await guards["GET /v1/orders/history"](request)
        if symbol is not None:
            units.symbol(symbol)
        return JsonResponse(await run_in_threadpool(_history, services, key.account_id, symbol, limit))

    @router.get("/fills", responses=schemas.FILLS)
    async def fills(
        request: Request,
        symbol: Symbol = None,
        limit: Limit = 100,
    ) -> JsonResponse:
        """The account's fills, newest first, each with its settlement status, and its batch id
        and transaction hash once settled (from the SQL store)."""
        key = await guards["GET /v1/fills"](request)
        if symbol is not None:
            units.symbol(symbol)
        return JsonResponse(await run_in_threadpool(_fills, services, key.account_id, symbol, limit))

    @router.get("/balances", responses=schemas.BALANCES)
    async def balances(request: Request) -> JsonResponse:
        """Every asset's available and held balance (held: what open orders could spend), from
        the engine."""
        key = await guards["GET /v1/balances"](request)
        account = key.account_id
        found = await services.read(lambda engine: engine.accounts.balances(account))
        views = []
        for asset in units.config.assets:
            available, held = found.get(asset.name, (0, 0))
            views.append({"asset": asset.name, "available": units.amount_text(asset.name, available),
                          "held": units.amount_text(asset.name, held)})  # fmt: skip
        return JsonResponse({"balances": views})

    @router.post("/withdrawals", openapi_extra=schemas.body(schemas.WITHDRAW), responses=schemas.WITHDRAWN)
    async def withdraw(request: Request) -> JsonResponse:
        """Request a withdrawal: the amount leaves the available balance now, and is paid on chain
        by settlement (its status is in ``GET /v1/withdrawals``)."""
        key = await guards["POST /v1/withdrawals"](request)
        fields = parse_body(await request.body())
        if set(fields) - {"asset", "amount"}:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "a withdrawal has asset and amount only")
        asset = units.asset(fields.get("asset"))
        amount = units.amount(asset, fields.get("amount"))
        command = tuple(Withdraw.of(account=key.account_id, asset=asset.name, amount=amount))
        [(stamped, events)] = await services.execute([command])
        rejected = [event for event in events if event[0] == REJECTED]
        if stamped is None or rejected:
            raise ApiError(reject_code(rejected[0][5]) if rejected else ErrorCode.INVALID_AMOUNT)
        seq = stamped[1]
        return JsonResponse(
            {"seq": seq, "asset": asset.name, "amount": units.amount_text(asset.name, amount)}
        )

    @router.get("/withdrawals", responses=schemas.WITHDRAWALS)
    async def withdrawals(
        request: Request,
        limit: Limit = 100,
    ) -> JsonResponse:
        """The account's withdrawal requests, newest first, with their settlement status."""
        key = await guards["GET /v1/withdrawals"](request)
        return JsonResponse(await run_in_threadpool(_withdrawals, services, key.account_id, limit))

    return router


# ---------------------------------------------------------------- engine queries (copying)


def _by_order_id(account: int, oid: int) -> Callable[[Engine], tuple[str, list[Any]] | None]:
    def query(engine: Engine) -> tuple[str, list[Any]] | None:
        for name, market in engine.markets.items():
            order = market.book.order(oid)
            if order is not None and order[1] == account:
                return name, list(order)
        return None

    return query


# -------------------------------------------------------------------------- store queries


def _projected_seq(connection: Any) -> int:
    seq = connection.execute(select(ProjectionCursor.seq).where(ProjectionCursor.name == CURSOR)).scalar()
    return int(seq or 0)


def _row_view(units: Units, row: Any) -> dict[str, Any]:
    view = order_view(units, row.symbol, row.order_id, row.client_order_id, row.side, row.price, row.qty,
                      row.filled, row.leaves, row.status, row.tif)  # fmt: skip
    view["type"] = "limit" if row.order_type == 1 else "market"
    return view


def _stored_order(
    services: Services, account: int, oid: int | None, cid: str | None
) -> dict[str, Any] | None:
    query = select(Order).where(Order.account_id == account)
    query = (
        query.where(Order.order_id == oid) if oid is not None else query.where(Order.client_order_id == cid)
    )
    with services.db.connect() as connection:
        row = connection.execute(query.order_by(Order.order_id.desc()).limit(1)).first()
    return None if row is None else _row_view(services.units, row)


def _history(services: Services, account: int, symbol: str | None, limit: int) -> dict[str, Any]:
    query = select(Order).where(Order.account_id == account)
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    with services.db.connect() as connection:
        rows = connection.execute(query.order_by(Order.order_id.desc()).limit(limit)).all()
        seq = _projected_seq(connection)
    return {"projected_seq": seq, "orders": [_row_view(services.units, row) for row in rows]}


def _fills(services: Services, account: int, symbol: str | None, limit: int) -> dict[str, Any]:
    units = services.units
    query = select(Trade).where(or_(Trade.taker_account == account, Trade.maker_account == account))
    if symbol is not None:
        query = query.where(Trade.symbol == symbol)
    with services.db.connect() as connection:
        rows = connection.execute(query.order_by(Trade.seq.desc(), Trade.trade_id.desc()).limit(limit)).all()
        seq = _projected_seq(connection)
    out = []
    for row in rows:
        taker = row.taker_account == account
        side = row.taker_side if taker else 3 - row.taker_side
        quote = units.symbols[row.symbol].quote
        out.append({
            "symbol": row.symbol, "trade_id": row.trade_id, "seq": row.seq,
            "order_id": row.taker_order_id if taker else row.maker_order_id,
            "side": SIDE_NAMES[side], "liquidity": "taker" if taker else "maker",
            "price": units.price_text(row.symbol, row.price), "qty": units.qty_text(row.symbol, row.qty),
            "quote_qty": units.amount_text(quote, row.quote_qty),
            "fee": units.amount_text(quote, row.taker_fee if taker else row.maker_fee),
            "settlement_status": row.settlement_status, "batch_id": row.batch_id, "tx_hash": row.tx_hash,
        })  # fmt: skip
    return {"projected_seq": seq, "fills": out}


def _withdrawals(services: Services, account: int, limit: int) -> dict[str, Any]:
    query = select(Withdrawal).where(Withdrawal.account_id == account)
    with services.db.connect() as connection:
        rows = connection.execute(query.order_by(Withdrawal.seq.desc()).limit(limit)).all()
        seq = _projected_seq(connection)
    return {
        "projected_seq": seq,
        "withdrawals": [
            {"seq": row.seq, "asset": row.asset, "amount": services.units.amount_text(row.asset, row.amount),
             "settlement_status": row.settlement_status, "batch_id": row.batch_id}
            for row in rows
        ],
    }  # fmt: skip
