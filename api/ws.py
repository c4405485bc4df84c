"""The WebSocket endpoint, ``/v1/ws``: public market data, and once logged in, order entry, the
user stream and market-maker session controls. JSON text frames; README "WebSocket" lists them.

- Requests are ``{"op": ..., "id": ...}`` objects; each gets ``{"id", "ok": true, "result"}``
  or ``{"id", "ok": false, "error": {"code", "msg"}}`` with the REST error codes. Pushed frames
  carry ``channel`` instead of ``id``.
- Order frames reach the engine in the order they arrive (``api.entry``) and are answered after
  the journal commit, possibly out of order when pipelined; ``id`` matches them up.
- Login: ``key``, ``timestamp``, optional ``recv_window`` and ``signature``, signed as a REST
  request ``GET /v1/ws`` with an empty body (``api.signing``); the key needs the read scope, and
  order frames the trade scope. The account's user stream (``api.userstream``) comes only to a
  session that subscribes to the ``user`` channel: a session that only enters orders is sent
  only its answers, not every change of every session of its account. ``cancel_on_disconnect``
  opts the session in (``api.guarded``), ``heartbeat_s`` sets how long it may stay silent before
  it is dropped (``ping`` refreshes it, and so does any frame). ``cancel_all_after`` arms a
  dead-man timer: unless the client sends it again within that many seconds, the account's
  orders are cancelled; 0 disarms it.
- A connection never blocks the engine or another connection: everything it is sent goes through
  its bounded ``api.outbox``; one writer task drains it; a slow reader is closed with 4008.
- Close codes: 1000 after ``logout``, 4001 heartbeat timeout, 4008 slow consumer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket

from api.context import Services, acks_of
from api.credentials import Credential, Scope
from api.entry import BUILDERS, execute_batch, with_original
from api.errors import ApiError, ErrorCode
from api.feed import MarketFeed
from api.guarded import GuardedSessions
from api.marketdata import Acks
from api.orders import outcome, parse_body
from api.outbox import Outbox
from api.ratelimit import ALLOWED
from api.signing import (
    KEY_HEADER,
    RECV_WINDOW_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    authenticate,
)
from api.userstream import UserStreams

log = logging.getLogger(__name__)

PATH = "/v1/ws"
HEARTBEAT_TIMEOUT = 4001
LOGOUT = 1000
ORDER_OPS = frozenset(BUILDERS)
TRADE_OPS = frozenset({"batch", "cancel_all_after"})
#: The private channel: the logged-in account's orders, fills, balances and settlement.
USER = "user"


class Gateway:
    """What every connection shares: the market feed, the user streams, guarded sessions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.feed = MarketFeed(services)
        self.users = UserStreams(services)
        self.guarded = GuardedSessions(services)
        self.router = APIRouter()
        self.router.add_api_websocket_route(PATH, self.serve)

    async def start(self) -> None:
        """On the loop, before serving: the user streams' node listener; the restart rule."""
        self.users.attach()
        await self.guarded.recover()

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await Connection(self, websocket).run()


class Connection:
    def __init__(self, gateway: Gateway, websocket: WebSocket) -> None:
        self.gateway = gateway
        self.services = gateway.services
        self.limits = gateway.services.ws
        self.websocket = websocket
        self.ip = websocket.client.host if websocket.client is not None else ""
        self.outbox = Outbox(gateway.feed.render_diff, self.limits.max_queued)
        self.channels: set[str] = set()
        self.key: Credential | None = None
        self.session_id = ""
        self.guarded = False
        self.heartbeat_s = self.limits.heartbeat_s
        self.last_seen = time.monotonic()
        self.dead_man: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        #: Order frames submitted and not yet answered (``answer_order``).
        self.orders_in_flight = 0
        #: Frames that arrived while a login was being checked, handled once it is answered, so a
        #: client may send its login and its first orders together.
        self.after_login: list[str | bytes] | None = None
        self.ops: dict[str, Callable[[Any, dict[str, Any]], Awaitable[Any] | Any]] = {
            "ping": self.ping, "subscribe": self.subscribe, "unsubscribe": self.unsubscribe,
            "login": self.login, "batch": self.batch, "cancel_all_after": self.cancel_all_after,
            "logout": self.logout,
        }  # fmt: skip

    async def run(self) -> None:
        reader = asyncio.ensure_future(self.read())
        writer = asyncio.ensure_future(self.write())
        watchdog = asyncio.ensure_future(self.watch())
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer, watchdog):
                task.cancel()
            await self.end()

    # ------------------------------------------------------------------------- the socket

    async def read(self) -> None:
        receive = self.websocket.receive
        while self.outbox.closed is None:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            self.last_seen = time.monotonic()
            data = message.get("text")
            self.handle(data if data is not None else message.get("bytes") or b"")

    async def write(self) -> None:
        send = self.websocket.send
        get = self.outbox.get
        while (frame := await get()) is not None:
            await send({"type": "websocket.send", "text": frame.decode()})
        code, reason = self.outbox.closed or (LOGOUT, "")
        await self.websocket.close(code, reason)

    async def watch(self) -> None:
        """Drop a logged-in session silent past its heartbeat timeout."""
        while True:
            await asyncio.sleep(min(self.heartbeat_s / 4, 1.0))
            if self.key is not None and time.monotonic() - self.last_seen > self.heartbeat_s:
                self.outbox.close(HEARTBEAT_TIMEOUT, f"heartbeat timeout: silent over {self.heartbeat_s:g} s",
                                  flush=False)  # fmt: skip
                return

    async def end(self) -> None:
        """Leave every channel; cancel the account's orders if the session is guarded."""
        self.outbox.close(LOGOUT, "", flush=False)
        for channel in self.channels:
            if channel == USER:
                assert self.key is not None
                self.gateway.users.remove(self.key.account_id, self.outbox)
            else:
                self.gateway.feed.unsubscribe(self.outbox, channel)
        if self.dead_man is not None:
            self.dead_man.cancel()
        if self.key is not None and self.guarded:
            await self.gateway.guarded.end(self.session_id, self.key.account_id, cancel=True)

    # ------------------------------------------------------------------------- requests

    def reply(self, request_id: Any, result: Any) -> None:
        self.outbox.put(orjson.dumps({"id": request_id, "ok": True, "result": result}))

    def refuse(self, request_id: Any, error: ApiError) -> None:
        self.outbox.put(orjson.dumps({"id": request_id, "ok": False, "error": error.body()}))

    def handle(self, data: str | bytes) -> None:
        """Parse one frame and start it; nothing here waits."""
        if self.after_login is not None:
            self.after_login.append(data)
            return
        request_id = None
        try:
            if len(data) > self.limits.max_frame_bytes:
                raise ApiError(ErrorCode.BODY_MALFORMED, "frame too large")
            frame = parse_body(data)
            request_id = frame.get("id")
            op = frame.get("op")
            if op in ORDER_OPS:
                self.order(request_id, op, frame)
                return
            handler = self.ops.get(op) if isinstance(op, str) else None
            if handler is None:
                raise ApiError(ErrorCode.INVALID_PARAMETER, "unknown op")
            if op in TRADE_OPS:
                self.trader()
            elif op == "logout" and self.key is None:
                raise ApiError(ErrorCode.AUTH_HEADER_MISSING, "log in first")
            result = handler(request_id, frame)
            if op == "login" and asyncio.iscoroutine(result):
                self.after_login = []
                self.spawn(self.login_then_resume(request_id, result))
            elif asyncio.iscoroutine(result):
                self.start(request_id, result)
            elif result is not None:  # None: the handler replied itself
                self.reply(request_id, result)
        except ApiError as error:
            self.refuse(request_id, error)
        except Exception:  # a bug: logged, answered, and the connection goes on
            log.exception("ws: a frame failed")
            self.refuse(request_id, ApiError(ErrorCode.INTERNAL_ERROR))

    def start(self, request_id: Any, work: Awaitable[Any]) -> None:
        """Answer ``work`` when it is done; it starts now, so requests keep their order."""
        self.check_in_flight()
        self.spawn(self.answer(request_id, work))

    def check_in_flight(self) -> None:
        if len(self.tasks) + self.orders_in_flight >= self.limits.max_in_flight:
            raise ApiError(ErrorCode.RATE_LIMITED, "too many requests in flight on this connection")

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def login_then_resume(self, request_id: Any, login: Awaitable[Any]) -> None:
        """Answer the login, then handle the frames that came in meanwhile, in order."""
        try:
            await self.answer(request_id, login)
        finally:
            waiting, self.after_login = self.after_login or [], None
            for data in waiting:
                self.handle(data)

    async def answer(self, request_id: Any, work: Awaitable[Any]) -> None:
        try:
            self.reply(request_id, await work)
        except ApiError as error:
            self.refuse(request_id, error)
        except Exception:
            log.exception("ws: a request failed")
            self.refuse(request_id, ApiError(ErrorCode.INTERNAL_ERROR))

    def trader(self) -> Credential:
        """The logged-in key, allowed to trade; else the error."""
        if self.key is None:
            raise ApiError(ErrorCode.AUTH_HEADER_MISSING, "log in first")
        if Scope.TRADE not in self.key.scopes:
            raise ApiError(ErrorCode.SCOPE_MISSING, "this request needs the trade scope")
        self.services.limiter.check(f"WS {PATH}", self.ip, self.key.key_id).raise_if_refused()
        return self.key

    def order(self, request_id: Any, op: str, frame: dict[str, Any]) -> None:
        """Submit an order frame's command now (frames reach the engine in arrival order) and
        answer it from a callback once it is durable: no task per order."""
        key = self.trader()
        fields = frame.get("args", {})
        if not isinstance(fields, dict):
            raise ApiError(ErrorCode.INVALID_PARAMETER, "args must be an object")
        command = BUILDERS[op](self.services.units, key.account_id, fields)
        self.check_in_flight()
        self.orders_in_flight += 1
        self.services.submit([command]).add_done_callback(partial(self.answer_order, request_id, command))

    def answer_order(self, request_id: Any, command: tuple[Any, ...], done: asyncio.Future[Acks]) -> None:
        self.orders_in_flight -= 1
        try:
            [(stamped, events)] = acks_of(done)
            result = outcome(self.services.units, stamped, events)
        except ApiError as error:
            self.refuse(request_id, error)
            return
        except Exception:
            log.exception("ws: an order failed")
            self.refuse(request_id, ApiError(ErrorCode.INTERNAL_ERROR))
            return
        if result.get("duplicate"):  # rare: the original order is read from the engine first
            self.spawn(self.answer(request_id, with_original(self.services, command, result)))
        else:
            self.reply(request_id, result)

    # ------------------------------------------------------------------------------ ops

    def ping(self, _: Any, frame: dict[str, Any]) -> dict[str, int]:
        return {"time": self.services.clock_ms()}

    def subscribe(self, request_id: Any, frame: dict[str, Any]) -> None:
        names = [self.checked(name) for name in _channels(frame)]
        if len(self.channels | set(names)) > self.limits.max_channels:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"at most {self.limits.max_channels} channels")
        self.reply(request_id, {"channels": names})
        for name in names:
            if name != USER:  # again: a fresh snapshot, the resync after a gap
                self.gateway.feed.subscribe(self.outbox, name)
            elif name not in self.channels:
                assert self.key is not None
                self.gateway.users.add(self.key.account_id, self.outbox)
            self.channels.add(name)

    def unsubscribe(self, request_id: Any, frame: dict[str, Any]) -> None:
        names = [self.checked(name) for name in _channels(frame)]
        for name in names:
            if name not in self.channels:
                continue
            self.channels.discard(name)
            if name == USER:
                assert self.key is not None
                self.gateway.users.remove(self.key.account_id, self.outbox)
            else:
                self.gateway.feed.unsubscribe(self.outbox, name)
        self.reply(request_id, {"channels": names})

    def checked(self, channel: object) -> str:
        """A market data channel's name, or ``user`` once logged in; else the error."""
        if channel != USER:
            return self.gateway.feed.check(channel)
        if self.key is None:
            raise ApiError(ErrorCode.AUTH_HEADER_MISSING, "log in first: the user channel is private")
        return USER

    async def login(self, _: Any, frame: dict[str, Any]) -> dict[str, Any]:
        if self.key is not None:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "already logged in")
        fields = {KEY_HEADER: "key", TIMESTAMP_HEADER: "timestamp", RECV_WINDOW_HEADER: "recv_window",
                  SIGNATURE_HEADER: "signature"}  # fmt: skip
        headers = {name: str(frame[field]) for name, field in fields.items() if frame.get(field) is not None}
        guarded = frame.get("cancel_on_disconnect", False)
        heartbeat = frame.get("heartbeat_s", self.limits.heartbeat_s)
        if type(guarded) is not bool:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "cancel_on_disconnect must be true or false")
        if not isinstance(heartbeat, int | float) or not 1 <= heartbeat <= self.limits.max_heartbeat_s:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "heartbeat_s must be 1 to 300")
        (self.services.limiter.banned(self.ip) or ALLOWED).raise_if_refused()  # before any lookup
        try:
            key = authenticate(headers, "GET", PATH, b"", now_ms=self.services.clock_ms(),
                               lookup=self.services.keys.lookup, client_ip=self.ip,
                               scope=Scope.READ)  # fmt: skip
        except ApiError:
            self.services.limiter.check(f"WS {PATH}", self.ip).raise_if_refused()
            raise
        session_id = secrets.token_hex(8)
        if guarded:
            await self.gateway.guarded.open(session_id, key.account_id, key.key_id)
        self.key, self.session_id, self.guarded, self.heartbeat_s = key, session_id, guarded, float(heartbeat)
        return {"account_id": key.account_id, "session_id": session_id, "cancel_on_disconnect": guarded,
                "heartbeat_s": heartbeat, "scopes": sorted(scope.value for scope in key.scopes)}  # fmt: skip

    def batch(self, request_id: Any, frame: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        assert self.key is not None
        return execute_batch(self.services, self.key.account_id, frame.get("actions"))

    def cancel_all_after(self, _: Any, frame: dict[str, Any]) -> dict[str, Any]:
        """Arm, re-arm (refresh) or disarm (0) the dead-man timer."""
        seconds = frame.get("seconds")
        if not isinstance(seconds, int | float) or not 0 <= seconds <= self.limits.max_cancel_all_after_s:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "seconds must be 0 to 3600")
        if self.dead_man is not None:
            self.dead_man.cancel()
            self.dead_man = None
        if not seconds:
            return {"seconds": 0, "deadline": None}
        loop = asyncio.get_running_loop()
        self.dead_man = loop.call_later(seconds, self.dead_man_fires)
        return {"seconds": seconds, "deadline": self.services.clock_ms() + int(seconds * 1000)}

    def dead_man_fires(self) -> None:
        assert self.key is not None
        self.dead_man = None

        async def cancel(account: int) -> None:
            cancelled = await self.gateway.guarded.cancel_all(account)
            self.outbox.put(orjson.dumps({"channel": "user", "type": "dead_man", "cancelled": cancelled}))

        self.spawn(cancel(self.key.account_id))

    async def logout(self, _: Any, frame: dict[str, Any]) -> dict[str, Any]:
        """End the session gracefully: its orders are cancelled only if it opted in and this
        frame does not say ``cancel_orders: false``; then the socket closes with 1000."""
        assert self.key is not None
        cancel = frame.get("cancel_orders", self.guarded)
        if type(cancel) is not bool:
            raise ApiError(ErrorCode.INVALID_PARAMETER, "cancel_orders must be true or false")
        cancelled = 0
        if self.guarded:
            cancelled = await self.gateway.guarded.end(self.session_id, self.key.account_id, cancel=cancel)
        elif cancel:
            cancelled = await self.gateway.guarded.cancel_all(self.key.account_id)
        self.guarded = False
        # Close once the reply is queued: ``answer`` queues it in this same step, before the loop
        # runs what is scheduled now.
        asyncio.get_running_loop().call_soon(lambda: self.outbox.close(LOGOUT, "logout", flush=True))
        return {"cancelled": cancelled}


def _channels(frame: dict[str, Any]) -> list[Any]:
    channels = frame.get("channels")
    if not isinstance(channels, list) or not 0 < len(channels) <= 50:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "channels: a list of 1 to 50 names")
    return channels
