"""Helpers for the WebSocket tests: a client on a real server's ``/v1/ws`` that signs its login,
and a local book kept from ``book.<SYMBOL>`` frames the way a client should keep one."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

from api.signing import sign_request
from tests.api_support import Client, now_ms


class WsClient:
    def __init__(self, url: str, **options: Any) -> None:
        self.socket: ClientConnection = connect(url.replace("http://", "ws://") + "/v1/ws", **options)
        self.ids = itertools.count(1)
        #: Pushed frames (those with a ``channel``) seen while waiting for responses.
        self.pushed: list[dict[str, Any]] = []

    def send(self, op: str, **fields: Any) -> int:
        request_id = next(self.ids)
        self.socket.send(orjson.dumps({"op": op, "id": request_id, **fields}).decode())
        return request_id

    def receive(self, timeout: float = 10) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(self.socket.recv(timeout))
        return frame

    def response(self, request_id: int, timeout: float = 10) -> dict[str, Any]:
        while True:
            frame = self.receive(timeout)
            if frame.get("id") == request_id and "channel" not in frame:
                return frame
            self.pushed.append(frame)

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.response(self.send(op, **fields))

    def ok(self, op: str, **fields: Any) -> Any:
        answer = self.call(op, **fields)
        assert answer["ok"], answer
        return answer["result"]

    def login(self, client: Client, **options: Any) -> dict[str, Any]:
        ts = now_ms()
        headers = sign_request(client.key, "GET", "/v1/ws", b"", now_ms=ts, secret=client.secret)
        return self.ok("login", key=client.key, timestamp=ts, recv_window=5000,
                       signature=headers["BB-SIGNATURE"], **options)  # fmt: skip

    def close(self) -> None:
        self.socket.close()


class LocalBook:
    """One symbol's book from a snapshot and diffs; ``stale`` after a gap until resubscribed."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.version = -1
        self.gaps = 0

    def apply(self, frame: dict[str, Any]) -> bool:
        """Take one book frame; False when it shows a gap (the caller resubscribes)."""
        if frame["type"] == "snapshot":
            self.bids = {Decimal(p): Decimal(q) for p, q in frame["bids"]}
            self.asks = {Decimal(p): Decimal(q) for p, q in frame["asks"]}
            self.version = frame["version"]
            return True
        if self.version < 0 or frame["last"] <= self.version:
            return True  # before the snapshot, or already in it
        if frame["first"] != self.version + 1:
            self.gaps += 1
            self.version = -1
            return False
        for levels, changes in ((self.bids, frame["bids"]), (self.asks, frame["asks"])):
            for price, qty in changes:
                if Decimal(qty):
                    levels[Decimal(price)] = Decimal(qty)
                else:
                    levels.pop(Decimal(price), None)
        self.version = frame["last"]
        return True
