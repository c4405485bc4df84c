"""Engine state as plain data: export it, restore an engine from it, and hash it.

``export_state(engine)`` returns only dicts, lists, ints, strs, bools and None, in a
deterministic order (books in configuration order, each in queue order; accounts by id), so the
shell can store it in any format and ``state_hash`` is equal for equal states, whatever the
process or ``PYTHONHASHSEED``. ``restore(config, state)`` rebuilds an engine that behaves exactly
as the exported one: every open order in its queue place, every hold, every remembered client id
and deposit reference, the sequence number, time and trade counters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from matcher.book import O_EXPIRE_AT, O_ID, O_LEAVES, O_TIF, Order
from matcher.config import MarketConfig
from matcher.engine import NO_EXPIRY, Engine
from matcher.enums import TimeInForce
from matcher.gating import Gate

STATE_VERSION = 1
GTD = int(TimeInForce.GTD)


def export_state(engine: Engine) -> dict[str, Any]:
    """The engine's whole state as plain data (see the module docstring)."""
    books = {
        name: {
            "next_trade_id": market.book.next_trade_id(),
            "orders": [list(order) for order in _queue_order(market.book)],
        }
        for name, market in engine.markets.items()
    }
    client_ids = [
        [forget_at, account, cid, symbol, list(order)]
        for forget_at, (account, cid), entry in engine._client_id_log
        if engine._client_ids.get((account, cid)) is entry
        for symbol, order in (entry,)
    ]
    return {
        "version": STATE_VERSION,
        "seq": engine.seq,
        "ts": engine.ts,
        "assets": list(engine.accounts.assets),
        "supply": list(engine.accounts.supply),
        "accounts": [[account, list(row)] for account, row in sorted(engine.accounts.rows.items())],
        "books": books,
        "client_ids": client_ids,
        "deposit_refs": sorted(engine._deposit_refs),
        "gate": engine.gate.export() if engine.gate is not None else None,
    }


def restore(config: MarketConfig, state: dict[str, Any]) -> Engine:
    """An engine in exactly the exported state; the config must list the same assets and books."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"unknown engine state version {state.get('version')!r}")
    engine = Engine(config)
    if state["assets"] != engine.accounts.assets or sorted(state["books"]) != sorted(engine.markets):
        raise ValueError("the state's assets or symbols differ from the configuration's")
    engine.seq = state["seq"]
    engine.ts = state["ts"]
    engine.accounts.supply[:] = state["supply"]
    rows = engine.accounts.rows
    rows.clear()
    for account, row in state["accounts"]:
        rows[account] = list(row)
    engine._fee_row = engine.accounts.row(config.fee_account)
    resting: dict[tuple[str, int], Order] = {}
    next_expiry = NO_EXPIRY
    for name, data in state["books"].items():
        market = engine.markets[name]
        market.rebuild_book(data["next_trade_id"])
        for values in data["orders"]:
            order = list(values)
            market.book.load(order)
            resting[(name, order[O_ID])] = order
            if order[O_TIF] == GTD:
                next_expiry = min(next_expiry, order[O_EXPIRE_AT])
    engine.refresh_hot()
    for forget_at, account, cid, symbol, values in state["client_ids"]:
        live = resting.get((symbol, values[O_ID])) if values[O_LEAVES] else None
        entry = (symbol, live if live is not None else list(values))
        engine._client_ids[(account, cid)] = entry
        engine._client_id_log.append((forget_at, (account, cid), entry))
    engine._deposit_refs.update(state["deposit_refs"])
    gate = state.get("gate")
    if gate is not None:
        tiers = {name: market.config.tier for name, market in engine.markets.items()}
        engine.gate = Gate.restore(gate, config.gating_rules, tiers)
        engine.refresh_hot()  # a halted symbol's cancels publish the auction's indication
    engine._next_expiry = next_expiry
    log = engine._client_id_log
    engine._next_due = min(next_expiry, log[0][0] if log else NO_EXPIRY)
    if engine.gate is not None:
        engine._next_due = min(engine._next_due, engine.gate.next_due)
    return engine


def state_hash(engine: Engine) -> str:
    """SHA-256 of the canonical JSON of ``export_state``: equal for equal states."""
    text = json.dumps(export_state(engine), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _queue_order(book: Any) -> list[Order]:
    return list(book.resting_orders())
