"""A small synchronous client of bluebook's public API, for bots that run beside it (``bluebook
demo-mm``): REST reads, public or signed with an HMAC key, and a WebSocket session logged in with
that key. It keeps no state a reconnect could lose: a dropped session is opened again from
scratch. One ``WsSession`` per thread.

Every failure to reach the server, or a connection it dropped, is ``ApiUnavailable`` (try again
later); an answer that refuses the request is ``Refused`` with the API's ``{code, msg}``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from api.signing import SIGNATURE_HEADER, sign_request


class ApiUnavailable(Exception):
    """The server could not be reached, did not answer in time, or dropped the connection."""


class Refused(Exception):
    """The server answered the request with an error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('msg')}")
        self.error = error


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RestClient:
    def __init__(self, url: str, key: str = "", secret: str = "", timeout_s: float = 10.0) -> None:
        self.url, self.key, self.secret, self.timeout_s = url.rstrip("/"), key, secret, timeout_s

    def get(self, target: str, *, signed: bool = False) -> Any:
        """GET ``target`` (path and query), signed with the key when ``signed``."""
        headers = {}
        if signed:
            headers = sign_request(self.key, "GET", target, b"", now_ms=_now_ms(), secret=self.secret)
        request = urllib.request.Request(self.url + target, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            if error.code >= 500 or error.code == 429:
                raise ApiUnavailable(f"GET {target}: HTTP {error.code}") from None
            raise Refused(json.loads(body) if body.startswith(b"{") else {"msg": body.decode()}) from None
        except (OSError, ValueError) as error:  # URLError, resets and timeouts are OSErrors
            raise ApiUnavailable(f"GET {target}: {error}") from None


class WsSession:
    """One WebSocket session on ``/v1/ws``, logged in with an API key. Requests are answered in
    the order sent (one at a time here); pushed frames (``channel``) are read and dropped, so the
    server never sees a slow reader."""

    def __init__(self, url: str, key: str, secret: str, *, cancel_on_disconnect: bool,
                 heartbeat_s: int = 10, timeout_s: float = 10.0) -> None:  # fmt: skip
        self.url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + "/v1/ws"
        self.key, self.secret = key, secret
        self.cancel_on_disconnect, self.heartbeat_s = cancel_on_disconnect, heartbeat_s
        self.timeout_s = timeout_s
        self.ids = itertools.count(1)
        self.socket: ClientConnection | None = None

    def open(self) -> dict[str, Any]:
        """Connect and log in; the login's result (``account_id``, ``session_id``, ...)."""
        try:
            self.socket = connect(self.url, open_timeout=self.timeout_s, close_timeout=1)
        except (WebSocketException, OSError) as error:
            raise ApiUnavailable(f"connect {self.url}: {error}") from None
        ts = _now_ms()
        signed = sign_request(self.key, "GET", "/v1/ws", b"", now_ms=ts, secret=self.secret)
        result: dict[str, Any] = self.request(
            "login", key=self.key, timestamp=ts, signature=signed[SIGNATURE_HEADER],
            cancel_on_disconnect=self.cancel_on_disconnect, heartbeat_s=self.heartbeat_s,
        )  # fmt: skip
        return result

    def request(self, op: str, **fields: Any) -> Any:
        """Send one request and return its result once answered; ``Refused`` if it was refused."""
        request_id = next(self.ids)
        self._send({"op": op, "id": request_id, **fields})
        deadline = time.monotonic() + self.timeout_s
        while True:
            frame = self._receive(deadline - time.monotonic())
            if frame is not None and frame.get("id") == request_id and "channel" not in frame:
                if not frame.get("ok"):
                    raise Refused(frame.get("error") or {})
                return frame.get("result")
            if time.monotonic() >= deadline:
                raise ApiUnavailable(f"no answer to {op} in {self.timeout_s:g} s")

    def idle(self, seconds: float, stop: threading.Event) -> None:
        """Read and drop pushed frames for ``seconds`` (or until ``stop``), noticing a drop."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self._receive(min(left, 0.25))

    def close(self) -> None:
        """Log out (the server cancels the orders if the session opted in), then close."""
        if self.socket is None:
            return
        with contextlib.suppress(ApiUnavailable, Refused):
            self.request("logout")
        self.socket.close()
        self.socket = None

    def _send(self, frame: dict[str, Any]) -> None:
        if self.socket is None:
            raise ApiUnavailable("not connected")
        try:
            self.socket.send(json.dumps(frame))
        except (WebSocketException, OSError) as error:
            raise ApiUnavailable(f"send: {error}") from None

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The next frame, or None if none came within ``timeout``."""
        if self.socket is None:
            raise ApiUnavailable("not connected")
        try:
            frame: dict[str, Any] = json.loads(self.socket.recv(max(timeout, 0)))
        except TimeoutError:
            return None
        except (WebSocketException, OSError, ValueError) as error:
            raise ApiUnavailable(f"receive: {error}") from None
        return frame
