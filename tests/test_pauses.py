"""An asset the vault pauses halts every symbol that trades it (it could not settle), and only
those; unpausing lifts that cause. Real node, real vault on Anvil."""

from __future__ import annotations

from pathlib import Path

from bluebook.gating_feed import ReferencePump
from bluebook.markets import default_markets
from bluebook.node import Node
from bluebook.pauses import PauseWatcher
from bluebook.reference import StaticFeed, default_references
from matcher.sessions import Session
from settlement.chain import send
from settlement.devchain import DevVault

CONFIG = default_markets()


def halt_reasons(node: Node) -> dict[str, list[str]]:
    def read(engine) -> dict[str, list[str]]:  # noqa: ANN001
        assert engine.gate is not None
        return {s.name: engine.gate.view(s.name, engine.ts)["halt_reasons"] for s in CONFIG.symbols}

    return node.read(read).result(10)


def test_a_paused_asset_halts_its_symbols_until_unpaused(dev: DevVault, tmp_path: Path) -> None:
    node = Node(CONFIG, tmp_path, policy="off")
    node.start()
    underlyings, prices = default_references()
    pump = ReferencePump(CONFIG, underlyings, StaticFeed(prices), node.submit, session=Session.REGULAR)
    pump.start()
    pump.pump()  # every symbol has its reference: none halted
    try:
        watcher = PauseWatcher(CONFIG, dev.vault, node.submit)
        watcher.poll()
        assert halt_reasons(node) == {s.name: [] for s in CONFIG.symbols}
        assert watcher.halted == {s.name: False for s in CONFIG.symbols}  # the first read says all
        send(dev.vault.functions.setPaused(dev.asset_ids["USDC"], True), dev.admin)
        watcher.poll()
        assert halt_reasons(node) == {
            "TSLAx-USDC": ["token_paused"], "AAPLx-USDC": ["token_paused"],
            "NVDAx-USDC": ["token_paused"], "TSLAx-WBTC": [],
        }  # fmt: skip
        seq = node.sequencer_seq()
        watcher.poll()
        assert node.sequencer_seq() == seq, "an unchanged pause sends nothing"
        send(dev.vault.functions.setPaused(dev.asset_ids["USDC"], False), dev.admin)
        watcher.poll()
        assert halt_reasons(node) == {s.name: [] for s in CONFIG.symbols}  # then the reopening auction
        assert watcher.health() == "ok"
    finally:
        pump.stop()
        node.stop()
