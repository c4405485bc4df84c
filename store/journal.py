"""Journal: the append-only, segmented log of stamped commands; the engine's source of truth.

Layout: a directory of segments named ``{first_seq:020d}.journal``. A segment starts with a
header (magic ``BBJL``, format version, first seq) and holds records, each
``[payload length u32][crc32 of the payload u32][payload]``. Payloads are ``store.codec`` bytes.
Sequence numbers rise by exactly 1 across records and segments, so a record's seq is its
segment's first seq plus its position, and is not stored again (the payload's own command carries
it, and recovery checks that the two agree).

Writing: ``append``/``append_many``/``append_framed`` buffer records; ``commit`` writes every
buffered record with one ``write`` and, under the fsync policy, one ``fsync`` (group commit).
``batch`` (the default) syncs once per group: the sequencer commits each group of waiting
commands (at most ``batch_records``), so under load a sync covers hundreds of commands and idle
commands wait only for their own. ``always`` commits, and syncs, after every command; ``off``
never syncs (tests, benchmarks). A command is durable, and may be acknowledged, once the
``commit`` that wrote it has returned; or, for an owner that pipelines (``write`` now, then
``sync_later``), once the future of a ``sync_later`` asked after its ``write`` is done: that
fsync runs on the writer's syncer thread (fsync lets go of the GIL) while the owner goes on with
the next group. Syncs run one at a time, in order, and each covers everything written before it
was asked for. Segments rotate at a size limit, after a write, once the old segment is synced.

Recovery (``recover``): a damaged record at the end of the last segment is a torn write: it is
reported and cut off, never applied. A damaged record with a valid record anywhere after it, or
in any segment but the last, is corruption: ``JournalCorrupt`` names the segment and offset, and
nothing is truncated.

Versions: readers accept every format version up to ``FORMAT_VERSION``; a later version may only
add (new command kinds in the codec, new header fields after the current ones), so a journal
written now stays readable.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from io import BufferedWriter
from pathlib import Path
from zlib import crc32

FORMAT_VERSION = 1
MAGIC = b"BBJL"
HEADER = struct.Struct("<4sHq")  # magic, format version, first seq in the segment
RECORD = struct.Struct("<II")  # payload length, crc32(payload)
SUFFIX = ".journal"
MAX_PAYLOAD = 1 << 20
_DONE: Future[None] = Future()
_DONE.set_result(None)


def frame(payload: bytes) -> bytes:
    """One record: the payload behind its length and checksum (``append_framed`` takes these; the
    sequencer inlines the same expression on its hot path)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large for a journal record")
    return RECORD.pack(len(payload), crc32(payload)) + payload


class FsyncPolicy(StrEnum):
    ALWAYS = "always"
    BATCH = "batch"
    OFF = "off"


class JournalCorrupt(Exception):
    """A record inside the journal is damaged; recovery must stop rather than guess."""

    def __init__(self, segment: Path, offset: int, reason: str) -> None:
        super().__init__(f"journal corrupt in {segment.name} at byte {offset}: {reason}")
        self.segment = segment
        self.offset = offset


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` found: the last good seq (0 if none) and any torn tail it cut off."""

    last_seq: int
    records: int
    torn_segment: Path | None = None
    torn_offset: int = 0
    torn_bytes: int = 0


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


def segments(directory: Path) -> list[Path]:
    """The journal's segments, oldest first."""
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if p.stem.isdigit())


def _parse(data: bytes | memoryview, offset: int) -> tuple[bytes, int] | None:
    """(payload, next offset) of a sound record at ``offset``, or None if it is not one."""
    end = offset + RECORD.size
    if end > len(data):
        return None
    length, crc = RECORD.unpack_from(data, offset)
    if length > MAX_PAYLOAD or end + length > len(data):
        return None
    payload = bytes(data[end : end + length])
    if crc32(payload) != crc:
        return None
    return payload, end + length


def _scan(path: Path, data: bytes, expect_seq: int | None, last: bool) -> tuple[list[tuple[int, bytes]], int]:
    """Every record of one segment, in order, and the offset where sound data ends.

    Raises ``JournalCorrupt`` for damage that is not a torn tail of the last segment.
    """
    if len(data) < HEADER.size:
        if last:
            return [], 0
        raise JournalCorrupt(path, 0, "segment shorter than its header")
    magic, version, first_seq = HEADER.unpack_from(data, 0)
    if magic != MAGIC or not 1 <= version <= FORMAT_VERSION:
        raise JournalCorrupt(path, 0, f"bad header (magic {magic!r}, version {version})")
    if expect_seq is not None and first_seq != expect_seq:
        raise JournalCorrupt(path, 0, f"segment starts at seq {first_seq}, expected {expect_seq}")
    records: list[tuple[int, bytes]] = []
    offset = HEADER.size
    next_seq = first_seq
    while offset < len(data):
        parsed = _parse(data, offset)
        if parsed is None:
            if last and not any(_parse(data, later) for later in range(offset + 1, len(data))):
                return records, offset  # a torn write: nothing sound follows
            raise JournalCorrupt(path, offset, "damaged record")
        payload, following = parsed
        records.append((next_seq, payload))
        next_seq += 1
        offset = following
    return records, offset


def read(directory: Path, after_seq: int = 0, *, archive: Path | None = None) -> Iterator[tuple[int, bytes]]:
    """Every (seq, payload) with seq > ``after_seq``, in order; a torn tail is left out.

    ``archive``: a directory of older, retired segments (``store.retention``) read first.
    """
    paths = (segments(archive) if archive is not None else []) + segments(directory)
    expect: int | None = None
    for index, path in enumerate(paths):
        following = paths[index + 1] if index + 1 < len(paths) else None
        if following is not None and int(following.stem) <= after_seq + 1:
            expect = int(following.stem)
            continue  # every record here is at or before after_seq
        records, _ = _scan(path, path.read_bytes(), expect, following is None)
        for seq, payload in records:
            if seq > after_seq:
                yield seq, payload
        expect = records[-1][0] + 1 if records else expect


def recover(directory: Path) -> Recovery:
    """Check every segment, cut a torn tail off the last one, and say what is there."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = segments(directory)
    last_seq = 0
    count = 0
    expect: int | None = None
    for index, path in enumerate(paths):
        last = index == len(paths) - 1
        data = path.read_bytes()
        records, end = _scan(path, data, expect, last)
        count += len(records)
        if records:
            last_seq = records[-1][0]
            expect = last_seq + 1
        if last and end < len(data):
            with path.open("r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
            if end == 0:
                path.unlink()
            return Recovery(last_seq, count, path, end, len(data) - end)
    return Recovery(last_seq, count)


class JournalWriter:
    """Appends records after ``recover``; one writer per journal directory.

    ``append``/``append_many``/``append_framed`` buffer, ``commit`` makes durable (per the fsync
    policy); or ``write``, then ``sync_later`` and its future (see the module docstring).
    ``batch_records`` is the largest group the writer's owner should commit at once (the node's
    sequencer takes at most that many waiting commands per group).
    """

    def __init__(
        self,
        directory: Path,
        *,
        next_seq: int,
        policy: FsyncPolicy | str = FsyncPolicy.BATCH,
        segment_bytes: int = 64 << 20,
        batch_records: int = 1024,
        fresh_segment: bool = False,
    ) -> None:
        """``fresh_segment``: start a new segment rather than append to the last one (when
        ``next_seq`` does not follow the journal's last record, e.g. after a newer snapshot)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.policy = FsyncPolicy(policy)
        self.segment_bytes = segment_bytes
        self.batch_records = batch_records
        self.next_seq = next_seq
        self._pending: list[bytes] = []  # framed records
        self._unsynced = False  # written since the last sync was asked for
        self._syncer: ThreadPoolExecutor | None = None  # made at the first ``sync_later``
        self._last_sync: Future[None] = _DONE
        paths = segments(directory)
        #: The current segment and its length in bytes, counted rather than asked of the file
        #: (``tell`` is a system call that lets go of the GIL, once a group on the sequencer).
        self._file: BufferedWriter
        self._size: int
        if paths and not fresh_segment:
            self._file, self._size = paths[-1].open("ab"), paths[-1].stat().st_size
        else:
            self._start_segment(next_seq)

    def append(self, seq: int, payload: bytes) -> None:
        """Buffer one record; ``seq`` must be the next one."""
        self.append_many(seq, [payload])

    def append_many(self, first_seq: int, payloads: list[bytes]) -> None:
        """Buffer records for ``first_seq``, ``first_seq + 1``, ...; ``first_seq`` must be next."""
        if first_seq != self.next_seq:
            raise ValueError(f"journal expects seq {self.next_seq}, got {first_seq}")
        self.append_framed(first_seq, [frame(payload) for payload in payloads])

    def append_framed(self, first_seq: int, records: list[bytes]) -> None:
        """Buffer records already framed (``frame``) for ``first_seq``, ``first_seq + 1``, ..."""
        if first_seq != self.next_seq:
            raise ValueError(f"journal expects seq {self.next_seq}, got {first_seq}")
        self._pending.extend(records)
        self.next_seq = first_seq + len(records)

    def commit(self) -> int:
        """Write every buffered record and sync it (one write, one fsync unless ``off``); return
        how many records were written."""
        count = self.write()
        self.sync()
        return count

    def write(self) -> int:
        """Hand every buffered record to the OS in one write, not yet durable; return how many."""
        pending = self._pending
        if not pending:
            return 0
        data = b"".join(pending)
        self._file.write(data)
        self._file.flush()
        self._pending = []
        self._unsynced = True
        self._size += len(data)
        if self._size >= self.segment_bytes:
            self.sync()
            self._file.close()
            self._start_segment(self.next_seq)
        return len(pending)

    def sync(self) -> None:
        """Make everything written durable now (under ``batch`` and ``always``)."""
        self._last_sync.result()  # a pending sync's error comes out here
        if self._unsynced and self.policy is not FsyncPolicy.OFF:
            os.fsync(self._file.fileno())
        self._unsynced = False

    def sync_later(self) -> Future[None]:
        """A future done once everything written so far is durable (at once under ``off``, or
        when nothing was written since the last sync); an fsync's ``OSError`` comes out of its
        ``result``."""
        if self.policy is FsyncPolicy.OFF or not self._unsynced:
            return self._last_sync
        self._unsynced = False
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-sync")
        self._last_sync = self._syncer.submit(os.fsync, self._file.fileno())
        return self._last_sync

    def close(self) -> None:
        self.commit()
        if self._syncer is not None:
            self._syncer.shutdown()
        self._file.close()

    def _start_segment(self, first_seq: int) -> None:
        path = self.directory / segment_name(first_seq)
        file = path.open("xb")
        file.write(HEADER.pack(MAGIC, FORMAT_VERSION, first_seq))
        file.flush()
        self._file, self._size = file, HEADER.size
        os.fsync(file.fileno())
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name itself must survive a crash
        finally:
            os.close(directory)
