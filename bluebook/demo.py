"""A small in-process demo flow for ``bluebook run`` until the public API carries real clients.

Two development accounts are funded once (deposits keyed by a fixed ref, so a restart does not
fund them again), then, every ``interval`` seconds, account 1 re-quotes a bid and an ask one to
three ticks around a mid that random-walks, and account 2 now and then takes the best offer.
Every acknowledged command is printed as a JSON line (``{"acked": seq, ...}``): a command whose
line was printed was durable before it was printed, which is what a restart must show.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from decimal import Decimal

from bluebook.node import Node, NodeStopped
from matcher import CancelAll, Deposit, OrderType, PlaceOrder, Side, Stp, TimeInForce, typed
from matcher.config import MarketConfig
from matcher.units import to_lots, to_ticks

MAKER, TAKER = 1, 2


class DemoFlow:
    def __init__(self, node: Node, config: MarketConfig, *, interval: float = 0.5, seed: int = 7) -> None:
        self.node = node
        self.interval = interval
        self.random = random.Random(seed)
        self.symbol = config.symbols[0]
        base, quote = config.asset(self.symbol.base), config.asset(self.symbol.quote)
        mid, lot = to_ticks(Decimal(250), self.symbol, quote), to_lots(Decimal(1), self.symbol, base)
        assert isinstance(mid, int) and isinstance(lot, int)
        self.mid, self.lot = mid, lot
        self.funding = [
            Deposit.of(account=account, asset=asset.name, amount=amount * 10**asset.engine_decimals,
                       ref=f"demo-funding:{account}:{asset.name}")
            for account in (MAKER, TAKER)
            for asset, amount in ((quote, 1_000_000), (base, 10_000))
        ]  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            self._send(self.funding)
            while not self._stop.wait(self.interval):
                self._send(self._round())
        except NodeStopped:
            return

    def _round(self) -> list[PlaceOrder | CancelAll]:
        self.mid += self.random.choice((-1, 0, 1))
        spread = self.random.randint(1, 3)
        commands: list[PlaceOrder | CancelAll] = [CancelAll.of(account=MAKER, symbol=self.symbol.name)]
        commands.append(self._limit(MAKER, Side.BUY, self.mid - spread, TimeInForce.GTC))
        commands.append(self._limit(MAKER, Side.SELL, self.mid + spread, TimeInForce.GTC))
        if self.random.random() < 0.3:
            commands.append(self._limit(TAKER, Side.BUY, self.mid + spread, TimeInForce.IOC))
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
