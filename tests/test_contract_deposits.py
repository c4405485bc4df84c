"""Deposits and the account registry: credit by balance difference, ids bound to the depositor."""

from __future__ import annotations

from settlement.chain import send
from settlement.devchain import DevVault
from tests.chain import Odd, events, funded, new_owner, reverts


def test_first_deposit_registers_the_depositor_with_the_next_compact_id(dev: DevVault) -> None:
    first_count = dev.vault.functions.accountCount().call()
    alice, alice_id = funded(dev, {"USDC": 5_000_000})
    bob, bob_id = funded(dev, {"USDC": 1})
    assert (alice_id, bob_id) == (first_count, first_count + 1)
    assert dev.vault.functions.accountInfo(alice_id).call() == [alice, 0]
    dev.fund(alice, "TSLAx", 7)  # a second deposit keeps the id
    assert dev.vault.functions.accountOf(alice).call() == alice_id
    assert dev.vault.functions.accountCount().call() == first_count + 2
    assert dev.balance(alice_id, "USDC") == 5_000_000 and dev.balance(alice_id, "TSLAx") == 7


def test_deposit_emits_engine_units_and_keeps_the_vault_solvent(dev: DevVault) -> None:
    owner = new_owner(dev.w3)
    units = 3 * dev.factors["TSLAx"]
    send(dev.tokens["TSLAx"].functions.mint(owner, units), owner)
    send(dev.tokens["TSLAx"].functions.approve(dev.vault.address, units), owner)
    receipt = send(dev.vault.functions.deposit(dev.asset_ids["TSLAx"], units), owner)
    (deposited,) = events(dev.vault, "Deposited", receipt)
    assert deposited["amount"] == 3 and deposited["from"] == owner
    assert dev.solvency("TSLAx") == 0


def test_fee_on_transfer_token_credits_only_what_arrived(dev: DevVault, odd: Odd) -> None:
    owner = new_owner(dev.w3)
    token, asset = odd.fee_on_transfer, dev.asset_ids["FUSD"]
    send(token.functions.mint(owner, 1_000_000), owner)
    send(token.functions.approve(dev.vault.address, 1_000_000), owner)
    send(dev.vault.functions.deposit(asset, 1_000_000), owner)
    account = dev.vault.functions.accountOf(owner).call()
    assert dev.vault.functions.balanceOf(account, asset).call() == 990_000  # 1% burned on the way
    assert dev.solvency("FUSD") == 0


def test_deposit_that_is_not_a_whole_engine_unit_reverts(dev: DevVault) -> None:
    owner = new_owner(dev.w3)
    token = dev.tokens["TSLAx"]
    send(token.functions.mint(owner, 10**18), owner)
    send(token.functions.approve(dev.vault.address, 10**18), owner)
    error = reverts("DepositNotWhole", lambda: send(dev.vault.functions.deposit(0, 10**9 + 1), owner))
    assert error.args_ == (10**9 + 1, 10**9)
    reverts("DepositNotWhole", lambda: send(dev.vault.functions.deposit(0, 0), owner))


def test_deposit_of_unknown_or_paused_asset_reverts(dev: DevVault) -> None:
    owner = new_owner(dev.w3)
    reverts("UnknownAsset", lambda: send(dev.vault.functions.deposit(999, 1), owner))
    usdc = dev.asset_ids["USDC"]
    send(dev.vault.functions.setPaused(usdc, True), dev.admin)
    reverts("AssetPaused", lambda: send(dev.vault.functions.deposit(usdc, 1), owner))


def test_token_level_pause_stops_a_deposit_with_the_tokens_reason(dev: DevVault, odd: Odd) -> None:
    owner = new_owner(dev.w3)
    send(odd.pausable.functions.mint(owner, 100), owner)
    send(odd.pausable.functions.approve(dev.vault.address, 100), owner)
    send(odd.pausable.functions.setPaused(True), dev.admin)
    reverts("TokenPaused", lambda: send(dev.vault.functions.deposit(dev.asset_ids["PUSD"], 100), owner))


def test_reentrant_deposit_through_a_hostile_token_is_refused(dev: DevVault, odd: Odd) -> None:
    owner = new_owner(dev.w3)
    asset = dev.asset_ids["HOST"]
    send(odd.hostile.functions.mint(owner, 10**18), owner)
    reenter = dev.vault.encode_abi("deposit", [asset, 10**9])
    send(odd.hostile.functions.arm(1, dev.vault.address, reenter), owner)  # Mode.REENTER
    reverts("Reentrancy", lambda: send(dev.vault.functions.deposit(asset, 10**9), owner))
    assert dev.vault.functions.accountOf(owner).call() == 0


def test_token_returning_false_fails_the_deposit(dev: DevVault, odd: Odd) -> None:
    owner = new_owner(dev.w3)
    send(odd.hostile.functions.mint(owner, 10**18), owner)
    send(odd.hostile.functions.arm(2, dev.vault.address, b""), owner)  # Mode.RETURN_FALSE
    reverts("TransferFailed", lambda: send(dev.vault.functions.deposit(dev.asset_ids["HOST"], 10**9), owner))
