"""Order entry shared by REST and WebSocket: one command, or a batch of actions, to its response.

Both take commands already built and checked by ``api.orders`` and answer after the journal
commit. The node's inbox is the order of execution: ``execute_one`` and ``execute_batch`` call
``node.submit`` before their first ``await``, so tasks started in frame order reach the engine in
frame order (asyncio starts ready tasks first in, first out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.context import Services
from api.errors import ApiError, ErrorCode
from api.orders import (
    amend_command,
    cancel_all_command,
    cancel_command,
    outcome,
    place_command,
    record_view,
)
from api.wire import Units
from matcher.engine import Engine

MAX_BATCH = 100
BUILDERS: dict[str, Callable[[Units, int, dict[str, Any]], tuple[Any, ...]]] = {
    "place": place_command,
    "cancel": cancel_command,
    "amend": amend_command,
    "cancel_all": cancel_all_command,
}
ACTIONS_MESSAGE = "action must be place, cancel, amend or cancel_all"


async def execute_one(services: Services, command: tuple[Any, ...]) -> dict[str, Any]:
    """The response to one command; a repeated client order id comes back with its order."""
    [(stamped, events)] = await services.execute([command])
    result = outcome(services.units, stamped, events)
    if result.get("duplicate"):
        await with_original(services, command, result)
    return result


async def with_original(
    services: Services, command: tuple[Any, ...], result: dict[str, Any]
) -> dict[str, Any]:
    """``result`` of a duplicate placement, with the original order it names (read from the
    engine)."""
    found = await services.read(by_client_id(command[3], command[12]))
    if found is not None:
        result["order"] = record_view(services.units, *found)
    return result


async def execute_batch(services: Services, account: int, actions: object) -> dict[str, Any]:
    """Up to ``MAX_BATCH`` actions in one journal group, one result each, in order:
    ``{"ok": true, ...}`` or ``{"ok": false, "error": {code, msg}}``."""
    if not isinstance(actions, list) or not 0 < len(actions) <= MAX_BATCH:
        raise ApiError(ErrorCode.BATCH_TOO_LARGE)
    units = services.units
    results: list[dict[str, Any] | None] = []
    commands = []
    for action in actions:
        try:
            if not isinstance(action, dict) or action.get("action") not in BUILDERS:
                raise ApiError(
                    ErrorCode.INVALID_PARAMETER, "action must be place, cancel, amend or cancel_all"
                )
            fields = {k: v for k, v in action.items() if k != "action"}
            commands.append(BUILDERS[action["action"]](units, account, fields))
            results.append(None)
        except ApiError as error:
            results.append({"ok": False, "error": error.body()})
    acks = iter(await services.execute(commands) if commands else [])
    for position, result in enumerate(results):
        if result is None:
            try:
                results[position] = {"ok": True, **outcome(units, *next(acks))}
            except ApiError as error:
                results[position] = {"ok": False, "error": error.body()}
    return {"results": results}


def by_client_id(account: int, cid: str | None) -> Callable[[Engine], tuple[str, list[Any]] | None]:
    """A copying engine query: the order of ``account`` with client order id ``cid``, if held."""

    def query(engine: Engine) -> tuple[str, list[Any]] | None:
        found = engine.order_by_client_id(account, cid) if cid is not None else None
        return None if found is None else (found[0], list(found[1]))

    return query
