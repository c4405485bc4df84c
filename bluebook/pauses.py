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
import threading
from typing import Any

from bluebook.gating_feed import Submit
from matcher.commands import SetTradingStatus
from matcher.config import MarketConfig
from matcher.halts import HaltReason
from settlement.layout import VaultLayout

log = logging.getLogger(__name__)

TOKEN_PAUSED = int(HaltReason.TOKEN_PAUSED)


class PauseWatcher:
    def __init__(self, config: MarketConfig, vault: Any, submit: Submit, *, every_s: float = 1.0) -> None:
        self.config = config
        self.vault = vault
        self.submit = submit
        self.every_s = every_s
        self.asset_ids = VaultLayout.of(config).asset_ids
        #: symbol -> whether it is halted for a paused asset, as last submitted
        self.halted: dict[str, bool] = {}
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pauses", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def health(self) -> str:
        return "ok" if self.last_error is None else self.last_error

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

    def _run(self) -> None:
        while True:
            try:
                self.poll()
                self.last_error = None
            except Exception as error:  # the chain may answer later; the last state stands
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("pauses: %s", self.last_error)
            if self._stop.wait(self.every_s):
                return
