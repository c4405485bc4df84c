"""Accounts: per account and asset, an available and a held balance, in engine units.

Rules:

- A row per account is a flat list ``[available_0, held_0, available_1, held_1, ...]`` indexed by
  asset position (``2 * i`` available, ``2 * i + 1`` held): the engine's hot path reads and writes
  it directly, so keep this layout.
- No balance is ever negative. Every asset's total over all accounts (the fee account included)
  changes only by deposits and withdrawals; trades, fees, holds and releases only move it.
- Holds: an open order holds what it could still spend. A sell holds ``leaves * lot_size`` base
  units. A buy holds ``leaves * buy_hold_per_lot(price)`` quote units: the lot's cost at its limit
  price plus the most fee it could pay, rounded up *per lot*, so a fill of any size at any price
  at or better than the limit costs no more than the hold it releases (fees are rounded up per
  fill; the per-lot ceiling dominates any sum of per-fill ceilings). What the hold overpays goes
  back to available as each fill or cancel releases it.
"""

from __future__ import annotations

from typing import NamedTuple

from matcher.errors import InvariantError


def buy_hold_per_lot(price: int, quote_per_tick_lot: int, max_fee_bps: int) -> int:
    """Quote units one lot of a buy at ``price`` holds: cost plus its largest possible fee."""
    cost = price * quote_per_tick_lot
    return cost + -(-cost * max_fee_bps // 10_000)


class Ledger(NamedTuple):
    """Where one symbol's book settles (``matcher.book``): the balance rows by account, the
    row slots of available base and quote (held is the next slot of each), the lot size in base
    units and the account fees are paid into (its row is looked up at each settlement, since a
    restore replaces rows)."""

    rows: dict[int, list[int]]
    base: int
    quote: int
    lot: int
    fee_account: int


class Accounts:
    """Balances of every account; ``rows`` maps account id → flat balance row."""

    __slots__ = ("assets", "index", "rows", "supply")

    def __init__(self, assets: list[str]) -> None:
        self.assets = list(assets)
        self.index = {name: i for i, name in enumerate(self.assets)}
        self.rows: dict[int, list[int]] = {}
        #: Per asset, deposits minus withdrawals: what all balances must add up to.
        self.supply = [0] * len(self.assets)

    def row(self, account: int) -> list[int]:
        """The account's row, created empty on first use."""
        row = self.rows.get(account)
        if row is None:
            row = self.rows[account] = [0] * (2 * len(self.assets))
        return row

    def credit(self, account: int, asset: int, amount: int) -> None:
        self.row(account)[2 * asset] += amount
        self.supply[asset] += amount

    def debit(self, account: int, asset: int, amount: int) -> bool:
        """Take ``amount`` from available; False (and no change) if it is not there."""
        row = self.rows.get(account)
        if row is None or row[2 * asset] < amount:
            return False
        row[2 * asset] -= amount
        self.supply[asset] -= amount
        return True

    def balance(self, account: int, asset: str) -> tuple[int, int]:
        """(available, held) of one asset."""
        row = self.rows.get(account)
        if row is None:
            return (0, 0)
        i = 2 * self.index[asset]
        return (row[i], row[i + 1])

    def balances(self, account: int) -> dict[str, tuple[int, int]]:
        """Every non-zero (available, held) pair of an account."""
        row = self.rows.get(account)
        if row is None:
            return {}
        return {
            name: (row[2 * i], row[2 * i + 1])
            for i, name in enumerate(self.assets)
            if row[2 * i] or row[2 * i + 1]
        }

    def totals(self) -> list[int]:
        totals = [0] * len(self.assets)
        for row in self.rows.values():
            for i in range(len(self.assets)):
                totals[i] += row[2 * i] + row[2 * i + 1]
        return totals

    def validate(self, holds: dict[tuple[int, int], int]) -> None:
        """Raise unless balances are non-negative, conserved, and held == ``holds``.

        ``holds`` maps (account, asset index) to what that account's open orders must hold.
        """
        for account, row in self.rows.items():
            for i, value in enumerate(row):
                if value < 0:
                    raise InvariantError(f"account {account}: negative {self.assets[i // 2]}")
            for a in range(len(self.assets)):
                if row[2 * a + 1] != holds.get((account, a), 0):
                    raise InvariantError(
                        f"account {account}: holds {row[2 * a + 1]} {self.assets[a]} "
                        f"but its open orders need {holds.get((account, a), 0)}"
                    )
        extra = [key for key, value in holds.items() if value and key[0] not in self.rows]
        if extra:
            raise InvariantError(f"open orders of accounts without balances: {extra[:3]}")
        if self.totals() != self.supply:
            raise InvariantError(f"money not conserved: totals {self.totals()} != supply {self.supply}")
