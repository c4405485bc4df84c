"""The projector: keeps the SQL projections up with the engine, off the order path, in its own
process.

The child process follows the journal, not the engine: it holds its own copy of the engine
(the newest snapshot at or below the projection's cursor, then the journal), reads each
committed command from the journal files (``store.journal.JournalTail``), applies it to that
copy to get the same events the engine made (the engine is deterministic) and writes them
(``store.projection``). The node only tells it, after each durable group, the last committed
seq (``committed``: one write to shared memory); it never waits for the child and sends it no
events, so the projection costs the matching process nothing but that write, and its
database work runs on another core. The child reads only up to that seq, so it never projects
a command that could still be lost.

When the database is slow, commands pile up in the journal and are written together (up to
``FOLLOW_BATCH`` per transaction); when it is down, the child retries with a growing pause
while matching goes on, then catches up from its cursor. It runs at a lower CPU priority
(``NICENESS``): on a busy machine the order path goes first and the projection lags. The same
path brings the projection up to date at start and rebuilds it from nothing (``bluebook
rebuild-store``). ``lag()`` says how far behind it is, ``last_error`` why it is stuck. If the
node's process dies, the child ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy.exc import DBAPIError

from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import restore
from store.codec import decode
from store.database import open_database
from store.journal import JournalTail, read
from store.projection import Projection, clear_projections, restore_settlement
from store.snapshots import latest_snapshot

log = logging.getLogger(__name__)

Batch = list[tuple[int, int, list[tuple[Any, ...]]]]  # (seq, ts, events) of each command
#: Commands per transaction when catching up from a snapshot.
REPLAY_BATCH = 2_000
#: Commands per transaction, at most, when following: what piled up while the last one was
#: written goes in one transaction, so a slow database is written in larger, cheaper batches.
FOLLOW_BATCH = 16_384
#: How often an idle child looks for newly committed commands, in seconds.
IDLE_POLL_S = 0.002
ERROR_CHARS = 500
#: The child's scheduling niceness: when the cores are busy, matching and order entry go first
#: and the projection catches up when they let it (on two cores under WebSocket order flow it
#: took about 60% of a core at normal priority).
NICENESS = 10
#: Children start from a fork server that has imported this module (cheap after the first).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def replay_into(
    projection: Projection, config: MarketConfig, data_dir: Path, *, upto: int | None = None
) -> int:
    """Write the events of every journaled command after the projection's cursor (up to ``upto``);
    return the new cursor. Starts from the newest snapshot at or below the cursor."""
    _replica(projection, config, data_dir, upto)
    return projection.seq


def _replica(projection: Projection, config: MarketConfig, data_dir: Path, upto: int | None) -> Engine:
    """``replay_into``, giving the engine it replayed with (at ``upto``, or the journal's end)."""
    state = latest_snapshot(data_dir / "snapshots", at_most=projection.seq)
    engine = restore(config, state) if state is not None else Engine(config)
    batch: Batch = []
    for seq, payload in read(data_dir / "journal", after_seq=engine.seq, archive=data_dir / "archive"):
        if upto is not None and seq > upto:
            break
        command = decode(payload)
        events = engine.apply(command)
        if seq <= projection.seq:
            continue
        batch.append((seq, command[2], events))
        if len(batch) >= REPLAY_BATCH:
            projection.write(batch)
            batch = []
    if batch:
        projection.write(batch)
    return engine


def rebuild_store(config: MarketConfig, data_dir: Path, db: Database) -> int:
    """Empty the projection tables and replay the whole journal (archive included) into them;
    settlement's own records and columns are kept. Return the seq the projection reaches."""
    kept = clear_projections(db)
    projection = Projection(db, config)
    replay_into(projection, config, data_dir)
    restore_settlement(db, kept)
    return projection.seq


class Projector:
    """The parent's handle on the projector process: start, tell it what is committed, stop."""

    def __init__(self, config: MarketConfig, data_dir: Path, db: Database) -> None:
        self.config = config
        self.data_dir = data_dir
        self.url = db.url.render_as_string(hide_password=False)
        self._committed: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)
        self._projected: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)
        self._errors: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)
        self._error = _CONTEXT.Array("c", ERROR_CHARS, lock=False)
        self._stop: Synchronized[int] = _CONTEXT.Value("b", 0, lock=False)
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self, engine_seq: int) -> None:
        """Start the process; it first catches up to ``engine_seq`` (the recovered engine's)."""
        self._committed.value = engine_seq
        self._process = _CONTEXT.Process(
            target=_follow,
            args=(
                self.config,
                self.data_dir,
                self.url,
                self._committed,
                self._projected,
                self._errors,
                self._error,
                self._stop,
            ),  # fmt: skip
            name="projector",
            daemon=True,
        )
        self._process.start()

    def committed(self, seq: int) -> None:
        """Every command up to ``seq`` is durable: the child may project it (never blocks)."""
        self._committed.value = seq

    def stop(self, timeout: float = 30.0) -> None:
        """Let the child write everything committed, then end it (whatever it could not write is
        caught up at the next start)."""
        process = self._process
        if process is None:
            return
        self._stop.value = 1
        process.join(timeout)
        if process.is_alive():
            log.warning("projector: did not stop within %.0f s; ending it", timeout)
            process.terminate()
            process.join()
        self._process = None

    @property
    def seq(self) -> int:
        """The projection's cursor (0 until the child has read it)."""
        return int(self._projected.value)

    @property
    def engine_seq(self) -> int:
        return int(self._committed.value)

    @property
    def errors(self) -> int:
        return int(self._errors.value)

    @property
    def last_error(self) -> str | None:
        """Why the child is not writing (the database's error, or a projection that belongs to
        other data), or None while it is."""
        text = self._error.value.decode(errors="replace")
        return text or None

    def lag(self) -> int:
        """Commands committed by the engine and not yet in the projection."""
        return max(0, self.engine_seq - self.seq)


def _follow(config: MarketConfig, data_dir: Path, url: str, committed: Synchronized[int],
            projected: Synchronized[int], errors: Synchronized[int], error: Any,
            stop: Synchronized[int]) -> None:  # fmt: skip
    """The child: project every committed command, forever; on a stop, once more, then return."""
    os.nice(NICENESS)
    # A Ctrl-C reaches the whole process group: the node stops this child itself, after the last
    # committed command is written, so the interrupt is not this child's to act on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    database = open_database(url)
    parent = multiprocessing.parent_process()
    follower: _Follower | None = None
    pause = 0.2
    try:
        while parent is None or parent.is_alive():
            stopping = bool(stop.value)
            upto = int(committed.value)
            try:
                if follower is None:
                    follower = _Follower(config, data_dir, database, upto)
                    projected.value = follower.projection.seq
                    error.value = b""
                    pause = 0.2
                if follower.projection.seq < upto:
                    follower.write(upto)
                    projected.value = follower.projection.seq
                    continue
                if stopping:
                    return
                time.sleep(IDLE_POLL_S)
            except _ForeignProjection as refused:
                error.value = str(refused).encode()[: ERROR_CHARS - 1]
                log.error("projection: %s", refused)
                while not _stopped_within(1.0, stop) and (parent is None or parent.is_alive()):
                    pass
                return
            except Exception as failure:  # the database is down or refused: retry, catch up later
                errors.value += 1
                orig = failure.orig if isinstance(failure, DBAPIError) else failure
                text = f"{type(orig).__name__}: {orig}"
                error.value = text.encode()[: ERROR_CHARS - 1]
                if isinstance(failure, DBAPIError):
                    log.warning("projection: database error, retrying in %.1f s: %s", pause, text)
                else:
                    log.exception("projection: failed, retrying in %.1f s", pause)
                follower = None  # reload the cursor and open orders, and the engine copy
                if _stopped_within(pause, stop):
                    return
                pause = min(pause * 2, 5.0)
    finally:
        if follower is not None:
            follower.tail.close()
        database.dispose()


def _stopped_within(seconds: float, stop: Synchronized[int]) -> bool:
    """Sleep up to ``seconds``; True as soon as a stop is asked for."""
    deadline = time.monotonic() + seconds
    while not stop.value:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, 0.05))
    return True


class _ForeignProjection(Exception):
    """The store's projection is ahead of the journal: it belongs to other data."""


class _Follower:
    """The projection, the engine copy at its cursor, and the journal read on from there."""

    def __init__(self, config: MarketConfig, data_dir: Path, database: Database, upto: int) -> None:
        projection = Projection(database, config)
        if projection.seq > upto:
            raise _ForeignProjection(
                f"the store's projection is at seq {projection.seq}, past the journal's {upto}: "
                "it belongs to other data; not writing to it"
            )
        self.projection = projection
        self.engine = _replica(projection, config, data_dir, upto)
        self.tail = JournalTail(data_dir / "journal", after_seq=self.engine.seq)

    def write(self, upto: int) -> None:
        """Apply and write the next committed commands, up to ``upto`` and ``FOLLOW_BATCH``."""
        apply = self.engine.apply
        batch: Batch = []
        for seq, payload in self.tail.read(min(upto, self.projection.seq + FOLLOW_BATCH)):
            command = decode(payload)
            if command[1] != seq:
                raise ValueError(f"journal record {seq} holds a command stamped {command[1]}")
            batch.append((seq, command[2], apply(command)))
        self.projection.write(batch)
