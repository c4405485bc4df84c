"""Admin and operator changes behind a delay, registries, and per-asset allowlist hooks."""

from __future__ import annotations

from settlement.chain import deploy, send, view
from settlement.devchain import ZERO_ADDRESS, DevVault
from settlement.packing import Trade, Withdrawal
from tests.chain import CHANGE_DELAY, EXIT_DELAY, advance, funded, new_owner, reverts, settle

SHARES = 10**9


def test_operator_change_takes_effect_only_after_the_delay(dev: DevVault) -> None:
    vault, successor = dev.vault, new_owner(dev.w3)
    reverts("NotAdmin", lambda: send(vault.functions.proposeOperator(successor), dev.operator))
    reverts("NothingPending", lambda: send(vault.functions.activateOperator(), dev.admin))
    reverts("ZeroAddress", lambda: send(vault.functions.proposeOperator(ZERO_ADDRESS), dev.admin))
    send(vault.functions.proposeOperator(successor), dev.admin)
    reverts("TooEarly", lambda: send(vault.functions.activateOperator(), dev.admin))
    advance(dev.w3, CHANGE_DELAY - 5)
    reverts("TooEarly", lambda: send(vault.functions.activateOperator(), dev.admin))
    settle(dev, [])  # the old operator still settles meanwhile
    advance(dev.w3, 5)
    send(vault.functions.activateOperator(), successor)
    assert vault.functions.operator().call() == successor
    reverts("NotOperator", lambda: settle(dev, []))
    send(vault.functions.settleBatch(2, b"\x00\x00"), successor)


def test_admin_change_needs_the_delay_and_the_new_admins_acceptance(dev: DevVault) -> None:
    vault, successor = dev.vault, new_owner(dev.w3)
    send(vault.functions.proposeAdmin(successor), dev.admin)
    advance(dev.w3, CHANGE_DELAY)
    reverts("NotPendingAdmin", lambda: send(vault.functions.activateAdmin(), dev.admin))
    send(vault.functions.activateAdmin(), successor)
    assert vault.functions.admin().call() == successor
    reverts("NotAdmin", lambda: send(vault.functions.setPaused(0, True), dev.admin))
    send(vault.functions.setPaused(0, True), successor)


def test_constructor_refuses_an_exit_delay_not_shorter_than_the_change_delay(dev: DevVault) -> None:
    error = reverts(
        "DelaysOutOfOrder",
        lambda: deploy(
            dev.w3, "Settlement", dev.admin, dev.operator, dev.fee_collector, 10, 10, sender=dev.admin
        ),
    )
    assert error.args_ == (10, 10)
    assert dev.vault.functions.exitDelay().call() == EXIT_DELAY


def test_asset_and_market_registration_checks(dev: DevVault) -> None:
    vault, usdc = dev.vault, dev.tokens["USDC"]
    register = vault.functions.registerAsset
    reverts("TokenAlreadyRegistered", lambda: send(register(usdc.address, 6, ZERO_ADDRESS), dev.admin))
    coarse = deploy(dev.w3, "DevToken", "Wide", "W", 30, sender=dev.admin)
    reverts("UnsupportedDecimals", lambda: send(register(coarse.address, 9, ZERO_ADDRESS), dev.admin))
    fine = deploy(dev.w3, "DevToken", "Fine", "F", 6, sender=dev.admin)
    reverts("UnsupportedDecimals", lambda: send(register(fine.address, 8, ZERO_ADDRESS), dev.admin))
    reverts("NotAdmin", lambda: send(register(fine.address, 6, ZERO_ADDRESS), dev.operator))
    send(register(fine.address, 6, ZERO_ADDRESS), dev.admin)
    new_id = vault.functions.assetCount().call() - 1
    assert vault.functions.assetInfo(new_id).call() == [fine.address, 1, False, ZERO_ADDRESS]
    reverts("SameAsset", lambda: send(vault.functions.registerMarket(new_id, new_id), dev.admin))
    reverts("UnknownAsset", lambda: send(vault.functions.registerMarket(new_id, 999), dev.admin))
    send(vault.functions.registerMarket(new_id, dev.asset_ids["USDC"]), dev.admin)
    market = vault.functions.marketCount().call() - 1
    assert vault.functions.marketInfo(market).call() == [new_id, dev.asset_ids["USDC"]]
    reverts("UnknownMarket", lambda: view(vault.functions.marketInfo(market + 1)))


def test_allowlist_hook_gates_deposits_deliveries_and_withdrawals(dev: DevVault) -> None:
    tsla = dev.asset_ids["TSLAx"]
    market = dev.market_ids["TSLAx-USDC"]
    seller_owner, seller = funded(dev, {"TSLAx": 5 * SHARES})
    buyer_owner, buyer = funded(dev, {"USDC": 10**9})
    allowlist = deploy(dev.w3, "Allowlist", sender=dev.admin)
    send(allowlist.functions.setAllowed(seller_owner, True), dev.admin)
    send(dev.vault.functions.proposeHook(tsla, allowlist.address), dev.admin)
    reverts("TooEarly", lambda: send(dev.vault.functions.activateHook(tsla), dev.admin))
    advance(dev.w3, CHANGE_DELAY)
    send(dev.vault.functions.activateHook(tsla), buyer_owner)
    trade = Trade(buyer, seller, market, SHARES, 100, 0, 0)
    error = reverts("NotAllowed", lambda: settle(dev, [trade]))
    assert error.args_ == (tsla, buyer_owner)
    reverts("NotAllowed", lambda: dev.fund(buyer_owner, "TSLAx", 1))
    send(allowlist.functions.setAllowed(buyer_owner, True), dev.admin)
    settle(dev, [trade])
    assert dev.balance(buyer, "TSLAx") == SHARES
    send(allowlist.functions.setAllowed(seller_owner, False), dev.admin)
    reverts("NotAllowed", lambda: settle(dev, [], [Withdrawal(seller, tsla, SHARES)]))
    assert dev.vault.functions.hookOf(tsla).call() == allowlist.address
