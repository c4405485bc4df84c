"""A small in-process demo flow for ``bluebook run`` until the public API carries real clients.

Two development accounts are funded once, then, every ``interval`` seconds, the maker re-quotes
a bid and an ask one to three ticks around a mid that random-walks, and the taker now and then
takes the best offer. With a local chain (``bluebook run``), the two are Anvil wallets #3 and #4
that mint development tokens and deposit them into the vault, as a user would, and trade once
the deposit watcher has credited them, so their fills settle on chain; without one, accounts 1
and 2 are credited by deposit commands with fixed refs (so a restart does not fund them twice).
Every acknowledged command is printed as a JSON line (``{"acked": seq, ...}``): a command whose
line was printed was durable before it was printed, which is what a restart must show.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from decimal import Decimal

from sqlalchemy import Engine as Database

from bluebook.localchain import LocalChain
from bluebook.node import Node, NodeStopped
from matcher import CancelAll, Deposit, OrderType, PlaceOrder, Side, Stp, TimeInForce, typed
from matcher.config import MarketConfig
from matcher.units import to_lots, to_ticks
from store.accounts import allocate_account

MAKER, TAKER = 1, 2


class DemoFlow:
    def __init__(
        self,
        node: Node,
        config: MarketConfig,
        *,
        chain: LocalChain | None = None,
        database: Database | None = None,
        interval: float = 0.5,
        seed: int = 7,
    ) -> None:
        self.node = node
        self.chain = chain
        self.database = database
        self.interval = interval
        self.random = random.Random(seed)
        self.symbol = config.symbols[0]
        base, quote = config.asset(self.symbol.base), config.asset(self.symbol.quote)
        mid, lot = to_ticks(Decimal(250), self.symbol, quote), to_lots(Decimal(1), self.symbol, base)
        assert isinstance(mid, int) and isinstance(lot, int)
        self.mid, self.lot = mid, lot
        self.amounts = {
            quote.name: 1_000_000 * 10**quote.engine_decimals,
            base.name: 10_000 * 10**base.engine_decimals,
        }
        self.maker, self.taker = MAKER, TAKER
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            if not self._fund():
                return
            while not self._stop.wait(self.interval):
                self._send(self._round())
        except NodeStopped:
            return

    def _fund(self) -> bool:
        """Fund the two accounts (once); False if stopped before they were credited."""
        if self.chain is None or self.database is None:
            self._send([
                Deposit.of(account=account, asset=asset, amount=amount, ref=f"demo-funding:{account}:{asset}")
                for account in (MAKER, TAKER)
                for asset, amount in self.amounts.items()
            ])  # fmt: skip
            return True
        wallets = [self.chain.wallet(3), self.chain.wallet(4)]
        self.maker, self.taker = (allocate_account(self.database, wallet) for wallet in wallets)
        for wallet, account in zip(wallets, (self.maker, self.taker), strict=True):
            if not self._balance(account, self.symbol.quote):
                for asset, amount in self.amounts.items():
                    self.chain.fund(wallet, asset, amount)
        while not all(self._balance(account, self.symbol.base) for account in (self.maker, self.taker)):
            if self._stop.wait(0.5):
                return False
        return True

    def _balance(self, account: int, asset: str) -> int:
        """The account's available balance of ``asset`` in the engine."""
        return self.node.read(lambda engine: engine.accounts.balance(account, asset)[0]).result(10)

    def _round(self) -> list[PlaceOrder | CancelAll]:
        self.mid += self.random.choice((-1, 0, 1))
        spread = self.random.randint(1, 3)
        commands: list[PlaceOrder | CancelAll] = [CancelAll.of(account=self.maker, symbol=self.symbol.name)]
        commands.append(self._limit(self.maker, Side.BUY, self.mid - spread, TimeInForce.GTC))
        commands.append(self._limit(self.maker, Side.SELL, self.mid + spread, TimeInForce.GTC))
        if self.random.random() < 0.3:
            commands.append(self._limit(self.taker, Side.BUY, self.mid + spread, TimeInForce.IOC))
        return commands

    def _limit(self, account: int, side: Side, price: int, tif: TimeInForce) -> PlaceOrder:
        return PlaceOrder.of(
            account=account, symbol=self.symbol.name, side=int(side), order_type=int(OrderType.LIMIT),
            price=price, qty=self.lot, tif=int(tif), post_only=False, stp=int(Stp.EXPIRE_MAKER),
            client_order_id=None, expire_at=0,
        )  # fmt: skip

    def _send(self, commands: list[PlaceOrder | CancelAll] | list[Deposit]) -> None:
        for command, events in self.node.execute(commands):
            if command is None:
                continue
            names = [type(typed(event)).__name__ for event in events]
            print(json.dumps({"acked": command[1], "events": names}), file=sys.stdout, flush=True)
