"""Settlement monitoring routes: ``/v1/settlement/status``, ``/batches`` and ``/batches/{id}``.

Figures come from the store's settlement tables (the worker is another process) and, when the
shell gave ``Services.chain``, from the chain (cached there). ``lag_p50_s`` and ``lag_p99_s`` are
fill lags, fill -> final, over the fills of the last FINAL batches; ``batch_lag_p50_s`` and
``batch_lag_p99_s`` the batches' own, cut -> final (``settlement.metrics``).
Reconciliation's ``agreement`` (vault ledger minus the engine's balances, engine units) is only
meaningful once nothing is in flight, so it is null unless ``settled_up`` (no fill or withdrawal
waiting, no batch pending);
``solvency`` (token ``balanceOf(vault)`` minus the vault's ledger, token units) always applies.
Wei and token amounts are integer strings (they outgrow a JSON double); engine amounts in a
batch's items are decimal strings, as elsewhere in the API.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from api.auth import public
from api.context import Services
from api.errors import ApiError, ErrorCode
from api.wire import JsonResponse
from settlement.batches import FINAL, OPEN_STATES
from settlement.metrics import store_metrics
from settlement.reports import batch_detail, batch_page

BATCHES_LIMIT = 500
#: Batch ids are BIGINT in the store.
MAX_BATCH_ID = 2**63 - 1
BatchId = Annotated[int, Query(ge=1, le=MAX_BATCH_ID, description="only batches with a lower id")]
State = Annotated[str | None, Query(pattern="^(CREATED|FAILED|SIGNED|SENT|MINED|FINAL)$")]


def settlement_status(services: Services, now_ns: int) -> dict[str, Any]:
    """The figures of ``/v1/settlement/status`` (blocking: store queries, maybe chain reads)."""
    store = store_metrics(services.db, now_ns)
    by_state = store["batches_by_state"]
    pending = sum(by_state.get(state, 0) for state in OPEN_STATES)
    settled_up = not (
        pending or store["fills_waiting"] or store["fills_in_flight"] or store["withdrawals_waiting"]
    )
    chain = services.chain.figures() if services.chain is not None else None
    books = (chain or {}).get("reconciliation")
    return {
        "final_batches": by_state.get(FINAL, 0),
        "pending_batches": pending,
        "batches_by_state": by_state,
        "oldest_pending_s": store["oldest_open_batch_age_s"],
        "lag_p50_s": store["fill_lag_p50_s"],
        "lag_p99_s": store["fill_lag_p99_s"],
        "lag_measured": "fill to final",
        "batch_lag_p50_s": store["batch_lag_p50_s"],
        "batch_lag_p99_s": store["batch_lag_p99_s"],
        **{key: store[key] for key in (
            "fills_waiting", "fills_in_flight", "fills_final", "fills_held", "withdrawals_waiting",
            "withdrawals_held", "gas_per_trade", "calldata_bytes_per_trade", "open_alerts", "reorgs_seen")},
        "settled_up": settled_up,
        "chain": None if chain is None else _chain_view(chain),
        "reconciliation": None if books is None else {
            asset: {"solvency": str(figures["solvency"]),
                    "agreement": figures["agreement"] if settled_up else None,
                    "accounts_differing": {str(a): d for a, d in figures["accounts_differing"].items()}}
            for asset, figures in books.items()
        },
    }  # fmt: skip


def _chain_view(chain: dict[str, Any]) -> dict[str, Any]:
    view = {key: value for key, value in chain.items() if key != "reconciliation"}
    if "sender_balance_wei" in view:
        view["sender_balance_wei"] = str(view["sender_balance_wei"])
    return view


def routes(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/settlement", tags=["settlement"], default_response_class=JsonResponse)
    units = services.units

    @router.get("/status", dependencies=[Depends(public(services, "GET /v1/settlement/status"))])
    async def status() -> dict[str, Any]:
        """Batches final and pending, the oldest pending batch's age, batch lag p50/p99, fills
        waiting, costs, alerts, reorgs, the sender's balance and runway, and reconciliation."""
        return await asyncio.to_thread(settlement_status, services, services.clock_ms() * 1_000_000)

    @router.get("/batches", dependencies=[Depends(public(services, "GET /v1/settlement/batches"))])
    async def batches(
        state: State = None,
        before: Annotated[
            int | None, Query(ge=1, le=MAX_BATCH_ID, description="only lower batch ids")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=BATCHES_LIMIT)] = 50,
    ) -> list[dict[str, Any]]:
        """Batches newest first; page with ``before`` = the last id of the previous page."""
        return await asyncio.to_thread(batch_page, services.db, state=state, before=before, limit=limit)

    @router.get("/batches/{batch_id}", dependencies=[Depends(public(services, "GET /v1/settlement/batch"))])
    async def batch(batch_id: Annotated[int, Path(ge=1, le=MAX_BATCH_ID)]) -> dict[str, Any]:
        """One batch: its state, transaction and block hashes, gas, items, and every transaction signed."""
        detail = await asyncio.to_thread(batch_detail, services.db, batch_id)
        if detail is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no batch {batch_id}")
        for item in detail["items"]:
            if item["kind"] == "trade" and item["price"] is not None:
                item["price"] = units.price_text(item["symbol"], item["price"])
                item["qty"] = units.qty_text(item["symbol"], item["qty"])
        return detail

    return router
