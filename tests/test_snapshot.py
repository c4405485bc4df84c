"""Snapshots restore exactly; the state hash is equal for equal states, in any process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import matching as bench
from bench.streams import multi_symbol_stream
from bluebook.sequencer import Sequencer
from matcher import CancelAll, PlaceOrder, SetReference, SetSessions, Tick, TimeInForce, typed
from matcher.engine import Engine
from matcher.snapshot import export_state, restore, state_hash
from store.journal import JournalWriter
from store.snapshots import latest_snapshot, write_snapshot
from tests.crash_child import clock_from

ROOT = Path(__file__).resolve().parent.parent


def stream(events: int, seed: int = 7) -> tuple[list, list]:
    deposits = bench._deposits()
    commands = bench._engine_commands(
        multi_symbol_stream(events, seed, bench.SYMBOLS, 50, bench.MID), deposits
    )
    return deposits, commands


def extras(seq: int, ts: int) -> list:
    """Commands the bench stream lacks: GTD orders, client ids, cancel-all, time passing."""
    place = dict(account=3, symbol="SYM1", side=1, order_type=1, price=bench.MID - 40, qty=2,
                 post_only=False, stp=2, expire_at=0)  # fmt: skip
    return [
        PlaceOrder.of(
            seq=seq, ts=ts, tif=TimeInForce.GTD, client_order_id=None, **{**place, "expire_at": ts + 10**9}
        ),
        PlaceOrder.of(seq=seq + 1, ts=ts, tif=TimeInForce.GTC, client_order_id="keep-me", **place),
        CancelAll.of(seq=seq + 2, ts=ts, account=4, symbol=""),
        Tick.of(seq=seq + 3, ts=ts + 1),
    ]


def run(engine: Engine, commands: list) -> list:
    return [typed(e) for command in commands for e in engine.apply(command)]


def test_a_restored_engine_continues_exactly_like_the_original() -> None:
    deposits, commands = stream(4_000)
    middle = 2_500
    first = commands[:middle]
    tail = extras(first[-1][1] + 1, first[-1][2])
    rest = [c[:1] + (c[1] + len(tail),) + c[2:] for c in commands[middle:]]
    engine = Engine(bench._engine_config())
    run(engine, deposits + first + tail)
    state = export_state(engine)
    copy = restore(bench._engine_config(), json.loads(json.dumps(state)))
    assert state_hash(copy) == state_hash(engine)
    copy.validate()
    assert run(copy, rest) == run(engine, rest)
    assert state_hash(copy) == state_hash(engine)
    assert copy.order_by_client_id(3, "keep-me") is not None


def test_the_state_hash_changes_with_the_state() -> None:
    deposits, commands = stream(200)
    engine = Engine(bench._engine_config())
    run(engine, deposits + commands)
    before = state_hash(engine)
    run(engine, [Tick.of(seq=engine.seq + 1, ts=engine.ts)])
    assert state_hash(engine) != before


def test_an_unknown_state_version_is_refused() -> None:
    engine = Engine(bench._engine_config())
    state = export_state(engine) | {"version": 99}
    with pytest.raises(ValueError, match="version"):
        restore(bench._engine_config(), state)


REPLAY = """
import hashlib, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from matcher.engine import Engine
from store.codec import decode
from store.journal import read
from bench import matching as bench
engine = Engine(bench._engine_config())
log = hashlib.sha256()
for seq, payload in read(Path({journal!r})):
    for event in engine.apply(decode(payload)):
        log.update(repr(tuple(event)).encode())
from matcher.snapshot import state_hash
print(log.hexdigest(), state_hash(engine))
"""


def test_one_journal_replays_identically_under_two_hash_seeds(tmp_path: Path) -> None:
    """With gating on (a pinned regular session, a reference per symbol) as in production."""
    deposits, commands = stream(3_000, seed=11)
    journal = JournalWriter(tmp_path, next_seq=1, policy="off")
    sequencer = Sequencer(Engine(bench._engine_config()), journal, clock=clock_from(1))
    gating = [SetSessions.of(account=0, edges=(0,), kinds=(2,), end=2**62, regular_closes=())] + [
        SetReference.of(account=0, symbol=f"SYM{i}", price=bench.MID, source_ns=clock_from(1)(),
                        source="test", status="open")
        for i in range(bench.SYMBOLS)
    ]  # fmt: skip
    sequencer.process(gating + deposits + commands + extras(0, 0))
    journal.close()
    outputs = set()
    for seed in ("0", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", REPLAY.format(root=str(ROOT), journal=str(tmp_path))],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1, outputs
    assert outputs.pop().split()[1] == state_hash(sequencer.engine)
    print("\nreplay of one journal under two PYTHONHASHSEED values: event-log and state hashes equal")


RESTING = 1_000_000


def test_a_million_resting_orders_snapshot_and_restore(tmp_path: Path) -> None:
    """RELIABILITY.md #2 at size: write, read back, restore; the hash is equal; print the times."""
    engine = Engine(bench._engine_config())
    for deposit in bench._deposits():
        engine.apply(deposit)
    apply, seq, ts = engine.apply, engine.seq, engine.ts
    for i in range(RESTING):  # 8 books, 1000 price levels a side each, none crossing
        seq += 1
        side, level = (1, bench.MID - 1 - (i >> 4) % 1000) if i & 1 else (2, bench.MID + 1 + (i >> 4) % 1000)
        apply((1, seq, ts, 1 + i % bench.ACCOUNTS, f"SYM{i % 8}", side, 1, level, 1, 1, False, 2, None, 0))
    assert sum(len(market.book) for market in engine.markets.values()) == RESTING
    started = time.perf_counter()
    path = write_snapshot(tmp_path, export_state(engine))
    written = time.perf_counter()
    state = latest_snapshot(tmp_path)
    assert state is not None
    restored = restore(bench._engine_config(), state)
    done = time.perf_counter()
    assert state_hash(restored) == state_hash(engine)
    print(
        f"\nsnapshot of {RESTING:,} resting orders: {path.stat().st_size / 2**20:.0f} MiB, "
        f"written in {written - started:.1f} s, read and restored in {done - written:.1f} s; hashes equal"
    )
