"""The vault's asset pauses, turned into halts: a symbol whose base or quote asset the vault has
paused cannot settle (``settleBatch`` reverts on it), so it must not trade either.

``PauseWatcher`` reads each asset's ``paused`` flag from the vault (``assetInfo``) every
``every_s`` seconds and, for each symbol whose state changed (and for every symbol at its first
read, so a restart agrees with the chain), submits a journaled ``SetTradingStatus`` turning the
``TOKEN_PAUSED`` halt reason on or off. The engine collects orders while the symbol is halted and
reopens it by auction once the asset is unpaused and no other cause is left. A chain that does not
answer leaves the last state in force (``health`` says why) and is read again at the next turn.
"""

from __future__ import annotations

import logging
from typing import Any

from bluebook.gating_feed import Submit
from bluebook.poller import Poller
from matcher.commands import SetTradingStatus
from matcher.config import MarketConfig
from matcher.halts import HaltReason
from settlement.layout import VaultLayout

log = logging.getLogger(__name__)

TOKEN_PAUSED = int(HaltReason.TOKEN_PAUSED)


class PauseWatcher(Poller):
    def __init__(self, config: MarketConfig, vault: Any, submit: Submit, *, every_s: float = 1.0) -> None:
        super().__init__("pauses", every_s)
        self.config = config
        self.vault = vault
        self.submit = submit
        self.asset_ids = VaultLayout.of(config).asset_ids
        #: symbol -> whether it is halted for a paused asset, as last submitted
        self.halted: dict[str, bool] = {}

    def poll(self) -> None:
        """Read every asset's pause once; submit the symbols whose state changed."""
        paused = {
            name: bool(self.vault.functions.assetInfo(asset_id).call()[2])
            for name, asset_id in self.asset_ids.items()
        }
        changed = {
            symbol.name: paused[symbol.base] or paused[symbol.quote]
            for symbol in self.config.symbols
            if self.halted.get(symbol.name) != (paused[symbol.base] or paused[symbol.quote])
        }
        if not changed:
            return
        self.submit([
            tuple(SetTradingStatus.of(account=0, symbol=name, reason=TOKEN_PAUSED, on=int(halt)))
            for name, halt in changed.items()
        ]).result(30)  # fmt: skip
        self.halted.update(changed)
        for name in (name for name, halt in changed.items() if halt):
            log.warning("pauses: %s halted: an asset of it is paused in the vault", name)
