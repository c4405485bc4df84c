"""Settlement gas: what a batch of N packed trades costs on Anvil, per trade.

Scenarios, one JSON line each, for N in 1, 10, 100, 500:

- ``gas-distinct-N``: N trades on TSLAx-USDC, each between two accounts that already hold both
  assets and appear in no other trade of the batch (four cold balance slots a trade).
- ``gas-mm-N``: N trades, each between one market-maker account (on every trade) and an account
  that appears in no other trade.

Fields: ``gas`` is the mined transaction's ``gasUsed`` (21,000 base and calldata included);
``gas_per_trade`` is ``gas / N``; ``gas_per_added_trade`` is ``(gas(N) - gas(1)) / (N - 1)``, what
one more trade adds; ``calldata_bytes_per_trade`` is the payload's length over N. Targets at
N = 100: ``gas_per_trade`` <= 22,000 (distinct) and <= 12,000 (market maker).

Setup (not measured): a fresh Anvil, the default markets deployed, 1,001 funded accounts. Gas is
deterministic, so ``--quick`` runs the same scenarios.

- ``lag``: fills at 2,000 a second through the node and the settlement worker onto Anvil mining a
  block a second; p50/p99 seconds from fill to FINAL, backlog, fills a 30M-gas block carries
  (``bench.settlement_lag``). 60 s of load; ``--quick`` 10 s.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

from web3 import Web3

from bench import settlement_lag
from bluebook.markets import default_markets
from settlement.anvil import Anvil
from settlement.chain import connect, send
from settlement.devchain import deploy_dev_vault, impersonate_all
from settlement.packing import Trade, pack_batch

SIZES = (1, 10, 100, 500)
TARGETS = {("distinct", 100): 22_000, ("mm", 100): 12_000}
SHARES = 10**9  # TSLAx engine units
USDC = 10**6
#: One share at $250.13: the taker (buyer) pays 5 bps, the maker (seller) earns a 1 bp rebate.
BASE, QUOTE, BUYER_FEE, SELLER_FEE = SHARES, 250_130_000, 125_065, -25_013


def main(*, quick: bool, seed: int) -> int:
    del seed  # neither gas nor the lag's load depends on it
    started = time.monotonic()
    with Anvil() as node:
        w3 = connect(node.url)
        impersonate_all(w3)
        admin, operator, fee_collector = w3.eth.accounts[:3]
        dev = deploy_dev_vault(
            w3,
            default_markets(),
            admin=admin,
            operator=operator,
            fee_collector=fee_collector,
            exit_delay=3_600,
            change_delay=7_200,
        )
        owners = [Web3.to_checksum_address(f"0x{0xBE_0000 + i:040x}") for i in range(2 * max(SIZES) + 1)]
        ids = dev.fund_many(owners, {"TSLAx": 1_000 * SHARES, "USDC": 1_000_000 * USDC})
        maker, others = ids[-1], ids[:-1]
        market = dev.market_ids["TSLAx-USDC"]
        print(f"setup {time.monotonic() - started:.1f} s", file=sys.stderr)
        mixes = {
            "distinct": lambda n: [
                Trade(others[2 * i], others[2 * i + 1], market, BASE, QUOTE, BUYER_FEE, SELLER_FEE)
                for i in range(n)
            ],
            "mm": lambda n: [
                Trade(others[i], maker, market, BASE, QUOTE, BUYER_FEE, SELLER_FEE) for i in range(n)
            ],
        }
        status = 0
        batch_id = 0
        for mix, make in mixes.items():
            single = 0
            for n in SIZES:
                scenario = f"gas-{mix}-{n}"
                try:
                    payload = pack_batch(make(n))
                    batch_id += 1
                    gas = int(send(dev.vault.functions.settleBatch(batch_id, payload), operator)["gasUsed"])
                    single = single or gas
                    line = {
                        "scenario": scenario,
                        "trades": n,
                        "gas": gas,
                        "gas_per_trade": round(gas / n, 1),
                        "gas_per_added_trade": round((gas - single) / (n - 1), 1) if n > 1 else None,
                        "calldata_bytes_per_trade": round(len(payload) / n, 2),
                    }
                    target = TARGETS.get((mix, n))
                    if target:
                        line["target_gas_per_trade"] = target
                        line["meets_target"] = gas / n <= target
                    print(json.dumps(line), flush=True)
                except Exception as error:  # noqa: BLE001 - report and go on to the next scenario
                    traceback.print_exc()
                    print(json.dumps({"scenario": scenario, "error": repr(error)}), flush=True)
                    status = 1
    try:
        print(json.dumps(settlement_lag.run(quick=quick)), flush=True)
    except Exception as error:  # noqa: BLE001 - report it as the scenario's line
        traceback.print_exc()
        print(json.dumps({"scenario": "lag", "error": repr(error)}), flush=True)
        status = 1
    print(f"total {time.monotonic() - started:.1f} s", file=sys.stderr)
    return status
