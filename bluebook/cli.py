"""The ``bluebook`` command.

``bluebook run`` starts what exists so far and runs until Ctrl-C or SIGTERM: the matching engine
on the default markets, recovered from its data directory (newest snapshot + journal), with its
SQL store (an SQLite file in the data directory unless ``--db-url`` says otherwise; migrated at
start, then kept up by the projector), periodic snapshots, and in development a small demo flow
that prints each acknowledged command. On a clean stop it writes a snapshot. The API joins it in
a later step. ``bluebook settle`` runs the settlement worker, a separate process
(``settlement.worker``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import NoResultFound

from bluebook.demo import DemoFlow
from bluebook.markets import default_markets, load_markets
from bluebook.node import Node
from bluebook.projector import rebuild_store
from matcher.config import MarketConfig
from settlement.batches import open_alerts, release
from settlement.chain import at, connect
from settlement.signer import load_signer
from settlement.worker import CRASH_ENV, SettlementWorker, WorkerSettings
from store.journal import FsyncPolicy
from store.migrate import upgrade


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluebook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the system (for now: the engine and a demo session)")
    run.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="journal, snapshots, store (./data)")
    run.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    run.add_argument(
        "--fsync", choices=[p.value for p in FsyncPolicy], default="batch", help="journal policy"
    )
    run.add_argument("--snapshot-every", type=float, default=300.0, help="seconds between snapshots")
    run.add_argument("--no-demo", dest="demo", action="store_false", help="no demo order flow")
    migrate = commands.add_parser("migrate", help="bring the SQL store's schema up to date")
    migrate.add_argument("--data-dir", type=Path, default=Path("data"))
    migrate.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild = commands.add_parser("rebuild-store", help="rebuild the SQL projections from the journal")
    rebuild.add_argument("--data-dir", type=Path, default=Path("data"))
    rebuild.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    settle = commands.add_parser("settle", help="run the settlement worker (batches fills to the vault)")
    settle.add_argument("--data-dir", type=Path, default=Path("data"))
    settle.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    settle.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    settle.add_argument("--rpc-url", required=True, help="the chain's JSON-RPC URL")
    settle.add_argument("--vault", required=True, help="the Settlement contract's address")
    settle.add_argument("--signer-key-file", type=Path, required=True, help="the operator's key (hex)")
    settle.add_argument("--confirmations", type=int, default=12, help="blocks until a batch is final")
    settle.add_argument(
        "--max-wait", type=float, default=2.0, help="seconds a fill waits for a batch, at most"
    )
    alerts = commands.add_parser("settle-alerts", help="list open settlement alerts; resolve one")
    alerts.add_argument("--data-dir", type=Path, default=Path("data"))
    alerts.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    alerts.add_argument("--release", type=int, metavar="ID", help="resolve alert ID (a held item is retried)")
    markets = commands.add_parser("markets", help="print the configured markets")
    markets.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        upgrade(_db_url(args))
        print(f"bluebook: store migrated ({_db_url(args)})", file=sys.stderr)
        return 0
    if args.command == "settle-alerts":
        return _settle_alerts(args)
    config = load_markets(args.markets) if args.markets else default_markets()
    if args.command == "rebuild-store":
        url = _db_url(args)
        upgrade(url)
        seq = rebuild_store(config, args.data_dir, create_engine(url))
        print(f"bluebook: projections rebuilt from the journal up to seq {seq}", file=sys.stderr)
        return 0
    if args.command == "settle":
        return _settle(config, args)
    if args.command == "markets":
        for symbol in config.symbols:
            print(json.dumps({"symbol": symbol.name, **_describe(config, symbol.name)}))
        return 0
    return _run(config, args)


def _db_url(args: argparse.Namespace) -> str:
    if args.db_url:
        return str(args.db_url)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(args.data_dir / 'store.db').resolve()}"


def _describe(config: MarketConfig, name: str) -> dict[str, object]:
    symbol = config.symbol(name)
    base, quote = config.asset(symbol.base), config.asset(symbol.quote)
    return {
        "base": base.name,
        "quote": quote.name,
        "tick": str(Decimal(symbol.tick_size).scaleb(-quote.engine_decimals)),
        "lot": str(Decimal(symbol.lot_size).scaleb(-base.engine_decimals)),
        "maker_bps": symbol.maker_bps,
        "taker_bps": symbol.taker_bps,
    }


def _run(config: MarketConfig, args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    url = _db_url(args)
    upgrade(url)
    database = create_engine(url)
    node = Node(
        config, args.data_dir, database=database, policy=args.fsync, snapshot_every_s=args.snapshot_every
    )
    node.start()
    print(f"bluebook: engine at seq {node.sequencer_seq()}, store {url}; Ctrl-C stops", file=sys.stderr)
    demo = DemoFlow(node, config) if args.demo else None
    if demo is not None:
        demo.start()
    while not stop.wait(1.0):
        if node.failure:
            break
    if demo is not None:
        demo.stop()
    node.stop()
    database.dispose()
    print(f"bluebook: stopped at seq {node.sequencer_seq()}: {json.dumps(node.health())}", file=sys.stderr)
    return 1 if node.failure else 0


def _settle_alerts(args: argparse.Namespace) -> int:
    url = _db_url(args)
    upgrade(url)
    database = create_engine(url)
    if args.release is not None:
        try:
            release(database, args.release, time.time_ns())
        except (NoResultFound, ValueError) as error:
            print(
                f"bluebook: cannot release alert {args.release}: {error or 'no such alert'}", file=sys.stderr
            )
            return 1
    for alert in open_alerts(database):
        print(json.dumps({key: value for key, value in alert._asdict().items() if value is not None}))
    return 0


def _settle(config: MarketConfig, args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    url = _db_url(args)
    upgrade(url)
    w3 = connect(args.rpc_url)
    settings = WorkerSettings(
        confirmations=args.confirmations, max_wait_s=args.max_wait, crash_at=os.environ.get(CRASH_ENV)
    )
    worker = SettlementWorker(
        create_engine(url),
        w3,
        at(w3, "Settlement", args.vault),
        load_signer(args.signer_key_file),
        config,
        settings,
    )
    print(f"bluebook: settling to {args.vault} as {worker.signer.address}; Ctrl-C stops", file=sys.stderr)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
