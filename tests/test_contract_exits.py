"""The escape hatch: requestExit, the delay, withdrawExit without the operator, frozen settlement."""

from __future__ import annotations

from settlement.chain import send
from settlement.devchain import DevVault
from settlement.packing import Trade, Withdrawal
from tests.chain import EXIT_DELAY, Odd, advance, events, funded, reverts, settle

SHARES = 10**9


def test_exit_pays_everything_after_the_delay_with_no_operator_action(dev: DevVault) -> None:
    owner, account = funded(dev, {"TSLAx": 3 * SHARES, "USDC": 1_000_000})
    receipt = send(dev.vault.functions.requestExit(account), owner)
    (requested,) = events(dev.vault, "ExitRequested", receipt)
    assert requested["withdrawableAt"] == dev.w3.eth.get_block("latest")["timestamp"] + EXIT_DELAY
    reverts("ExitNotReady", lambda: send(dev.vault.functions.withdrawExit(account, 0), owner))
    advance(dev.w3, EXIT_DELAY)
    receipt = send(dev.vault.functions.withdrawExit(account, dev.asset_ids["TSLAx"]), owner)
    send(dev.vault.functions.withdrawExit(account, dev.asset_ids["USDC"]), owner)
    (paid,) = events(dev.vault, "ExitWithdrawn", receipt)
    assert (paid["account"], paid["to"], paid["amount"]) == (account, owner, 3 * SHARES)
    assert dev.tokens["TSLAx"].functions.balanceOf(owner).call() == 3 * SHARES * dev.factors["TSLAx"]
    assert dev.tokens["USDC"].functions.balanceOf(owner).call() == 1_000_000
    assert dev.balance(account, "TSLAx") == 0 and dev.solvency("TSLAx") == 0
    reverts("NothingToWithdraw", lambda: send(dev.vault.functions.withdrawExit(account, 0), owner))


def test_exit_ignores_the_vault_pause(dev: DevVault) -> None:
    owner, account = funded(dev, {"USDC": 5})
    send(dev.vault.functions.requestExit(account), owner)
    send(dev.vault.functions.setPaused(dev.asset_ids["USDC"], True), dev.admin)
    advance(dev.w3, EXIT_DELAY)
    send(dev.vault.functions.withdrawExit(account, dev.asset_ids["USDC"]), owner)
    assert dev.tokens["USDC"].functions.balanceOf(owner).call() == 5


def test_only_the_owner_exits_once(dev: DevVault) -> None:
    owner, account = funded(dev, {"USDC": 5})
    stranger, _ = funded(dev, {"USDC": 5})
    reverts("NotAccountOwner", lambda: send(dev.vault.functions.requestExit(account), stranger))
    reverts("NotAccountOwner", lambda: send(dev.vault.functions.requestExit(10**6), owner))
    reverts("ExitNotRequested", lambda: send(dev.vault.functions.withdrawExit(account, 0), owner))
    send(dev.vault.functions.requestExit(account), owner)
    reverts("ExitAlreadyRequested", lambda: send(dev.vault.functions.requestExit(account), owner))
    advance(dev.w3, EXIT_DELAY)
    reverts("NotAccountOwner", lambda: send(dev.vault.functions.withdrawExit(account, 3), stranger))


def test_exiting_account_takes_no_deposit(dev: DevVault) -> None:
    owner, account = funded(dev, {"USDC": 5})
    send(dev.vault.functions.requestExit(account), owner)
    reverts("AccountExiting", lambda: dev.fund(owner, "USDC", 1))


def test_batches_settle_an_exiting_account_until_the_delay_then_revert(dev: DevVault) -> None:
    owner, leaver = funded(dev, {"TSLAx": 2 * SHARES, "USDC": 1})
    _, buyer = funded(dev, {"USDC": 1_000_000_000, "TSLAx": 1})
    market = dev.market_ids["TSLAx-USDC"]
    send(dev.vault.functions.requestExit(leaver), owner)
    settle(dev, [Trade(buyer, leaver, market, SHARES, 250_000_000, 0, 0)])  # in flight: still fine
    advance(dev.w3, EXIT_DELAY)
    after = Trade(buyer, leaver, market, SHARES, 250_000_000, 0, 0)
    assert reverts("AccountExited", lambda: settle(dev, [after])).args_ == (leaver,)
    credit_only = Trade(leaver, buyer, market, 1, 0, 0, 0)
    reverts("AccountExited", lambda: settle(dev, [credit_only]))
    reverts("AccountExited", lambda: settle(dev, [], [Withdrawal(leaver, dev.asset_ids["USDC"], 1)]))
    send(dev.vault.functions.withdrawExit(leaver, dev.asset_ids["USDC"]), owner)
    assert dev.tokens["USDC"].functions.balanceOf(owner).call() == 1 + 250_000_000


def test_fee_account_exit_freezes_fee_credits(dev: DevVault) -> None:
    _, buyer = funded(dev, {"USDC": 10**9, "TSLAx": 1})
    _, seller = funded(dev, {"TSLAx": SHARES, "USDC": 1})
    send(dev.vault.functions.requestExit(0), dev.fee_collector)
    advance(dev.w3, EXIT_DELAY)
    market = dev.market_ids["TSLAx-USDC"]
    reverts("AccountExited", lambda: settle(dev, [Trade(buyer, seller, market, 1, 100, 1, 0)]))
    settle(dev, [Trade(buyer, seller, market, 1, 100, 0, 0)])  # a fee-free trade still settles


def test_hostile_token_cannot_reenter_an_exit(dev: DevVault, odd: Odd) -> None:
    owner, account = funded(dev, {"HOST": 5})
    send(dev.vault.functions.requestExit(account), owner)
    advance(dev.w3, EXIT_DELAY)
    host = dev.asset_ids["HOST"]
    again = dev.vault.encode_abi("withdrawExit", [account, host])
    send(odd.hostile.functions.arm(1, dev.vault.address, again), owner)
    reverts("Reentrancy", lambda: send(dev.vault.functions.withdrawExit(account, host), owner))
    send(odd.hostile.functions.arm(0, dev.vault.address, b""), owner)
    send(dev.vault.functions.withdrawExit(account, host), owner)
    assert dev.solvency("HOST") == 0
