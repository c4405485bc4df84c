"""The SQL store on SQLite and PostgreSQL: migrations apply, the live projection follows the
engine, and a projection rebuilt from the journal equals the live one (settlement kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import inspect, select, update

from bench import matching as bench
from bluebook.projector import rebuild_store
from bluebook.sequencer import Sequencer, recover
from matcher.engine import Engine
from store.models import Balance, Base, Deposit, Order, OrderHistory, SettlementBatch, Trade
from store.projection import Projection
from tests.crash_child import clock_from, commands

TABLES = (Order, OrderHistory, Trade, Deposit, Balance)


def dump(db: Database) -> dict[str, list[tuple]]:
    with db.connect() as connection:
        return {
            model.__tablename__: sorted(
                tuple(row) for row in connection.execute(select(*model.__table__.columns))
            )
            for model in TABLES
        }


def engine_balances(engine: Engine) -> dict[tuple[int, str], tuple[int, int]]:
    assets = engine.accounts.assets
    return {
        (account, asset): (row[2 * i], row[2 * i + 1])
        for account, row in engine.accounts.rows.items()
        for i, asset in enumerate(assets)
        if row[2 * i] or row[2 * i + 1]
    }


def projected_balances(db: Database) -> dict[tuple[int, str], tuple[int, int]]:
    with db.connect() as connection:
        return {
            (row.account_id, row.asset): (row.available, row.held)
            for row in connection.execute(select(Balance))
            if row.available or row.held
        }


def test_migrations_create_every_table(database: Database) -> None:
    assert set(Base.metadata.tables) <= set(inspect(database).get_table_names())


@pytest.mark.parametrize("pipelined", [False, True], ids=["plain", "pipelined"])
def test_a_rebuilt_projection_equals_the_live_one(
    database: Database, tmp_path: Path, pipelined: bool
) -> None:
    data_dir = tmp_path / "data"
    engine, journal = recover(bench._engine_config(), data_dir, policy="off")
    sequencer = Sequencer(engine, journal, clock=clock_from(1))
    projection = Projection(database, bench._engine_config(), pipelined=pipelined)
    stream = commands(3_000, 4)
    for start in range(0, len(stream), 250):
        results = sequencer.process(stream[start : start + 250])
        projection.write([(c[1], c[2], events) for c, events in results if c is not None])
    projection.flush()
    projection.close()
    assert projection.committed_seq == engine.seq
    journal.close()
    live = dump(database)
    assert live["trades"] and live["orders"] and live["deposits"]
    open_orders = sum(len(m.book) for m in engine.markets.values())
    with database.connect() as connection:
        rows = connection.execute(select(Order).where(Order.status.in_((1, 2)))).all()
    assert len(rows) == open_orders
    assert projected_balances(database) == engine_balances(engine)

    # Settlement marks a trade final; a rebuild must keep that.
    with database.begin() as connection:
        connection.execute(
            SettlementBatch.__table__.insert().values(
                batch_id=1, state="FINAL", item_count=1, created_at_ns=0
            )
        )
        connection.execute(
            update(Trade).where(Trade.trade_id == 1).values(settlement_status="final", batch_id=1)
        )
    marked = dump(database)

    assert rebuild_store(bench._engine_config(), data_dir, database) == engine.seq
    assert dump(database) == marked
    with database.connect() as connection:
        assert connection.execute(select(SettlementBatch.batch_id)).scalar_one() == 1


def test_the_projection_resumes_from_its_cursor(database: Database) -> None:
    projection = Projection(database, bench._engine_config())
    event = (7, 1, 5, "USDC", 100, "ref-1")  # Deposited
    projection.write([(1, 5, [event])])
    again = Projection(database, bench._engine_config())
    assert again.seq == 1
    with pytest.raises(ValueError, match="written already"):
        again.write([(1, 5, [event])])


def test_a_failed_pipelined_transaction_stops_the_projection_at_the_last_commit(database: Database) -> None:
    projection = Projection(database, bench._engine_config(), pipelined=True)
    projection.write([(1, 5, [(7, 1, 5, "USDC", 100, "ref-1")])])  # Deposited
    projection.write([(2, 6, [(7, 2, 5, "USDC", 100, "ref-1")])])  # the same deposit ref: refused
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        projection.flush()
    projection.close()
    assert projection.failed and projection.committed_seq == 1
    with pytest.raises(RuntimeError, match="open it again"):
        projection.write([(3, 7, [(7, 3, 5, "USDC", 1, "ref-3")])])
    again = Projection(database, bench._engine_config())
    assert again.seq == 1
    assert projected_balances(database) == {(5, "USDC"): (100, 0)}
