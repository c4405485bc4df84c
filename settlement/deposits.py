"""The deposit watcher: the vault's ``Deposited`` events, once confirmed, credited in the engine.

Runs inside the node process (``bluebook run`` starts it) and hands the engine commands through
``submit(commands) -> Future[acks]`` (``Node.submit``). For each event in a block with at least
``confirmations`` confirmations, in chain order:

1. the depositing address gets its engine account id (allocated on first sight, as the API does)
   and the event's vault account id is bound to it (``store.accounts``);
2. ``Deposit(account, asset, amount, ref="<tx hash>:<log index>")`` is submitted and its ack
   awaited; the engine applies a ref once, so a redelivery after a crash credits nothing twice;
3. the ``deposits`` chain cursor moves to the block, with the block's hash.

Before each poll the cursor's block hash is compared with the chain's: if it changed, a reorg
deeper than ``confirmations`` undid deposits already credited; the watcher raises a ``halt``
alert (``deposit_halt``) and credits nothing more until an operator resolves it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine, select
from web3 import Web3
from web3.contract import Contract

from matcher.commands import Deposit
from matcher.config import MarketConfig
from settlement import batches
from settlement.layout import VaultLayout
from store.accounts import allocate_account, bind_vault_id
from store.bulk import upsert_rows
from store.models import ChainCursor

log = logging.getLogger(__name__)

CURSOR = "deposits"
#: The alert kind that stops the watcher (not the settlement worker) until resolved.
HALT = "deposit_halt"
#: Blocks per ``eth_getLogs`` request.
LOG_RANGE = 2_000

Submit = Callable[[Sequence[tuple[Any, ...]]], "Future[Any]"]


class DepositWatcher:
    def __init__(
        self,
        db: Engine,
        vault: Contract,
        config: MarketConfig,
        submit: Submit,
        *,
        confirmations: int = 12,
        start_block: int = 0,
        poll_s: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.db = db
        self.vault = vault
        self.w3: Web3 = vault.w3
        self.layout = VaultLayout.of(config)
        self.submit = submit
        self.confirmations = confirmations
        self.start_block = start_block
        self.poll_s = poll_s
        self.clock_ns = clock_ns
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def halted(self) -> bool:
        return any(alert.kind == HALT for alert in batches.open_alerts(self.db))

    def cursor(self) -> tuple[int, str] | None:
        """The last block whose deposits were all credited, and its hash."""
        with self.db.connect() as connection:
            row = connection.execute(select(ChainCursor).where(ChainCursor.name == CURSOR)).first()
        return (row.block_number, row.block_hash) if row is not None else None

    def poll(self) -> int:
        """Credit the deposits of every newly confirmed block; return how many were submitted."""
        if self.halted():
            return 0
        cursor = self.cursor()
        if cursor is not None and Web3.to_hex(self.w3.eth.get_block(cursor[0])["hash"]) != cursor[1]:
            detail = f"deposit block {cursor[0]} left the chain: a reorg at least {self.confirmations} deep"
            batches.raise_alert(self.db, HALT, detail, self.clock_ns())
            log.critical("deposits: halted: %s", detail)
            return 0
        confirmed = self.w3.eth.block_number - self.confirmations + 1
        first = cursor[0] + 1 if cursor is not None else self.start_block
        credited = 0
        while first <= confirmed:
            last = min(first + LOG_RANGE - 1, confirmed)
            events = self.vault.events.Deposited.get_logs(from_block=first, to_block=last)
            for event in sorted(events, key=lambda e: (e["blockNumber"], e["logIndex"])):
                self._credit(event)
                credited += 1
            block = self.w3.eth.get_block(last)
            self._save_cursor(last, Web3.to_hex(block["hash"]))
            first = last + 1
        return credited

    def _credit(self, event: Any) -> None:
        args = event["args"]
        account = allocate_account(self.db, Web3.to_checksum_address(args["from"]))
        bind_vault_id(self.db, account, int(args["account"]))
        ref = f"{Web3.to_hex(event['transactionHash'])}:{event['logIndex']}"
        asset = self.layout.asset_names[int(args["asset"])]
        command = Deposit.of(account=account, asset=asset, amount=int(args["amount"]), ref=ref)
        ((stamped, events),) = self.submit([command]).result(timeout=60)
        if stamped is None:
            raise RuntimeError(f"deposit {ref} refused by the journal: {events}")
        log.info("deposits: %s credited %d %s to account %d", ref, args["amount"], asset, account)

    def _save_cursor(self, block_number: int, block_hash: str) -> None:
        with self.db.begin() as connection:
            row = (CURSOR, block_number, block_hash)
            columns = ("name", "block_number", "block_hash")
            upsert_rows(connection, ChainCursor.__table__, columns, [row], ["name"])  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------ thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deposit-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the chain, the store or the node is away: try again
                log.exception("deposits: poll failed; retrying")
            self._stop.wait(self.poll_s)
