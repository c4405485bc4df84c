"""The bare ASGI app ``python -m bench api`` compares with: no framework, no auth checks, no
engine, no journal. It parses what the real routes parse (the JSON body, the four BB-* headers,
each WebSocket frame) and answers a same-shaped acknowledgement. Run: ``python -m bench.bare PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import uvicorn

SIGNED = (b"bb-key", b"bb-timestamp", b"bb-recv-window", b"bb-signature")


def acknowledge(fields: dict[str, Any], seq: int) -> bytes:
    return orjson.dumps({"duplicate": False, "order": {
        "order_id": seq, "client_order_id": fields.get("client_order_id"), "symbol": fields.get("symbol"),
        "side": fields.get("side"), "price": fields.get("price"), "qty": fields.get("qty"), "filled": "0",
        "leaves": fields.get("qty"), "status": "new", "time_in_force": "GTC", "type": "limit",
        "post_only": False, "time": 0}, "fills": []})  # fmt: skip


class Bare:
    def __init__(self) -> None:
        self.seq = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(receive, send)

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {name: value for name, value in scope["headers"] if name in SIGNED}
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.seq += 1
        answer = acknowledge(orjson.loads(body) if body else {}, self.seq) if len(headers) >= 3 else b"{}"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})

    async def websocket(self, receive: Any, send: Any) -> None:
        await receive()  # connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            frame = orjson.loads(message.get("text") or message.get("bytes"))
            self.seq += 1
            ack = orjson.loads(acknowledge(frame.get("args") or {}, self.seq))
            reply = {"id": frame.get("id"), "ok": True, "result": ack}
            await send({"type": "websocket.send", "text": orjson.dumps(reply).decode()})


if __name__ == "__main__":
    uvicorn.run(
        Bare(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        ws_per_message_deflate=False,
    )  # as the real server runs
