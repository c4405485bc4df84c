"""``GET /metrics``: settlement figures in the Prometheus text format, computed on each scrape.

The same figures as ``/v1/settlement/status`` (``api.settlement``; chain figures cached by the
monitor), plus the fill lag histogram over every settled fill, each an aggregate query. Names:

- ``bluebook_settlement_fills{status}``: waiting, in_flight, final, held (and
  ``bluebook_settlement_withdrawals{status}``: waiting, held)
- ``bluebook_settlement_batches{state}``, ``bluebook_settlement_oldest_pending_batch_age_seconds``
- ``bluebook_settlement_lag_seconds``: histogram of fill lag, fill -> final
- ``bluebook_settlement_gas_per_trade``, ``bluebook_settlement_calldata_bytes_per_trade``
- ``bluebook_settlement_open_alerts``, ``bluebook_settlement_reorgs_total``
- with a chain: ``bluebook_settlement_sender_balance_wei``, ``bluebook_settlement_sender_runway_batches``,
  ``bluebook_settlement_solvency{asset}`` (token units), ``bluebook_settlement_agreement{asset}``
  (engine units; only once settled up), ``bluebook_settlement_chain_up``
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from api.auth import public
from api.context import Services
from api.settlement import settlement_status
from settlement.batches import FINAL, OPEN_STATES
from settlement.metrics import lag_histogram

PREFIX = "bluebook_settlement"
LAG_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1800.0)


class SettlementCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        services = self.services
        status = settlement_status(services, services.clock_ms() * 1_000_000)
        yield _labelled("fills", "Fills by settlement status", "status", {
            "waiting": status["fills_waiting"], "in_flight": status["fills_in_flight"],
            "final": status["fills_final"], "held": status["fills_held"]})  # fmt: skip
        yield _labelled(
            "withdrawals",
            "Withdrawals by settlement status",
            "status",
            {"waiting": status["withdrawals_waiting"], "held": status["withdrawals_held"]},
        )
        states = status["batches_by_state"]
        yield _labelled(
            "batches",
            "Batches by state",
            "state",
            {state: states.get(state, 0) for state in (*OPEN_STATES, FINAL)},
        )
        yield _gauge("oldest_pending_batch_age_seconds", "Age of the oldest batch not yet final",
                     status["oldest_pending_s"])  # fmt: skip
        cumulative, count, total = lag_histogram(services.db, LAG_BUCKETS_S)
        yield HistogramMetricFamily(
            f"{PREFIX}_lag_seconds",
            "Settlement lag of each settled fill, fill to final",
            buckets=[*zip(map(str, LAG_BUCKETS_S), cumulative, strict=True), ("+Inf", count)],
            sum_value=total,
        )
        yield _gauge("gas_per_trade", "Gas per settled trade over final batches", status["gas_per_trade"])
        yield _gauge("calldata_bytes_per_trade", "Calldata bytes per settled trade over final batches",
                     status["calldata_bytes_per_trade"])  # fmt: skip
        yield _gauge("open_alerts", "Settlement alerts not yet resolved", status["open_alerts"])
        yield CounterMetricFamily(f"{PREFIX}_reorgs", "Reorgs the worker saw", value=status["reorgs_seen"])
        yield from _chain_metrics(status)


def _chain_metrics(status: dict[str, Any]) -> Iterator[Metric]:
    chain = status["chain"]
    if chain is None:
        return
    yield _gauge("chain_up", "1 if the chain was read at the last try", 0 if "error" in chain else 1)
    if "error" in chain:
        return
    yield _gauge("sender_balance_wei", "The operator's ether balance", int(chain["sender_balance_wei"]))
    yield _gauge("sender_runway_batches", "Batches the operator's balance pays for at the current gas price",
                 chain["sender_runway_batches"])  # fmt: skip
    books = status["reconciliation"]
    yield _labelled("solvency", "Token balanceOf(vault) minus the vault ledger, token units", "asset",
                    {asset: int(figures["solvency"]) for asset, figures in books.items()})  # fmt: skip
    yield _labelled("agreement", "Vault ledger minus the engine's balances, engine units (settled up only)",
                    "asset", {asset: figures["agreement"] for asset, figures in books.items()})  # fmt: skip


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    """A gauge; with no value (nothing measured yet) it has no sample."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation)
    if value is not None:
        family.add_metric([], value)
    return family


def _labelled(
    name: str, documentation: str, label: str, values: dict[str, float | None]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=[label])
    for key, value in values.items():
        if value is not None:
            family.add_metric([key], value)
    return family


def routes(services: Services) -> APIRouter:
    router = APIRouter(tags=["monitoring"])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SettlementCollector(services))

    @router.get("/metrics", dependencies=[Depends(public(services, "GET /metrics"))],
                response_class=Response)  # fmt: skip
    async def metrics() -> Response:
        """Settlement metrics in the Prometheus text format (see the names in ``api.metrics``)."""
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
