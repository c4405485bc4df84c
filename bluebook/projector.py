"""The projector: keeps the SQL projections up with the engine, off the order path.

The node hands it each committed group of ``(seq, ts, events)`` through ``offer``, which never
blocks: the queue is bounded (``capacity`` groups), and a group that does not fit is dropped and
counted. Nothing is lost by that, because the journal holds every command: whenever the next
group does not start right after the projection's cursor, the projector first replays the
missing commands from the journal (``replay_into``: the newest snapshot at or below the cursor,
then the journal) and writes their events. The same path brings the projection up to date at
start, and rebuilds it from nothing (``bluebook rebuild-store``).

When the database is slow, groups queue and are written together; when it is down, the
projector retries with a growing pause while matching goes on, the queue overflows, and the
projection catches up from the journal once the database answers again. ``lag()`` says how far
behind it is.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy.exc import DBAPIError

from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import restore
from store.codec import decode
from store.journal import read
from store.projection import Projection, clear_projections, restore_settlement
from store.snapshots import latest_snapshot

log = logging.getLogger(__name__)

Group = list[tuple[int, int, list[tuple[Any, ...]]]]  # (seq, ts, events) of each command
#: Commands per transaction when replaying from the journal.
REPLAY_BATCH = 2_000
#: Queued groups written in one transaction, at most.
COALESCE = 64


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
    """A thread that writes committed groups into the projection, catching up when needed."""

    def __init__(self, config: MarketConfig, data_dir: Path, db: Database, *, capacity: int = 1024) -> None:
        self.config = config
        self.data_dir = data_dir
        self.db = db
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self.engine_seq = 0
        self._queue: queue.Queue[Group | None] = queue.Queue(maxsize=capacity)
        self._stopping = threading.Event()
        self._projection: Projection | None = None
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)

    def start(self, engine_seq: int) -> None:
        """Start the thread; it first catches up to ``engine_seq`` (the recovered engine's)."""
        self.engine_seq = engine_seq
        self._thread.start()

    def offer(self, group: Group) -> None:
        """Queue a committed group; never blocks (a full queue drops it: see the module doc)."""
        if group:
            self.engine_seq = group[-1][0]
        try:
            self._queue.put_nowait(group)
        except queue.Full:
            self.dropped += 1

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop (whatever is left is caught up at the next start)."""
        self._stopping.set()
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(timeout)

    @property
    def seq(self) -> int:
        return self._projection.seq if self._projection is not None else 0

    def queued(self) -> int:
        """Groups offered and not yet taken up for writing."""
        return self._queue.qsize()

    def lag(self) -> int:
        """Commands committed by the engine and not yet in the projection."""
        return max(0, self.engine_seq - self.seq)

    def _run(self) -> None:
        pause = 0.2
        while True:
            try:
                if self._projection is None:
                    projection = Projection(self.db, self.config)
                    if projection.seq > self.engine_seq:
                        self.last_error = (
                            f"the store's projection is at seq {projection.seq}, past the journal's "
                            f"{self.engine_seq}: it belongs to other data; not writing to it"
                        )
                        log.error("projection: %s", self.last_error)
                        return
                    replay_into(projection, self.config, self.data_dir, upto=self.engine_seq)
                    self._projection = projection
                group, stopping = self._next_groups()
                if group:
                    self._write(self._projection, group)
                self.last_error = None
                pause = 0.2
                if stopping:
                    return
            except DBAPIError as error:  # the database is down or refused: retry, catch up later
                self.errors += 1
                self.last_error = f"{type(error.orig).__name__}: {error.orig}"
                log.warning("projection: database error, retrying in %.1f s: %s", pause, self.last_error)
                self._projection = None  # reload the cursor and open orders once it answers
                self._drain()
                if self._stopping.wait(pause):
                    return
                pause = min(pause * 2, 5.0)

    def _next_groups(self) -> tuple[Group, bool]:
        """Queued groups joined (up to ``COALESCE``), waiting for the first; and whether to stop."""
        first = self._queue.get()
        if first is None:
            return [], True
        joined = list(first)
        for _ in range(COALESCE - 1):
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return joined, True
            joined.extend(more)
        return joined, False

    def _write(self, projection: Projection, group: Group) -> None:
        fresh = [entry for entry in group if entry[0] > projection.seq]
        if not fresh:
            return
        if fresh[0][0] != projection.seq + 1:
            replay_into(projection, self.config, self.data_dir, upto=fresh[0][0] - 1)
        projection.write(fresh)

    def _drain(self) -> None:
        """Drop what is queued (the journal has it) so the queue cannot hold stale groups forever;
        a stop request stays."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._queue.put_nowait(None)
                return
            self.dropped += 1
