"""Reference prices: where each symbol's live reference comes from, before it reaches the engine.

A ``Quote`` is one observation of an underlying (``TSLA``, ``BTC``) in USD: an exact decimal
price, the source's own time (nanoseconds), the source's name, and the market status it reports.
Feeds produce quotes; ``symbol_reference`` turns the latest quote of each underlying into the
reference of a symbol: the base's USD price for a USD-quoted symbol (USDC counts as USD), or the
ratio base / quote for a cross pair such as TSLAx-WBTC, whose source time is the older of the two
(the staler input decides staleness). The engine receives references as sequenced commands, so a
replay sees the same prices; this module is the shell side that observes them.

Feeds:

- ``StaticFeed``: fixed prices stamped with the current time (development without a chain);
- ``ManualFeed``: prices an operator sets and clears (``bluebook ref``, an admin route), which
  override the feed while they stand;
- ``CsvFeed``: a recorded series replayed by time (tests, backtests);
- ``AggregatorFeed``: Chainlink ``AggregatorV3Interface`` contracts read with web3
  (``latestRoundData``, ``decimals``); a quote per new round, timed by the round's ``updatedAt``.
"""

from __future__ import annotations

import csv
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from matcher.config import MarketConfig

USD = "USD"
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Quote:
    underlying: str
    price: Decimal
    source_ns: int
    source: str
    status: str = "open"


def default_references() -> tuple[dict[str, str], dict[str, Decimal]]:
    """From the built-in markets file: each asset's underlying, and the development USD prices."""
    text = resources.files("bluebook").joinpath("markets.toml").read_text(encoding="utf-8")
    return references_of(tomllib.loads(text))


def references_of(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Decimal]]:
    underlyings = {asset["name"]: asset.get("reference", asset["name"]) for asset in data["assets"]}
    prices = {name: Decimal(str(value)) for name, value in data.get("reference_prices", {}).items()}
    return underlyings, prices


def symbol_reference(
    config: MarketConfig, underlyings: Mapping[str, str], latest: Mapping[str, Quote], symbol: str
) -> Quote | None:
    """The reference of ``symbol`` from the latest quotes, or None while an input is missing."""
    spec = config.symbol(symbol)
    base, quote = underlyings[spec.base], underlyings[spec.quote]
    numerator = latest.get(base)
    if numerator is None:
        return None
    if quote == USD:
        return Quote(symbol, numerator.price, numerator.source_ns, numerator.source, numerator.status)
    denominator = latest.get(quote)
    if denominator is None or not denominator.price:
        return None
    staler = min((numerator, denominator), key=lambda q: q.source_ns)
    status = numerator.status if numerator.status == denominator.status else "mixed"
    return Quote(
        symbol,
        numerator.price / denominator.price,
        staler.source_ns,
        f"{numerator.source}/{denominator.source}",
        status,
    )


class StaticFeed:
    """Fixed prices, each poll stamped with the clock's time (so never stale)."""

    def __init__(self, prices: Mapping[str, Decimal], clock: Callable[[], int] = time.time_ns) -> None:
        self.prices = dict(prices)
        self.clock = clock

    def poll(self) -> list[Quote]:
        now = self.clock()
        return [Quote(name, price, now, "static") for name, price in sorted(self.prices.items())]


class ManualFeed:
    """Prices an operator sets (``bluebook ref set``, ``POST /v1/admin/references``): each holds
    until it is replaced or cleared, and every poll delivers it stamped with the clock's time, as
    the operator vouches for it for as long as it stands. The pump lets these win over its feed,
    so an operator can stand in for a feed that is down or wrong, and clearing hands the
    underlying back to the feed."""

    def __init__(self, underlyings: Iterable[str] = (), clock: Callable[[], int] = time.time_ns) -> None:
        #: The underlyings a price may be set for (any, when empty).
        self.underlyings = frozenset(underlyings)
        self.clock = clock
        self._prices: dict[str, tuple[Decimal, str]] = {}
        self._lock = threading.Lock()

    def set(self, underlying: str, price: Decimal | str, status: str = "open") -> Quote:
        if self.underlyings and underlying not in self.underlyings:
            known = ", ".join(sorted(self.underlyings))
            raise ValueError(f"unknown underlying {underlying[:20]!r}; the references are of {known}")
        try:
            value = Decimal(str(price))
        except ArithmeticError:
            value = Decimal("NaN")
        if not value.is_finite() or value <= 0:
            raise ValueError(f"a reference price must be a positive number, not {str(price)[:40]!r}")
        with self._lock:
            self._prices[underlying] = (value, status)
        return Quote(underlying, value, self.clock(), "manual", status)

    def standing(self) -> dict[str, tuple[Decimal, str]]:
        """Every price set and not cleared: underlying -> (price, status)."""
        with self._lock:
            return dict(self._prices)

    def clear(self, underlying: str) -> bool:
        """Hand ``underlying`` back to the feed; False when no price was set for it."""
        with self._lock:
            return self._prices.pop(underlying, None) is not None

    def poll(self) -> list[Quote]:
        now = self.clock()
        with self._lock:
            prices = sorted(self._prices.items())
        return [Quote(name, price, now, "manual", status) for name, (price, status) in prices]


class CsvFeed:
    """A recorded series: rows ``time_ns,underlying,price[,status]`` in time order."""

    def __init__(self, path: Path) -> None:
        self.quotes = list(_read_csv(path))
        if any(b.source_ns < a.source_ns for a, b in zip(self.quotes, self.quotes[1:], strict=False)):
            raise ValueError(f"{path}: rows are not in time order")
        self._next = 0

    def until(self, ts: int) -> list[Quote]:
        """The quotes with source time at or before ``ts`` not yet returned."""
        start = self._next
        while self._next < len(self.quotes) and self.quotes[self._next].source_ns <= ts:
            self._next += 1
        return self.quotes[start : self._next]


def _read_csv(path: Path) -> Iterator[Quote]:
    with path.open(newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            try:
                ts, underlying, price = int(row[0]), row[1], Decimal(row[2])
            except (IndexError, ValueError, ArithmeticError) as error:
                raise ValueError(f"{path}:{number}: expected time_ns,underlying,price: {error}") from None
            yield Quote(underlying, price, ts, f"csv:{path.name}", row[3] if len(row) > 3 else "open")


class AggregatorFeed:
    """Chainlink-style aggregators read with web3: one quote per new round of each."""

    def __init__(self, w3: Any, aggregators: Mapping[str, str], abi: Iterable[Mapping[str, Any]]) -> None:
        self.contracts = {
            name: w3.eth.contract(address=w3.to_checksum_address(address), abi=list(abi))
            for name, address in aggregators.items()
        }
        self.scales = {
            name: Decimal(10) ** -contract.functions.decimals().call()
            for name, contract in self.contracts.items()
        }
        self._rounds: dict[str, int] = {}

    def poll(self) -> list[Quote]:
        quotes = []
        for name, contract in self.contracts.items():
            round_id, answer, _, updated_at, _ = contract.functions.latestRoundData().call()
            if self._rounds.get(name) == round_id:
                continue
            self._rounds[name] = round_id
            price = Decimal(answer) * self.scales[name]
            quotes.append(Quote(name, price, updated_at * NS, f"aggregator:{contract.address}"))
        return quotes
