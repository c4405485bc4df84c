"""Market data on /v1/ws through a real uvicorn server: a book kept from a snapshot and diffs
equals the engine's after random order flow, with frames dropped at random and resynced from the
version gaps (RELIABILITY #11); a reader that stops reading is disconnected with a reason while
order acks go on (the slow-consumer rule)."""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import time
from decimal import Decimal
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from api.outbox import SLOW_CONSUMER, Outbox
from api.wire import Units
from api.wslimits import WsLimits
from bluebook.server import ApiServer, ApiSettings
from tests.api_support import CONFIG, GENEROUS, SYMBOL, funded_client, start_server
from tests.ws_support import LocalBook, WsClient

CHANNEL = f"book.{SYMBOL}"


def engine_book(server: ApiServer) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """The engine's book of ``SYMBOL`` as decimals, the way a client's book holds it."""
    assert server.node is not None
    bids, asks = server.node.read(lambda engine: engine.book(SYMBOL).depth(10_000)).result(10)
    units = Units(CONFIG)
    return tuple(  # type: ignore[return-value]
        {Decimal(units.price_text(SYMBOL, p)): Decimal(units.qty_text(SYMBOL, q)) for p, q in levels}
        for levels in (bids, asks)
    )


def random_actions(rng: random.Random, count: int) -> list[dict[str, object]]:
    actions: list[dict[str, object]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            actions.append({"action": "cancel_all", "symbol": SYMBOL})
        else:
            side = rng.choice(["buy", "sell"])
            price = 250 + rng.randint(-8, 8) + (-1 if side == "buy" else 1) * rng.randint(0, 3)
            tif = "IOC" if roll > 0.85 else "GTC"
            actions.append({"action": "place", "symbol": SYMBOL, "side": side, "price": str(price),
                            "qty": str(rng.randint(1, 30) / 10), "time_in_force": tif})  # fmt: skip
    return actions


def test_client_book_equals_the_engine_after_random_flow_and_dropped_frames(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        traders = [funded_client(server, f"0x{n:040x}") for n in (0xA1, 0xB2)]
        writers = [WsClient(server.url) for _ in traders]
        for ws, client in zip(writers, traders, strict=True):
            ws.login(client)
        runs, equal, gaps, frames = 5, 0, 0, 0
        rng = random.Random(11)
        for _ in range(runs):
            reader = WsClient(server.url)
            reader.ok("subscribe", channels=[CHANNEL])
            book = LocalBook()
            for _ in range(20):
                for ws in writers:
                    ws.ok("batch", actions=random_actions(rng, 20))
                while True:  # read what has arrived; drop a tenth of the diffs at random
                    try:
                        frame = reader.receive(timeout=0.05)
                    except TimeoutError:
                        break
                    if frame.get("channel") != CHANNEL:
                        continue
                    frames += 1
                    if frame["type"] == "diff" and rng.random() < 0.1:
                        continue
                    if not book.apply(frame):
                        reader.send("subscribe", channels=[CHANNEL])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    frame = reader.receive(timeout=0.3)
                except TimeoutError:
                    break
                if frame.get("channel") == CHANNEL and not book.apply(frame):
                    reader.send("subscribe", channels=[CHANNEL])
            bids, asks = engine_book(server)
            equal += (book.bids, book.asks) == (bids, asks) and book.version >= 0
            gaps += book.gaps
            reader.close()
        print(
            f"\n{runs} runs, {frames} book frames, {gaps} gaps detected and resynced; "
            f"client book equals the engine's in {equal}/{runs} runs"
        )
        assert equal == runs and gaps > 0
    finally:
        server.stop()


def test_a_reader_that_stops_reading_is_dropped_and_acks_go_on(tmp_path: Path) -> None:
    settings = ApiSettings(port=0, dev=True, rate_limits=GENEROUS, snapshot_every_s=3_600,
                           ws=WsLimits(max_queued=200))  # fmt: skip
    server = ApiServer(CONFIG, tmp_path, settings)
    server.start()
    try:
        maker = funded_client(server, "0x" + "a1" * 20)
        trader = WsClient(server.url)
        trader.login(maker)
        for start in range(0, 600, 100):  # a deep book makes a big snapshot
            trader.ok("batch", actions=[{"action": "place", "symbol": SYMBOL, "side": "buy",
                                         "price": str(100 + (start + i) / 100), "qty": "1"}
                                        for i in range(100)])  # fmt: skip

        def ack_latencies(count: int) -> list[float]:
            took = []
            for i in range(count):
                started = time.perf_counter()
                trader.ok("place", args={"symbol": SYMBOL, "side": "sell", "price": str(300 + i % 50),
                                         "qty": "0.1", "time_in_force": "GTC"})  # fmt: skip
                took.append((time.perf_counter() - started) * 1000)
            return took

        before = ack_latencies(200)
        tight = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        tight.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # No keepalive pings from this client: it reads megabytes of snapshots before the server's
        # close, and a pong queued behind them would time its ping out first.
        slow = WsClient(server.url, sock=tight, max_queue=1, ping_interval=None)
        for _ in range(400):  # ask for snapshots, read nothing
            slow.send("subscribe", channels=[f"book.{SYMBOL}"])
        during = ack_latencies(200)
        with_reason = None
        try:
            while True:
                slow.receive(timeout=10)
        except ConnectionClosed as closed:
            with_reason = closed.rcvd
        print(
            f"\nslow reader closed with {with_reason}; ack latency p50/p99 ms before "
            f"{statistics.median(before):.2f}/{sorted(before)[197]:.2f}, while it lagged "
            f"{statistics.median(during):.2f}/{sorted(during)[197]:.2f}"
        )
        # Dropped by the server: 4008 when its queue for this reader overflows. Without compression
        # the snapshots fill the socket's buffers first, writes stall and the server stops reading
        # this socket's requests, so the queue may never reach its limit; then uvicorn's keepalive
        # (its ping unanswered behind megabytes) drops it: 1011. The overflow itself is
        # test_an_outbox_past_its_limit_closes_for_a_slow_consumer's.
        assert with_reason is not None and (with_reason.code, "slow consumer" in with_reason.reason) in {
            (4008, True), (1011, False)}, with_reason  # fmt: skip
    finally:
        server.stop()


def test_an_outbox_past_its_limit_closes_for_a_slow_consumer() -> None:
    """Frames past the limit: the outbox drops what waits, refuses more, and its writer gets the
    4008 close, whatever the socket does."""
    outbox = Outbox(render_diff=lambda diff: b"", limit=3)
    for n in range(3):
        outbox.put(b"frame %d" % n)
    assert outbox.closed is None and len(outbox) == 3
    outbox.put(b"one too many")
    assert outbox.closed == (SLOW_CONSUMER, "slow consumer: more than 3 frames queued")
    outbox.put(b"after the close")
    assert asyncio.run(outbox.get()) is None  # the writer closes the socket with the code
