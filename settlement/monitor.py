"""What monitoring reads from the chain, for a process that does not settle (the API).

``ChainMonitor.figures()`` returns the operator (the vault's ``operator()``, the settlement
worker's sender), its ether balance and runway, the head block, and ``reconciliation`` (see
``settlement.metrics``). Figures are cached for ``cache_s`` so that scrapes and dashboards do not
each cost a round of RPC calls (reconciliation reads every vault account's balance of every
asset); a chain that cannot be read gives ``{"error": ...}`` and is tried again after ``cache_s``.

Runway is in batches: the sender's balance over the mean gas of FINAL batches at the chain's
current gas price (None before the first FINAL batch).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select
from web3 import Web3

from matcher.config import MarketConfig
from settlement.chain import at
from settlement.layout import VaultLayout
from settlement.metrics import reconciliation
from store.models import SettlementBatch


class ChainMonitor:
    def __init__(
        self,
        db: Engine,
        config: MarketConfig,
        rpc_url: str,
        vault_address: str,
        cache_s: float = 3.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.layout = VaultLayout.of(config)
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.vault = at(self.w3, "Settlement", vault_address)
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()
        self._figures: dict[str, Any] = {}
        self._read_at: float | None = None

    def figures(self) -> dict[str, Any]:
        """The cached figures, read again once older than ``cache_s`` (one reader at a time)."""
        with self._lock:
            if self._read_at is None or self.clock() - self._read_at >= self.cache_s:
                try:
                    self._figures = self._read()
                except Exception as error:  # noqa: BLE001 - a chain down is a figure, not a crash
                    self._figures = {"error": f"{type(error).__name__}: {error}"[:300]}
                self._read_at = self.clock()
            return self._figures

    def _read(self) -> dict[str, Any]:
        w3, vault = self.w3, self.vault
        operator = vault.functions.operator().call()
        balance = int(w3.eth.get_balance(operator))
        with self.db.connect() as connection:
            mean_gas = connection.execute(
                select(func.avg(SettlementBatch.gas_used)).where(SettlementBatch.state == "FINAL")
            ).scalar()
        batch_cost = int(mean_gas or 0) * int(w3.eth.gas_price)
        return {
            "rpc_url": self.rpc_url,
            "vault": vault.address,
            "operator": operator,
            "block_number": int(w3.eth.block_number),
            "sender_balance_wei": balance,
            "sender_runway_batches": balance // batch_cost if batch_cost else None,
            "reconciliation": reconciliation(self.db, vault, self.layout),
        }
