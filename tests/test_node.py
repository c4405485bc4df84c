"""The node as a service: acks only after the journal, the projection follows off the order path,
falls behind when the database is slow or gone and catches up from the journal, and a restart
resumes the same state (RELIABILITY.md #1, #3, #6)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import create_engine, select, text

from bench import matching as bench
from bluebook.node import Node, NodeStopped
from bluebook.projector import Projector, rebuild_store
from bluebook.sequencer import Sequencer, recover
from matcher import Accepted, Duplicate, PlaceOrder, typed
from matcher.engine import Engine
from matcher.snapshot import state_hash
from store.migrate import upgrade
from store.models import ProjectionCursor
from tests.conftest import POSTGRES_URL
from tests.crash_child import START_NS, clock_from, commands
from tests.tcp_proxy import TcpProxy
from tests.test_store import dump

ROOT = Path(__file__).resolve().parent.parent
CONFIG = bench._engine_config()


def wait_until(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def submit_in_order(node: Node, stream: list, chunk: int = 100) -> list:
    """Submit every chunk without waiting (they queue in order), then collect the acks."""
    futures = [node.submit(stream[i : i + chunk]) for i in range(0, len(stream), chunk)]
    return [ack for future in futures for ack in future.result(30)]


def test_acks_come_back_durable_and_the_projection_follows(database: Database, tmp_path: Path) -> None:
    node = Node(CONFIG, tmp_path, database=database, clock=clock_from(1))
    node.start()
    stream = commands(5_000, 3)
    acks = submit_in_order(node, stream)
    assert [command[1] for command, _ in acks] == list(range(1, len(stream) + 1))
    # Acknowledged means journaled: a second reader of the data directory sees every command.
    again, journal = recover(CONFIG, tmp_path, policy="off")
    journal.close()
    assert again.seq == len(stream) and state_hash(again) == state_hash(node.sequencer.engine)
    wait_until(lambda: node.projector.lag() == 0)
    node.stop()
    assert node.health()["store"]["projected_seq"] == len(stream)
    live = dump(database)
    assert rebuild_store(CONFIG, tmp_path, database) == len(stream)
    assert dump(database) == live


def test_a_restart_resumes_the_same_state_and_refuses_nothing_twice(tmp_path: Path) -> None:
    stream = commands(3_000, 4)
    node = Node(CONFIG, tmp_path, clock=lambda: START_NS)  # one time: groups fall as they may
    node.start()
    submit_in_order(node, stream[:2_000])
    before = state_hash(node.sequencer.engine)
    node.stop()
    assert list((tmp_path / "snapshots").glob("*.snapshot")), "a clean stop writes a snapshot"
    with pytest.raises(NodeStopped):
        node.execute(stream[2_000:2_010])
    resumed = Node(CONFIG, tmp_path, clock=lambda: START_NS)
    resumed.start()
    assert state_hash(resumed.sequencer.engine) == before
    submit_in_order(resumed, stream[2_000:])
    resumed.stop()
    engine, journal = recover(CONFIG, tmp_path, policy="off")
    journal.close()
    clean = Engine(CONFIG)
    for command in stream:
        clean.apply((command[0], clean.seq + 1, START_NS, *command[3:]))
    assert engine.seq == len(stream) and state_hash(engine) == state_hash(clean)


def test_periodic_snapshots_are_written_by_a_child_process_and_retired(tmp_path: Path) -> None:
    node = Node(CONFIG, tmp_path, snapshot_every_s=0.0, keep_snapshots=2, clock=clock_from(1))
    node.start()
    stream = commands(2_000, 5)
    for start in range(0, len(stream), 200):
        node.execute(stream[start : start + 200])
    node.stop()
    held = sorted(int(path.stem) for path in (tmp_path / "snapshots").glob("*.snapshot"))
    assert len(held) == 2 and held[-1] == len(stream)
    engine, journal = recover(CONFIG, tmp_path, policy="off")
    journal.close()
    engine.validate()
    assert engine.seq == len(stream)


def test_an_overflowing_queue_drops_groups_and_the_journal_fills_the_gap(
    database: Database, tmp_path: Path
) -> None:
    engine, journal = recover(CONFIG, tmp_path, policy="off")
    sequencer = Sequencer(engine, journal, clock=clock_from(1))
    stream = commands(3_000, 6)
    groups = []
    for start in range(0, len(stream), 250):
        acks = sequencer.process(stream[start : start + 250])
        groups.append([(command[1], command[2], events) for command, events in acks])
    journal.close()
    projector = Projector(CONFIG, tmp_path, database, capacity=2)
    for group in groups[:3]:
        projector.offer(group)  # the process is not running: two fit, the third is dropped
    assert projector.dropped == 1
    projector.start(engine_seq=0)
    wait_until(lambda: projector.seq == groups[2][-1][0])  # the dropped one from the journal
    projector.offer(groups[-1])  # does not follow the cursor: the gap is replayed first
    wait_until(lambda: projector.seq == len(stream))
    assert projector.lag() == 0 and projector.last_error is None and projector.dropped == 1
    projector.stop()
    live = dump(database)
    rebuild_store(CONFIG, tmp_path, database)
    assert dump(database) == live


@pytest.fixture
def proxied_postgres() -> Iterator[tuple[Database, TcpProxy]]:
    """A migrated schema on the local PostgreSQL, reached through a proxy the test can cut."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    db = create_engine(
        url.set(host="127.0.0.1", port=proxy.port).update_query_dict(
            {"options": f"-csearch_path={schema}", "connect_timeout": "2"}
        ),
        pool_pre_ping=True,
    )
    try:
        upgrade(db)
        yield db, proxy
    finally:
        db.dispose()
        proxy.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _projected_then_cut(db: Database, proxy: TcpProxy, tmp_path: Path, first: list[Any]) -> Node:
    """A started node that has projected ``first``, with its database then cut off."""
    node = Node(CONFIG, tmp_path, database=db, clock=clock_from(1))
    node.start()
    submit_in_order(node, first)
    wait_until(lambda: node.projector.lag() == 0)
    proxy.cut()
    return node


def test_matching_goes_on_while_the_database_is_down_and_the_projection_catches_up(
    proxied_postgres: tuple[Database, TcpProxy], tmp_path: Path
) -> None:
    db, proxy = proxied_postgres
    stream = commands(4_000, 7)
    node = _projected_then_cut(db, proxy, tmp_path, stream[:1_000])
    started = time.monotonic()
    acks = submit_in_order(node, stream[1_000:3_000])  # acknowledged with the database gone
    down_for = time.monotonic() - started
    assert acks[-1][0][1] == 3_000
    wait_until(lambda: node.health()["store"]["state"] == "error")
    assert node.projector.lag() > 0
    proxy.restore()
    submit_in_order(node, stream[3_000:])
    wait_until(lambda: node.projector.lag() == 0 and node.projector.seq == len(stream), timeout=60)
    node.stop()
    health = node.health()["store"]
    assert health["state"] == "ok" and health["projected_seq"] == len(stream)
    live = dump(db)
    rebuild_store(CONFIG, tmp_path, db)
    assert dump(db) == live
    print(
        f"\nstore outage: 2000 commands acknowledged in {down_for:.2f} s with the database down; "
        f"projection caught up to seq {len(stream)}, equal to a rebuild"
    )


def test_the_node_stops_while_the_database_is_down_and_the_projection_catches_up_after(
    proxied_postgres: tuple[Database, TcpProxy], tmp_path: Path
) -> None:
    db, proxy = proxied_postgres
    stream = commands(3_000, 8)
    node = _projected_then_cut(db, proxy, tmp_path, stream[:500])
    submit_in_order(node, stream[500:])  # more than the queue's pipe holds, with nobody reading
    wait_until(lambda: node.health()["store"]["state"] == "error")
    started = time.monotonic()
    node.stop()
    stopped_in = time.monotonic() - started
    assert stopped_in < 20, stopped_in
    proxy.restore()
    again = Node(CONFIG, tmp_path, database=db, clock=clock_from(10**6))
    again.start()
    wait_until(lambda: again.projector.seq == len(stream), timeout=60)
    again.stop()
    live = dump(db)
    rebuild_store(CONFIG, tmp_path, db)
    assert dump(db) == live
    print(f"\nstopped in {stopped_in:.1f} s with the database down; caught up at the next start")


def test_bluebook_run_survives_kill_9_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The real command: ``bluebook run`` with its demo market, SIGKILLed, then run again."""
    data_dir = tmp_path / "data"
    run = [
        sys.executable,
        "-m",
        "bluebook.cli",
        "run",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--no-chain",
    ]
    first = subprocess.Popen(run, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert first.stdout is not None
    acked = 0
    while acked < 25:
        line = first.stdout.readline()
        assert line, "bluebook run ended early"
        acked = max(acked, int(line.split('"acked": ')[1].split(",")[0]))
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.Popen(
        [*run, "--no-demo"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert second.stderr is not None
    try:
        line = ""
        while "Ctrl-C stops" not in line:
            line = second.stderr.readline()
            assert line, "bluebook run did not start"
        recovered = int(line.split("engine at seq ")[1].split(";")[0])
        assert recovered >= acked
        api = line.split("API on ")[1].split("/v1")[0]
        health = httpx.get(f"{api}/v1/health", timeout=10).json()
        assert health["status"] == "ok", health
        second.send_signal(signal.SIGINT)
        assert second.wait(30) == 0
        stopped = int(second.stderr.read().split("stopped at seq ")[1].split(":")[0])
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    store = create_engine(f"sqlite:///{data_dir / 'store.db'}")
    with store.connect() as connection:
        projected = connection.execute(select(ProjectionCursor.seq)).scalar_one()
    store.dispose()
    assert projected == stopped >= recovered  # (the second run journals gating's commands too)
    print(f"\nbluebook run: {acked} acknowledged before kill -9, {recovered} recovered, store at {projected}")


def test_reads_run_on_the_sequencer_thread_in_order_and_errors_stay_theirs(tmp_path: Path) -> None:
    node = Node(CONFIG, tmp_path, clock=clock_from(1))
    node.start()
    stream = commands(2_000, 8)
    futures = [node.submit(stream[i : i + 100]) for i in range(0, len(stream), 100)]
    seen = [node.read(lambda engine: engine.seq) for _ in range(20)]
    for future in futures:
        future.result(30)
    journaled = [future.result(30) for future in seen]
    assert journaled == sorted(journaled) and journaled[-1] <= len(stream)
    assert node.read(lambda engine: engine.seq).result(30) == len(stream)
    failing = node.read(lambda engine: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(30)
    assert node.execute(stream[:0]) == [] and node.health()["engine"] == "ok"
    node.stop()


def test_a_client_order_id_is_remembered_across_a_crash_and_money_stays_conserved(tmp_path: Path) -> None:
    order = PlaceOrder.of(account=1, symbol="SYM0", side=1, order_type=1, price=bench.MID, qty=5, tif=1,
                          post_only=False, stp=2, client_order_id="mm-quote-1", expire_at=0)  # fmt: skip
    node = Node(CONFIG, tmp_path, clock=clock_from(1))
    node.start()
    node.execute(bench._deposits()[:18])  # accounts 1 and 2, every asset
    ((placed, events),) = node.execute([order])
    assert isinstance(typed(events[0]), Accepted)
    # No stop: recover from the data directory as a crash would leave it (no snapshot, no close).
    again, journal = recover(CONFIG, tmp_path, policy="off")
    journal.close()
    again.validate()  # money conserved per asset, holds equal the open orders' needs
    repeat = [typed(event) for event in again.apply((order[0], again.seq + 1, again.ts + 1, *order[3:]))]
    assert len(repeat) == 1 and isinstance(repeat[0], Duplicate) and repeat[0].order_id == placed[1]
    assert sum(len(market.book) for market in again.markets.values()) == 1
    node.stop()
