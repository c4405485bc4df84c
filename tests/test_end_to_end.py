"""End to end through real processes, as ``make run`` starts them: two users deposit on chain,
trade over REST and WebSocket, see their fills final on chain, withdraw back to their wallets;
then the engine and the settlement worker are killed with SIGKILL mid-flow (the chain keeps
running) and ``bluebook run`` again loses nothing and settles nothing twice; the dashboard, in
headless Chromium, shows the batches that settled them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
from websockets.sync.client import connect as websocket

from api.signing import canonical_payload, hmac_hex, sign_request
from bluebook.localchain import Deployment, deposit
from bluebook.markets import default_markets
from settlement.chain import at, connect, view
from tests.browser import dashboard, screenshot
from tests.test_localchain import ready_lines, stop

ROOT = Path(__file__).resolve().parent.parent
CONFIG = default_markets()


def run(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    before = len(ready_lines(log))
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bluebook.cli", "run", "--data-dir", str(data_dir), "--port", "0",
             "--no-demo", "--session", "overnight"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(ready := ready_lines(log)) == before:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    return process, ready[-1].split("API on ")[1].split("/v1")[0]


class User:
    """A wallet (an unlocked Anvil account) with an API key."""

    def __init__(self, api: str, data_dir: Path, wallet: str) -> None:
        self.api, self.wallet = api, wallet
        created = subprocess.run(
            [sys.executable, "-m", "bluebook.cli", "accounts", "create-key", "--data-dir", str(data_dir),
             "--address", wallet, "--scopes", "read,trade,withdraw"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(created.stdout)
        self.key, self.secret = key["api_key"], key["secret"]

    def call(self, method: str, target: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else b""
        now = int(time.time() * 1000)
        headers = sign_request(self.key, method, target, data, now_ms=now, secret=self.secret)
        reply = httpx.request(method, self.api + target, content=data, headers=headers, timeout=30)
        assert reply.status_code < 500, reply.text
        return reply.json()

    def balance(self, asset: str) -> Decimal:
        balances = self.call("GET", "/v1/balances")["balances"]
        found = [b for b in balances if b["asset"] == asset]
        return Decimal(found[0]["available"]) if found else Decimal(0)


def wait_for(condition, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_deposit_trade_settle_withdraw_then_kill_9_and_resume(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "run.log"
    process, api = run(data_dir, log)
    try:
        deployment = json.loads((data_dir / "chain" / "deployment.json").read_text())
        w3 = connect(json.loads((data_dir / "chain" / "anvil.json").read_text())["url"])
        buyer_wallet, seller_wallet = w3.eth.accounts[5], w3.eth.accounts[6]
        buyer = User(api, data_dir, buyer_wallet)
        seller = User(api, data_dir, seller_wallet)
        deposit(w3, Deployment(**deployment), CONFIG, buyer_wallet, {"USDC": Decimal(10_000)})
        deposit(w3, Deployment(**deployment), CONFIG, seller_wallet, {"TSLAx": Decimal(20)})
        wait_for(
            lambda: buyer.balance("USDC") == 10_000 and seller.balance("TSLAx") == 20, "deposits credited"
        )

        # The seller quotes over REST; the buyer takes over the WebSocket.
        placed = seller.call("POST", "/v1/orders", {"symbol": "TSLAx-USDC", "side": "sell", "price": "250",
                                                   "qty": "4", "client_order_id": "ask-1"})  # fmt: skip
        assert placed["order"]["status"] == "new", placed
        with websocket(api.replace("http", "ws") + "/v1/ws") as ws:
            ts = int(time.time() * 1000)
            signature = hmac_hex(buyer.secret.encode(), canonical_payload(ts, 5000, "GET", "/v1/ws", b""))
            login = {"op": "login", "id": 1, "key": buyer.key, "timestamp": ts, "signature": signature}
            place = {"op": "place", "id": 2, "args": {"symbol": "TSLAx-USDC", "side": "buy", "price": "250",
                                                     "qty": "3"}}  # fmt: skip
            replies = {}
            for frame_out in (login, place):  # each answered before the next is sent
                ws.send(json.dumps(frame_out))
                while frame_out["id"] not in replies:
                    frame = json.loads(ws.recv(timeout=30))
                    if "id" in frame:
                        replies[frame["id"]] = frame
            assert replies[1]["ok"] and replies[2]["ok"], replies
        assert buyer.balance("TSLAx") == 3

        # The fill becomes final on chain, with its batch and transaction shown by the API.
        def final_fills() -> list[dict]:
            fills = buyer.call("GET", "/v1/fills?symbol=TSLAx-USDC")["fills"]
            return [f for f in fills if f["settlement_status"] == "final"]

        wait_for(lambda: len(final_fills()) == 1, "the fill final on chain")
        fill = final_fills()[0]
        assert fill["batch_id"] and fill["tx_hash"].startswith("0x"), fill

        # Withdraw: the tokens come back to the wallet.
        usdc = at(w3, "DevToken", deployment["tokens"]["USDC"])
        before = view(usdc.functions.balanceOf(buyer_wallet))
        withdrawn = buyer.call("POST", "/v1/withdrawals", {"asset": "USDC", "amount": "100"})
        assert "seq" in withdrawn, withdrawn
        wait_for(
            lambda: view(usdc.functions.balanceOf(buyer_wallet)) == before + 100 * 10**6,
            "the withdrawal paid",
        )

        # More flow, then kill -9 the engine/API and the worker mid-flow; the chain keeps running.
        acked = []
        for i in range(10):
            reply = seller.call("POST", "/v1/orders", {"symbol": "TSLAx-USDC", "side": "sell",
                                                      "price": f"{251 + i}", "qty": "0.5",
                                                      "client_order_id": f"more-{i}"})  # fmt: skip
            acked.append(reply)
        buyer.call("POST", "/v1/orders", {"symbol": "TSLAx-USDC", "side": "buy", "price": "255", "qty": "2"})
        worker = json.loads((data_dir / "chain" / "worker.json").read_text())["pid"]
        process.send_signal(signal.SIGKILL)
        process.wait()
        subprocess.run(["kill", "-9", str(worker)], check=False)
    except BaseException:
        stop(process)
        raise

    process, api = run(data_dir, log)  # adopts the running chain, starts a fresh worker
    try:
        buyer.api = seller.api = api
        opened = {
            o["client_order_id"] for o in seller.call("GET", "/v1/orders/open?symbol=TSLAx-USDC")["orders"]
        }
        assert {f"more-{i}" for i in range(2, 10)} <= opened, opened  # every acked order is there
        vault = at(w3, "Settlement", deployment["vault"])

        def settled_once() -> bool:
            fills = buyer.call("GET", "/v1/fills?symbol=TSLAx-USDC")["fills"]
            return all(f["settlement_status"] == "final" for f in fills) and len(fills) >= 4

        wait_for(settled_once, "every fill final after the restart", timeout=90)
        status = buyer.call("GET", "/v1/health")
        assert status["status"] == "ok", status
        batches = view(vault.functions.lastBatchId())
        finals = {f["batch_id"] for f in buyer.call("GET", "/v1/fills?symbol=TSLAx-USDC")["fills"]}
        assert max(finals) <= batches
        with dashboard(api) as (page, _):
            for batch_id in range(1, batches + 1):  # every batch the test made, FINAL
                row = f'#batches tbody tr[data-batch-id="{batch_id}"]'
                page.wait_for_selector(row, timeout=15_000)
                assert page.locator(f"{row} td").nth(1).inner_text() == "FINAL"
            saved = screenshot(page, "end_to_end_dashboard.png")
    finally:
        stop(process)
    print(f"\nend to end: deposit, REST and WebSocket trade, fill final in batch {fill['batch_id']}, "
          f"withdrawal paid; after kill -9 of engine and worker: 10 acked orders kept, "
          f"{batches} batches on chain, every fill final once; shown on the dashboard: {saved}")  # fmt: skip
