"""Anvil fixtures for the contract tests, and small helpers to drive the vault.

One Anvil process per test session (the binary from ``node_modules``, on 127.0.0.1 and a free
port, stopped by its pid); one deployment of the default markets plus the odd tokens
(fee-on-transfer, pausable, hostile). Each test runs between an ``evm_snapshot`` and an
``evm_revert``, so tests never see each other's state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from bluebook.markets import default_markets
from settlement.anvil import Anvil
from settlement.chain import Reverted, connect, deploy, send
from settlement.devchain import ZERO_ADDRESS, DevVault, deploy_dev_vault, give_ether, impersonate_all
from settlement.packing import Trade, Withdrawal, pack_batch

EXIT_DELAY = 3_600
CHANGE_DELAY = 7_200
_owners = itertools.count(0xB0B0_0000)


@dataclass
class Odd:
    """Tokens that misbehave, each registered as a vault asset (ids in ``dev.asset_ids``)."""

    fee_on_transfer: Contract
    pausable: Contract
    hostile: Contract


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def deployment(anvil: Anvil) -> tuple[DevVault, Odd]:
    w3 = connect(anvil.url)
    impersonate_all(w3)
    admin, operator, fee_collector = w3.eth.accounts[:3]
    dev = deploy_dev_vault(
        w3,
        default_markets(),
        admin=admin,
        operator=operator,
        fee_collector=fee_collector,
        exit_delay=EXIT_DELAY,
        change_delay=CHANGE_DELAY,
    )
    odd = Odd(
        fee_on_transfer=deploy(w3, "FeeOnTransferToken", "Fee USD", "FUSD", 6, 100, sender=admin),
        pausable=deploy(w3, "PausableToken", "Paused USD", "PUSD", 6, sender=admin),
        hostile=deploy(w3, "HostileToken", sender=admin),
    )
    for name, token, engine_decimals in (
        ("FUSD", odd.fee_on_transfer, 6),
        ("PUSD", odd.pausable, 6),
        ("HOST", odd.hostile, 9),
    ):
        send(dev.vault.functions.registerAsset(token.address, engine_decimals, ZERO_ADDRESS), admin)
        dev.tokens[name] = token
        dev.asset_ids[name] = len(dev.asset_ids)
        dev.factors[name] = 10 ** (token.functions.decimals().call() - engine_decimals)
    return dev, odd


@pytest.fixture
def chain(deployment: tuple[DevVault, Odd]) -> Iterator[tuple[DevVault, Odd]]:
    """The deployment, reverted to its pristine state after the test."""
    w3 = deployment[0].w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield deployment
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture
def dev(chain: tuple[DevVault, Odd]) -> DevVault:
    return chain[0]


@pytest.fixture
def odd(chain: tuple[DevVault, Odd]) -> Odd:
    return chain[1]


def new_owner(w3: Web3) -> str:
    """A fresh address with ether, that the node sends for (auto-impersonation)."""
    address = Web3.to_checksum_address(f"0x{next(_owners):040x}")
    give_ether(w3, address)
    return address


def funded(dev: DevVault, holdings: dict[str, int]) -> tuple[str, int]:
    """A new owner whose account holds ``holdings`` (asset -> engine units): (address, id)."""
    owner = new_owner(dev.w3)
    for asset, amount in holdings.items():
        dev.fund(owner, asset, amount)
    return owner, int(dev.vault.functions.accountOf(owner).call())


def settle(dev: DevVault, trades: Sequence[Trade], withdrawals: Sequence[Withdrawal] = ()) -> Any:
    """Settle one batch as the next batch id; returns the receipt."""
    batch_id = dev.vault.functions.lastBatchId().call() + 1
    return send(dev.vault.functions.settleBatch(batch_id, pack_batch(trades, withdrawals)), dev.operator)


def reverts(name: str, action: Callable[[], object]) -> Reverted:
    """Run ``action``, which must revert with the custom error ``name``; return the error."""
    with pytest.raises(Reverted) as caught:
        action()
    assert caught.value.name == name, f"expected {name}, got {caught.value}"
    return caught.value


def advance(w3: Web3, seconds: int) -> None:
    """Move the chain's clock forward and mine a block at the new time."""
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def events(contract: Contract, name: str, receipt: Any) -> list[dict[str, Any]]:
    """The decoded ``name`` events that ``contract`` emitted in ``receipt``, as plain dicts."""
    decoded = contract.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(event["args"]) for event in decoded]
