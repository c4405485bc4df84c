"""How the engine's names map to the vault's ids: asset and market ids by configuration order.

The vault numbers assets and markets as they are registered; bluebook registers them in the order
of ``MarketConfig.assets`` and ``.symbols`` (``settlement.devchain`` does), so asset ``i`` of the
configuration is vault asset ``i``. ``check`` compares that with the deployed vault before a
worker or a watcher trusts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from matcher.config import MarketConfig


@dataclass(frozen=True)
class VaultLayout:
    asset_ids: dict[str, int]
    market_ids: dict[str, int]
    #: Vault asset id -> engine asset name.
    asset_names: tuple[str, ...]
    #: Symbol -> (base lot size in base units, base asset, quote asset).
    symbols: dict[str, tuple[int, str, str]]
    fee_account: int

    @classmethod
    def of(cls, config: MarketConfig) -> VaultLayout:
        return cls(
            asset_ids={a.name: i for i, a in enumerate(config.assets)},
            market_ids={s.name: i for i, s in enumerate(config.symbols)},
            asset_names=tuple(a.name for a in config.assets),
            symbols={s.name: (s.lot_size, s.base, s.quote) for s in config.symbols},
            fee_account=config.fee_account,
        )

    def check(self, vault: Contract) -> list[str]:
        """How the deployed vault's registries differ from this layout; empty when they agree."""
        problems = []
        if vault.functions.assetCount().call() < len(self.asset_ids):
            problems.append("the vault has fewer assets than the configuration")
        for name, market in self.market_ids.items():
            _, base, quote = self.symbols[name]
            expected = [self.asset_ids[base], self.asset_ids[quote]]
            try:
                found = list(vault.functions.marketInfo(market).call())
            except Exception as error:  # noqa: BLE001 - an unknown market reverts: report it
                problems.append(f"{name}: vault market {market} unreadable ({error})")
                continue
            if found != expected:
                problems.append(f"{name}: vault market {market} is assets {found}, expected {expected}")
        return problems
