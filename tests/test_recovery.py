"""Crash recovery: kill -9 the sequencer at seeded points; nothing acknowledged is lost and the
recovered state equals a clean run's at the same sequence number (RELIABILITY.md #1, #2)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from bench import matching as bench
from bluebook.sequencer import Sequencer, recover
from matcher.engine import Engine
from matcher.snapshot import state_hash
from store.journal import JournalWriter
from tests.crash_child import START_NS, commands

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 100_000 if not os.environ.get("BLUEBOOK_SOAK") else 300_000
KILLS = 20 if not os.environ.get("BLUEBOOK_SOAK") else 50


def clean_hashes(events: int, seed: int, wanted: set[int]) -> dict[int, str]:
    """State hash of an uninterrupted run at each wanted seq."""
    engine = Engine(bench._engine_config())
    hashes = {}
    for command in commands(events, seed):
        engine.apply((command[0], engine.seq + 1, START_NS, *command[3:]))
        if engine.seq in wanted:
            hashes[engine.seq] = state_hash(engine)
    return hashes


def test_kill_9_at_seeded_points_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(2026)
    data_dir = tmp_path / "data"
    total = len(commands(EVENTS, 5))
    kill_points = sorted(rng.sample(range(1, total), KILLS))
    acked = 0
    recovered: dict[int, str] = {}  # seq after each restart -> its state hash
    for kill, kill_at in enumerate(kill_points):
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "crash_child.py"), str(data_dir), str(EVENTS), "5", "5000"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        while acked < kill_at:
            line = child.stdout.readline()
            if not line:
                break
            acked = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait()
        engine, journal = recover(bench._engine_config(), data_dir, policy="off")
        journal.close()
        assert engine.seq >= acked, f"kill {kill}: acknowledged {acked}, recovered only {engine.seq}"
        engine.validate()
        recovered[engine.seq] = state_hash(engine)
    clean = clean_hashes(EVENTS, 5, set(recovered))
    equal = sum(clean[seq] == digest for seq, digest in recovered.items())
    assert equal == len(recovered)
    print(
        f"\ncrash: {total} commands, {KILLS} kills at seeded points, 0 acknowledged commands lost, "
        f"{equal}/{len(recovered)} state hashes equal a clean run"
    )


def test_a_recovered_state_equals_a_clean_run_at_the_same_seq(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stream = commands(3_000, 9)
    engine, journal = recover(bench._engine_config(), data_dir, policy="off")
    sequencer = Sequencer(engine, journal, clock=lambda: START_NS)
    for start in range(0, 2_000, 50):
        sequencer.process(stream[start : start + 50])
        if start == 1_000:
            sequencer.snapshot(data_dir / "snapshots")
    journal.close()
    again, journal = recover(bench._engine_config(), data_dir, policy="off")
    journal.close()
    assert again.seq == 2_000
    assert state_hash(again) == clean_hashes(3_000, 9, {2_000})[2_000]
    again.validate()


def test_time_never_goes_backwards(tmp_path: Path) -> None:
    engine = Engine(bench._engine_config())
    journal = JournalWriter(tmp_path, next_seq=1, policy="off")
    times = iter([5_000, 4_000, 6_000, 5_500])
    sequencer = Sequencer(engine, journal, clock=lambda: next(times))
    deposits = bench._deposits()
    stamped = [sequencer.process([deposit])[0][0] for deposit in deposits[:3]]
    assert [command[2] for command in stamped] == [5_000, 5_000, 6_000]  # the clock's 4000 clamped
    group = sequencer.process(deposits[3:6])  # a group has one time
    assert [command[2] for command, _ in group] == [6_000] * 3
