"""The WebSocket load generator of ``python -m bench api``: processes of asyncio clients (the
``websockets`` library; the traders on uvloop), each connection keeping ``window`` place frames
in flight and timing each answer; and market data subscribers that count what they receive, with
one socket that never reads."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from multiprocessing import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from api.wslimits import WsLimits

#: Frames the stalled socket leaves in its outbox, 200 under the limit (``api.wslimits``): the
#: trades flowing push it over.
STALLED_QUEUE = WsLimits().max_queued - 200


async def _trader(url: str, login: dict[str, Any] | None, frame: bytes, window: int, until: float,
                  latencies: list[float]) -> tuple[int, int]:  # fmt: skip
    """Acks (``ok: true``) and refusals of one connection sending ``frame`` until ``until``."""
    async with connect(url, max_queue=None) as ws:
        if login is not None:
            await ws.send(orjson.dumps(login).decode())
            assert orjson.loads(await ws.recv())["ok"]
        sent_at: dict[int, float] = {}
        acks = refused = 0
        next_id = 1

        async def send_one() -> None:
            nonlocal next_id
            sent_at[next_id] = time.perf_counter()
            await ws.send(frame.replace(b'"id":0', b'"id":%d' % next_id).decode())
            next_id += 1

        for _ in range(window):
            await send_one()
        while time.monotonic() < until:
            reply = orjson.loads(await ws.recv())
            started = sent_at.pop(reply.get("id"), None)
            if started is None:
                continue  # a pushed frame
            if reply.get("ok") is True:
                latencies.append(time.perf_counter() - started)
                acks += 1
            else:
                refused += 1
            await send_one()
        return acks, refused


def trade(url: str, connections: list[tuple[dict[str, Any] | None, bytes]], window: int, seconds: float,
          out: Queue) -> None:  # fmt: skip
    """One process: a connection per (login or None, place frame), for ``seconds``; puts (acks,
    refusals, a sample of at most 20,000 ack latencies in seconds)."""
    latencies: list[float] = []

    async def main() -> list[tuple[int, int]]:
        until = time.monotonic() + seconds
        return await asyncio.gather(
            *(_trader(url, login, frame, window, until, latencies) for login, frame in connections)
        )

    counts = uvloop.run(main())  # the lightest loop: the generator must not be the bottleneck
    out.put(
        (sum(a for a, _ in counts), sum(r for _, r in counts), latencies[:: max(1, len(latencies) // 20_000)])
    )


def subscribe(url: str, channels: list[str], count: int, stall: Event, stop: Event, out: Queue) -> None:
    """``count`` readers of ``channels``, reading everything; puts "ready" once each is subscribed.
    When ``stall`` is set, one more socket that never reads (``_stalled``) until ``stop``; puts
    "stalled" two seconds after its requests are sent. After ``stop``: (frames
    each reader got, close codes the server sent readers before ``stop``, the stalled socket's
    close code, reason and the frames it got once it has read what was queued: (None, "", frames)
    if the server never closed it)."""

    async def reader(ws: ClientConnection, counts: list[int], slot: int) -> int | None:
        try:
            async for _ in ws:
                counts[slot] += 1
        except ConnectionClosed:
            pass
        return ws.close_code

    async def main() -> tuple[list[int], list[int], tuple[int | None, str, int]]:
        loop = asyncio.get_running_loop()
        counts = [0] * count
        sockets = [await connect(url, max_queue=None) for _ in range(count)]
        request = orjson.dumps({"op": "subscribe", "id": 0, "channels": channels}).decode()
        for ws in sockets:
            await ws.send(request)
            assert orjson.loads(await ws.recv())["ok"]
        readers = [asyncio.ensure_future(reader(ws, counts, slot)) for slot, ws in enumerate(sockets)]
        out.put("ready")
        await loop.run_in_executor(None, stall.wait)
        slow = await loop.run_in_executor(None, _stalled, url, channels)
        await asyncio.sleep(2)  # the server renders the snapshots now, not in the measurement
        out.put("stalled")
        await loop.run_in_executor(None, stop.wait)
        closes = [task.result() for task in readers if task.done()]
        await asyncio.gather(*(ws.close() for ws in sockets))
        await asyncio.gather(*readers)
        return counts, [code for code in closes if code is not None], _drained(*slow)

    out.put(asyncio.run(main()))


def _stalled(url: str, channels: list[str]) -> tuple[socket.socket, ClientProtocol]:
    """A blocking socket with a 4 KiB receive buffer, handshaken by the sans-I/O protocol (no client
    buffer takes frames off it), that subscribes to ``channels`` but the first, then to the first
    again and again (each time a reply and a snapshot), paced so that the server's writer keeps
    up, until the server's kernel send buffer is full (it autotunes up to tcp_wmem; its size is
    read from /proc/net/tcp, as this runs on the same host), then ``STALLED_QUEUE / 2`` times
    more, which stay in its outbox. It then reads nothing."""
    uri = parse_uri(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((uri.host, uri.port))
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        protocol.receive_data(sock.recv(4096))
    assert protocol.handshake_exc is None, protocol.handshake_exc
    protocol.events_received()  # the handshake's response
    book, *others = channels
    protocol.send_text(orjson.dumps({"op": "subscribe", "id": -1, "channels": others}))
    ids = itertools.count()

    def subscribe(times: int) -> None:
        for _ in range(times):
            protocol.send_text(orjson.dumps({"op": "subscribe", "id": next(ids), "channels": [book]}))
        sock.sendall(b"".join(protocol.data_to_send()))
        time.sleep(0.1)

    queued, still = 0, 0
    while still < 4:  # 4 x 50 frames that the kernel did not take: they wait in the outbox
        subscribe(25)
        queued, before = _server_send_queue(uri.port, sock.getsockname()[1]), queued
        still = still + 1 if queued <= before else 0
    for _ in range((STALLED_QUEUE - 200) // 200):
        subscribe(100)  # 200 frames at a time: the requests themselves never overflow the outbox
    return sock, protocol


def _server_send_queue(server_port: int, client_port: int) -> int:
    """Bytes the kernel holds unsent on the server's side of a local connection."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[0], 16)
    return 0


def _drained(sock: socket.socket, protocol: ClientProtocol) -> tuple[int | None, str, int]:
    """Read what the server queued for the stalled socket: the code and reason of its close frame
    (None, "" if none came before 5 s of silence or the end of the stream; None, "reset" if the
    server reset it) and how many text frames came before."""
    sock.settimeout(5)
    frames = 0
    try:
        while data := sock.recv(65_536):
            protocol.receive_data(data)
            for event in protocol.events_received():
                if event.opcode is Opcode.CLOSE:
                    close = Close.parse(event.data)
                    return close.code, close.reason, frames
                frames += event.opcode is Opcode.TEXT
    except TimeoutError:
        pass
    except ConnectionResetError:
        return None, "reset", frames
    finally:
        sock.close()
    return None, "", frames
