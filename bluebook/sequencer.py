"""The sequencer: the one writer. It stamps each command, journals it, applies it, and acks.

For a batch of incoming commands, ``process`` gives each the next sequence number and the
group's timestamp (the clock, clamped so it never goes backwards), encodes and frames it for the journal,
applies it to the engine, then writes the group to the journal and commits it once (group
commit), and only then returns the results: callers, market data and the store may act on events
only after that return, so nothing that was acknowledged or published can be lost in a crash;
what was applied but not yet committed dies with the process and is not replayed.

``stage`` is ``process`` without the final sync, for an owner that pipelines (``bluebook.node``):
it stages group N+1 while group N's fsync runs on the journal's syncer thread, and releases a
group's results only once a ``journal.sync_later()`` asked after that group's ``stage`` is done.

``recover`` builds the engine at start: the newest sound snapshot, then every journal record
after it, after cutting a torn journal tail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zlib import crc32

from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import export_state, restore
from store.codec import ENCODE_ERRORS, STAMPERS, decode
from store.journal import MAX_PAYLOAD, RECORD, FsyncPolicy, JournalWriter, read
from store.journal import recover as recover_journal
from store.snapshots import latest_snapshot, write_snapshot

log = logging.getLogger(__name__)

Events = list[tuple[Any, ...]]


#: One command's outcome: ``(stamped command, its events)``, or ``(None, why)`` for a command the
#: journal cannot hold (a field of the wrong type or size); such a command takes no seq.
Ack = tuple[tuple[Any, ...] | None, Events | str]


class Sequencer:
    """The one writer. Not thread-safe: one thread owns it (``bluebook.node``)."""

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

    def process(self, commands: Iterable[tuple[Any, ...]]) -> list[Ack]:
        """Stamp, journal and apply each command, commit, and return the acks.

        The group is stamped with one reading of the clock (its commands arrived together and
        are sequenced within a few milliseconds). Under the ``always`` policy each command is
        committed (synced) before the next is applied; otherwise the whole call is one group
        commit.
        """
        acks = self.stage(commands)
        self.journal.sync()
        return acks

    def stage(self, commands: Iterable[tuple[Any, ...]]) -> list[Ack]:
        """``process`` without its final sync: the group is written to the journal, not yet
        durable (under ``always`` each command is committed before the next is applied). Its acks
        may be released once a ``journal.sync_later()`` asked after this returns is done."""
        acks: list[Ack] = []
        engine = self.engine
        apply = engine.apply
        journal = self.journal
        stampers = STAMPERS
        pack, limit = RECORD.pack, MAX_PAYLOAD
        each = journal.policy is FsyncPolicy.ALWAYS
        seq = first = engine.seq + 1
        ts = max(self.clock(), engine.ts)
        records: list[bytes] = []
        for command in commands:
            try:
                stamped, payload = stampers[command[0]](command, seq, ts)
            except ENCODE_ERRORS as error:
                acks.append((None, f"malformed command: {error!r}"))
                continue
            size = len(payload)
            if size > limit:
                acks.append((None, "malformed command: too large for a journal record"))
                continue
            records.append(pack(size, crc32(payload)) + payload)
            acks.append((stamped, apply(stamped)))
            seq += 1
            if each:
                journal.append_framed(first, records)
                journal.commit()
                records, first = [], seq
        journal.append_framed(first, records)
        journal.write()
        return acks

    def snapshot(self, directory: Path) -> Path:
        """Write the engine's state (everything journaled so far is committed first)."""
        self.journal.commit()
        return write_snapshot(directory, export_state(self.engine))


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
