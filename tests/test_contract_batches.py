"""settleBatch: ordering, the packed trade's ledger effect, fees, withdrawals, every refusal."""

from __future__ import annotations

from eth_utils import keccak

from settlement.chain import send
from settlement.devchain import DevVault
from settlement.packing import Trade, Withdrawal, pack_batch
from tests.chain import EXIT_DELAY, Odd, advance, events, funded, reverts, settle

SHARES = 10**9  # TSLAx engine units per share
USDC = 10**6


def market(dev: DevVault) -> int:
    return dev.market_ids["TSLAx-USDC"]


def pair(dev: DevVault) -> tuple[int, int]:
    """A buyer holding USDC and a seller holding TSLAx."""
    _, buyer = funded(dev, {"USDC": 10_000 * USDC, "TSLAx": 1})
    _, seller = funded(dev, {"TSLAx": 10 * SHARES, "USDC": 1})
    return buyer, seller


def test_batch_ids_are_strictly_sequential_and_only_the_operator_settles(dev: DevVault) -> None:
    vault = dev.vault
    reverts("BatchOutOfOrder", lambda: send(vault.functions.settleBatch(2, pack_batch([])), dev.operator))
    send(vault.functions.settleBatch(1, pack_batch([])), dev.operator)
    reverts("BatchOutOfOrder", lambda: send(vault.functions.settleBatch(1, pack_batch([])), dev.operator))
    reverts("NotOperator", lambda: send(vault.functions.settleBatch(2, pack_batch([])), dev.admin))
    send(vault.functions.settleBatch(2, pack_batch([])), dev.operator)
    assert vault.functions.lastBatchId().call() == 2


def test_trade_moves_base_quote_and_fees_exactly(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    fee_before = dev.balance(0, "USDC")
    # 2 shares for 500 USDC; the buyer (taker) pays 0.25 USDC, the seller (maker) gets a 0.05 rebate.
    trade = Trade(buyer, seller, market(dev), 2 * SHARES, 500 * USDC, 250_000, -50_000)
    receipt = settle(dev, [trade])
    assert dev.balance(buyer, "TSLAx") == 1 + 2 * SHARES
    assert dev.balance(buyer, "USDC") == 10_000 * USDC - 500 * USDC - 250_000
    assert dev.balance(seller, "TSLAx") == 8 * SHARES
    assert dev.balance(seller, "USDC") == 1 + 500 * USDC + 50_000
    assert dev.balance(0, "USDC") == fee_before + 200_000
    assert dev.solvency("USDC") == 0 and dev.solvency("TSLAx") == 0
    (settled,) = events(dev.vault, "BatchSettled", receipt)
    payload = pack_batch([trade])
    assert settled["count"] == 1 and settled["payloadHash"] == keccak(payload)


def test_self_trade_takes_the_reference_path_and_costs_only_fees(dev: DevVault) -> None:
    _, both = funded(dev, {"USDC": 1_000 * USDC, "TSLAx": SHARES})
    settle(dev, [Trade(both, both, market(dev), SHARES, 250 * USDC, 125_000, 0)])
    assert dev.balance(both, "TSLAx") == SHARES
    assert dev.balance(both, "USDC") == 1_000 * USDC - 125_000


def test_market_maker_across_markets_and_quote_assets(dev: DevVault) -> None:
    _, maker = funded(dev, {"USDC": 10_000 * USDC, "WBTC": 10**8, "TSLAx": 10 * SHARES, "AAPLx": SHARES})
    _, taker = funded(dev, {"USDC": 10_000 * USDC, "WBTC": 10**8, "TSLAx": 10 * SHARES})
    fees_usdc, fees_wbtc = dev.balance(0, "USDC"), dev.balance(0, "WBTC")
    trades = [
        Trade(taker, maker, dev.market_ids["TSLAx-USDC"], SHARES, 250 * USDC, 125_000, -25_000),
        Trade(maker, taker, dev.market_ids["TSLAx-WBTC"], SHARES, 250_000, 0, 200),
        Trade(taker, maker, dev.market_ids["AAPLx-USDC"], SHARES, 200 * USDC, 100_000, 0),
        Trade(maker, taker, dev.market_ids["TSLAx-USDC"], SHARES, 251 * USDC, -25_000, 125_000),
    ]
    settle(dev, trades)
    assert dev.balance(0, "USDC") == fees_usdc + 100_000 + 100_000 + 100_000
    assert dev.balance(0, "WBTC") == fees_wbtc + 200
    assert dev.balance(maker, "TSLAx") == 10 * SHARES - SHARES + SHARES + SHARES
    assert dev.balance(taker, "WBTC") == 10**8 + 250_000 - 200
    for asset in ("USDC", "WBTC", "TSLAx", "AAPLx"):
        assert dev.solvency(asset) == 0


def test_insufficient_balance_reverts_the_whole_batch(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    good = Trade(buyer, seller, market(dev), SHARES, 100 * USDC, 0, 0)
    too_big = Trade(buyer, seller, market(dev), 11 * SHARES, 100 * USDC, 0, 0)
    error = reverts("InsufficientBalance", lambda: settle(dev, [good, too_big]))
    assert error.args_ == (seller, dev.asset_ids["TSLAx"])
    assert dev.balance(seller, "TSLAx") == 10 * SHARES and dev.vault.functions.lastBatchId().call() == 0
    broke = Trade(buyer, seller, market(dev), SHARES, 10_001 * USDC, 0, 0)
    error = reverts("InsufficientBalance", lambda: settle(dev, [broke]))
    assert error.args_ == (buyer, dev.asset_ids["USDC"])


def test_bad_fees_unknown_accounts_and_markets_revert(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    m = market(dev)
    rebate_over_quote = Trade(buyer, seller, m, SHARES, 100, -101, 101)
    assert reverts("BadFees", lambda: settle(dev, [rebate_over_quote])).args_ == (0,)
    fee_over_quote = Trade(buyer, seller, m, SHARES, 100, 0, 101)
    reverts("BadFees", lambda: settle(dev, [Trade(buyer, seller, m, 1, 1, 0, 0), fee_over_quote]))
    rebates_exceed_fees = Trade(buyer, seller, m, SHARES, 100, -2, 1)
    reverts("BadFees", lambda: settle(dev, [rebates_exceed_fees]))
    count = dev.vault.functions.accountCount().call()
    reverts("UnknownAccount", lambda: settle(dev, [Trade(count, seller, m, 1, 1, 0, 0)]))
    reverts("UnknownAccount", lambda: settle(dev, [Trade(buyer, 2**32 - 1, m, 1, 1, 0, 0)]))
    reverts("UnknownMarket", lambda: settle(dev, [Trade(buyer, seller, 999, 1, 1, 0, 0)]))


def test_malformed_payload_lengths_revert(dev: DevVault) -> None:
    for payload in (b"", b"\x00", b"\x00\x01" + bytes(31), b"\x00\x00" + bytes(15)):
        reverts(
            "MalformedPayload", lambda p=payload: send(dev.vault.functions.settleBatch(1, p), dev.operator)
        )


def test_paused_asset_stops_trades_and_withdrawals(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    send(dev.vault.functions.setPaused(dev.asset_ids["USDC"], True), dev.admin)
    reverts("AssetPaused", lambda: settle(dev, [Trade(buyer, seller, market(dev), 1, 1, 0, 0)]))
    reverts("AssetPaused", lambda: settle(dev, [], [Withdrawal(buyer, dev.asset_ids["USDC"], 1)]))


def test_withdrawal_pays_the_accounts_own_address_in_engine_units(dev: DevVault) -> None:
    owner, account = funded(dev, {"TSLAx": 5 * SHARES})
    tsla = dev.asset_ids["TSLAx"]
    receipt = settle(dev, [], [Withdrawal(account, tsla, 2 * SHARES)])
    assert dev.tokens["TSLAx"].functions.balanceOf(owner).call() == 2 * SHARES * dev.factors["TSLAx"]
    assert dev.balance(account, "TSLAx") == 3 * SHARES
    (paid,) = events(dev.vault, "Withdrawn", receipt)
    assert (paid["batchId"], paid["account"], paid["to"], paid["amount"]) == (1, account, owner, 2 * SHARES)
    assert dev.solvency("TSLAx") == 0
    reverts("InsufficientBalance", lambda: settle(dev, [], [Withdrawal(account, tsla, 3 * SHARES + 1)]))


def test_withdrawals_apply_after_the_trades_that_fund_them(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    trade = Trade(buyer, seller, market(dev), 10 * SHARES, 100 * USDC, 0, 0)
    settle(dev, [trade], [Withdrawal(buyer, dev.asset_ids["TSLAx"], 10 * SHARES)])
    assert dev.balance(buyer, "TSLAx") == 1


def test_fee_account_withdrawal_pays_the_fee_collector(dev: DevVault) -> None:
    buyer, seller = pair(dev)
    settle(dev, [Trade(buyer, seller, market(dev), SHARES, 100 * USDC, 300, 0)])
    before = dev.tokens["USDC"].functions.balanceOf(dev.fee_collector).call()
    settle(dev, [], [Withdrawal(0, dev.asset_ids["USDC"], 300)])
    assert dev.tokens["USDC"].functions.balanceOf(dev.fee_collector).call() == before + 300


def test_hostile_token_cannot_reenter_or_underpay_a_batch_withdrawal(dev: DevVault, odd: Odd) -> None:
    owner, account = funded(dev, {"HOST": 5})
    host = dev.asset_ids["HOST"]
    item = Withdrawal(account, host, 1)
    reenter = dev.vault.encode_abi("deposit", [dev.asset_ids["USDC"], 1])
    send(odd.hostile.functions.arm(1, dev.vault.address, reenter), owner)  # REENTER
    reverts("Reentrancy", lambda: settle(dev, [], [item]))
    send(odd.hostile.functions.arm(3, dev.vault.address, b""), owner)  # SKIM: takes one unit more
    reverts("TransferMismatch", lambda: settle(dev, [], [item]))
    send(odd.hostile.functions.arm(2, dev.vault.address, b""), owner)  # RETURN_FALSE
    reverts("TransferFailed", lambda: settle(dev, [], [item]))
    assert dev.balance(account, "HOST") == 5 and dev.solvency("HOST") == 0


def ledger_after(dev: DevVault, trades: list[Trade], accounts: list[int]) -> dict[tuple[int, str], int]:
    """The ledger (engine units) after ``trades``, all on TSLAx-USDC, applied one by one."""
    ledger = {(a, asset): dev.balance(a, asset) for a in [0, *accounts] for asset in ("TSLAx", "USDC")}
    for t in trades:
        ledger[t.seller, "TSLAx"] -= t.base
        ledger[t.buyer, "TSLAx"] += t.base
        ledger[t.buyer, "USDC"] -= t.quote + t.buyer_fee
        ledger[t.seller, "USDC"] += t.quote - t.seller_fee
        ledger[0, "USDC"] += t.buyer_fee + t.seller_fee
    return ledger


def test_market_maker_run_moves_what_one_by_one_trades_would(dev: DevVault) -> None:
    holdings = {"TSLAx": 10 * SHARES, "USDC": 10_000 * USDC}
    _, maker = funded(dev, holdings)
    takers = [funded(dev, holdings)[1] for _ in range(4)]
    m = market(dev)
    # The maker buys and sells in one run, takers repeat, a maker-free trade ends the run and a
    # second run starts after it; the maker's balances change sign of direction mid-run.
    trades = [
        Trade(takers[0], maker, m, 3 * SHARES, 750 * USDC, 375_000, -75_000),
        Trade(maker, takers[1], m, 2 * SHARES, 498 * USDC, -49_800, 249_000),
        Trade(takers[0], maker, m, SHARES, 251 * USDC, 125_500, 0),
        Trade(maker, takers[2], m, 9 * SHARES, 2_200 * USDC, 0, 1_100_000),
        Trade(takers[2], takers[3], m, SHARES, 250 * USDC, 125_000, 0),
        Trade(takers[3], maker, m, 7 * SHARES, 1_750 * USDC, 875_000, -175_000),
        Trade(maker, takers[1], m, SHARES, 250 * USDC, 0, 0),
    ]
    expected = ledger_after(dev, trades, [maker, *takers])
    settle(dev, trades)
    assert {key: dev.balance(*key) for key in expected} == expected
    assert dev.solvency("TSLAx") == 0 and dev.solvency("USDC") == 0


def test_market_maker_short_mid_run_reverts_the_batch_naming_the_maker(dev: DevVault) -> None:
    _, maker = funded(dev, {"TSLAx": 2 * SHARES, "USDC": 1})
    takers = [funded(dev, {"USDC": 1_000 * USDC, "TSLAx": 1})[1] for _ in range(3)]
    m = market(dev)
    trades = [Trade(taker, maker, m, SHARES, 250 * USDC, 0, 0) for taker in takers]
    error = reverts("InsufficientBalance", lambda: settle(dev, trades))
    assert error.args_ == (maker, dev.asset_ids["TSLAx"])
    assert dev.balance(maker, "TSLAx") == 2 * SHARES and dev.vault.functions.lastBatchId().call() == 0
    broke = [
        Trade(takers[0], maker, m, 1, 250 * USDC, 0, 0),
        Trade(takers[1], maker, m, 1, 1_001 * USDC, 0, 0),
    ]
    assert reverts("InsufficientBalance", lambda: settle(dev, broke)).args_ == (
        takers[1],
        dev.asset_ids["USDC"],
    )


def test_market_maker_run_refuses_an_exited_account_and_settles_an_exiting_maker(dev: DevVault) -> None:
    holdings = {"TSLAx": 10 * SHARES, "USDC": 10_000 * USDC}
    maker_owner, maker = funded(dev, holdings)
    leaver_owner, leaver = funded(dev, holdings)
    _, taker = funded(dev, holdings)
    m = market(dev)
    send(dev.vault.functions.requestExit(maker), maker_owner)
    in_flight = [
        Trade(taker, maker, m, SHARES, 250 * USDC, 0, 0),
        Trade(maker, taker, m, SHARES, 250 * USDC, 0, 0),
    ]
    settle(dev, in_flight)  # an exit in its delay: the maker still settles (by the reference path)
    assert dev.balance(maker, "TSLAx") == 10 * SHARES
    send(dev.vault.functions.requestExit(leaver), leaver_owner)
    advance(dev.w3, EXIT_DELAY)
    _, mm = funded(dev, holdings)
    run = [Trade(taker, mm, m, SHARES, 250 * USDC, 0, 0), Trade(leaver, mm, m, SHARES, 250 * USDC, 0, 0)]
    assert reverts("AccountExited", lambda: settle(dev, run)).args_ == (leaver,)
