"""The projector: keeps the SQL projections up with the engine, off the order path, in its own
process.

The node hands it each committed group of ``(seq, ts, events)`` through ``offer``, which never
blocks: the groups go through a bounded queue to the child process (pickled by the queue's
feeder thread), and a group that does not fit is dropped and counted. Nothing is lost by that,
because the journal holds every command: whenever the next group does not start right after the
projection's cursor, or a group was dropped and nothing follows it, the child first replays the
missing commands from the journal (``replay_into``: the newest snapshot at or below the cursor,
then the journal) and writes their events. The same path brings the projection up to date at
start, and rebuilds it from nothing (``bluebook rebuild-store``).

Why a process: the projection's SQL work is Python (rows built, COPY fed), and in the server's
process it held the GIL a fifth to a quarter of the time under order flow; here it costs the
node a pickle of each group. The child runs at a lower CPU priority (``NICENESS``): on a busy
machine the order path goes first and the projection lags.

The child prepares each batch's rows while the previous batch's transaction runs on a thread of
its own (``Projection(pipelined=True)``): the database's time overlaps the Python's. When the
database is slow, groups queue and are written together (up to ``FOLLOW_BATCH`` commands a
transaction); when it is down, the child retries with a growing pause while matching
goes on, the queue overflows, and the projection catches up from the journal once the database
answers again. ``lag()`` says how far behind it is, ``last_error`` why it is stuck. If the
node's process dies, the child ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy.exc import DBAPIError

from bluebook.collector import tune_gc
from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import restore
from store.codec import decode
from store.database import open_database
from store.journal import read
from store.projection import Projection, clear_projections, restore_settlement
from store.snapshots import latest_snapshot

log = logging.getLogger(__name__)

Group = list[tuple[int, int, list[tuple[Any, ...]]]]  # (seq, ts, events) of each command
#: Commands per transaction when replaying from the journal.
REPLAY_BATCH = 2_000
#: Commands per transaction, at most, from queued groups: what piled up while the last one was
#: written goes in one transaction, so a slow database is written in larger, cheaper batches.
FOLLOW_BATCH = 16_384
#: How long the idle child waits for a group before it looks at the stop flag and the drops.
IDLE_WAIT_S = 0.05
ERROR_CHARS = 500
#: The child's scheduling niceness: when the cores are busy, matching and order entry go first
#: and the projection catches up when they let it.
NICENESS = 10
#: Children start from a fork server that has imported this module (cheap after the first).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def replay_into(
    projection: Projection, config: MarketConfig, data_dir: Path, *, upto: int | None = None
) -> int:
    """Write the events of every journaled command after the projection's cursor (up to ``upto``);
    return the new cursor. Starts from the newest snapshot at or below the cursor."""
    state = latest_snapshot(data_dir / "snapshots", at_most=projection.seq)
    engine = restore(config, state) if state is not None else Engine(config)
    batch: Group = []
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
    return projection.seq


def rebuild_store(config: MarketConfig, data_dir: Path, db: Database) -> int:
    """Empty the projection tables and replay the whole journal (archive included) into them;
    settlement's own records and columns are kept. Return the seq the projection reaches."""
    kept = clear_projections(db)
    projection = Projection(db, config)
    replay_into(projection, config, data_dir)
    restore_settlement(db, kept)
    return projection.seq


class Projector:
    """The node's handle on the projector process: start, offer committed groups, stop.

    The child opens its own database connection from ``db``'s URL, so whatever the connection
    needs (a PostgreSQL ``search_path``, say) must be in the URL."""

    def __init__(self, config: MarketConfig, data_dir: Path, db: Database, *, capacity: int = 1024) -> None:
        self.config = config
        self.data_dir = data_dir
        self.url = db.url.render_as_string(hide_password=False)
        self._groups = _CONTEXT.Queue(capacity)
        self._shared = _Shared()
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self, engine_seq: int) -> None:
        """Start the process; it first catches up to ``engine_seq`` (the recovered engine's)."""
        self._shared.committed.value = max(self._shared.committed.value, engine_seq)
        process = _CONTEXT.Process(
            target=_follow,
            args=(self.config, self.data_dir, self.url, self._groups, self._shared),
            name="projector",
            daemon=True,
        )
        process.start()
        self._process = process

    def offer(self, group: Group) -> None:
        """Queue a committed group; never blocks (a full queue drops it: see the module doc)."""
        if not group:
            return
        self._shared.committed.value = group[-1][0]
        try:
            self._groups.put_nowait(group)
        except queue.Full:
            self._shared.dropped.value += 1

    def stop(self, timeout: float = 30.0) -> None:
        """Let the child write what is queued and committed, then end it (whatever is left is
        caught up at the next start). Never waits on the queue itself: a child stuck on a
        database that is down reads nothing, and what the queue still holds is in the journal."""
        process = self._process
        self._shared.stop.value = 1
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                log.warning("projector: did not stop within %.0f s; ending it", timeout)
                process.terminate()
                process.join()
        self._groups.cancel_join_thread()
        self._groups.close()
        self._process = None

    @property
    def seq(self) -> int:
        """The projection's cursor (0 until the child has read it)."""
        return int(self._shared.projected.value)

    @property
    def engine_seq(self) -> int:
        return int(self._shared.committed.value)

    @property
    def dropped(self) -> int:
        """Groups the full queue refused (their commands were caught up from the journal)."""
        return int(self._shared.dropped.value)

    @property
    def errors(self) -> int:
        return int(self._shared.errors.value)

    @property
    def last_error(self) -> str | None:
        """Why the child is not writing (the database's error, or a projection that belongs to
        other data), or None while it is."""
        text = self._shared.error.value.decode(errors="replace")
        return text or None

    def lag(self) -> int:
        """Commands committed by the engine and not yet in the projection."""
        return max(0, self.engine_seq - self.seq)


class _Shared:
    """What node and child both see, in shared memory, each value written by one side only."""

    def __init__(self) -> None:
        self.committed: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)  # the node's
        self.dropped: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)  # the node's
        self.stop: Synchronized[int] = _CONTEXT.Value("b", 0, lock=False)  # the node's
        self.projected: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)  # the child's
        self.errors: Synchronized[int] = _CONTEXT.Value("q", 0, lock=False)  # the child's
        self.error = _CONTEXT.Array("c", ERROR_CHARS, lock=False)  # the child's


def _follow(config: MarketConfig, data_dir: Path, url: str, groups: Any, shared: _Shared) -> None:
    """The child: write every committed group, forever; on a stop, what is left, then return."""
    os.nice(NICENESS)
    # A Ctrl-C reaches the whole process group: the node stops this child itself, after the last
    # committed command is written, so the interrupt is not this child's to act on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    database = open_database(url)
    parent = multiprocessing.parent_process()
    projection: Projection | None = None
    dropped_seen = -1
    pause = 0.2
    try:
        while parent is None or parent.is_alive():
            stopping = bool(shared.stop.value)
            try:
                if projection is None:
                    projection = _opened(config, data_dir, database, int(shared.committed.value))
                    tune_gc()  # the open orders and balances just loaded stay out of collections
                    shared.projected.value = projection.committed_seq
                    shared.error.value = b""
                    pause = 0.2
                batch = _next_batch(groups)
                if batch:
                    _write(projection, batch, config, data_dir)
                    shared.projected.value = projection.committed_seq
                    continue
                projection.flush()  # idle: the last batch's transaction, then the drops
                shared.projected.value = projection.committed_seq
                dropped = int(shared.dropped.value)
                upto = int(shared.committed.value)
                if projection.seq < upto and (stopping or dropped != dropped_seen):
                    dropped_seen = dropped  # the dropped groups' commands, from the journal
                    replay_into(projection, config, data_dir, upto=upto)
                    continue
                if stopping:
                    return
            except _ForeignProjection as refused:
                shared.error.value = str(refused).encode()[: ERROR_CHARS - 1]
                log.error("projection: %s", refused)
                while not shared.stop.value and (parent is None or parent.is_alive()):
                    time.sleep(0.2)
                return
            except Exception as failure:  # the database is down or refused: retry, catch up later
                shared.errors.value += 1
                orig = failure.orig if isinstance(failure, DBAPIError) else failure
                text = f"{type(orig).__name__}: {orig}"
                shared.error.value = text.encode()[: ERROR_CHARS - 1]
                if isinstance(failure, DBAPIError):
                    log.warning("projection: database error, retrying in %.1f s: %s", pause, text)
                else:
                    log.exception("projection: failed, retrying in %.1f s", pause)
                if projection is not None:
                    projection.close()
                projection = None  # reload the cursor and open orders once it answers
                deadline = time.monotonic() + pause
                while not shared.stop.value and time.monotonic() < deadline:
                    time.sleep(0.05)
                if shared.stop.value:
                    return
                pause = min(pause * 2, 5.0)
    finally:
        if projection is not None:
            projection.close()
        database.dispose()


class _ForeignProjection(Exception):
    """The store's projection is ahead of the journal: it belongs to other data."""


def _opened(config: MarketConfig, data_dir: Path, database: Database, committed: int) -> Projection:
    """The projection, pipelined, caught up from the journal to ``committed``."""
    projection = Projection(database, config, pipelined=True)
    try:
        if projection.seq > committed:
            raise _ForeignProjection(
                f"the store's projection is at seq {projection.seq}, past the journal's {committed}: "
                "it belongs to other data; not writing to it"
            )
        replay_into(projection, config, data_dir, upto=committed)
        projection.flush()
    except BaseException:
        projection.close()
        raise
    return projection


def _next_batch(groups: Any) -> Group:
    """The queued groups joined (up to ``FOLLOW_BATCH`` commands), waiting a while for the first."""
    try:
        batch: Group = list(groups.get(timeout=IDLE_WAIT_S))
    except queue.Empty:
        return []
    while len(batch) < FOLLOW_BATCH:
        try:
            batch.extend(groups.get_nowait())
        except queue.Empty:
            break
    return batch


def _write(projection: Projection, batch: Group, config: MarketConfig, data_dir: Path) -> None:
    """Write ``batch`` past the cursor; a gap (dropped groups) is replayed from the journal first."""
    pending: Group = []
    for entry in batch:
        expected = (pending[-1][0] if pending else projection.seq) + 1
        if entry[0] < expected:
            continue  # written already (caught up from the journal meanwhile)
        if entry[0] > expected:
            if pending:
                projection.write(pending)
                pending = []
            replay_into(projection, config, data_dir, upto=entry[0] - 1)
        pending.append(entry)
    if pending:
        projection.write(pending)
