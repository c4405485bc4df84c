"""The WebSocket load generator of ``python -m bench api``: processes of asyncio clients, each
connection keeping ``window`` place frames in flight and timing each ack; and market data
subscribers that count what they receive (one of them may stall: it never reads)."""

from __future__ import annotations

import asyncio
import socket
import time
from multiprocessing import Queue
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def _trader(url: str, login: dict[str, Any] | None, frames: list[bytes], window: int,
                  until: float, latencies: list[float]) -> int:  # fmt: skip
    async with connect(url, max_queue=None) as ws:
        if login is not None:
            await ws.send(orjson.dumps(login).decode())
            assert orjson.loads(await ws.recv())["ok"]
        sent_at: dict[int, float] = {}
        acks = 0
        next_id = 1

        async def send_one() -> None:
            nonlocal next_id
            frame = frames[next_id % len(frames)].replace(b'"id":0', b'"id":%d' % next_id)
            sent_at[next_id] = time.perf_counter()
            next_id += 1
            await ws.send(frame.decode())

        for _ in range(window):
            await send_one()
        while time.monotonic() < until:
            reply = orjson.loads(await ws.recv())
            started = sent_at.pop(reply.get("id"), None)
            if started is None:
                continue  # a pushed frame
            latencies.append(time.perf_counter() - started)
            acks += 1
            await send_one()
        return acks


def trade(url: str, logins: list[dict[str, Any] | None], frames: list[bytes], window: int, seconds: float,
          out: Queue) -> None:  # fmt: skip
    """One process: a connection per login, for ``seconds``; puts (acks, latencies)."""
    latencies: list[float] = []

    async def main() -> list[int]:
        until = time.monotonic() + seconds
        return await asyncio.gather(
            *(_trader(url, login, frames, window, until, latencies) for login in logins)
        )

    acks = asyncio.run(main())
    out.put((sum(acks), latencies[:: max(1, len(latencies) // 20_000)]))


def subscribe(url: str, channels: list[str], count: int, seconds: float, out: Queue) -> None:
    """``count`` readers and one stalled socket on ``channels``; puts (frames per reader, the
    stalled socket's close code or None)."""

    async def reader(counts: list[int], slot: int) -> None:
        async with connect(url, max_queue=None) as ws:
            await ws.send(orjson.dumps({"op": "subscribe", "id": 1, "channels": channels}).decode())
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                try:
                    await asyncio.wait_for(ws.recv(), timeout=max(0.01, until - time.monotonic()))
                except TimeoutError:
                    break
                counts[slot] += 1

    async def stalled() -> int | None:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        async with connect(url, sock=sock, max_queue=1) as ws:
            for request in range(200):
                await ws.send(orjson.dumps({"op": "subscribe", "id": request, "channels": channels}).decode())
            await asyncio.sleep(seconds)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=5)
            except (ConnectionClosed, TimeoutError):
                return ws.close_code

    async def main() -> tuple[list[int], int | None]:
        counts = [0] * count
        results = await asyncio.gather(stalled(), *(reader(counts, i) for i in range(count)))
        return counts, results[0]

    out.put(asyncio.run(main()))
