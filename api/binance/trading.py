"""Signed Binance routes under ``/api/v3``: orders, open orders, all orders, account, my trades,
cancel-replace, and listen keys (``userDataStream``).

- Orders go through bluebook's own order parser (``api.orders``), so grids, limits and rejects
  are checked once; Binance's names map onto it: LIMIT (timeInForce GTC, IOC or FOK, GTC when
  absent), MARKET (``quantity`` only; the engine bounds it by its protection price), LIMIT_MAKER
  (post-only GTC); ``selfTradePreventionMode`` NONE, EXPIRE_TAKER, EXPIRE_MAKER (default),
  EXPIRE_BOTH, DECREMENT; ``newClientOrderId`` up to 36 characters. A client order id seen in the
  last 24 hours is refused (-2010 "Duplicate order sent.") as Binance does.
- Answers come from the order log once it has applied the command (``Feed.caught_up``: a later
  command may already have changed the order too); an order
  the log no longer holds is read from the engine (client ids, 24 h) or the SQL store, whose
  rows carry no times (reported as 0) and follow the engine closely but not instantly.
- With gating on, MARKET orders are taken in regular hours only (-2010 otherwise), a price
  outside the band is -1013 ``PERCENT_PRICE_BY_SIDE``; on a halted symbol LIMIT orders are
  collected for its reopening auction and MARKET (or IOC, FOK) orders get -2010.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, or_, select
from starlette.concurrency import run_in_threadpool

from api.binance.errors import BinanceError, Code, translate
from api.binance.guard import Guard, params_of
from api.binance.names import BinanceNames
from api.binance.orderlog import OrderState, TradeFact, from_record
from api.binance.params import Params, choice, integer, not_sent, optional_integer, text
from api.binance.routing import BinanceRoute
from api.binance.userdata import Feed
from api.binance.views import NS_PER_MS, SIDES, STPS, TIFS, Views
from api.context import Services
from api.credentials import Credential, Scope
from api.errors import ApiError
from api.orders import cancel_all_command, cancel_command, outcome, place_command
from matcher.engine import Engine
from matcher.enums import OrderType, Side, Stp
from matcher.events import ACCEPTED, CANCELLED, DUPLICATE, FILL
from store.models import Order, Trade

TYPES = {"LIMIT": 1, "MARKET": 2, "LIMIT_MAKER": 3}
RESPONSE_TYPES = {"ACK": 1, "RESULT": 2, "FULL": 3}
_LIMIT_MAKER = 3
_FULL = 3
_ACK = 1
SIDE_FIELDS = {v: k.lower() for k, v in SIDES.items()}
TIF_FIELDS = {v: k for k, v in TIFS.items()}
STP_FIELDS = {v: k.lower() for k, v in STPS.items()}
HISTORY_LIMIT = 1_000


def routes(services: Services, guard: Guard, names: BinanceNames, feed: Feed, views: Views) -> APIRouter:
    router = APIRouter(prefix="/api/v3", route_class=BinanceRoute, tags=["binance"], include_in_schema=False)
    units = services.units
    quote_per_tick_lot = units.config.quote_per_tick_lot

    async def signed(request: Request, route: str, scope: Scope) -> tuple[Credential, Params]:
        return await guard.signed(request, route, scope)

    async def run(command: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        [(stamped, events)] = await services.execute([command])
        if any(event[0] == DUPLICATE for event in events):
            raise BinanceError(Code.NEW_ORDER_REJECTED, "Duplicate order sent.")
        outcome(units, stamped, events)  # raises the reject, if any
        await feed.caught_up(stamped[1])
        return stamped, events

    async def place(params: Params, key: Credential, request: Request) -> dict[str, Any]:
        command = place_command(units, key.account_id, order_fields(names, params))
        default = "FULL" if command[6] == OrderType.MARKET or not command[10] else "ACK"
        respond = choice(params, "newOrderRespType", RESPONSE_TYPES, Code.MANDATORY_PARAM, default)
        guard.count_order(request, key)
        stamped, events = await run(command)
        oid = next(event[3] for event in events if event[0] == ACCEPTED)
        state = feed.log.get(oid)
        if state is None:
            raise BinanceError(Code.UNKNOWN)
        if respond == _ACK:
            return views.ack(state)
        view = views.result(state)
        if respond == _FULL:
            trades = [
                TradeFact(e[3], e[9], e[10], e[11], e[12], False)
                for e in events
                if e[0] == FILL and e[4] == oid
            ]
            view["fills"] = [views.fill(state.symbol, trade) for trade in trades]
        return view

    async def cancel(params: Params, key: Credential) -> dict[str, Any]:
        symbol = names.symbol(text(params, "symbol"))
        oid, cid = optional_integer(params, "orderId"), params.get("origClientOrderId") or None
        if oid is None and cid is None:
            raise BinanceError(
                Code.MANDATORY_PARAM,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        fields: dict[str, Any] = {"symbol": symbol.name}
        fields.update({"order_id": oid} if oid is not None else {"client_order_id": cid})
        _, events = await run(cancel_command(units, key.account_id, fields))
        cancelled = next(event for event in events if event[0] == CANCELLED)
        state = await find_order(key.account_id, symbol.name, cancelled[3], None)
        return {
            "origClientOrderId": state.client_order_id or "",
            **views.result(state),
            "clientOrderId": params.get("newClientOrderId") or secrets.token_hex(11),
        }

    async def find_order(account: int, symbol: str, oid: int | None, cid: str | None) -> OrderState:
        """The order from the log, else the engine (by client id), else the store; else -2013."""
        if oid is None and cid is not None:
            found = await services.read(lambda engine: _by_client_id(engine, account, cid))
            if found is not None:
                oid = found[1][0]
                state = feed.log.get(oid)
                return (
                    state
                    if state is not None
                    else from_record(found[0], found[1], 0, quote_per_tick_lot(found[0]))
                )
        state = feed.log.get(oid) if oid is not None else None
        if state is not None and state.account == account and state.symbol == symbol:
            return state
        stored = await run_in_threadpool(_stored_orders, services, account, symbol, oid, cid, 1)
        if not stored:
            raise BinanceError(Code.NO_SUCH_ORDER)
        return stored[0]

    @router.post("/order")
    async def new_order(request: Request) -> dict[str, Any]:
        key, params = await signed(request, "POST /api/v3/order", Scope.TRADE)
        return await place(params, key, request)

    @router.delete("/order")
    async def cancel_order(request: Request) -> dict[str, Any]:
        key, params = await signed(request, "DELETE /api/v3/order", Scope.TRADE)
        return await cancel(params, key)

    @router.get("/order")
    async def get_order(request: Request) -> dict[str, Any]:
        key, params = await signed(request, "GET /api/v3/order", Scope.READ)
        symbol = names.symbol(text(params, "symbol"))
        oid, cid = optional_integer(params, "orderId"), params.get("origClientOrderId") or None
        if oid is None and cid is None:
            raise BinanceError(
                Code.MANDATORY_PARAM,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        return views.order(await find_order(key.account_id, symbol.name, oid, cid))

    @router.post("/order/cancelReplace")
    async def cancel_replace(request: Request) -> Any:
        key, params = await signed(request, "POST /api/v3/order/cancelReplace", Scope.TRADE)
        mode = text(params, "cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise BinanceError(
                Code.MANDATORY_PARAM, "cancelReplaceMode must be STOP_ON_FAILURE or ALLOW_FAILURE."
            )
        cancel_params = {
            "symbol": params.get("symbol", ""),
            "orderId": params.get("cancelOrderId", ""),
            "origClientOrderId": params.get("cancelOrigClientOrderId", ""),
            "newClientOrderId": params.get("cancelNewClientOrderId", ""),
        }
        result: dict[str, Any] = {}
        try:
            result["cancelResponse"], result["cancelResult"] = await cancel(cancel_params, key), "SUCCESS"
        except (BinanceError, ApiError) as error:
            result["cancelResponse"], result["cancelResult"] = translate(error).body(), "FAILURE"
            if mode == "STOP_ON_FAILURE":
                result["newOrderResult"], result["newOrderResponse"] = "NOT_ATTEMPTED", None
                raise_cancel_replace(Code.CANCEL_REPLACE_FAILED, result)
        try:
            result["newOrderResponse"], result["newOrderResult"] = (
                await place(params, key, request),
                "SUCCESS",
            )
        except (BinanceError, ApiError) as error:
            result["newOrderResponse"], result["newOrderResult"] = translate(error).body(), "FAILURE"
            failed = result["cancelResult"] == "FAILURE"
            raise_cancel_replace(
                Code.CANCEL_REPLACE_FAILED if failed else Code.CANCEL_REPLACE_PARTIAL, result
            )
        return result

    @router.get("/openOrders")
    async def open_orders(request: Request) -> list[dict[str, Any]]:
        key, params = await signed(request, "GET /api/v3/openOrders", Scope.READ)
        symbol = names.symbol(params["symbol"]).name if params.get("symbol") else None
        mine = [s for s in feed.log.live() if s.account == key.account_id and symbol in (None, s.symbol)]
        return [views.order(state) for state in sorted(mine, key=lambda s: s.order_id)]

    @router.delete("/openOrders")
    async def cancel_open_orders(request: Request) -> list[dict[str, Any]]:
        key, params = await signed(request, "DELETE /api/v3/openOrders", Scope.TRADE)
        symbol = names.symbol(text(params, "symbol"))
        _, events = await run(cancel_all_command(units, key.account_id, {"symbol": symbol.name}))
        cancelled = [feed.log.get(event[3]) for event in events if event[0] == CANCELLED]
        return [{"origClientOrderId": s.client_order_id or "", **views.result(s)} for s in cancelled if s]

    @router.get("/allOrders")
    async def all_orders(request: Request) -> list[dict[str, Any]]:
        key, params = await signed(request, "GET /api/v3/allOrders", Scope.READ)
        symbol = names.symbol(text(params, "symbol"))
        limit = integer(params, "limit", 500, 1, HISTORY_LIMIT)
        from_id = optional_integer(params, "orderId")
        stored = await run_in_threadpool(
            _stored_orders, services, key.account_id, symbol.name, None, None, limit, from_id
        )
        return [views.order(feed.log.get(s.order_id) or s) for s in stored]

    @router.get("/myTrades")
    async def my_trades(request: Request) -> list[dict[str, Any]]:
        key, params = await signed(request, "GET /api/v3/myTrades", Scope.READ)
        symbol = names.symbol(text(params, "symbol"))
        limit = integer(params, "limit", 500, 1, HISTORY_LIMIT)
        rows = await run_in_threadpool(
            _my_trades,
            services,
            key.account_id,
            symbol.name,
            limit,
            optional_integer(params, "orderId"),
            optional_integer(params, "fromId"),
        )
        times = {t.trade_id: t.ts // NS_PER_MS for t in services.market.symbols[symbol.name].trades}
        out = []
        for row in rows:
            taker = row.taker_account == key.account_id
            side = row.taker_side if taker else 3 - row.taker_side
            out.append(
                {
                    "symbol": names.symbol_id(symbol),
                    "id": row.trade_id,
                    "orderId": row.taker_order_id if taker else row.maker_order_id,
                    "orderListId": -1,
                    "price": units.price_text(symbol, row.price),
                    "qty": units.qty_text(symbol, row.qty),
                    "quoteQty": units.amount_text(symbol.quote, row.quote_qty),
                    "commission": units.amount_text(symbol.quote, row.taker_fee if taker else row.maker_fee),
                    "commissionAsset": names.asset_id(symbol.quote),
                    "time": times.get(row.trade_id, 0),
                    "isBuyer": side == Side.BUY,
                    "isMaker": not taker,
                    "isBestMatch": True,
                }
            )
        return out

    @router.get("/account")
    async def account(request: Request) -> dict[str, Any]:
        key, params = await signed(request, "GET /api/v3/account", Scope.READ)
        found = await services.read(lambda engine: engine.accounts.balances(key.account_id))
        balances = []
        for asset in units.config.assets:
            free, locked = found.get(asset.name, (0, 0))
            if params.get("omitZeroBalances") == "true" and not free and not locked:
                continue
            balances.append(
                {
                    "asset": names.asset_id(asset.name),
                    "free": units.amount_text(asset.name, free),
                    "locked": units.amount_text(asset.name, locked),
                }
            )
        now = services.clock_ms()
        return {
            "makerCommission": 0,
            "takerCommission": 0,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": "0", "taker": "0", "buyer": "0", "seller": "0"},
            "canTrade": Scope.TRADE in key.scopes,
            "canWithdraw": Scope.WITHDRAW in key.scopes,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": key.account_id,
        }

    @router.post("/userDataStream")
    async def create_listen_key(request: Request) -> dict[str, str]:
        key = await guard.user_stream(request, "POST /api/v3/userDataStream")
        return {"listenKey": feed.create_key(key.account_id)}

    @router.put("/userDataStream")
    async def keep_alive(request: Request) -> dict[str, str]:
        key = await guard.user_stream(request, "PUT /api/v3/userDataStream")
        feed.keep_alive(text(await params_of(request), "listenKey"), key.account_id)
        return {}

    @router.delete("/userDataStream")
    async def close_listen_key(request: Request) -> dict[str, str]:
        key = await guard.user_stream(request, "DELETE /api/v3/userDataStream")
        feed.close_key(text(await params_of(request), "listenKey"), key.account_id)
        return {}

    return router


def raise_cancel_replace(code: Code, data: dict[str, Any]) -> None:
    raise BinanceError(code, data=data)


def order_fields(names: BinanceNames, params: Params) -> dict[str, Any]:
    """Binance's order parameters as the fields ``api.orders.place_command`` reads."""
    not_sent(params, "quoteOrderQty", "icebergQty", "stopPrice", "trailingDelta", "strategyId")
    symbol = names.symbol(text(params, "symbol"))
    side = choice(params, "side", SIDES, Code.INVALID_SIDE)
    kind = choice(params, "type", TYPES, Code.INVALID_ORDER_TYPE)
    fields: dict[str, Any] = {
        "symbol": symbol.name,
        "side": SIDE_FIELDS[side],
        "qty": text(params, "quantity"),
        "stp": STP_FIELDS[
            choice(params, "selfTradePreventionMode", STPS, Code.ILLEGAL_CHARS, Stp.EXPIRE_MAKER.name)
        ],
    }
    if params.get("newClientOrderId"):
        fields["client_order_id"] = params["newClientOrderId"]
    if kind == TYPES["MARKET"]:
        not_sent(params, "timeInForce", "price")
        fields["type"] = "market"
        return fields
    fields["price"] = text(params, "price")
    if kind == _LIMIT_MAKER:
        not_sent(params, "timeInForce")
        fields["post_only"] = True
    else:
        fields["time_in_force"] = TIF_FIELDS[choice(params, "timeInForce", TIFS, Code.INVALID_TIF, "GTC")]
    return fields


def _by_client_id(engine: Engine, account: int, cid: str) -> tuple[str, list[Any]] | None:
    found = engine.order_by_client_id(account, cid)
    return None if found is None else (found[0], list(found[1]))


def _stored_orders(
    services: Services,
    account: int,
    symbol: str,
    oid: int | None,
    cid: str | None,
    limit: int,
    from_id: int | None = None,
) -> list[OrderState]:
    """Orders from the SQL store, oldest first, with their quote from the trades table."""
    query = select(Order).where(Order.account_id == account, Order.symbol == symbol)
    if oid is not None:
        query = query.where(Order.order_id == oid)
    if cid is not None:
        query = query.where(Order.client_order_id == cid)
    if from_id is not None:
        query = query.where(Order.order_id >= from_id).order_by(Order.order_id).limit(limit)
    else:
        query = query.order_by(Order.order_id.desc()).limit(limit)
    with services.db.connect() as connection:
        rows = sorted(connection.execute(query).scalars().all(), key=lambda row: row.order_id)
        ids = [row.order_id for row in rows]
        quotes: dict[int, int] = {}
        for column in (Trade.taker_order_id, Trade.maker_order_id):
            summed = select(column, func.sum(Trade.quote_qty)).where(column.in_(ids)).group_by(column)
            for order_id, quote in connection.execute(summed):
                quotes[order_id] = quotes.get(order_id, 0) + int(quote or 0)
    return [
        OrderState(
            row.symbol,
            row.order_id,
            row.account_id,
            row.client_order_id,
            row.side,
            row.order_type,
            row.tif,
            False,
            int(Stp.NONE),
            row.price,
            row.qty,
            row.leaves,
            0,
            0,
            row.filled,
            quotes.get(row.order_id, 0),
            row.status,
        )
        for row in rows
    ]


def _my_trades(
    services: Services, account: int, symbol: str, limit: int, order_id: int | None, from_id: int | None
) -> list[Any]:
    query = select(Trade).where(
        Trade.symbol == symbol, or_(Trade.taker_account == account, Trade.maker_account == account)
    )
    if order_id is not None:
        query = query.where(or_(Trade.taker_order_id == order_id, Trade.maker_order_id == order_id))
    if from_id is not None:
        query = query.where(Trade.trade_id >= from_id).order_by(Trade.trade_id).limit(limit)
    else:
        query = query.order_by(Trade.trade_id.desc()).limit(limit)
    with services.db.connect() as connection:
        return sorted(connection.execute(query).all(), key=lambda row: row.trade_id)
