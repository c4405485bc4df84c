"""A development deployment: one mintable token per configured asset, the vault, its registries.

Asset and market ids follow the order of ``MarketConfig.assets`` and ``.symbols``, so the engine's
names map to the vault's ids by position. Used by the tests, the gas benchmark, and (later) the
local chain that ``bluebook`` starts. Needs a node that signs for the given addresses (Anvil's
dev accounts, or any address once ``impersonate_all`` is on).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from web3 import Web3
from web3.contract import Contract

from matcher.config import MarketConfig
from settlement.chain import deploy, send

ZERO_ADDRESS = "0x" + "00" * 20
#: Gas for each funding transaction (mint, approve, first deposit with registration).
FUND_GAS = 250_000


@dataclass
class DevVault:
    w3: Web3
    vault: Contract
    markets: MarketConfig
    admin: str
    operator: str
    fee_collector: str
    #: Asset name -> token contract, vault asset id, token units per engine unit.
    tokens: dict[str, Contract] = field(default_factory=dict)
    asset_ids: dict[str, int] = field(default_factory=dict)
    factors: dict[str, int] = field(default_factory=dict)
    #: Symbol name -> vault market id.
    market_ids: dict[str, int] = field(default_factory=dict)

    def fund(self, owner: str, asset: str, amount: int) -> None:
        """Mint ``amount`` engine units of ``asset`` to ``owner`` and deposit them to the vault."""
        token = self.tokens[asset]
        units = amount * self.factors[asset]
        send(token.functions.mint(owner, units), owner)
        send(token.functions.approve(self.vault.address, units), owner)
        send(self.vault.functions.deposit(self.asset_ids[asset], units), owner)

    def fund_many(self, owners: Sequence[str], amounts: dict[str, int]) -> list[int]:
        """``fund`` every owner with ``amounts`` (asset -> engine units) through batched JSON-RPC.

        Needs ``impersonate_all``; gives each owner ether for gas. Returns the owners' account ids.
        Far faster than one ``fund`` call per transaction: a node round trip per thousand.
        """
        rpc_batch(self.w3, [("anvil_setBalance", [owner, hex(10**20)]) for owner in owners])
        nonces = rpc_batch(self.w3, [("eth_getTransactionCount", [owner, "pending"]) for owner in owners])
        calls: list[tuple[str, list[object]]] = []
        for owner, first_nonce in zip(owners, nonces, strict=True):
            nonce = int(str(first_nonce), 16)
            for asset, amount in amounts.items():
                token, units = self.tokens[asset], amount * self.factors[asset]
                for to, data in (
                    (token.address, token.encode_abi("mint", [owner, units])),
                    (token.address, token.encode_abi("approve", [self.vault.address, units])),
                    (self.vault.address, self.vault.encode_abi("deposit", [self.asset_ids[asset], units])),
                ):
                    tx = {"from": owner, "to": to, "data": data, "gas": hex(FUND_GAS), "nonce": hex(nonce)}
                    calls.append(("eth_sendTransaction", [tx]))
                    nonce += 1
        # Automine would mine each transaction as it arrives, out of nonce order within a batch:
        # queue them all, then mine blocks until the pool is empty.
        rpc_batch(self.w3, [("evm_setAutomine", [False])])
        try:
            hashes = rpc_batch(self.w3, calls)
            while int(str(rpc_batch(self.w3, [("txpool_status", [])])[0]["pending"]), 16):  # type: ignore[index]
                rpc_batch(self.w3, [("evm_mine", [])])
        finally:
            rpc_batch(self.w3, [("evm_setAutomine", [True])])
        receipts = rpc_batch(self.w3, [("eth_getTransactionReceipt", [h]) for h in hashes])
        failed = [r for r in receipts if not isinstance(r, dict) or int(str(r["status"]), 16) != 1]
        if failed:
            raise RuntimeError(f"{len(failed)} funding transactions failed")
        return [int(self.vault.functions.accountOf(owner).call()) for owner in owners]

    def balance(self, account: int, asset: str) -> int:
        """``account``'s vault balance of ``asset`` in engine units (always whole)."""
        units: int = self.vault.functions.balanceOf(account, self.asset_ids[asset]).call()
        whole, dust = divmod(units, self.factors[asset])
        assert dust == 0, f"account {account} holds {dust} units of {asset} below its engine unit"
        return whole

    def solvency(self, asset: str) -> int:
        """``balanceOf(vault)`` minus the ledger over all accounts, in token units; 0 when solvent."""
        held: int = self.tokens[asset].functions.balanceOf(self.vault.address).call()
        count = self.vault.functions.accountCount().call()
        asset_id = self.asset_ids[asset]
        ledger = sum(self.vault.functions.balanceOf(a, asset_id).call() for a in range(count))
        return held - ledger


def deploy_dev_vault(
    w3: Web3,
    markets: MarketConfig,
    *,
    admin: str,
    operator: str,
    fee_collector: str,
    exit_delay: int,
    change_delay: int,
) -> DevVault:
    """Deploy a ``DevToken`` per asset (its chain decimals) and the vault, and register them."""
    vault = deploy(w3, "Settlement", admin, operator, fee_collector, exit_delay, change_delay, sender=admin)
    dev = DevVault(w3, vault, markets, admin, operator, fee_collector)
    for asset in markets.assets:
        token = deploy(w3, "DevToken", asset.name, asset.name, asset.chain_decimals, sender=admin)
        send(vault.functions.registerAsset(token.address, asset.engine_decimals, ZERO_ADDRESS), admin)
        dev.tokens[asset.name] = token
        dev.asset_ids[asset.name] = len(dev.asset_ids)
        dev.factors[asset.name] = asset.chain_factor
    for symbol in markets.symbols:
        base, quote = dev.asset_ids[symbol.base], dev.asset_ids[symbol.quote]
        send(vault.functions.registerMarket(base, quote), admin)
        dev.market_ids[symbol.name] = len(dev.market_ids)
    return dev


def rpc_batch(w3: Web3, calls: Sequence[tuple[str, list[object]]], chunk: int = 500) -> list[object]:
    """Send JSON-RPC ``calls`` as batch requests of ``chunk``; return the results in order."""
    url = str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    results: list[object] = []
    for start in range(0, len(calls), chunk):
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls[start : start + chunk])
        ]
        request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            replies = sorted(json.loads(response.read()), key=lambda reply: reply["id"])
        for reply in replies:
            if "error" in reply:
                raise RuntimeError(f"{body[reply['id']]['method']}: {reply['error']}")
            results.append(reply["result"])
    return results


def impersonate_all(w3: Web3) -> None:
    """Let the node send from any address (Anvil): tests and benchmarks need many owners."""
    w3.provider.make_request("anvil_autoImpersonateAccount", [True])  # type: ignore[arg-type]


def give_ether(w3: Web3, address: str, wei: int = 10**20) -> None:
    w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]
