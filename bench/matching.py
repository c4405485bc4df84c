"""Matcher benchmarks: throughput and latency of the book and the engine, and the book's memory.

Scenarios, run in this order in one process, each printing one JSON line:

- ``baseline``: the single-symbol stream (``bench.streams.book_stream``) through ``bench.minimal``.
- ``book``: the same stream through one ``matcher.OrderBook``.
- ``engine``: the same mix over 8 symbols through ``Engine.apply``, with risk and fees, 1000
  funded accounts (the deposits are applied before timing and not counted).
- ``memory-1m-resting``: tracemalloc's peak while one ``OrderBook`` takes 1,000,000 orders that
  all rest (1000 levels a side, 500 orders a level); the ids and prices are made inside the traced
  loop, so the ints the book keeps are counted.

How it measures:

- Throughput: all operations are pre-built as ``(bound method, args)`` pairs, then one
  ``perf_counter_ns`` pair times the whole loop. Three passes, each on a fresh book, report the
  fastest: the stream is deterministic, so slower passes only lost time to other processes.
  The GC stays on; the pre-built operations are only moved out of its sight with
  ``gc.freeze()`` (production holds no million-command list).
- Latency: a second, separate pass over the same operations on a fresh book times every
  operation with its own ``perf_counter_ns`` pair; the timer's own cost (tens of ns) is inside
  each figure. Fill and reject counts come from this pass, outside the timed calls.
- ``events`` counts the operations (commands) in; ``ratio_vs_baseline`` divides events/s by the
  baseline's. ``--quick`` uses 100,000 operations and 100,000 resting orders.

A scenario that raises prints ``{"scenario": ..., "error": ...}`` (traceback on stderr) and the
run goes on; the exit status is then 1.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.minimal import MinimalBook
from bench.streams import ADD, Op, book_stream, multi_symbol_stream

FULL_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
FULL_RESTING = 1_000_000
QUICK_RESTING = 100_000
ACCOUNTS = 1000
SYMBOLS = 8
MID = 25_000  # ticks: $250.00 at $0.01
#: Engine commands start on a Wednesday at 10:00 New York time, 1 µs apart.
ENGINE_EPOCH_NS = int(datetime(2025, 1, 15, 15, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
QUOTE_FUNDING = 10**15  # USDC cents per account
BASE_FUNDING = 10**12  # tokens of each base asset per account
#: Throughput passes per scenario; the fastest is reported (the rest lost time to other work).
REPEATS = 3

Call = tuple[Callable[..., list[Any]], tuple[Any, ...]]


def main(*, quick: bool, seed: int) -> int:
    """Run every scenario; print one JSON line each; return 1 if any of them failed."""
    events = QUICK_EVENTS if quick else FULL_EVENTS
    resting = QUICK_RESTING if quick else FULL_RESTING
    ops = book_stream(events, seed, ACCOUNTS, MID)
    baseline = _report("baseline", lambda: _baseline(ops))
    base_rate = baseline.get("events_per_s")
    results = [
        baseline,
        _report("book", lambda: _book(ops, base_rate)),
    ]
    engine = _report("engine", lambda: _engine(events, seed, base_rate))
    results += [
        engine,
        _report("gated", lambda: _gated(events, seed, engine.get("events_per_s"))),
        _report("memory-1m-resting", lambda: _memory(resting)),
    ]
    return 1 if any("error" in line for line in results) else 0


def _report(scenario: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        line = {"scenario": scenario, **run()}
    except Exception as exc:  # one failing scenario must not stop the others
        traceback.print_exc(file=sys.stderr)
        line = {"scenario": scenario, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(line), flush=True)
    return line


# ------------------------------------------------------------------------------- scenarios


def _baseline(ops: list[Op]) -> dict[str, Any]:
    return _measure(lambda: _book_calls(MinimalBook(), ops), lambda result: "fills")


def _book(ops: list[Op], base_rate: float | None) -> dict[str, Any]:
    from matcher.book import OrderBook

    line = _measure(lambda: _book_calls(OrderBook("TSLAx-USDC"), ops), _event_kind)
    return _with_ratio(line, base_rate)


def _engine(events: int, seed: int, base_rate: float | None) -> dict[str, Any]:
    from matcher.engine import Engine

    config = _engine_config()
    deposits = _deposits()
    commands = _engine_commands(multi_symbol_stream(events, seed, SYMBOLS, ACCOUNTS, MID), deposits)

    def funded_engine_calls() -> list[Call]:
        engine = Engine(config)
        for deposit in deposits:
            engine.apply(deposit)
        return [(engine.apply, (command,)) for command in commands]

    line = _measure(funded_engine_calls, _event_kind)
    line.update(symbols=SYMBOLS, accounts=ACCOUNTS)
    return _with_ratio(line, base_rate)


def _gated(events: int, seed: int, engine_rate: float | None) -> dict[str, Any]:
    """The ``engine`` stream with gating on: the NYSE session table (the stream runs in regular
    hours) and each symbol's reference at the mid, sent again every 100 ms of stream time."""
    from matcher.engine import Engine

    config = _engine_config()
    deposits = _deposits()
    stream = _engine_commands(multi_symbol_stream(events, seed, SYMBOLS, ACCOUNTS, MID), deposits)
    commands = _with_references(stream, len(deposits))

    def gated_engine_calls() -> list[Call]:
        engine = Engine(config)
        for deposit in deposits:
            engine.apply(deposit)
        return [(engine.apply, (command,)) for command in commands]

    line = _measure(gated_engine_calls, _event_kind)
    line["references"] = len(commands) - len(stream) - 1
    line["ratio_vs_engine"] = round(line["events_per_s"] / engine_rate, 3) if engine_rate else None
    return line


def _with_references(stream: list[Any], first_seq: int) -> list[Any]:
    """``stream`` behind a ``SetSessions`` and with every symbol's ``SetReference`` every 100 ms
    of command time, renumbered (a cancel follows its order to its new seq)."""
    from datetime import UTC, datetime

    from bluebook.calendar import session_table
    from matcher.commands import CommandKind, SetReference, SetSessions

    table = session_table(datetime.fromtimestamp(ENGINE_EPOCH_NS / 1e9, UTC))
    sessions = SetSessions.of(account=0, edges=table.edges, kinds=tuple(map(int, table.kinds)),
                              end=table.end, regular_closes=table.regular_closes)  # fmt: skip
    out: list[Any] = []
    renumbered: dict[int, int] = {}
    next_reference = 0

    def add(command: tuple[Any, ...]) -> None:
        out.append((command[0], first_seq + len(out) + 1, *command[2:]))

    add(tuple(sessions)[:2] + (ENGINE_EPOCH_NS,) + tuple(sessions)[3:])
    for command in stream:
        ts = command[2]
        if ts >= next_reference:
            next_reference = ts + 100_000_000
            for i in range(SYMBOLS):
                reference = SetReference.of(account=0, symbol=f"SYM{i}", price=MID, source_ns=ts,
                                            source="bench", status="open")  # fmt: skip
                add(tuple(reference)[:2] + (ts,) + tuple(reference)[3:])
        if command[0] == CommandKind.PLACE_ORDER:
            renumbered[command[1]] = first_seq + len(out) + 1
            add(command)
        else:  # a cancel: (kind, seq, ts, account, symbol, order_id, cid)
            add((*command[:5], renumbered[command[5]], command[6]))
    return out


def _memory(count: int) -> dict[str, Any]:
    from matcher.book import OrderBook
    from matcher.enums import Side

    buy, sell = Side.BUY, Side.SELL
    gc.collect()
    tracemalloc.start()
    try:
        book = OrderBook("TSLAx-USDC")
        for i in range(count):
            level = (i >> 1) % 1000
            if i & 1:
                book.submit(i + 1, 1 + i % ACCOUNTS, sell, MID + 1 + level, 1 + i % 20)
            else:
                book.submit(i + 1, 1 + i % ACCOUNTS, buy, MID - 1 - level, 1 + i % 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if len(book) != count:
        raise AssertionError(f"expected {count} resting orders, the book holds {len(book)}")
    return {
        "resting_orders": count,
        "peak_mib": round(peak / 2**20, 1),
        "bytes_per_order": round(peak / count),
    }


# ------------------------------------------------------------------------- measurement


def _event_kind(event: Any) -> str:
    """Count matcher events: fills, rejects, and the rest."""
    from matcher.events import FILL, REJECTED

    return "fills" if event[0] == FILL else "rejected" if event[0] == REJECTED else "other"


def _measure(fresh_calls: Callable[[], list[Call]], classify: Callable[[Any], str]) -> dict[str, Any]:
    """Time ``REPEATS`` throughput passes and one latency pass, each on fresh calls (a new book).

    ``classify`` names each result (``"fills"``, ``"rejected"``, ...); the line counts them.
    """
    elapsed = min(_time_loop(fresh_calls()) for _ in range(REPEATS))
    calls = fresh_calls()
    latencies, kinds = _time_each(calls, classify)
    counts = {"fills": kinds["fills"]}
    if "rejected" in kinds or classify is _event_kind:
        counts["rejected"] = kinds["rejected"]
    return _line(len(calls), elapsed, latencies, **counts)


def _time_loop(calls: list[Call]) -> int:
    """Nanoseconds to make every call once, GC on, the pre-built calls frozen out of its way."""
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter_ns()
        for method, args in calls:
            method(*args)
        return time.perf_counter_ns() - start
    finally:
        gc.unfreeze()


def _time_each(calls: list[Call], classify: Callable[[Any], str]) -> tuple[list[int], Counter[str]]:
    """Each call's nanoseconds, and how many results of each class the calls returned."""
    now = time.perf_counter_ns
    latencies = [0] * len(calls)
    kinds: Counter[str] = Counter()
    gc.collect()
    gc.freeze()
    try:
        for i, (method, args) in enumerate(calls):
            start = now()
            results = method(*args)
            latencies[i] = now() - start
            for result in results:
                kinds[classify(result)] += 1
    finally:
        gc.unfreeze()
    return latencies, kinds


def _line(events: int, elapsed_ns: int, latencies: list[int], **counts: int) -> dict[str, Any]:
    latencies.sort()

    def micros(q: float) -> float:  # nearest rank
        return round(latencies[max(0, math.ceil(q * len(latencies)) - 1)] / 1000, 2)

    return {
        "events": events,
        "events_per_s": round(events * 1e9 / elapsed_ns),
        "p50_us": micros(0.50),
        "p99_us": micros(0.99),
        "p999_us": micros(0.999),
        **counts,
    }


def _with_ratio(line: dict[str, Any], base_rate: float | None) -> dict[str, Any]:
    line["ratio_vs_baseline"] = round(line["events_per_s"] / base_rate, 3) if base_rate else None
    return line


# ---------------------------------------------------------------------- building the input


def _book_calls(book: Any, ops: list[Op]) -> list[Call]:
    """Bind each operation to ``book.submit`` or ``book.cancel`` (same shape for any book)."""
    submit, cancel = book.submit, book.cancel
    return [(submit, op[1:]) if op[0] == ADD else (cancel, op[1:]) for op in ops]


def _engine_config() -> Any:
    """8 symbols SYM0..SYM7, base ASSET0..ASSET7 against USDC, tick and lot 1, fees 0 / 5 bps.

    USDC is held in cents (engine decimals 2) and a base asset in whole tokens (engine decimals
    0), so one tick is $0.01 per token, one lot one token, and ``quote_per_tick_lot`` is 1.
    """
    from matcher.config import AssetConfig, MarketConfig, SymbolConfig

    assets = [AssetConfig(name="USDC", chain_decimals=6, engine_decimals=2)]
    assets += [AssetConfig(name=f"ASSET{i}", chain_decimals=18, engine_decimals=0) for i in range(SYMBOLS)]
    symbols = [
        SymbolConfig(
            name=f"SYM{i}",
            base=f"ASSET{i}",
            quote="USDC",
            tick_size=1,
            lot_size=1,
            maker_bps=0,
            taker_bps=5,
        )
        for i in range(SYMBOLS)
    ]
    return MarketConfig(assets=tuple(assets), symbols=tuple(symbols))


def _deposits() -> list[Any]:
    """Fund accounts 1..ACCOUNTS with plenty of USDC and of every base asset; seq from 1."""
    from matcher.commands import Deposit

    assets = [("USDC", QUOTE_FUNDING)] + [(f"ASSET{i}", BASE_FUNDING) for i in range(SYMBOLS)]
    deposits: list[Any] = []
    for account in range(1, ACCOUNTS + 1):
        for asset, amount in assets:
            seq = len(deposits) + 1
            ref = f"bench:{account}:{asset}"
            ts = ENGINE_EPOCH_NS
            deposits.append(Deposit.of(seq=seq, ts=ts, account=account, asset=asset, amount=amount, ref=ref))
    return deposits


def _engine_commands(stream: list[tuple[int, Op]], deposits: list[Any]) -> list[Any]:
    """Turn ``(symbol index, op)`` pairs into commands numbered on from the deposits.

    Commands are plain tuples in the schema of ``matcher.commands``, as the journal decodes them.
    The engine names an order by the seq of its ``PlaceOrder``, so each cancel is pointed at the
    seq where the stream placed that order.
    """
    from matcher.commands import CommandKind
    from matcher.enums import OrderType, Stp, TimeInForce

    limit, gtc, stp = int(OrderType.LIMIT), int(TimeInForce.GTC), int(Stp.EXPIRE_MAKER)
    place_kind, cancel = int(CommandKind.PLACE_ORDER), int(CommandKind.CANCEL_ORDER)
    # One str object per symbol, as a journal decoder hands them out (it stores a symbol index).
    names = [f"SYM{i}" for i in range(SYMBOLS)]
    placed: dict[int, tuple[int, int]] = {}  # stream order id -> (engine order id, account)
    commands: list[Any] = []
    seq = len(deposits)
    for symbol_index, op in stream:
        seq += 1
        ts = ENGINE_EPOCH_NS + seq * 1000
        symbol = names[symbol_index]
        if op[0] == ADD:
            _, order_id, account, side, price, qty = op
            placed[order_id] = (seq, account)
            place = (place_kind, seq, ts, account, symbol, side, limit, price, qty, gtc, False, stp, None, 0)
            commands.append(place)
        else:
            engine_id, account = placed.pop(op[1])
            commands.append((cancel, seq, ts, account, symbol, engine_id, None))
    return commands
