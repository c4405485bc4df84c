"""``bluebook demo-mm``: the demo market, two bots that are clients of the public API like any other.

- The maker (Anvil development wallet #3) gets an API key, deposits on chain (or, without a chain,
  is credited in development mode), waits until the engine has credited it, then logs in on the
  WebSocket with cancel-on-disconnect and, every ``every_s`` seconds, replaces its quotes on every
  symbol with one ``batch`` frame: per symbol a ``cancel_all``, a post-only bid and a post-only
  ask a few basis points around the symbol's reference (``GET /v1/sessions``), inside its band.
  Without a reference it quotes around the last trade, else the book's mid, else its own last
  mid, else the development price of the built-in markets. Sizes are a few whole tokens, far
  below the smallest session size cap (25% of a symbol's maximum quantity).
- The taker (wallet #4), funded the same way, now and then takes the best bid or offer of a
  random symbol with a small IOC order, over its own WebSocket session. It goes through the API
  too, so the demo shows only what any client can do, and nothing else needs a way to fund and
  trade from inside the node.

Each bot survives the server going away: on any failure it closes its session, waits, opens a
new one, logs in and carries on. The maker's orders were cancelled by the server when its
session dropped, and each round begins by cancelling them anyway, so it never quotes twice.
Every order acknowledged to either bot is printed on stdout as a JSON line
``{"acked": order_id, ...}``; an order id is the sequence number of the command that placed it,
which was journaled before the answer came, so a restart must recover at least that far.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from web3 import Web3

from bluebook.accounts import CommandFailed, create_key, credit
from bluebook.apiclient import ApiUnavailable, Refused, RestClient, WsSession
from bluebook.datadir import DataDirBusy
from bluebook.localchain import Deployment, deposit
from bluebook.reference import default_references
from matcher.config import MarketConfig

log = logging.getLogger(__name__)

#: Anvil's development accounts #3 and #4 (from its well-known mnemonic; development only).
MAKER_WALLET = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
TAKER_WALLET = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
#: Whole tokens each bot deposits of an asset it holds less than a tenth of.
FUNDING = {"USDC": Decimal(1_000_000), "WBTC": Decimal(100)}
DEFAULT_FUNDING = Decimal(10_000)
HALF_SPREAD_BPS = 5
SMALLEST_SIZE_CAP_PCT = 25
TAKE_CHANCE = 0.5

#: Deposits ``amounts`` (asset -> whole tokens) to ``wallet``'s account.
Funder = Callable[[str, Mapping[str, Decimal]], None]


def chain_funder(w3: Web3, deployment: Deployment, config: MarketConfig) -> Funder:
    """Fund by depositing into the vault on chain (``bluebook.localchain.deposit``)."""
    return lambda wallet, amounts: deposit(w3, deployment, config, wallet, amounts)


def credit_funder(config: MarketConfig, data_dir: Path) -> Funder:
    """Fund by development credits through the running server (``bluebook accounts credit``)."""

    def fund(wallet: str, amounts: Mapping[str, Decimal]) -> None:
        for asset, whole in amounts.items():
            credit(config, data_dir, wallet, asset, str(whole), False, None)

    return fund


class DemoMarket:
    """The maker and, unless ``taker=False``, the taker, each on its own thread."""

    def __init__(self, api_url: str, data_dir: Path, fund: Funder, *, taker: bool = True,
                 every_s: float = 1.0, seed: int = 7) -> None:  # fmt: skip
        self.stop_event = threading.Event()
        self.bots: list[Bot] = [Maker(api_url, data_dir, fund, self.stop_event, every_s, seed)]
        if taker:
            self.bots.append(Taker(api_url, data_dir, fund, self.stop_event, every_s, seed + 1))

    def start(self) -> None:
        for bot in self.bots:
            bot.thread.start()

    def stop(self) -> None:
        """Stop both; each logs out, so the server cancels the maker's quotes."""
        self.stop_event.set()
        for bot in self.bots:
            bot.thread.join()


class Bot:
    """A wallet with an API key, funded, trading over one WebSocket session at a time."""

    name = "bot"
    wallet = ""
    cancel_on_disconnect = False

    def __init__(self, api_url: str, data_dir: Path, fund: Funder, stop: threading.Event,
                 every_s: float, seed: int) -> None:  # fmt: skip
        self.api_url, self.data_dir, self.fund, self.stop = api_url, data_dir, fund, stop
        self.every_s = every_s
        self.random = random.Random(seed)
        self.public = RestClient(api_url)
        self.symbols: dict[str, dict[str, Any]] = {}
        self.key: RestClient | None = None
        self.deposited: set[str] = set()
        self.refused: set[tuple[str, object]] = set()
        self.thread = threading.Thread(target=self.run, name=f"demo-{self.name}", daemon=True)

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            session = None
            try:
                key = self.key = self.key or self.keyed()
                self.funded(key)
                if self.stop.is_set():
                    return
                session = WsSession(self.api_url, key.key, key.secret,
                                    cancel_on_disconnect=self.cancel_on_disconnect)  # fmt: skip
                login = session.open()
                log.info("demo-mm: %s %s logged in as account %d (cancel on disconnect: %s)", self.name,
                         self.wallet, login["account_id"], login["cancel_on_disconnect"])  # fmt: skip
                backoff = 1.0
                while not self.stop.is_set():
                    self.round(session)
                    session.idle(self.every_s, self.stop)
            except (ApiUnavailable, Refused, CommandFailed, DataDirBusy) as error:
                log.warning("demo-mm: %s: %s; again in %.0f s", self.name, error, backoff)
            except Exception:  # a chain that failed a deposit, a bug: said, and tried again
                log.exception("demo-mm: %s failed; again in %.0f s", self.name, backoff)
            else:
                return
            finally:
                if session is not None:
                    session.close()
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def keyed(self) -> RestClient:
        """A signed client with a new key (read and trade) for the wallet, made once a run."""
        issued = create_key(self.data_dir, self.wallet, "read,trade", f"demo-{self.name}", None)
        return RestClient(self.api_url, issued["api_key"], issued["secret"])

    def funded(self, key: RestClient) -> None:
        """Deposit every asset the account holds less than a tenth of its funding of (once a
        run), then wait until the engine has credited them (or the bot is stopped)."""
        if not self.symbols:
            self.symbols = {s["symbol"]: s for s in self.public.get("/v1/symbols")}
        assets = sorted({s[side] for s in self.symbols.values() for side in ("base", "quote")})
        amounts = {asset: FUNDING.get(asset, DEFAULT_FUNDING) for asset in assets}
        holds = self.holdings(key)
        missing = {asset: whole for asset, whole in amounts.items()
                   if asset not in self.deposited and holds.get(asset, 0) < whole / 10}  # fmt: skip
        if missing:
            log.info("demo-mm: %s %s deposits %s", self.name, self.wallet,
                     ", ".join(f"{whole} {asset}" for asset, whole in missing.items()))  # fmt: skip
            self.fund(self.wallet, missing)
            self.deposited |= set(missing)
        while any(holds.get(asset, 0) < amounts[asset] / 10 for asset in self.deposited):
            if self.stop.wait(0.5):
                return
            holds = self.holdings(key)
        if missing:
            log.info("demo-mm: %s %s credited", self.name, self.wallet)

    def holdings(self, key: RestClient) -> dict[str, Decimal]:
        """The account's balance of each asset, available and held."""
        balances = key.get("/v1/balances", signed=True)["balances"]
        return {b["asset"]: Decimal(b["available"]) + Decimal(b["held"]) for b in balances}

    def round(self, session: WsSession) -> None:
        raise NotImplementedError

    def report(self, actions: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        """Print each acknowledged order; log each kind of refusal once per symbol."""
        for action, result in zip(actions, results, strict=True):
            if result["ok"] and action["action"] == "place":
                order = result["order"]
                print(json.dumps({"acked": order["order_id"], "bot": self.name, "symbol": order["symbol"],
                                  "side": order["side"], "price": order["price"], "qty": order["qty"],
                                  "status": order["status"]}), flush=True)  # fmt: skip
            elif not result["ok"] and (action.get("symbol"), result["error"]["code"]) not in self.refused:
                self.refused.add((action.get("symbol"), result["error"]["code"]))
                log.info("demo-mm: %s: %s refused: %s", self.name, action, result["error"])

    def qty(self, symbol: str, whole: Decimal) -> Decimal:
        """``whole`` tokens on the symbol's lot grid, at least its minimum, at most the smallest
        session size cap."""
        spec = self.symbols[symbol]
        lot, low, high = Decimal(spec["lot"]), Decimal(spec["min_qty"]), Decimal(spec["max_qty"])
        cap = (high * SMALLEST_SIZE_CAP_PCT / 100 // lot) * lot
        return min(max((whole // lot) * lot, low), cap)


class Maker(Bot):
    name, wallet, cancel_on_disconnect = "maker", MAKER_WALLET, True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.mids: dict[str, int] = {}

    def round(self, session: WsSession) -> None:
        """Replace the quotes on every symbol that has a price and is not halted."""
        gating = {view["symbol"]: view for view in self.public.get("/v1/sessions")}
        tickers: dict[str, dict[str, Any]] | None = None
        actions: list[dict[str, Any]] = []
        for symbol in self.symbols:
            view = gating.get(symbol, {})
            if view.get("halted"):
                continue
            if "reference" in view:
                low, high = (self.ticks(symbol, price) for price in view["band"])
                mid, band = self.ticks(symbol, view["reference"]), (low, high)
            else:
                if tickers is None:
                    tickers = {t["symbol"]: t for t in self.public.get("/v1/ticker")}
                mid, band = self.fallback_mid(symbol, tickers.get(symbol, {})), None
            if mid is None:
                continue
            self.mids[symbol] = mid
            actions += [{"action": "cancel_all", "symbol": symbol}, *self.quotes(symbol, mid, band)]
        if actions:
            self.report(actions, session.request("batch", actions=actions)["results"])

    def quotes(self, symbol: str, mid: int, band: tuple[int, int] | None) -> list[dict[str, Any]]:
        """A post-only bid and ask ``HALF_SPREAD_BPS`` (at least a tick) and 0-2 more ticks
        either side of ``mid``, inside ``band`` (all in ticks)."""
        half = max(mid * HALF_SPREAD_BPS // 10_000, 1) + self.random.randint(0, 2)
        bid, ask = mid - half, mid + half
        if band is not None:
            bid, ask = max(bid, band[0]), min(ask, band[1])
        if not 0 < bid < ask:
            return []
        tick = Decimal(self.symbols[symbol]["tick"])
        qty = format(self.qty(symbol, Decimal(self.random.randint(1, 3))), "f")
        return [{"action": "place", "symbol": symbol, "side": side, "price": format(price * tick, "f"),
                 "qty": qty, "post_only": True}
                for side, price in (("buy", bid), ("sell", ask))]  # fmt: skip

    def fallback_mid(self, symbol: str, ticker: dict[str, Any]) -> int | None:
        """Without a reference, in ticks: the last trade, the book's mid, the maker's last mid,
        or the built-in development price."""
        price: Decimal | None = None
        if ticker.get("last"):
            price = Decimal(ticker["last"])
        elif ticker.get("best_bid") and ticker.get("best_ask"):
            price = (Decimal(ticker["best_bid"]) + Decimal(ticker["best_ask"])) / 2
        elif symbol in self.mids:
            return self.mids[symbol]
        else:
            price = development_price(self.symbols[symbol])
        return None if price is None else self.ticks(symbol, price)

    def ticks(self, symbol: str, price: Decimal | str) -> int:
        """``price`` in the symbol's ticks, to the nearest."""
        ticks = Decimal(price) / Decimal(self.symbols[symbol]["tick"])
        return int(ticks.to_integral_value(ROUND_HALF_EVEN))


class Taker(Bot):
    name, wallet = "taker", TAKER_WALLET

    def round(self, session: WsSession) -> None:
        """Now and then, an IOC for half a token at the best price of a random symbol's side."""
        if self.random.random() >= TAKE_CHANCE:
            return
        symbol = self.random.choice(sorted(self.symbols))
        ticker = self.public.get(f"/v1/ticker?symbol={symbol}")[0]
        side = self.random.choice(("buy", "sell"))
        price, available = (ticker["best_ask"], ticker["best_ask_qty"]) if side == "buy" else (
            ticker["best_bid"], ticker["best_bid_qty"])  # fmt: skip
        if price is None:
            return
        qty = min(self.qty(symbol, Decimal("0.5")), Decimal(available))
        action = {"action": "place", "symbol": symbol, "side": side, "price": price,
                  "qty": format(qty, "f"), "time_in_force": "IOC"}  # fmt: skip
        self.report([action], session.request("batch", actions=[action])["results"])


def development_price(spec: Mapping[str, Any]) -> Decimal | None:
    """The symbol's price from the built-in development reference prices, if they name both sides."""
    underlyings, prices = default_references()
    prices["USD"] = Decimal(1)
    base = prices.get(underlyings.get(spec["base"], ""))
    quote = prices.get(underlyings.get(spec["quote"], ""))
    return base / quote if base and quote else None
