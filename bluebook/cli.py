"""The ``bluebook`` command.

``bluebook run`` starts the system in development mode and runs until Ctrl-C or SIGTERM: the
matching engine on the default markets, recovered from its data directory (newest snapshot +
journal), with its SQL store (SQLite in the data directory unless ``--db-url`` says otherwise;
migrated at start, then kept up by the projector), periodic snapshots, the REST API on
127.0.0.1:8000, and the demo market (``bluebook.demo_mm``: a market maker and a taker trading
through the public API, printing each acknowledged order). On a clean stop it writes a snapshot.
``bluebook api`` is the same without the demo, in production mode unless ``--dev``; ``bluebook
demo-mm`` runs the demo market against a server already running. ``bluebook accounts`` issues
keys and development credits (``bluebook.accounts``); ``bluebook ref`` sets and clears an
operator's reference prices on a running server, and ``bluebook halt`` and ``bluebook resume``
halt a symbol and lift the halt (``bluebook.operator``). ``bluebook settle`` runs the settlement worker,
a separate process (``settlement.worker``).
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
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from sqlalchemy.exc import NoResultFound

from bluebook.accounts import CommandFailed, create_key, credit
from bluebook.datadir import DataDirBusy, running_server
from bluebook.demo_mm import DemoMarket, Funder, chain_funder, credit_funder
from bluebook.gating_feed import Feed, ReferencePump
from bluebook.localchain import CONFIRMATIONS, LocalChain, running_chain
from bluebook.markets import default_markets, load_markets
from bluebook.operator import halt, reference
from bluebook.pauses import PauseWatcher
from bluebook.projector import rebuild_store
from bluebook.reference import AggregatorFeed, StaticFeed, default_references
from bluebook.server import ApiServer, ApiSettings
from bluebook.settings import load_settings
from matcher.config import MarketConfig
from matcher.sessions import Session
from settlement.batches import open_alerts, release
from settlement.chain import artifact, at, connect
from settlement.deposits import DepositWatcher
from settlement.monitor import ChainMonitor
from settlement.signer import load_signer
from settlement.worker import CRASH_ENV, SettlementWorker, WorkerSettings
from store.database import open_database
from store.journal import FsyncPolicy
from store.migrate import upgrade


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluebook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the system in development mode (engine, API, demo market)")
    run.add_argument("--no-demo", dest="demo", action="store_false", help="no demo market")
    run.add_argument("--no-chain", dest="chain", action="store_false", help="no local chain or settlement")
    run.add_argument("--no-gating", dest="gating", action="store_false", help="no market-hours gating")
    run.set_defaults(dev=True)
    migrate = commands.add_parser("migrate", help="bring the SQL store's schema up to date")
    migrate.add_argument("--data-dir", type=Path)
    migrate.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild = commands.add_parser("rebuild-store", help="rebuild the SQL projections from the journal")
    rebuild.add_argument("--data-dir", type=Path)
    rebuild.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    settle = commands.add_parser("settle", help="run the settlement worker (batches fills to the vault)")
    settle.add_argument("--data-dir", type=Path)
    settle.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    settle.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    settle.add_argument("--rpc-url", help="the chain's JSON-RPC URL")
    settle.add_argument("--vault", help="the Settlement contract's address")
    settle.add_argument("--signer-key-file", type=Path, help="the operator's key (hex)")
    settle.add_argument("--confirmations", type=int, help="blocks until a batch is final (12)")
    settle.add_argument(
        "--max-wait", type=float, default=2.0, help="seconds a fill waits for a batch, at most"
    )
    alerts = commands.add_parser("settle-alerts", help="list open settlement alerts; resolve one")
    alerts.add_argument("--data-dir", type=Path)
    alerts.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    alerts.add_argument("--release", type=int, metavar="ID", help="resolve alert ID (a held item is retried)")
    demo = commands.add_parser("demo-mm", help="the demo market maker (and taker) on a running server's API")
    demo.add_argument("--data-dir", type=Path, help="the running server's data directory (keys, chain)")
    demo.add_argument("--api", help="the API's URL (default: the server running on the data directory)")
    demo.add_argument("--no-taker", dest="taker", action="store_false", help="the market maker alone")
    demo.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    markets = commands.add_parser("markets", help="print the configured markets")
    markets.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    api = commands.add_parser("api", help="start the engine and the REST API (no chain needed)")
    api.add_argument("--dev", action="store_true", help="development mode: balances may be credited by hand")
    api.add_argument("--rpc-url", help="the chain's JSON-RPC URL: deposits are credited from it")
    api.add_argument("--vault", help="the Settlement contract's address")
    api.add_argument("--confirmations", type=int, help="blocks until a deposit is credited (12)")
    api.add_argument("--gating", action="store_true", help="market-hours gating (static dev references)")
    for serving in (run, api):
        serving.add_argument("--session", choices=[k.name.lower() for k in Session],
                             help="pin one session for all time instead of the calendar")  # fmt: skip
        serving.add_argument("--host")
        serving.add_argument("--port", type=int, help="0: any free port (default 8000)")
        serving.add_argument("--data-dir", type=Path, help="journal, snapshots, store")
        serving.add_argument(
            "--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)"
        )
        serving.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
        serving.add_argument(
            "--fsync", choices=[p.value for p in FsyncPolicy], help="journal policy (default batch)"
        )
        serving.add_argument("--snapshot-every", type=float, help="seconds between snapshots (300)")
    accounts = commands.add_parser("accounts", help="API keys and development credits").add_subparsers(
        dest="action", required=True
    )
    key_parser = accounts.add_parser("create-key", help="issue an HMAC API key for an address (prints JSON)")
    credit_parser = accounts.add_parser("credit", help="credit a balance (development mode only)")
    for sub in (key_parser, credit_parser):
        sub.add_argument("--data-dir", type=Path)
        sub.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
        sub.add_argument("--address", required=True, help="the account's EVM address, 0x...")
    key_parser.add_argument("--scopes", default="read,trade", help="comma separated: read, trade, withdraw")
    key_parser.add_argument("--label", default="")
    credit_parser.add_argument("--asset", required=True)
    credit_parser.add_argument("--amount", required=True, help="a decimal string in whole tokens")
    credit_parser.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    credit_parser.add_argument("--dev", action="store_true", help="allow it (when no server runs)")
    ref = commands.add_parser("ref", help="reference prices an operator sets on a running server")
    ref_actions = ref.add_subparsers(dest="action", required=True)
    ref_set = ref_actions.add_parser("set", help="make a price stand for an underlying, over its feed")
    ref_set.add_argument("underlying", help="TSLA, AAPL, NVDA, BTC (the markets file's references)")
    ref_set.add_argument("price", help="USD, a positive decimal string")
    ref_set.add_argument("--status", default="open", help="the market status reported with it (open)")
    ref_clear = ref_actions.add_parser("clear", help="hand an underlying back to its feed")
    ref_clear.add_argument("underlying")
    ref_list = ref_actions.add_parser("list", help="the prices that stand")
    halt_parser = commands.add_parser(
        "halt", help="halt a symbol on a running server (it reopens by auction)"
    )
    resume_parser = commands.add_parser("resume", help="lift a halt reason on a running server")
    for sub, verb in ((halt_parser, "halt"), (resume_parser, "lift")):
        sub.add_argument("symbol", nargs="?", default="", help=f"the symbol to {verb} (TSLAx-USDC)")
        sub.add_argument("--all", action="store_true", help=f"{verb} every symbol")
        sub.add_argument("--reason", default="operator",
                         help="operator, corporate_action (cancels open orders), token_paused; "
                              "resume also takes circuit_breaker")  # fmt: skip
    for sub in (ref_set, ref_clear, ref_list, halt_parser, resume_parser):
        sub.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    _with_settings(args, parser)
    if args.command in ("halt", "resume"):
        if bool(args.symbol) == args.all:
            parser.error(f"{args.command}: give a symbol or --all")
        return _print_result(lambda: halt(args.data_dir, args.symbol, args.reason, args.command == "halt"))
    if args.command == "ref":
        given = {name: getattr(args, name) for name in ("underlying", "price", "status") if name in args}
        return _print_result(lambda: reference(args.data_dir, args.action, **given))
    if args.command == "migrate":
        upgrade(_db_url(args))
        print(f"bluebook: store migrated ({_db_url(args)})", file=sys.stderr)
        return 0
    if args.command == "accounts" and args.action == "create-key":
        return _print_result(
            lambda: create_key(args.data_dir, args.address, args.scopes, args.label, args.db_url)
        )
    if args.command == "settle-alerts":
        return _settle_alerts(args)
    config = load_markets(args.markets) if args.markets else default_markets()
    if args.command == "accounts":
        return _print_result(
            lambda: credit(
                config, args.data_dir, args.address, args.asset, args.amount, args.dev, args.db_url
            )
        )
    if args.command == "api":
        return _serve(config, args)
    if args.command == "rebuild-store":
        url = _db_url(args)
        upgrade(url)
        seq = rebuild_store(config, args.data_dir, open_database(url))
        print(f"bluebook: projections rebuilt from the journal up to seq {seq}", file=sys.stderr)
        return 0
    if args.command == "settle":
        return _settle(config, args)
    if args.command == "demo-mm":
        return _demo_mm(config, args)
    if args.command == "markets":
        for symbol in config.symbols:
            print(json.dumps({"symbol": symbol.name, **_describe(config, symbol.name)}))
        return 0
    return _serve(config, args, demo=args.demo)


def _print_result(action: Callable[[], dict[str, object]]) -> int:
    """Print the command's JSON result, or its refusal on stderr (exit status 1)."""
    try:
        print(json.dumps(action()))
    except (CommandFailed, DataDirBusy) as error:
        print(f"bluebook: {error}", file=sys.stderr)
        return 1
    return 0


def _serve(config: MarketConfig, args: argparse.Namespace, *, demo: bool = False) -> int:
    """Run the node and the API until Ctrl-C or SIGTERM; with ``args.chain``, also a local chain
    (Anvil, the vault, the settlement worker, the deposit watcher); with ``demo``, the demo flow."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    settings = ApiSettings(host=args.host, port=args.port, dev=args.dev, db_url=args.db_url, fsync=args.fsync,
                           snapshot_every_s=args.snapshot_every)  # fmt: skip
    server = ApiServer(config, args.data_dir, settings)
    chain = (
        LocalChain(config, args.data_dir, _db_url(args), default_references()[1])
        if getattr(args, "chain", False)
        else None
    )
    try:
        url = server.start()
    except DataDirBusy as error:
        print(f"bluebook: {error}", file=sys.stderr)
        return 1
    node, database = server.node, server.database
    assert node is not None and database is not None
    watcher, market, pump, pauses = None, None, None, None
    vault = None  # the settlement contract, when there is a chain
    try:
        if chain is not None:
            deployment = chain.start()
            assert server.services is not None
            server.services.chain = ChainMonitor(database, config, chain.url, deployment.vault)
            vault = chain.vault()
            watcher = DepositWatcher(database, vault, config, node.submit, confirmations=CONFIRMATIONS)
            watcher.start()
            node.add_health("chain", chain.chain_health)
            node.add_health("settlement_worker", chain.worker_health)
            node.add_health("deposit_watcher", lambda: "halted" if watcher and watcher.halted() else "ok")
            print(f"bluebook: chain {chain.url}, vault {deployment.vault}, "
                  f"tokens {json.dumps(deployment.tokens)}", file=sys.stderr)  # fmt: skip
        elif getattr(args, "rpc_url", None) and getattr(args, "vault", None):  # a configured chain
            vault = at(connect(args.rpc_url), "Settlement", args.vault)
            assert server.services is not None
            server.services.chain = ChainMonitor(database, config, args.rpc_url, args.vault)
            watcher = DepositWatcher(database, vault, config, node.submit, confirmations=args.confirmations)
            watcher.start()
            node.add_health("deposit_watcher", lambda: "halted" if watcher and watcher.halted() else "ok")
        if getattr(args, "gating", False):
            underlyings, prices = default_references()
            if chain is not None:
                assert chain.w3 is not None and chain.deployment is not None
                feed: Feed = AggregatorFeed(chain.w3, chain.deployment.aggregators,
                                            artifact("DevAggregator")["abi"])  # fmt: skip
            else:
                feed = StaticFeed(prices)
            pinned_session = Session[args.session.upper()] if args.session else None
            pump = ReferencePump(config, underlyings, feed, node.submit, session=pinned_session)
            pump.start()
            assert server.services is not None
            server.services.references = pump.manual
            node.add_health("reference_feeds", pump.health)
            if vault is not None:  # an asset the vault paused halts its symbols
                pauses = PauseWatcher(config, vault, node.submit)
                pauses.start()
                node.add_health("asset_pauses", pauses.health)
        if chain is not None:  # the development aggregators move, so references stay fresh
            chain.move_prices(stop)
        if demo:
            fund = credit_funder(config, args.data_dir)
            if chain is not None:
                assert chain.w3 is not None and chain.deployment is not None
                fund = chain_funder(chain.w3, chain.deployment, config)
            market = DemoMarket(url, args.data_dir, fund)
            market.start()
        mode = "development (credits allowed)" if args.dev else "production"
        print(f"bluebook: engine at seq {node.sequencer_seq()}; API on {url}/v1 ({mode}), "
              f"dashboard at {url}/, OpenAPI at {url}/docs; Ctrl-C stops", file=sys.stderr)  # fmt: skip
        while not stop.wait(0.5) and server.running():
            pass
    finally:
        if market is not None:
            market.stop()
        if pauses is not None:
            pauses.stop()
        if pump is not None:
            pump.stop()
        if watcher is not None:
            watcher.stop()
        server.stop()
        if chain is not None:
            chain.stop()
    failed = node.failure is not None
    print(f"bluebook: stopped at seq {node.sequencer_seq()}: {json.dumps(node.health())}", file=sys.stderr)
    return 1 if failed else 0


def _demo_mm(config: MarketConfig, args: argparse.Namespace) -> int:
    """Run the demo market against the server on ``args.data_dir`` until Ctrl-C or SIGTERM: it
    deposits on that server's local chain if one runs, else takes development credits."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = running_server(args.data_dir)
    except DataDirBusy as error:
        server, reason = None, str(error)
    else:
        reason = f"no server runs on {args.data_dir}"
    if server is None:
        print(f"bluebook demo-mm: {reason} (start one with bluebook run --no-demo)", file=sys.stderr)
        return 1
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    found = running_chain(args.data_dir)
    fund: Funder = chain_funder(*found, config) if found is not None else credit_funder(config, args.data_dir)
    market = DemoMarket(args.api or server.url, args.data_dir, fund, taker=args.taker)
    market.start()
    print(f"bluebook demo-mm: trading on {args.api or server.url}; Ctrl-C stops", file=sys.stderr)
    stop.wait()
    market.stop()
    return 0


def _with_settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Fill every option not given on the command line from the settings (``bluebook.settings``:
    environment, ``bluebook.toml``, defaults); a bad setting is reported as a usage error."""
    try:
        settings = load_settings()
    except ValidationError as error:
        parser.error(f"settings: {error}")
    for option, value in (
        ("data_dir", settings.data_dir), ("db_url", settings.db_url), ("host", settings.host),
        ("port", settings.port), ("fsync", settings.journal_fsync),
        ("snapshot_every", settings.snapshot_every_s), ("rpc_url", settings.rpc_url),
        ("vault", settings.vault_address), ("confirmations", settings.confirmations),
        ("markets", settings.markets_file),
    ):  # fmt: skip
        if hasattr(args, option) and getattr(args, option) is None:
            setattr(args, option, value)
    args.settings = settings


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


def _settle_alerts(args: argparse.Namespace) -> int:
    url = _db_url(args)
    upgrade(url)
    database = open_database(url)
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


def _signer(args: argparse.Namespace) -> LocalAccount:
    """The operator: ``--signer-key-file``, else the settings' signer key (or key file)."""
    if args.signer_key_file is not None:
        return load_signer(args.signer_key_file)
    key = args.settings.secret("signer_key")
    if key is None:
        raise SystemExit("bluebook settle: no signer key (--signer-key-file or BLUEBOOK_SIGNER_KEY[_FILE])")
    signer: LocalAccount = Account.from_key(key)
    return signer


def _settle(config: MarketConfig, args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    url = _db_url(args)
    upgrade(url)
    if args.rpc_url is None or args.vault is None:
        print("bluebook settle: needs --rpc-url and --vault (or BLUEBOOK_RPC_URL, BLUEBOOK_VAULT_ADDRESS)",
              file=sys.stderr)  # fmt: skip
        return 2
    w3 = connect(args.rpc_url)
    settings = WorkerSettings(
        confirmations=args.confirmations, max_wait_s=args.max_wait, crash_at=os.environ.get(CRASH_ENV)
    )
    worker = SettlementWorker(
        open_database(url),
        w3,
        at(w3, "Settlement", args.vault),
        _signer(args),
        config,
        settings,
    )
    print(f"bluebook: settling to {args.vault} as {worker.signer.address}; Ctrl-C stops", file=sys.stderr)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
