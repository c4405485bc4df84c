"""The development chain behind ``bluebook run``: Anvil, the vault and its tokens, the worker.

``LocalChain.start`` runs Anvil (the binary inside the npm package, on 127.0.0.1; a block a
second once the contracts are deployed) with its state in ``data/chain/anvil-state.json``: loaded
at start, written every 10 seconds and when Anvil stops, so a later run resumes the same chain.
The first time, it deploys the vault, a ``DevToken`` per asset and a ``DevAggregator`` per
reference underlying (seeded with the development prices), and records their addresses in
``data/chain/deployment.json``; later runs check the vault's code is still there and reuse them.
If the chain came back without it (its state file lost), a fresh deployment is made and a warning
says the engine's balances no longer match a chain.

Roles are Anvil's well-known development accounts: #0 admin, #1 operator (the settlement
worker's signer, whose key is written to ``data/chain/operator.key``, mode 0600), #2 fee
collector. The settlement worker runs as its own process (``bluebook settle``), as in
production; ``stop`` ends it and Anvil by their process ids.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from matcher.config import MarketConfig
from settlement.anvil import Anvil, rpc
from settlement.chain import at, connect, deploy, send
from settlement.devchain import FUND_GAS, deploy_dev_vault
from settlement.layout import VaultLayout

log = logging.getLogger(__name__)

#: Anvil's development account #1 (public knowledge; development only).
OPERATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
EXIT_DELAY_S = 7 * 24 * 3_600
CHANGE_DELAY_S = 14 * 24 * 3_600
AGGREGATOR_DECIMALS = 8
CONFIRMATIONS = 2


@dataclass(frozen=True)
class Deployment:
    vault: str
    tokens: dict[str, str]
    aggregators: dict[str, str]


class LocalChain:
    def __init__(self, config: MarketConfig, data_dir: Path, db_url: str, prices: dict[str, Decimal]) -> None:
        self.config = config
        self.directory = data_dir / "chain"
        self.data_dir = data_dir
        self.db_url = db_url
        self.prices = prices
        self.anvil: Anvil | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.deployment: Deployment | None = None
        self.w3: Web3 | None = None
        self.url = ""
        self._adopted: int | None = None

    def start(self) -> Deployment:
        self.directory.mkdir(parents=True, exist_ok=True)
        url = self._adopt_anvil()
        if url is None:
            state = self.directory / "anvil-state.json"
            self.anvil = Anvil("--state", str(state), "--state-interval", "10", own_session=True).start()
            url = self.anvil.url
            _record(self.directory / "anvil.json", self.anvil.pid, url)
        self.url = url
        self.w3 = connect(url)
        self.deployment = self._deployment(self.w3)  # mined as sent, then a block a second:
        self.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
        key_file = self.directory / "operator.key"
        key_file.write_text(OPERATOR_KEY)
        key_file.chmod(0o600)
        _end(_recorded(self.directory / "worker.json", "settle"))  # one nonce owner, always
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "bluebook.cli", "settle", "--data-dir", str(self.data_dir),
             "--db-url", self.db_url, "--rpc-url", url, "--vault", self.deployment.vault,
             "--signer-key-file", str(key_file), "--confirmations", str(CONFIRMATIONS)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # a Ctrl-C reaches bluebook, which stops it before Anvil
        )  # fmt: skip
        _record(self.directory / "worker.json", self.worker.pid, "")
        log.info("chain: anvil on %s (pid %d), vault %s, worker pid %d",
                 url, self.anvil_pid(), self.deployment.vault, self.worker.pid)  # fmt: skip
        return self.deployment

    def _adopt_anvil(self) -> str | None:
        """The URL of the Anvil a previous run left running (killed before it could stop it), if
        it still answers: the chain kept running, as a real one would, so carry on with it."""
        previous = _recorded(self.directory / "anvil.json", "anvil")
        if previous is None:
            return None
        pid, url = previous
        try:
            rpc(url, "eth_chainId")
        except OSError:
            _end(previous)
            return None
        self._adopted = pid
        log.info("chain: carrying on with the Anvil a previous run left running (pid %d)", pid)
        return url

    def anvil_pid(self) -> int:
        if self.anvil is not None and self.anvil.process is not None:
            return self.anvil.process.pid
        return self._adopted or 0

    def vault(self) -> Contract:
        assert self.w3 is not None and self.deployment is not None
        return at(self.w3, "Settlement", self.deployment.vault)

    def move_prices(self, stop: threading.Event, every_s: float = 5.0, seed: int = 11) -> threading.Thread:
        """Start a thread that posts a new answer to every development aggregator every
        ``every_s`` seconds, a small random walk (at most 0.1% a step) from the last one, so the
        references stay fresh and move as a real feed's would."""
        assert self.w3 is not None and self.deployment is not None
        w3, admin = self.w3, self.w3.eth.accounts[0]
        feeds = {
            name: at(w3, "DevAggregator", address) for name, address in self.deployment.aggregators.items()
        }
        steps = random.Random(seed)

        def run() -> None:
            while not stop.wait(every_s):
                try:
                    for feed in feeds.values():
                        last = feed.functions.latestRoundData().call()[1]
                        send(feed.functions.post(last + last * steps.randint(-10, 10) // 10_000, 0), admin)
                except Exception as error:  # the chain stopping under it ends the demo feed quietly
                    log.info("chain: demo price feed stopped: %s", error)
                    return

        thread = threading.Thread(target=run, name="demo-prices", daemon=True)
        thread.start()
        return thread

    def chain_health(self) -> str:
        return "ok" if _alive(self.anvil_pid()) else "down"

    def worker_health(self) -> str:
        if self.worker is None:
            return "not started"
        code = self.worker.poll()
        return "ok" if code is None else f"exited with status {code}"

    def stop(self) -> None:
        """The worker first, then Anvil (which saves its state): SIGTERM, SIGKILL after 10 s."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(10)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        if self.anvil is not None:
            self.anvil.stop()
        elif self._adopted is not None:
            _end((self._adopted, self.url))
        for name in ("worker.json", "anvil.json"):
            (self.directory / name).unlink(missing_ok=True)

    def _deployment(self, w3: Web3) -> Deployment:
        record = self.directory / "deployment.json"
        if record.exists():
            known = Deployment(**json.loads(record.read_text()))
            if w3.eth.get_code(Web3.to_checksum_address(known.vault)):
                return known
            log.warning(
                "chain: the vault in %s is not on this chain (its state was lost); deploying a new "
                "one: the engine's balances no longer match a chain",
                record,
            )
        admin, operator, fee_collector = w3.eth.accounts[:3]
        dev = deploy_dev_vault(w3, self.config, admin=admin, operator=operator, fee_collector=fee_collector,
                               exit_delay=EXIT_DELAY_S, change_delay=CHANGE_DELAY_S)  # fmt: skip
        aggregators = {}
        for underlying, price in sorted(self.prices.items()):
            feed = deploy(w3, "DevAggregator", AGGREGATOR_DECIMALS, f"{underlying} / USD", sender=admin)
            send(feed.functions.post(int(price.scaleb(AGGREGATOR_DECIMALS)), 0), admin)
            aggregators[underlying] = feed.address
        deployment = Deployment(dev.vault.address, {n: t.address for n, t in dev.tokens.items()}, aggregators)
        record.write_text(json.dumps(asdict(deployment), indent=2))
        return deployment


def running_chain(data_dir: Path) -> tuple[Web3, Deployment] | None:
    """The chain a ``bluebook run`` on ``data_dir`` runs (its Anvil alive) and its deployment."""
    anvil = _recorded(data_dir / "chain" / "anvil.json", "anvil")
    record = data_dir / "chain" / "deployment.json"
    if anvil is None or not record.exists():
        return None
    return connect(anvil[1]), Deployment(**json.loads(record.read_text()))


def deposit(
    w3: Web3, deployment: Deployment, config: MarketConfig, owner: str, amounts: Mapping[str, Decimal]
) -> None:
    """Mint each asset's amount (whole tokens) to ``owner``, approve the vault for it and deposit
    it, as a user would (the deposit watcher then credits the engine). ``owner`` must be an
    account the node signs for. Every transaction is sent at once, with its gas given so that none
    is estimated against a state its predecessors have not made yet (an account's transactions
    are mined in nonce order), then each receipt is awaited; a failed one raises."""
    vault = at(w3, "Settlement", deployment.vault)
    asset_ids = VaultLayout.of(config).asset_ids
    sent = []
    for asset, whole in amounts.items():
        token = at(w3, "DevToken", deployment.tokens[asset])
        units = int(whole.scaleb(config.asset(asset).chain_decimals))
        for call in (token.functions.mint(owner, units), token.functions.approve(vault.address, units),
                     vault.functions.deposit(asset_ids[asset], units)):  # fmt: skip
            sent.append((asset, call.transact({"from": owner, "gas": FUND_GAS})))
    for asset, tx_hash in sent:
        if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] != 1:
            raise RuntimeError(f"chain: funding {owner} with {asset} failed in {tx_hash.hex()}")


def _record(path: Path, pid: int, url: str) -> None:
    path.write_text(json.dumps({"pid": pid, "url": url}))


def _recorded(path: Path, command: str) -> tuple[int, str] | None:
    """The (pid, url) in ``path`` if that process is alive and its command line names
    ``command`` (a recycled pid names something else)."""
    try:
        record = json.loads(path.read_text())
        cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError):
        return None
    return (record["pid"], record["url"]) if command.encode() in cmdline else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return bool(pid)


def _end(process: tuple[int, str] | None) -> None:
    """SIGTERM the process, then SIGKILL it if it is still there after 10 s."""
    if process is None:
        return
    pid = process[0]
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and not _reaped(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid) and not _reaped(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _reaped(pid: int) -> bool:
    """Whether ``pid`` is our exited child (reaping it), or not our child at all but a zombie."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        status = Path(f"/proc/{pid}/status")
        return status.exists() and "zombie" in status.read_text()
    return done == pid
