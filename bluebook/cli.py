"""The ``bluebook`` command.

``bluebook run`` starts what exists so far: the matching engine on the default markets,
recovered from its data directory (newest snapshot + journal), the first time fed a short
scripted session (two accounts deposit, quote and trade) through the sequencer, printing every
event as a JSON line; then it writes a snapshot and prints the books. The API and settlement
join it in later steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine

from bluebook.markets import default_markets, load_markets
from bluebook.rebuild import rebuild_store
from bluebook.sequencer import Sequencer, recover
from matcher import Command, Deposit, OrderType, PlaceOrder, Side, Stp, TimeInForce, typed
from matcher.config import MarketConfig
from store.migrate import upgrade


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluebook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the system (for now: the engine and a demo session)")
    run.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="journal and snapshots (./data)")
    migrate = commands.add_parser("migrate", help="bring the SQL store's schema up to date")
    migrate.add_argument("--data-dir", type=Path, default=Path("data"))
    migrate.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild = commands.add_parser("rebuild-store", help="rebuild the SQL projections from the journal")
    rebuild.add_argument("--data-dir", type=Path, default=Path("data"))
    rebuild.add_argument("--db-url", help="SQLAlchemy URL (default: an SQLite file in the data directory)")
    rebuild.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    markets = commands.add_parser("markets", help="print the configured markets")
    markets.add_argument("--markets", type=Path, help="a markets TOML file instead of the built-in one")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        upgrade(_db_url(args))
        print(f"bluebook: store migrated ({_db_url(args)})", file=sys.stderr)
        return 0
    config = load_markets(args.markets) if args.markets else default_markets()
    if args.command == "rebuild-store":
        url = _db_url(args)
        upgrade(url)
        seq = rebuild_store(config, args.data_dir / "journal", create_engine(url))
        print(f"bluebook: projections rebuilt from the journal up to seq {seq}", file=sys.stderr)
        return 0
    if args.command == "markets":
        for symbol in config.symbols:
            print(json.dumps({"symbol": symbol.name, **_describe(config, symbol.name)}))
        return 0
    return _run(config, args.data_dir)


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


def _run(config: MarketConfig, data_dir: Path) -> int:
    engine, journal = recover(config, data_dir)
    print(f"bluebook: engine recovered at seq {engine.seq} from {data_dir}", file=sys.stderr)
    sequencer = Sequencer(engine, journal)
    if engine.seq == 0:
        for result in sequencer.process(_demo_script(config)):
            for event in result.events:
                named = typed(event)
                print(json.dumps({"event": type(named).__name__, **named.as_dict()}))
    sequencer.snapshot(data_dir / "snapshots")
    journal.close()
    engine.validate()
    for name, market in engine.markets.items():
        bids, asks = market.book.depth()
        if bids or asks:
            print(json.dumps({"symbol": name, "bids": bids, "asks": asks}))
    print(
        "bluebook: journal and snapshot written; the API and settlement are not wired yet.", file=sys.stderr
    )
    return 0


def _demo_script(config: MarketConfig) -> list[Command]:
    symbol = config.symbols[0]
    base, quote = config.asset(symbol.base), config.asset(symbol.quote)
    script: list[Command] = [
        Deposit.of(account=1, asset=quote.name, amount=10_000 * 10**quote.engine_decimals, ref="demo-1"),
        Deposit.of(account=2, asset=base.name, amount=10 * 10**base.engine_decimals, ref="demo-2"),
    ]
    mid = 25_000  # ticks
    for i, (account, side) in enumerate([(2, Side.SELL), (2, Side.SELL), (1, Side.BUY), (1, Side.BUY)]):
        offset = (i % 2 + 1) * (1 if side == Side.SELL else -1)
        script.append(_limit(account, symbol.name, side, mid + offset, 1_000))
    script.append(_limit(1, symbol.name, Side.BUY, mid + 2, 1_500, TimeInForce.IOC))
    return script


def _limit(
    account: int, symbol: str, side: int, price: int, qty: int, tif: int = TimeInForce.GTC
) -> PlaceOrder:
    return PlaceOrder.of(
        seq=0, ts=0, account=account, symbol=symbol, side=int(side), order_type=int(OrderType.LIMIT),
        price=price, qty=qty, tif=int(tif), post_only=False, stp=int(Stp.EXPIRE_MAKER),
        client_order_id=None, expire_at=0,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
