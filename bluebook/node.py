"""The node: the engine running as a service, with its journal, snapshots and SQL projection.

Threads and who owns what:

- The sequencer thread owns the engine and the journal writer. It takes commands from the inbox
  (any thread may ``submit``), a group at a time: everything waiting, up to the journal's
  ``batch_records``. It stamps, journals and applies them and writes the group to the journal
  (``Sequencer.stage``), asks the journal's syncer thread for its fsync (one per group under the
  ``batch`` policy), and resolves each submitter's future and tells the listeners only once that
  sync is done: nothing is acknowledged or published before it is durable. Group N's fsync runs
  while group N+1 is staged (fsync lets go of the GIL), so under load the disk's time overlaps
  the matching instead of adding to it; group N is released as soon as both are over. Reads
  (``read``), snapshots, an idle inbox and a stop first release the staged group, so a read or a
  snapshot sees only durable state. The cyclic garbage collector is tuned at start
  (``bluebook.collector``).
- The projector process writes committed groups into the SQL store (``bluebook.projector``):
  the node offers it each durable group's events through a bounded queue that never blocks. It
  can fall behind or stop without slowing the sequencer.
- A snapshot is taken every ``snapshot_every_s`` seconds: the sequencer forks, and the child
  process writes the engine's state from its copy-on-write image while the parent goes on
  matching; the parent reaps it later and applies the retention rule (``store.retention``). On
  a clean stop the last snapshot is written in process.

If the journal cannot be written (disk full, I/O error), the commands of that group fail, the
node stops taking commands, and ``health()`` says why: the engine has applied commands that are
not durable, so it must not acknowledge anything more; a restart recovers from the journal.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine as Database

from bluebook.collector import tune_gc
from bluebook.projector import Projector
from bluebook.sequencer import Ack, Sequencer, recover
from matcher.config import MarketConfig
from matcher.engine import Engine
from matcher.snapshot import export_state
from store.journal import FsyncPolicy
from store.retention import retire
from store.snapshots import write_snapshot

log = logging.getLogger(__name__)

Listener = Callable[[list[Ack]], None]
Submitted = tuple[Sequence[tuple[Any, ...]], "Future[list[Ack]]"]
#: A group applied and written, maybe not yet durable: its submissions, its acks, its sync.
Staged = tuple[list[Submitted], list[Ack], "Future[None]"]
T = TypeVar("T")


class Read:
    """A query to run on the sequencer thread (``Node.read``)."""

    __slots__ = ("query", "future")

    def __init__(self, query: Callable[[Engine], Any], future: Future[Any]) -> None:
        self.query = query
        self.future = future

    def run(self, engine: Engine) -> None:
        try:
            self.future.set_result(self.query(engine))
        except Exception as error:  # the caller gets it; the sequencer goes on
            self.future.set_exception(error)


class NodeStopped(RuntimeError):
    """The node is not taking commands (stopped, or failed: see ``Node.health()``)."""


class Node:
    def __init__(
        self,
        config: MarketConfig,
        data_dir: Path,
        *,
        database: Database | None = None,
        policy: FsyncPolicy | str = FsyncPolicy.BATCH,
        snapshot_every_s: float = 300.0,
        keep_snapshots: int = 3,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.policy = FsyncPolicy(policy)
        self.snapshot_every_s = snapshot_every_s
        self.keep_snapshots = keep_snapshots
        self.clock = clock
        self.projector = Projector(config, data_dir, database) if database is not None else None
        self.failure: str | None = None
        self._listeners: list[Listener] = []
        self._probes: dict[str, Callable[[], str]] = {}
        self._inbox: queue.SimpleQueue[Submitted | Read | None] = queue.SimpleQueue()
        self._accepting = False
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._snapshot_child: int | None = None
        self._last_snapshot = time.monotonic()
        self.sequencer: Sequencer | None = None

    # ------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Recover the engine (newest snapshot + journal), then start the threads."""
        engine, journal = recover(self.config, self.data_dir, policy=self.policy)
        self.sequencer = Sequencer(engine, journal, clock=self.clock)
        tune_gc()
        log.info("node: engine recovered at seq %d from %s", engine.seq, self.data_dir)
        if self.projector is not None:
            self.projector.start(engine.seq)
        self._accepting = True
        self._thread.start()

    def stop(self) -> None:
        """Finish what was submitted, write a snapshot, close the journal, stop the projector."""
        if not self._accepting and not self._thread.is_alive():
            return
        self._accepting = False
        self._inbox.put(None)
        self._thread.join()
        sequencer = self.sequencer
        if sequencer is not None and self.failure is None:
            self._reap_snapshot(wait=True)
            sequencer.snapshot(self.data_dir / "snapshots")
            sequencer.journal.close()
            self._retire()
        if self.projector is not None:
            self.projector.stop()

    # ---------------------------------------------------------------------------- commands

    def submit(self, commands: Sequence[tuple[Any, ...]]) -> Future[list[Ack]]:
        """Queue commands (unstamped); the future gives their acks once they are durable."""
        future: Future[list[Ack]] = Future()
        if not self._accepting:
            future.set_exception(NodeStopped(self.failure or "the node is not running"))
            return future
        self._inbox.put((commands, future))
        return future

    def execute(self, commands: Sequence[tuple[Any, ...]], timeout: float | None = 30.0) -> list[Ack]:
        """``submit`` and wait."""
        return self.submit(commands).result(timeout)

    def read(self, query: Callable[[Engine], T]) -> Future[T]:
        """Run ``query(engine)`` on the sequencer thread, between groups, and give its result:
        a consistent view of committed state without locks. It must be quick, must not change
        the engine, and must copy what it returns (the engine moves on right after)."""
        future: Future[T] = Future()
        if not self._accepting:
            future.set_exception(NodeStopped(self.failure or "the node is not running"))
            return future
        self._inbox.put(Read(query, future))
        return future

    def add_health(self, component: str, probe: Callable[[], str]) -> None:
        """Report ``probe()`` (``"ok"`` or what is wrong) as ``component`` in ``health()``."""
        self._probes[component] = probe

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(acks)`` on the sequencer thread after each durable group. It must be
        quick and must not raise (market data copies what it needs and returns)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """``status`` is ``ok`` when every component is, ``degraded`` when the store or another
        component (``add_health``) is not (matching goes on), ``failed`` or ``stopped`` when the
        engine is; then each part."""
        sequencer = self.sequencer
        state: dict[str, Any] = {
            "engine": "failed" if self.failure else "ok" if self._accepting else "stopped",
            "seq": sequencer.engine.seq if sequencer is not None else 0,
            "journal_policy": str(self.policy),
        }
        if self.failure:
            state["error"] = self.failure
        if self.projector is not None:
            projector = self.projector
            state["store"] = {
                "state": "error" if projector.last_error else "ok",
                "projected_seq": projector.seq,
                "lag": projector.lag(),
                "dropped_groups": projector.dropped,
                **({"error": projector.last_error} if projector.last_error else {}),
            }
        for component, probe in self._probes.items():
            state[component] = probe()
        store_ok = self.projector is None or not self.projector.last_error
        others_ok = all(state[component] == "ok" for component in self._probes)
        status = (
            state["engine"] if state["engine"] != "ok" else "ok" if store_ok and others_ok else "degraded"
        )
        return {"status": status, **state}

    # ---------------------------------------------------------------------- the sequencer

    def _run(self) -> None:
        """Take a group and stage it (apply and write) while the previous group's fsync runs,
        then release the previous group. A read, a due snapshot, an idle inbox or a stop first
        releases the staged group, so reads and snapshots see only durable state."""
        sequencer = self.sequencer
        assert sequencer is not None
        limit = sequencer.journal.batch_records
        inbox = self._inbox
        staged: Staged | None = None
        stopping = False
        while not stopping and self.failure is None:
            if staged is None:
                item = inbox.get()
            else:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:  # idle: let the staged group become durable, release it
                    self._release(staged)
                    staged = None
                    continue
            if item is None:
                break
            if isinstance(item, Read):
                self._release(staged)
                staged = None
                item.run(sequencer.engine)
                continue
            taken = [item]
            reads: list[Read] = []
            count = len(item[0])
            while count < limit:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                if isinstance(item, Read):
                    reads.append(item)
                    continue
                taken.append(item)
                count += len(item[0])
            if staged is not None and staged[2].done():  # its sync is over: release it first
                self._release(staged)
                staged = None
            new = self._stage(sequencer, taken)
            self._release(staged)
            staged = new
            if reads or stopping or self._snapshot_due():
                self._release(staged)
                staged = None
            for read in reads:
                read.run(sequencer.engine)
            if staged is None and self.failure is None:
                self._maybe_snapshot(sequencer)
        self._release(staged)
        self._refuse_waiting()

    def _stage(self, sequencer: Sequencer, taken: list[Submitted]) -> Staged | None:
        """Apply and write a group and ask for its sync; None if the journal failed (its
        submitters are told, and the node stops)."""
        if self.failure is not None:
            self._fail(taken, self.failure)
            return None
        commands = [command for submitted, _ in taken for command in submitted]
        try:
            acks = sequencer.stage(commands)
            return taken, acks, sequencer.journal.sync_later()
        except OSError as error:  # the journal could not be written: stop acknowledging
            self._fail(taken, f"journal write failed: {error}")
            return None

    def _release(self, staged: Staged | None) -> None:
        """Wait until a staged group is durable, then resolve its futures and tell the projector
        and the listeners; if its sync (or an earlier one) failed, fail them and stop the node."""
        if staged is None:
            return
        taken, acks, synced = staged
        try:
            synced.result()
        except OSError as error:
            self._fail(taken, f"journal sync failed: {error}")
            return
        if self.failure is not None:
            self._fail(taken, self.failure)
            return
        start = 0
        for submitted, future in taken:
            future.set_result(acks[start : start + len(submitted)])
            start += len(submitted)
        if self.projector is not None:
            self.projector.offer([(c[1], c[2], events) for c, events in acks if c is not None])
        for listener in self._listeners:
            try:
                listener(acks)
            except Exception:  # a listener's bug must not stop matching
                log.exception("node: listener %r failed", listener)

    def _fail(self, taken: list[Submitted], reason: str) -> None:
        """Stop acknowledging (the engine holds commands that may not be durable) and tell the
        submitters of ``taken``."""
        if self.failure is None:
            self.failure = reason
            self._accepting = False
            log.critical("node: %s; refusing commands until restarted", reason)
        for _, future in taken:
            future.set_exception(NodeStopped(self.failure))

    def _refuse_waiting(self) -> None:
        self._accepting = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                future: Future[Any] = item.future if isinstance(item, Read) else item[1]
                future.set_exception(NodeStopped(self.failure or "the node stopped"))

    # -------------------------------------------------------------------------- snapshots

    def _snapshot_due(self) -> bool:
        return time.monotonic() - self._last_snapshot >= self.snapshot_every_s

    def _maybe_snapshot(self, sequencer: Sequencer) -> None:
        """Take a snapshot if one is due (every staged group has been released)."""
        self._reap_snapshot(wait=False)
        if self._snapshot_child is not None or not self._snapshot_due():
            return
        self._last_snapshot = time.monotonic()
        sequencer.journal.commit()
        if not hasattr(os, "fork"):
            sequencer.snapshot(self.data_dir / "snapshots")
            self._retire()
            return
        pid = os.fork()
        if pid == 0:  # the child: write from the copy-on-write image, then leave at once
            status = 1
            try:
                write_snapshot(self.data_dir / "snapshots", export_state(sequencer.engine))
                status = 0
            finally:
                os._exit(status)
        self._snapshot_child = pid

    def _reap_snapshot(self, *, wait: bool) -> None:
        if self._snapshot_child is None:
            return
        pid, status = os.waitpid(self._snapshot_child, 0 if wait else os.WNOHANG)
        if pid == 0:
            return
        self._snapshot_child = None
        if os.waitstatus_to_exitcode(status) != 0:
            log.error("node: the snapshot process failed (status %d)", status)
            return
        self._retire()

    def _retire(self) -> None:
        floor = self.projector.seq if self.projector is not None else self.sequencer_seq()
        retired = retire(self.data_dir, keep=self.keep_snapshots, floor_seq=floor)
        if retired.segments_archived:
            log.info("node: archived %d journal segments", len(retired.segments_archived))

    def sequencer_seq(self) -> int:
        return self.sequencer.engine.seq if self.sequencer is not None else 0
