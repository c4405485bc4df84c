"""Journal and projection benchmarks: what durability and the SQL store cost the engine.

Scenarios, in this order in one process, each printing one JSON line:

- ``engine``: the ``matcher`` benchmark's 8-symbol stream through ``Engine.apply``, in memory
  (the reference for the ratios below).
- ``journal-off``, ``journal-batch``, ``journal-always``: the same stream through the sequencer
  (stamp, encode, frame, apply, write) into a journal on disk in a temporary directory, with
  each fsync policy. ``off`` and ``batch`` take the stream in groups of ``GROUP`` commands, one
  write (and, for ``batch``, one fsync) per group, pipelined as the node's sequencer loop does
  under load: group N's fsync runs on the journal's syncer thread while group N+1 is staged, and
  group N counts as acknowledged once both are over. ``always`` syncs every command before the
  next (a shorter stream: it is bounded by the disk's fsync time). Each line has
  ``commands_per_s``, ``ratio_vs_engine``, and the ack latency (``p50_us``, ``p99_us``: from the
  group's first command in to its sync being done).
- ``projection-sqlite``, ``projection-postgresql``: the engine's events for the stream written
  by ``store.projection.Projection`` in batches of ``PROJECTION_BATCH`` commands, each batch one
  transaction; ``rows_per_s`` (rows in the orders, history, trades, deposits and balances tables) and
  ``trades_per_s``. Then the same events through the node's own ``bluebook.projector.Projector``
  (its process, its queue, its joining of queued groups), offered in groups of
  ``SUSTAINED_GROUP`` commands paced to ``SUSTAINED_TRADES_PER_S``: ``sustained_trades_per_s``
  (what was offered), ``max_lag_commands`` (the most commands offered and not yet written),
  ``drain_s`` (from the last group offered to the projection holding it) and ``kept_up`` (the lag
  stayed under ``KEPT_UP_COMMANDS`` and drained within ``KEPT_UP_DRAIN_S``: the projection keeps
  up with that rate rather than falling further behind). PostgreSQL is the server at
  ``POSTGRES_URL`` (default: the local one), in a schema of its own that is dropped afterwards; a
  line with ``error`` says if it is unreachable.

Throughput is the fastest of ``REPEATS`` passes (each on a fresh engine and journal); ``--quick``
runs 100,000 commands instead of 1,000,000, and fewer for ``always`` and the projections. Every
scenario runs under the node's garbage-collector settings (``bluebook.collector.tune_gc``).
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.matching import _deposits, _engine_commands, _engine_config, _report
from bench.streams import multi_symbol_stream

FULL_COMMANDS = 1_000_000
QUICK_COMMANDS = 100_000
FULL_ALWAYS = 5_000
QUICK_ALWAYS = 1_000
FULL_PROJECTED = 300_000
QUICK_PROJECTED = 50_000
GROUP = 1024  # the journal's default batch_records
PROJECTION_BATCH = 2_000
SUSTAINED_GROUP = 256
SUSTAINED_TRADES_PER_S = 20_000
KEPT_UP_COMMANDS = 256 * SUSTAINED_GROUP
KEPT_UP_DRAIN_S = 1.0
REPEATS = 3
SYMBOLS, ACCOUNTS, MID = 8, 1000, 25_000
POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main(*, quick: bool, seed: int) -> int:
    from bluebook.collector import tune_gc

    tune_gc()  # the node's collector settings, for every scenario alike
    count = QUICK_COMMANDS if quick else FULL_COMMANDS
    deposits = _deposits()
    commands = _engine_commands(multi_symbol_stream(count, seed, SYMBOLS, ACCOUNTS, MID), deposits)
    engine_line = _report("engine", lambda: _engine(deposits, commands))
    rate = engine_line.get("commands_per_s")
    always = commands[: QUICK_ALWAYS if quick else FULL_ALWAYS]
    projected = commands[: QUICK_PROJECTED if quick else FULL_PROJECTED]
    results = [
        engine_line,
        _report("journal-off", lambda: _journal("off", deposits, commands, GROUP, rate)),
        _report("journal-batch", lambda: _journal("batch", deposits, commands, GROUP, rate)),
        _report("journal-always", lambda: _journal("always", deposits, always, 1, rate)),
        _report("projection-sqlite", lambda: _projection(_sqlite, deposits, projected)),
        _report("projection-postgresql", lambda: _projection(_postgres, deposits, projected, sustained=True)),
    ]
    return 1 if any("error" in line for line in results) else 0


# ------------------------------------------------------------------------------- scenarios


def _engine(deposits: list[Any], commands: list[Any]) -> dict[str, Any]:
    from matcher.engine import Engine

    def run() -> int:
        engine = Engine(_engine_config())
        for deposit in deposits:
            engine.apply(deposit)
        apply = engine.apply

        def run_all() -> None:  # results are dropped as they come, as the sequencer's groups are
            for command in commands:
                apply(command)

        return _timed(run_all)

    elapsed = min(run() for _ in range(REPEATS))
    return {"commands": len(commands), "commands_per_s": round(len(commands) * 1e9 / elapsed)}


def _journal(
    policy: str, deposits: list[Any], commands: list[Any], group: int, engine_rate: float | None
) -> dict[str, Any]:
    groups = [commands[i : i + group] for i in range(0, len(commands), group)]
    best, latencies = min(
        (_journal_pass(policy, deposits, groups) for _ in range(REPEATS)), key=lambda p: p[0]
    )
    latencies.sort()
    rate = len(commands) * 1e9 / best
    return {
        "commands": len(commands),
        "group": group,
        "commands_per_s": round(rate),
        "ratio_vs_engine": round(rate / engine_rate, 3) if engine_rate else None,
        "p50_us": _quantile(latencies, 0.50),
        "p99_us": _quantile(latencies, 0.99),
    }


def _journal_pass(policy: str, deposits: list[Any], groups: list[list[Any]]) -> tuple[int, list[int]]:
    """One pass on a fresh engine and journal: elapsed ns, and each group's ack latency."""
    from bluebook.sequencer import Sequencer
    from matcher.engine import Engine
    from store.journal import JournalWriter

    with tempfile.TemporaryDirectory(prefix="bench-journal-") as directory:
        journal = JournalWriter(Path(directory), next_seq=1, policy=policy, batch_records=len(groups[0]))
        sequencer = Sequencer(Engine(_engine_config()), journal)
        sequencer.process(deposits)
        stage, sync_later, now = sequencer.stage, journal.sync_later, time.perf_counter_ns
        latencies = [0] * len(groups)

        def run() -> None:  # the node's loop under load (``bluebook.node``), without its inbox
            staged: tuple[int, int, Any] | None = None  # group index, its start, its sync
            for i, commands_in in enumerate(groups):
                start = now()
                if staged is not None and staged[2].done():
                    latencies[staged[0]] = now() - staged[1]
                    staged = None
                stage(commands_in)
                synced = sync_later()
                if staged is not None:
                    staged[2].result()
                    latencies[staged[0]] = now() - staged[1]
                staged = (i, start, synced)
            if staged is not None:
                staged[2].result()
                latencies[staged[0]] = now() - staged[1]

        elapsed = _timed(run)
        journal.close()
        if sequencer.engine.seq != len(deposits) + sum(map(len, groups)):
            raise AssertionError("the sequencer skipped commands")
    return elapsed, latencies


def _projection(
    database_in: Callable[[Path], Any], deposits: list[Any], commands: list[Any], *, sustained: bool = False
) -> dict[str, Any]:
    from matcher.engine import Engine
    from matcher.events import FILL
    from store.migrate import upgrade
    from store.projection import Projection

    engine = Engine(_engine_config())
    batches: list[list[tuple[int, list[tuple[Any, ...]]]]] = []
    stamped = deposits + commands
    for start in range(0, len(stamped), PROJECTION_BATCH):
        chunk = stamped[start : start + PROJECTION_BATCH]
        batches.append([(command[1], command[2], engine.apply(command)) for command in chunk])
    trades = sum(1 for batch in batches for _, _, events in batch for event in events if event[0] == FILL)
    with tempfile.TemporaryDirectory(prefix="bench-projection-") as directory:
        database = database_in(Path(directory))
        try:
            upgrade(database)
            projection = Projection(database, _engine_config())
            rows_before = _rows(database)
            write = projection.write
            elapsed = _timed(lambda: [write(batch) for batch in batches])
            rows = _rows(database) - rows_before
        finally:
            _drop(database)
    line = {
        "commands": len(stamped),
        "rows": rows,
        "trades": trades,
        "rows_per_s": round(rows * 1e9 / elapsed),
        "trades_per_s": round(trades * 1e9 / elapsed),
        "batch_commands": PROJECTION_BATCH,
    }
    return {**line, **_sustained(database_in, deposits, commands)} if sustained else line


def _sustained(
    database_in: Callable[[Path], Any], deposits: list[Any], commands: list[Any]
) -> dict[str, Any]:
    """The node's projector process fed at ``SUSTAINED_TRADES_PER_S`` (see the module docstring)."""
    from bluebook.projector import Projector
    from matcher.engine import Engine
    from matcher.events import FILL
    from store.migrate import upgrade

    engine = Engine(_engine_config())
    first = [(deposit[1], deposit[2], engine.apply(deposit)) for deposit in deposits]
    groups, due, trades = [], [], 0
    for start in range(0, len(commands), SUSTAINED_GROUP):
        chunk = commands[start : start + SUSTAINED_GROUP]
        group = [(command[1], command[2], engine.apply(command)) for command in chunk]
        trades += sum(1 for _, _, events in group for event in events if event[0] == FILL)
        groups.append(group)
        due.append(trades / SUSTAINED_TRADES_PER_S)  # seconds after the start
    with tempfile.TemporaryDirectory(prefix="bench-projector-") as directory:
        database = database_in(Path(directory))
        projector = Projector(_engine_config(), Path(directory), database, capacity=len(groups) + 2)
        try:
            upgrade(database)
            projector.start(0)
            projector.offer(first)  # the deposits first, unpaced: the clock starts after
            _wait(lambda: projector.seq == len(deposits) or projector.last_error is not None, 60)
            most, start = 0, time.monotonic()
            for group, at in zip(groups, due, strict=True):
                wait = start + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                projector.offer(group)
                most = max(most, projector.lag())
            offered = time.monotonic()
            _wait(lambda: not projector.lag() or projector.last_error is not None, 60)
            drained = time.monotonic() - offered
            if projector.last_error is not None or projector.dropped or projector.lag():
                raise RuntimeError(f"the projector failed: {projector.last_error}, {projector.dropped} "
                                   f"groups dropped, {projector.lag()} commands behind")  # fmt: skip
        finally:
            projector.stop()
            _drop(database)
    return {
        "sustained_trades_per_s": round(trades / (offered - start)),
        "max_lag_commands": most,
        "drain_s": round(drained, 3),
        "kept_up": most < KEPT_UP_COMMANDS and drained < KEPT_UP_DRAIN_S,
    }


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)


# --------------------------------------------------------------------------------- helpers


def _timed(run: Callable[[], object]) -> int:
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter_ns()
        run()
        return time.perf_counter_ns() - start
    finally:
        gc.unfreeze()


def _quantile(sorted_ns: list[int], q: float) -> float:
    return round(sorted_ns[max(0, math.ceil(q * len(sorted_ns)) - 1)] / 1000, 1)


_SCHEMA = f"bench_projection_{os.getpid()}"


def _postgres(directory: Path) -> Any:
    """A fresh schema of its own on the PostgreSQL server (``_drop`` removes it)."""
    from sqlalchemy import create_engine, make_url, text

    server = create_engine(POSTGRES_URL)
    with server.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{_SCHEMA}"'))
    server.dispose()
    # In the URL, so that the projector's process, which opens its own connection, uses it too.
    return create_engine(make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={_SCHEMA}"}))


def _sqlite(directory: Path) -> Any:
    from store.database import open_database

    return open_database(f"sqlite:///{directory / 'store.db'}")


def _drop(database: Any) -> None:
    database.dispose()
    if database.dialect.name != "postgresql":
        return
    from sqlalchemy import create_engine, text

    server = create_engine(POSTGRES_URL)
    with server.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{_SCHEMA}" CASCADE'))
    server.dispose()


def _rows(database: Any) -> int:
    from sqlalchemy import func, select

    from store.models import Balance, Deposit, Order, OrderHistory, Trade

    with database.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()
            for model in (Order, OrderHistory, Trade, Deposit, Balance)
        )
