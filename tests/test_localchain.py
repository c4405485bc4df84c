"""``bluebook run`` as a new user runs it: engine, API, a local chain with the vault, the deposit
watcher and the settlement worker; the demo's fills are final on chain within a minute, and a
restart resumes the same chain."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from store.models import SettlementBatch, Trade

ROOT = Path(__file__).resolve().parent.parent


def start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``bluebook run`` (its output to ``log``, never a pipe that could fill and block it)."""
    before = len(ready_lines(log))
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bluebook.cli", "run", "--data-dir", str(data_dir), "--port", "0",
             "--session", "overnight"],  # the same rules whatever the day and hour
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(ready := ready_lines(log)) == before:
        assert process.poll() is None and time.monotonic() < deadline, "bluebook run did not start"
        time.sleep(0.2)
    return process, ready[-1].split("API on ")[1].split("/v1")[0]


def ready_lines(log: Path) -> list[str]:
    text = log.read_text() if log.exists() else ""
    return [line for line in text.splitlines() if "API on" in line]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def final_trades(data_dir: Path) -> tuple[int, int]:
    store = create_engine(f"sqlite:///{data_dir / 'store.db'}")
    try:
        with store.connect() as connection:
            final = connection.execute(
                select(func.count()).select_from(Trade).where(Trade.settlement_status == "final")
            ).scalar_one()
            batches = connection.execute(
                select(func.count()).select_from(SettlementBatch).where(SettlementBatch.state == "FINAL")
            ).scalar_one()
        return final, batches
    finally:
        store.dispose()


def test_the_demo_market_settles_on_the_local_chain_and_resumes(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "run.log"
    process, api = start(data_dir, log)
    try:
        started = time.monotonic()
        while final_trades(data_dir)[0] < 3:
            assert time.monotonic() - started < 90, "no fill became final on chain in 90 s"
            assert process.poll() is None
            time.sleep(1)
        took = time.monotonic() - started
        health = httpx.get(f"{api}/v1/health", timeout=10).json()
        assert health["status"] == "ok", health
        assert health["chain"] == health["settlement_worker"] == health["deposit_watcher"] == "ok"
        assert health["reference_feeds"] == "ok"
        sessions = {s["symbol"]: s for s in httpx.get(f"{api}/v1/sessions", timeout=10).json()}
        tsla = sessions["TSLAx-USDC"]
        low, high, reference = (Decimal(price) for price in (*tsla["band"], tsla["reference"]))
        assert tsla["session"] == "overnight" and not tsla["halted"] and 0 < low < reference < high
    finally:
        stop(process)
    trades, batches = final_trades(data_dir)
    process, api = start(data_dir, log)  # the same chain comes back from its saved state
    try:
        started = time.monotonic()
        while final_trades(data_dir)[1] <= batches:
            assert time.monotonic() - started < 60, "no new batch settled after the restart"
            time.sleep(1)
    finally:
        stop(process)
    print(f"\nbluebook run: first fills final on chain {took:.0f} s after start; {trades} fills in "
          f"{batches} batches, and more batches after a restart on the same chain")  # fmt: skip
