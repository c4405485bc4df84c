"""OpenAPI schemas for the routes whose bodies are checked by hand (``api.orders``).

The hot routes read their JSON with orjson instead of pydantic, so FastAPI cannot derive their
schemas; they are written here, once, and declared on each route (``openapi_extra``). A test
checks that each body schema lists exactly the fields its parser accepts.
"""

from __future__ import annotations

from typing import Any

from api.wire import MAX_CLIENT_ID, ORDER_TYPES, SIDES, STATUS_NAMES, STPS, TIFS

DECIMAL = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "maxLength": 40, "examples": ["250.01"]}
SYMBOL = {"type": "string", "minLength": 1, "maxLength": 32, "examples": ["TSLAx-USDC"]}
CLIENT_ID = {"type": "string", "minLength": 1, "maxLength": MAX_CLIENT_ID, "pattern": "^[!-~]+$"}
ORDER_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
ERROR = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
    "required": ["code", "msg"],
}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


PLACE_ORDER = _object(
    {
        "symbol": SYMBOL,
        "side": {"type": "string", "enum": list(SIDES)},
        "type": {"type": "string", "enum": list(ORDER_TYPES), "default": "limit"},
        "price": {**DECIMAL, "description": "limit price; for a market order its optional protection price"},
        "qty": DECIMAL,
        "time_in_force": {"type": "string", "enum": list(TIFS), "default": "GTC"},
        "post_only": {"type": "boolean", "default": False},
        "stp": {"type": "string", "enum": list(STPS), "default": "expire_maker"},
        "client_order_id": CLIENT_ID,
        "expire_at": {"type": "integer", "minimum": 1, "description": "GTD only: ms since the epoch"},
    },
    ["symbol", "side", "qty"],
)
CANCEL_ORDER = _object({"symbol": SYMBOL, "order_id": ORDER_ID, "client_order_id": CLIENT_ID}, ["symbol"])
AMEND_ORDER = _object(
    {"symbol": SYMBOL, "order_id": ORDER_ID, "price": DECIMAL, "qty": DECIMAL}, ["symbol", "order_id"]
)
CANCEL_ALL = _object({"symbol": SYMBOL}, [])
WITHDRAW = _object(
    {"asset": {"type": "string", "minLength": 1, "maxLength": 32}, "amount": DECIMAL}, ["asset", "amount"]
)


def _action(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    properties = {"action": {"type": "string", "const": name}, **schema["properties"]}
    return {**schema, "properties": properties, "required": ["action", *schema["required"]]}


BATCH = _object(
    {
        "actions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "oneOf": [
                    _action("place", PLACE_ORDER),
                    _action("cancel", CANCEL_ORDER),
                    _action("amend", AMEND_ORDER),
                    _action("cancel_all", CANCEL_ALL),
                ]
            },
        }
    },
    ["actions"],
)

ORDER_VIEW = {
    "type": "object",
    "properties": {
        "order_id": ORDER_ID,
        "client_order_id": {**CLIENT_ID, "type": ["string", "null"]},
        "symbol": SYMBOL,
        "side": {"type": "string", "enum": list(SIDES)},
        "price": DECIMAL,
        "qty": {**DECIMAL, "description": "current size: filled + leaves"},
        "filled": DECIMAL,
        "leaves": DECIMAL,
        "status": {"type": "string", "enum": list(STATUS_NAMES.values())},
        "time_in_force": {"type": "string", "enum": list(TIFS)},
        "type": {"type": "string", "enum": list(ORDER_TYPES)},
    },
    "required": ["order_id", "symbol", "qty", "filled", "leaves", "status"],
}
FILL_VIEW = {
    "type": "object",
    "properties": {
        "trade_id": {"type": "integer"},
        "price": DECIMAL,
        "qty": DECIMAL,
        "fee": {"type": "string"},
        "maker_order_id": ORDER_ID,
    },
}
CHANGE_VIEW = {"type": "object", "properties": {"order_id": ORDER_ID, "symbol": SYMBOL, "leaves": DECIMAL}}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON request body of ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def ok(schema: dict[str, Any], description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """``responses`` declaring a 200 JSON body of ``schema``."""
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def _list(name: str, item: dict[str, Any], stored: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {name: {"type": "array", "items": item}}
    if stored:
        properties["projected_seq"] = {
            "type": "integer",
            "description": "the last engine seq the store holds",
        }
    return {"type": "object", "properties": properties, "required": list(properties)}


PLACED = ok({"type": "object", "properties": {"duplicate": {"type": "boolean"}, "order": ORDER_VIEW,
                                              "fills": {"type": "array", "items": FILL_VIEW}},
             "required": ["duplicate", "order"]})  # fmt: skip
FILLS_OF_ORDER = {"type": "array", "items": FILL_VIEW}
CHANGED = ok({"type": "object", "properties": {"order": CHANGE_VIEW, "fills": FILLS_OF_ORDER},
              "required": ["order"]})  # fmt: skip
CANCELLED_ALL = ok(_list("cancelled", CHANGE_VIEW))
BATCHED = ok(_list("results", {"type": "object", "properties": {"ok": {"type": "boolean"}, "error": ERROR},
                               "required": ["ok"]}))  # fmt: skip
ORDER = ok({"type": "object", "properties": {"order": ORDER_VIEW, "source": {"enum": ["engine", "store"]}},
            "required": ["order", "source"]})  # fmt: skip
ORDERS = ok(_list("orders", ORDER_VIEW))
FILLS = ok(_list("fills", {"type": "object", "properties": {
    "symbol": SYMBOL, "trade_id": {"type": "integer"}, "order_id": ORDER_ID, "side": {"enum": list(SIDES)},
    "liquidity": {"enum": ["maker", "taker"]}, "price": DECIMAL, "qty": DECIMAL, "fee": {"type": "string"},
    "settlement_status": {"type": "string"}, "batch_id": {"type": ["integer", "null"]},
    "tx_hash": {"type": ["string", "null"]}}}, stored=True))  # fmt: skip
BALANCE = {
    "type": "object",
    "properties": {"asset": {"type": "string"}, "available": DECIMAL, "held": DECIMAL},
}
BALANCES = ok(_list("balances", BALANCE))
WITHDRAWN = ok({"type": "object", "properties": {"seq": {"type": "integer"}, "asset": {"type": "string"},
                                                 "amount": DECIMAL}})  # fmt: skip
WITHDRAWALS = ok(_list("withdrawals", {"type": "object", "properties": {
    "seq": {"type": "integer"}, "asset": {"type": "string"}, "amount": DECIMAL,
    "settlement_status": {"type": "string"}, "batch_id": {"type": ["integer", "null"]},
}}, stored=True))  # fmt: skip
