"""The sequencer: the one writer. It stamps each command, journals it, applies it, and acks.

For a batch of incoming commands, ``process`` gives each the next sequence number and a
timestamp (the clock, clamped so it never goes backwards), appends it to the journal, applies it
to the engine, then commits the journal once (group commit) and only then returns the results:
callers, market data and the store may act on events only after that return, so nothing that was
acknowledged or published can be lost in a crash; what was applied but not yet committed dies
with the process and is not replayed.

``recover`` builds the engine at start: the newest sound snapshot, then every journal record
after it, after cutting a torn journal tail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.commands import stamp
from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import export_state, restore
from store.codec import CodecError, decode, encode
from store.journal import FsyncPolicy, JournalWriter, read
from store.journal import recover as recover_journal
from store.snapshots import latest_snapshot, retire_snapshots, write_snapshot

log = logging.getLogger(__name__)

Events = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Result:
    """One command's outcome: the stamped command and its events, or why it was refused."""

    command: tuple[Any, ...] | None
    events: Events
    error: str | None = None


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        journal: JournalWriter,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.clock = clock

    def process(self, commands: Iterable[tuple[Any, ...]]) -> list[Result]:
        """Stamp, journal and apply each command; commit once; return the results (the acks)."""
        results: list[Result] = []
        engine = self.engine
        for command in commands:
            seq = engine.seq + 1
            ts = max(self.clock(), engine.ts)
            stamped = stamp(command, seq, ts)
            try:
                payload = encode(stamped)
            except CodecError as error:
                results.append(Result(None, [], f"malformed command: {error}"))
                continue
            self.journal.append(seq, payload, ts)
            results.append(Result(stamped, engine.apply(stamped)))
        self.journal.commit()
        return results

    def snapshot(self, directory: Path, keep: int = 3) -> Path:
        """Write the engine's state (everything journaled so far is committed first)."""
        self.journal.commit()
        path = write_snapshot(directory, export_state(self.engine))
        retire_snapshots(directory, keep)
        return path


def recover(
    config: MarketConfig, data_dir: Path, *, policy: FsyncPolicy | str = FsyncPolicy.BATCH
) -> tuple[Engine, JournalWriter]:
    """The engine as of the last committed command, and a journal writer to go on with."""
    journal_dir = data_dir / "journal"
    report = recover_journal(journal_dir)
    if report.torn_segment is not None:
        log.warning(
            "journal: cut a torn tail of %d bytes from %s at byte %d",
            report.torn_bytes,
            report.torn_segment.name,
            report.torn_offset,
        )
    state = latest_snapshot(data_dir / "snapshots")
    engine = restore(config, state) if state is not None else Engine(config)
    for seq, payload in read(journal_dir, after_seq=engine.seq):
        command = decode(payload)
        if command[1] != seq:
            raise ValueError(f"journal record {seq} holds a command stamped {command[1]}")
        engine.apply(command)
    if engine.seq < report.last_seq:
        raise ValueError(f"journal ends at {report.last_seq} but replay stopped at {engine.seq}")
    gap = report.records > 0 and engine.seq != report.last_seq
    writer = JournalWriter(journal_dir, next_seq=engine.seq + 1, policy=policy, fresh_segment=gap)
    return engine, writer
