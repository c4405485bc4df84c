"""The settlement worker: the store's unsettled fills and withdrawals, batched and settled on chain.

One process, the only sender from the operator's address, so it owns the nonce. Each batch moves
through states, each persisted (``settlement.batches``) before the worker acts on it::

    CREATED --pre-flight ok, signed, saved--> SIGNED --broadcast--> SENT --receipt--> MINED
    MINED --N confirmations, block hash unchanged--> FINAL
    CREATED --pre-flight reverts--> FAILED --bisect: the bad item held--> CREATED
    SENT --no receipt for ``bump_after_s``--> SENT (same nonce, fees x1.125, saved, then broadcast)
    MINED --its block left the chain, no receipt now--> SENT (the same signed transaction again)
    SENT --receipt with status 0--> CREATED (nonce freed; signed again once no later batch holds one)

Rules it keeps:

- Batch ids are consecutive and the contract takes exactly ``lastBatchId + 1``, so a batch can
  settle at most once, whatever the worker does; a batch's items never change (only holding
  removes one, before it is signed), so no fill is in two batches.
- Nonces follow batch ids: a batch is signed only once every earlier batch holds a nonce and no
  later one does, with ``max(previous batch's nonce + 1, the chain's count)``: no gaps, no reuse.
- The signed raw transaction (and every fee-raised replacement) is saved before it is broadcast;
  a receipt for any transaction saved for the batch counts.
- At start (``recover``): a SIGNED or SENT batch with id <= the vault's ``lastBatchId`` was mined:
  its receipt is found and it moves on to MINED, then FINAL; any other is broadcast again, byte for
  byte. No new transaction is made for a batch that has one.
- FINAL after ``confirmations`` (head - block + 1) with the block hash unchanged. A reorg above
  that depth sends the batch back to SENT. If the block of the newest FINAL batch leaves the
  chain (a reorg at least ``confirmations`` deep), the worker raises a ``halt`` alert and stops
  until an operator resolves it.
- An item that alone makes the pre-flight revert is held with an alert; nothing is dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from sqlalchemy import Engine
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound, Web3RPCError

from matcher.config import MarketConfig
from settlement import batches
from settlement.batches import CREATED, FAILED, MINED, SENT, SIGNED, Signed
from settlement.chain import Reverted, call_as, simulate
from settlement.items import Item, ItemKey, payload_bytes, waiting_items
from settlement.layout import VaultLayout
from settlement.metrics import percentile, store_metrics
from settlement.packing import TX_GAS_CAP, Trade, Withdrawal, pack_batch
from store.accounts import vault_ids

log = logging.getLogger(__name__)

#: Fee raise for a replacement: 12.5% (nodes require at least 10%).
BUMP_NUMERATOR, BUMP_DENOMINATOR = 9, 8
#: Gas limit over the pre-flight estimate.
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 5, 4
#: Environment variable for the kill tests: ``signed`` or ``sent`` SIGKILLs the worker right after
#: it saved that state.
CRASH_ENV = "BLUEBOOK_SETTLE_CRASH_AT"


@dataclass(frozen=True)
class WorkerSettings:
    confirmations: int = 12
    #: At about 21,800 gas a trade between distinct accounts (the worst case), 600 trades stay
    #: under EIP-7825's 2**24 per-transaction cap with the gas margin.
    max_trades: int = 600
    max_payload_bytes: int = payload_bytes(600, 256)
    #: A batch is cut once its oldest item has waited this long, full or not.
    max_wait_s: float = 2.0
    #: Batches created but not yet mined, at most.
    max_in_flight: int = 4
    bump_after_s: float = 30.0
    poll_s: float = 0.25
    crash_at: str | None = None


class SettlementWorker:
    def __init__(
        self,
        db: Engine,
        w3: Web3,
        vault: Contract,
        signer: LocalAccount,
        config: MarketConfig,
        settings: WorkerSettings = WorkerSettings(),
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.db = db
        self.w3 = w3
        self.vault = vault
        self.signer = signer
        self.layout = VaultLayout.of(config)
        self.settings = settings
        self.clock_ns = clock_ns
        self.chain_id = w3.eth.chain_id
        self.lag_samples: deque[float] = deque(maxlen=100_000)
        self._first_seen: dict[ItemKey, int] = {}
        self._broadcast_at: dict[int, float] = {}
        self._vault_ids: dict[int, int] = {}

    # -------------------------------------------------------------------------- lifecycle

    def halted(self) -> bool:
        return any(alert.kind in batches.HALTING for alert in batches.open_alerts(self.db))

    def recover(self) -> None:
        """Reconcile the store with the vault after a (re)start; see the module's rules."""
        problems = self.layout.check(self.vault)
        if problems:
            self._halt("the vault does not match the market configuration: " + "; ".join(problems))
            return
        last = int(self.vault.functions.lastBatchId().call())
        known = batches.next_batch_id(self.db) - 1
        if last > known:
            self._halt(f"the vault settled batch {last}; this store knows batches up to {known}")
            return
        for row in batches.open_batches(self.db):
            if row.state not in (SIGNED, SENT):
                continue
            if row.batch_id <= last:
                receipt = self._find_receipt(row.batch_id)
                if receipt is None or receipt["status"] != 1:
                    self._halt(f"batch {row.batch_id} is settled on chain but none of its transactions is")
                    return
                self._mined(row.batch_id, receipt)
            else:
                self._broadcast(row.batch_id, row.raw_tx)
                if row.state == SIGNED:
                    batches.set_state(self.db, row.batch_id, SENT)

    def run(self, stop: threading.Event) -> None:
        """``recover``, then ``step`` every ``poll_s`` until ``stop`` is set; an RPC or database
        error is logged and the step tried again (matching never waits on this)."""
        recovered = False
        while not stop.is_set():
            try:
                if not recovered:
                    self.recover()
                    recovered = True
                self.step()
            except Exception:  # noqa: BLE001 - the chain or the database is away: try again
                log.exception("settlement: step failed; retrying")
                stop.wait(1.0)
            stop.wait(self.settings.poll_s)

    def step(self) -> None:
        """Advance every open batch one move, cut new batches, sign what may be signed."""
        if self.halted():
            return
        head = self.w3.eth.block_number
        if not self._finals_on_chain():
            return
        self._vault_ids = vault_ids(self.db)
        for row in batches.open_batches(self.db):
            if row.state == SIGNED:
                self._broadcast(row.batch_id, row.raw_tx)
                batches.set_state(self.db, row.batch_id, SENT)
                self._crash_if("sent")
            elif row.state == SENT:
                self._track_sent(row)
            elif row.state == MINED:
                self._track_mined(row, head)
        self._cut_batches()
        self._sign_created()

    # ---------------------------------------------------------------------------- cutting

    def _cut_batches(self) -> None:
        settings = self.settings
        while sum(row.state != MINED for row in batches.open_batches(self.db)) < settings.max_in_flight:
            with self.db.connect() as connection:
                waiting = waiting_items(
                    connection,
                    self.layout,
                    self._vault_ids,
                    max_trades=settings.max_trades,
                    max_payload_bytes=settings.max_payload_bytes,
                )
            now = self.clock_ns()
            for item in waiting.items:
                self._first_seen.setdefault(item.key, now)
            if waiting.unpackable is not None and not waiting.items:
                batches.hold(self.db, None, waiting.unpackable, waiting.unpackable_reason, now)
                log.error("settlement: held %s: %s", waiting.unpackable, waiting.unpackable_reason)
                continue
            if not waiting.items:
                return
            oldest = min(self._first_seen[item.key] for item in waiting.items)
            due = (now - oldest) / 1e9 >= settings.max_wait_s
            if not (waiting.full or waiting.unpackable is not None or due):
                return
            batch_id = batches.next_batch_id(self.db)
            batches.create_batch(self.db, batch_id, waiting.items, now)
            log.info("settlement: batch %d created with %d items", batch_id, len(waiting.items))

    # ---------------------------------------------------------------------------- signing

    def _sign_created(self) -> None:
        rows = batches.open_batches(self.db)
        for index, row in enumerate(rows):
            if row.state not in (CREATED, FAILED):
                continue
            earlier_unsigned = any(r.state in (CREATED, FAILED) for r in rows[:index])
            later_signed = any(r.state in (SIGNED, SENT) for r in rows[index + 1 :])
            if earlier_unsigned or later_signed:
                return
            if not self._sign(row):
                return

    def _sign(self, row: Any) -> bool:
        """Pre-flight, sign and save batch ``row``; False if it must wait or was bisected."""
        items = batches.batch_items(self.db, row.batch_id, self.layout, self._vault_ids)
        call = self.vault.functions.settleBatch(row.batch_id, _payload(items))
        try:
            gas = simulate(call, self.signer.address)
        except Reverted as error:
            if error.name == "BatchOutOfOrder" and self._earlier_unmined(row.batch_id):
                return False  # an earlier batch is not in the pending state yet: next step
            batches.set_state(self.db, row.batch_id, FAILED)
            self._bisect(row.batch_id, items, error)
            return False
        previous = batches.batch(self.db, row.batch_id - 1) if row.batch_id > 1 else None
        previous_nonce = previous.nonce if previous is not None and previous.nonce is not None else -1
        nonce = max(previous_nonce + 1, self.w3.eth.get_transaction_count(self.signer.address, "latest"))
        max_fee, tip = self._fees()
        limit = min(gas * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR, TX_GAS_CAP)
        signed = self._sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": nonce,
                "to": self.vault.address,
                "value": 0,
                "data": call._encode_transaction_data(),
                "gas": limit,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            }  # fmt: skip
        )
        batches.save_signed(self.db, row.batch_id, signed, SIGNED, self.clock_ns())
        self._crash_if("signed")
        self._broadcast(row.batch_id, signed.raw_tx)
        batches.set_state(self.db, row.batch_id, SENT)
        self._crash_if("sent")
        return True

    def _bisect(self, batch_id: int, items: list[Item], error: Reverted) -> None:
        """Hold the first item whose prefix reverts (items apply in order, so a prefix that reverts
        stays reverting); a batch whose empty payload reverts is not an item's fault: halt."""

        def reverts(count: int) -> Reverted | None:
            try:
                call_as(
                    self.vault.functions.settleBatch(batch_id, _payload(items[:count])), self.signer.address
                )
            except Reverted as failure:
                return failure
            return None

        if (failure := reverts(0)) is not None:
            self._halt(f"batch {batch_id} reverts with no items: {failure}", batch_id)
            return
        good, bad = 0, len(items)
        reason = error
        while bad - good > 1:
            middle = (good + bad) // 2
            failure = reverts(middle)
            if failure is None:
                good = middle
            else:
                bad, reason = middle, failure
        culprit = items[bad - 1]
        batches.hold(
            self.db,
            batch_id,
            culprit.key,
            f"pre-flight of batch {batch_id} reverts: {reason}",
            self.clock_ns(),
        )
        batches.set_state(self.db, batch_id, CREATED)
        log.error("settlement: held %s from batch %d: %s", culprit.key, batch_id, reason)

    def _sign_transaction(self, transaction: dict[str, Any]) -> Signed:
        signed = self.signer.sign_transaction(transaction)
        return Signed(
            Web3.to_hex(signed.hash),
            int(transaction["nonce"]),
            bytes(signed.raw_transaction),
            int(transaction["maxFeePerGas"]),
            int(transaction["maxPriorityFeePerGas"]),
        )

    def _fees(self) -> tuple[int, int]:
        tip = int(self.w3.eth.max_priority_fee)
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        return 2 * base + tip, tip

    # ---------------------------------------------------------------------------- tracking

    def _broadcast(self, batch_id: int, raw_tx: bytes) -> None:
        """Send the raw transaction; a node's refusal (already known, nonce used) is left for the
        receipt to settle."""
        self._broadcast_at[batch_id] = time.monotonic()
        try:
            self.w3.eth.send_raw_transaction(raw_tx)
        except Web3RPCError as refusal:
            log.info("settlement: broadcast of batch %d refused: %s", batch_id, refusal)

    def _track_sent(self, row: Any) -> None:
        receipt = self._find_receipt(row.batch_id)
        if receipt is None:
            sent_at = self._broadcast_at.get(row.batch_id)
            if sent_at is None:
                self._broadcast(row.batch_id, row.raw_tx)
            elif time.monotonic() - sent_at >= self.settings.bump_after_s:
                self._replace(row)
            return
        if receipt["status"] == 1:
            self._mined(row.batch_id, receipt)
            return
        log.error("settlement: batch %d mined and failed (%s); it will be signed again", row.batch_id,
                  Web3.to_hex(receipt["transactionHash"]))  # fmt: skip
        batches.set_state(self.db, row.batch_id, CREATED, nonce=None, raw_tx=None, tx_hash=None)

    def _replace(self, row: Any) -> None:
        """The same transaction (batch, nonce, gas) with fees raised by 12.5%: saved, then broadcast."""
        last = batches.transactions(self.db, row.batch_id)[-1]
        max_fee, tip = self._fees()
        tip = max(tip, _raised(last.max_priority_fee_per_gas))
        max_fee = max(max_fee, _raised(last.max_fee_per_gas), tip)
        fields = TypedTransaction.from_bytes(HexBytes(last.raw_tx)).as_dict()
        transaction = {
            name: fields[name] for name in ("type", "chainId", "nonce", "to", "value", "data", "gas")
        }
        signed = self._sign_transaction({**transaction, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip})
        batches.save_signed(self.db, row.batch_id, signed, SENT, self.clock_ns())
        log.warning("settlement: batch %d stuck; replaced by %s (max fee %d)", row.batch_id, signed.tx_hash,
                    max_fee)  # fmt: skip
        self._broadcast(row.batch_id, signed.raw_tx)

    def _find_receipt(self, batch_id: int) -> Any:
        """A receipt for any transaction saved for the batch, or None."""
        for transaction in batches.transactions(self.db, batch_id):
            try:
                return self.w3.eth.get_transaction_receipt(transaction.tx_hash)
            except TransactionNotFound:
                continue
        return None

    def _mined(self, batch_id: int, receipt: Any) -> None:
        batches.set_state(
            self.db,
            batch_id,
            MINED,
            tx_hash=Web3.to_hex(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            block_hash=Web3.to_hex(receipt["blockHash"]),
            gas_used=int(receipt["gasUsed"]),
        )

    def _track_mined(self, row: Any, head: int) -> None:
        block = self.w3.eth.get_block(row.block_number) if row.block_number <= head else None
        if block is None or Web3.to_hex(block["hash"]) != row.block_hash:
            receipt = self._find_receipt(row.batch_id)
            if receipt is not None and receipt["status"] == 1:
                self._reorg(f"batch {row.batch_id} moved to block {receipt['blockNumber']} by a reorg", row)
                self._mined(row.batch_id, receipt)
                return
            self._reorg(f"batch {row.batch_id} left the chain in a reorg; sending it again", row)
            batches.set_state(self.db, row.batch_id, SENT, block_number=None, block_hash=None, gas_used=None)
            self._broadcast(row.batch_id, row.raw_tx)
            return
        if head - row.block_number + 1 >= self.settings.confirmations:
            now = self.clock_ns()
            batches.finalize(self.db, row, now)
            for key in batches.item_keys(self.db, row.batch_id):
                seen = self._first_seen.pop(key, row.created_at_ns)
                self.lag_samples.append((now - seen) / 1e9)

    def _finals_on_chain(self) -> bool:
        """False (and a halt) if the newest FINAL batch's block is no longer on the chain."""
        newest = batches.newest_final(self.db)
        if newest is None:
            return True
        block = (
            self.w3.eth.get_block(newest.block_number)
            if newest.block_number <= self.w3.eth.block_number
            else None
        )
        if block is not None and Web3.to_hex(block["hash"]) == newest.block_hash:
            return True
        self._reorg(f"block {newest.block_number} of final batch {newest.batch_id} left the chain", newest)
        self._halt(
            f"block {newest.block_number} of final batch {newest.batch_id} left the chain: a reorg at least "
            f"{self.settings.confirmations} blocks deep",
            newest.batch_id,
        )
        return False

    def _earlier_unmined(self, batch_id: int) -> bool:
        return any(
            row.batch_id < batch_id and row.state in (SIGNED, SENT) for row in batches.open_batches(self.db)
        )

    def _reorg(self, detail: str, row: Any) -> None:
        batches.record_reorg(self.db, detail, self.clock_ns(), row.batch_id)
        log.warning("settlement: %s", detail)

    def _halt(self, detail: str, batch_id: int | None = None) -> None:
        batches.raise_alert(self.db, "halt", detail, self.clock_ns(), batch_id)
        log.critical("settlement: halted: %s", detail)

    def _crash_if(self, point: str) -> None:
        if self.settings.crash_at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    # ----------------------------------------------------------------------------- metrics

    def metrics(self) -> dict[str, Any]:
        """The store's settlement figures plus this process's: lag, sender balance."""
        samples = sorted(self.lag_samples)
        figures = store_metrics(self.db, self.clock_ns())
        figures.update(
            lag_samples=len(samples),
            lag_p50_s=percentile(samples, 0.50),
            lag_p99_s=percentile(samples, 0.99),
            sender_balance_wei=int(self.w3.eth.get_balance(self.signer.address)),
        )
        return figures


def _payload(items: list[Item]) -> bytes:
    trades = [item.packed for item in items if isinstance(item.packed, Trade)]
    withdrawals = [item.packed for item in items if isinstance(item.packed, Withdrawal)]
    return pack_batch(trades, withdrawals)


def _raised(fee: int) -> int:
    """``fee`` raised by 12.5%, rounded up."""
    return -(-fee * BUMP_NUMERATOR // BUMP_DENOMINATOR)
