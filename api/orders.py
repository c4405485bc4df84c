"""Order entry: request bodies → engine commands (validated by hand), engine events → responses.

This is the hot path, so bodies are parsed with orjson and checked field by field here rather
than through pydantic models; ``api.schemas`` declares the same shapes for the OpenAPI document,
and a test holds the two together. Every check that fails raises ``ApiError`` with the code the
engine would give (``api.errors``: 6000 + ``Reject``), so nothing malformed reaches the journal.

An order's view, the same from events, from the engine's live record and from the SQL store:
``qty`` is its current size (``filled + leaves``: the original, less what was cancelled or
amended away), ``status`` one of new, partially_filled, filled, cancelled, expired. Times are
milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from api.errors import ApiError, ErrorCode, reject_code
from api.wire import (
    ORDER_TYPES,
    SIDE_NAMES,
    SIDES,
    STATUS_NAMES,
    STPS,
    TIF_NAMES,
    TIFS,
    TYPE_NAMES,
    Units,
    client_order_id,
    order_id,
)
from matcher.book import O_CLIENT_ID, O_ID, O_LEAVES, O_PRICE, O_QTY, O_SIDE, O_TIF, Order, order_status
from matcher.commands import AmendOrder, CancelAll, CancelOrder, CommandKind
from matcher.enums import CancelReason, OrderStatus, OrderType, Stp, TimeInForce
from matcher.events import ACCEPTED, AMENDED, CANCELLED, DUPLICATE, FILL, REJECTED

PLACE_FIELDS = frozenset(
    {"symbol", "side", "type", "price", "qty", "time_in_force", "post_only", "stp", "client_order_id",
     "expire_at"}
)  # fmt: skip
CANCEL_FIELDS = frozenset({"symbol", "order_id", "client_order_id"})
AMEND_FIELDS = frozenset({"symbol", "order_id", "price", "qty"})
CANCEL_ALL_FIELDS = frozenset({"symbol"})
NS_PER_MS = 1_000_000
_EXPIRING = {int(CancelReason.IOC), int(CancelReason.FOK), int(CancelReason.EXPIRED)}
_DEFAULT_STP = int(Stp.EXPIRE_MAKER)
_BY_USER = int(CancelReason.USER)
_BY_ALL = int(CancelReason.CANCEL_ALL)


def parse_body(body: bytes | str) -> dict[str, Any]:
    """The JSON object of a request body; BODY_MALFORMED for anything else."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(ErrorCode.BODY_MALFORMED) from None
    if not isinstance(value, dict):
        raise ApiError(ErrorCode.BODY_MALFORMED)
    return value


def _only(fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"unknown field {unknown[0]!r}"[:100])


def _required(fields: Mapping[str, Any], name: str) -> Any:
    value = fields.get(name)
    if value is None:
        raise ApiError(ErrorCode.MISSING_PARAMETER, f"{name} is required")
    return value


def _choice(
    fields: Mapping[str, Any], name: str, choices: Mapping[str, int], default: int, code: ErrorCode
) -> int:
    value = fields.get(name)
    if value is None:
        return default
    chosen = choices.get(value) if isinstance(value, str) else None
    if chosen is None:
        raise ApiError(code)
    return chosen


def place_command(units: Units, account: int, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``PlaceOrder`` for ``fields`` (see ``api.schemas.PLACE_ORDER``), or the ``ApiError``."""
    _only(fields, PLACE_FIELDS)
    symbol = units.symbol(_required(fields, "symbol"))
    side = _choice(fields, "side", SIDES, 0, ErrorCode.INVALID_SIDE)
    if not side:
        raise ApiError(ErrorCode.MISSING_PARAMETER, "side is required")
    order_type = _choice(fields, "type", ORDER_TYPES, int(OrderType.LIMIT), ErrorCode.INVALID_ORDER_TYPE)
    tif = _choice(fields, "time_in_force", TIFS, int(TimeInForce.GTC), ErrorCode.INVALID_TIME_IN_FORCE)
    stp = _choice(fields, "stp", STPS, _DEFAULT_STP, ErrorCode.INVALID_STP)
    qty = units.lots(symbol, _required(fields, "qty"))
    if order_type == OrderType.LIMIT:
        price = units.ticks(symbol, _required(fields, "price"))
    else:  # a market order's price is its optional protection price
        price = units.ticks(symbol, fields["price"]) if fields.get("price") is not None else 0
    post_only = fields.get("post_only", False)
    if type(post_only) is not bool:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "post_only must be true or false")
    expire_at = fields.get("expire_at")
    if tif == TimeInForce.GTD:
        if type(expire_at) is not int or not 0 < expire_at < 2**63 // NS_PER_MS:
            raise ApiError(ErrorCode.INVALID_EXPIRY, "a GTD order needs expire_at, ms since the epoch")
        expire_ns = expire_at * NS_PER_MS
    elif expire_at is not None:
        raise ApiError(ErrorCode.INVALID_EXPIRY, "expire_at applies to GTD orders only")
    else:
        expire_ns = 0
    cid = client_order_id(fields.get("client_order_id"))
    return (int(CommandKind.PLACE_ORDER), 0, 0, account, symbol.name, side, order_type, price, qty, tif,
            post_only, stp, cid, expire_ns)  # fmt: skip


def cancel_command(units: Units, account: int, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``CancelOrder`` by ``order_id`` or ``client_order_id`` (exactly one)."""
    _only(fields, CANCEL_FIELDS)
    symbol = units.symbol(_required(fields, "symbol"))
    by_id, by_cid = fields.get("order_id"), fields.get("client_order_id")
    if (by_id is None) == (by_cid is None):
        raise ApiError(ErrorCode.MISSING_PARAMETER, "give exactly one of order_id and client_order_id")
    if by_id is not None:
        return tuple(CancelOrder.of(account=account, symbol=symbol.name, order_id=order_id(by_id),
                                    client_order_id=None))  # fmt: skip
    return tuple(CancelOrder.of(account=account, symbol=symbol.name, order_id=0,
                                client_order_id=client_order_id(by_cid)))  # fmt: skip


def amend_command(units: Units, account: int, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """An ``AmendOrder``: a new price, a new quantity (leaves), or both."""
    _only(fields, AMEND_FIELDS)
    symbol = units.symbol(_required(fields, "symbol"))
    target = order_id(_required(fields, "order_id"))
    price = units.ticks(symbol, fields["price"]) if fields.get("price") is not None else 0
    qty = units.lots(symbol, fields["qty"]) if fields.get("qty") is not None else 0
    if not price and not qty:
        raise ApiError(ErrorCode.INVALID_AMEND)
    return tuple(AmendOrder.of(account=account, symbol=symbol.name, order_id=target, price=price, qty=qty))


def cancel_all_command(units: Units, account: int, fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``CancelAll`` on one symbol, or on every symbol when none is given."""
    _only(fields, CANCEL_ALL_FIELDS)
    symbol = fields.get("symbol")
    name = units.symbol(symbol).name if symbol is not None else ""
    return tuple(CancelAll.of(account=account, symbol=name))


# ------------------------------------------------------------------------------ outcomes


def outcome(
    units: Units, command: tuple[Any, ...] | None, events: list[tuple[Any, ...]] | str
) -> dict[str, Any]:
    """The response to one acknowledged command, or the ``ApiError`` its reject maps to."""
    if command is None or isinstance(events, str):  # the journal refused it: too large a number
        raise ApiError(ErrorCode.INVALID_PARAMETER, "a number is out of range")
    for event in events:
        if event[0] == REJECTED:
            raise ApiError(reject_code(event[5]))
    kind = command[0]
    if kind == CommandKind.PLACE_ORDER:
        own = _first(events, (ACCEPTED, DUPLICATE))
        if own[0] == DUPLICATE:
            return {"duplicate": True, "order": duplicate_view(units, own)}
        return {"duplicate": False, **placed_view(units, command, events[events.index(own) :])}
    if kind == CommandKind.CANCEL_ALL:
        return {
            "cancelled": [changed_view(units, e) for e in events if e[0] == CANCELLED and e[9] == _BY_ALL]
        }
    if kind == CommandKind.CANCEL_ORDER:
        return {"order": changed_view(units, _first(events, (CANCELLED,), reason=_BY_USER))}
    amended = _first(events, (AMENDED,))
    return {"order": changed_view(units, amended), "fills": fills_of(units, events, amended[3])}


def _first(
    events: list[tuple[Any, ...]], kinds: tuple[int, ...], reason: int | None = None
) -> tuple[Any, ...]:
    """The command's own event: expiries due at its time may come before it (``matcher.engine``)."""
    for event in events:
        if event[0] in kinds and (reason is None or event[9] == reason):
            return event
    raise ApiError(ErrorCode.INTERNAL_ERROR, "the engine's answer lacks the command's event")


def placed_view(units: Units, command: tuple[Any, ...], events: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A new order as its events left it, with the fills it took."""
    _, _, ts, _, symbol, side, order_type, _, _, _, post_only, _, cid, _ = command
    accepted = events[0]
    _, _, _, oid, _, _, price, qty, _, tif, _ = accepted
    filled, leaves, status = 0, qty, int(OrderStatus.NEW)
    for event in events[1:]:
        if event[0] == FILL and event[4] == oid:
            filled += event[10]
            leaves = event[14]
            status = int(OrderStatus.FILLED if not leaves else OrderStatus.PARTIALLY_FILLED)
        elif event[0] == CANCELLED and event[3] == oid:
            leaves = event[8]
            if not leaves:
                status = int(OrderStatus.EXPIRED if event[9] in _EXPIRING else OrderStatus.CANCELLED)
    view = order_view(units, symbol, oid, cid, side, price, filled + leaves, filled, leaves, status, tif)
    view["type"] = TYPE_NAMES[order_type]
    view["post_only"] = post_only
    view["time"] = ts // NS_PER_MS
    return {"order": view, "fills": fills_of(units, events, oid)}


def fills_of(units: Units, events: list[tuple[Any, ...]], taker: int | None) -> list[dict[str, Any]]:
    """The fills among ``events`` (of the taker ``taker``, when given), as the taker saw them."""
    return [
        {
            "trade_id": event[3],
            "price": units.price_text(event[2], event[9]),
            "qty": units.qty_text(event[2], event[10]),
            "fee": units.amount_text(units.symbols[event[2]].quote, event[12]),
            "maker_order_id": event[5],
        }
        for event in events
        if event[0] == FILL and (taker is None or event[4] == taker)
    ]


def changed_view(units: Units, event: tuple[Any, ...]) -> dict[str, Any]:
    """What a cancel or amend event says of its order (price, leaves and whether it is over)."""
    if event[0] == AMENDED:
        _, _, symbol, oid, _, side, price, leaves, _, _, kept = event
        return {"order_id": oid, "symbol": symbol, "side": SIDE_NAMES[side],
                "price": units.price_text(symbol, price), "leaves": units.qty_text(symbol, leaves),
                "kept_priority": kept}  # fmt: skip
    if event[0] == CANCELLED:
        _, _, symbol, oid, _, side, price, qty, leaves, reason = event
        return {"order_id": oid, "symbol": symbol, "side": SIDE_NAMES[side],
                "price": units.price_text(symbol, price), "cancelled_qty": units.qty_text(symbol, qty),
                "leaves": units.qty_text(symbol, leaves),
                "reason": CancelReason(reason).name.lower()}  # fmt: skip
    raise ApiError(ErrorCode.INTERNAL_ERROR)


def duplicate_view(units: Units, event: tuple[Any, ...]) -> dict[str, Any]:
    """The original order a repeated client order id names, as the ``Duplicate`` event tells it."""
    _, _, symbol, oid, _, cid, status, filled, leaves = event
    return {"order_id": oid, "client_order_id": cid, "symbol": symbol,
            "qty": units.qty_text(symbol, filled + leaves), "filled": units.qty_text(symbol, filled),
            "leaves": units.qty_text(symbol, leaves), "status": STATUS_NAMES[status]}  # fmt: skip


def order_view(
    units: Units,
    symbol: str,
    oid: int,
    cid: str | None,
    side: int,
    price: int,
    qty: int,
    filled: int,
    leaves: int,
    status: int,
    tif: int,
) -> dict[str, Any]:
    return {"order_id": oid, "client_order_id": cid, "symbol": symbol, "side": SIDE_NAMES[side],
            "price": units.price_text(symbol, price), "qty": units.qty_text(symbol, qty),
            "filled": units.qty_text(symbol, filled), "leaves": units.qty_text(symbol, leaves),
            "status": STATUS_NAMES[status], "time_in_force": TIF_NAMES[tif]}  # fmt: skip


def record_view(units: Units, symbol: str, order: Order) -> dict[str, Any]:
    """An order as the engine's record of it says (copy it on the sequencer thread)."""
    qty, leaves = order[O_QTY], order[O_LEAVES]
    return order_view(units, symbol, order[O_ID], order[O_CLIENT_ID], order[O_SIDE], order[O_PRICE], qty,
                      qty - leaves, leaves, order_status(order), order[O_TIF])  # fmt: skip
