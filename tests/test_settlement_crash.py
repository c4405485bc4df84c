"""``bluebook settle`` killed (SIGKILL) right after it saved SIGNED, and right after SENT, then
restarted: 0 double settlements, 0 missed fills, 0 nonce gaps, books equal (RELIABILITY.md #12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from settlement.anvil import Anvil
from settlement.batches import batch
from settlement.devchain import DevVault
from settlement.worker import CRASH_ENV
from store.migrate import upgrade
from tests.settling import CONFIRMATIONS, OPERATOR_KEY, Exchange


@pytest.mark.parametrize("point", ["signed", "sent"])
def test_a_worker_killed_after_saving_a_state_resumes_without_a_second_transaction(
    point: str, dev: DevVault, anvil: Anvil, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    exchange = Exchange(dev, create_engine(url), tmp_path / "node")
    key = tmp_path / "operator.key"
    key.write_text(OPERATOR_KEY)
    key.chmod(0o600)
    command = [sys.executable, "-m", "bluebook.cli", "settle", "--db-url", url, "--rpc-url", anvil.url,
               "--vault", dev.vault.address, "--signer-key-file", str(key),
               "--confirmations", str(CONFIRMATIONS), "--max-wait", "0"]  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    try:
        exchange.trade(20)
        exchange.projected()
        killed = subprocess.run(
            command, env={**os.environ, CRASH_ENV: point}, stdout=log, stderr=log, timeout=60
        )
        assert killed.returncode == -signal.SIGKILL
        assert batch(exchange.db, 1).state == point.upper()
        on_chain = dev.vault.functions.lastBatchId().call()
        assert on_chain == (0 if point == "signed" else 1)  # Anvil mines a broadcast at once
        exchange.trade(10)  # more fills while the worker is down
        exchange.projected()
        restarted = subprocess.Popen(command, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while not exchange.all_final():
                assert time.monotonic() < deadline and restarted.poll() is None, "not settled after restart"
                exchange.mine()
                time.sleep(0.1)
        finally:
            restarted.terminate()
            restarted.wait(10)
        figures = exchange.check_settled_exactly_once()
        assert figures["fills"] == 30
        print(f"\nkilled after {point.upper()} (vault at batch {on_chain}), restarted: {figures}")
    finally:
        log.close()
        exchange.close()
