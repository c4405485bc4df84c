"""Market-maker sessions on /v1/ws through a real uvicorn server: cancel-on-disconnect for many
sessions, graceful logout without cancel, the dead-man timer, the heartbeat timeout, the cancel
at restart (RELIABILITY #10); signed login refusals (#8) and fuzzed frames (#14)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.app import ROUTE_WEIGHTS
from api.errors import ErrorCode
from api.ratelimit import Limit, RateLimitPolicy
from api.signing import canonical_payload, hmac_hex
from bluebook.server import ApiServer
from tests.api_support import SYMBOL, Client, funded_client, now_ms, start_server
from tests.ws_support import WsClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("ws-sessions")))
    yield server
    server.stop()


def address(n: int) -> str:
    return f"0x{n:040x}"


def open_orders(server: ApiServer, account: int) -> int:
    assert server.node is not None
    return server.node.read(lambda e: sum(len(m.book.orders_of(account)) for m in e.markets.values())).result(
        10
    )


def quote(ws: WsClient, orders: int, base: int = 200) -> None:
    for i in range(orders):
        ws.ok("place", args={"symbol": SYMBOL, "side": "buy", "price": str(base - i), "qty": "1"})


def wait_until(condition, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def test_dropped_sessions_lose_their_orders_and_logged_out_ones_keep_them(server: ApiServer) -> None:
    guarded = [funded_client(server, address(0x1000 + n)) for n in range(50)]
    graceful = [funded_client(server, address(0x2000 + n)) for n in range(10)]
    sockets = []
    for client in guarded:
        ws = WsClient(server.url)
        ws.login(client, cancel_on_disconnect=True)
        quote(ws, 4)
        sockets.append(ws)
    for client in graceful:
        ws = WsClient(server.url)
        ws.login(client, cancel_on_disconnect=True)
        quote(ws, 2)
        assert ws.ok("logout", cancel_orders=False) == {"cancelled": 0}
    placed = sum(open_orders(server, c.account_id) for c in guarded)
    for ws in sockets:  # dropped: the TCP connection goes without a close handshake
        ws.socket.socket.shutdown(socket.SHUT_RDWR)
    took = wait_until(lambda: sum(open_orders(server, c.account_id) for c in guarded) == 0)
    kept = sum(open_orders(server, c.account_id) for c in graceful)
    print(
        f"\n{len(guarded)} sessions dropped, {placed} orders cancelled in {took * 1000:.0f} ms, 0 left; "
        f"{len(graceful)} graceful logouts kept {kept} orders"
    )
    assert placed == 200 and kept == 20


def test_dead_man_timer_cancels_unless_refreshed(server: ApiServer) -> None:
    client = funded_client(server, address(0x3000))
    ws = WsClient(server.url)
    ws.login(client)
    quote(ws, 3)
    for _ in range(4):  # refreshed every 0.3 s: nothing happens
        ws.ok("cancel_all_after", seconds=0.6)
        time.sleep(0.3)
    assert open_orders(server, client.account_id) == 3
    took = wait_until(lambda: open_orders(server, client.account_id) == 0, timeout=3)
    fired = [f for f in ws.pushed if f.get("type") == "dead_man"]
    while not fired:
        frame = ws.receive()
        fired = [frame] if frame.get("type") == "dead_man" else []
    print(f"\ndead-man timer: 3 orders kept over 4 refreshes, cancelled {took * 1000:.0f} ms after the last")
    assert fired and fired[0]["cancelled"] == 3
    ws.close()


def test_silent_session_is_dropped_and_its_orders_cancelled(server: ApiServer) -> None:
    client = funded_client(server, address(0x4000))
    ws = WsClient(server.url)
    ws.login(client, cancel_on_disconnect=True, heartbeat_s=1)
    quote(ws, 2)
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.receive(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    wait_until(lambda: open_orders(server, client.account_id) == 0)
    print(
        f"\nsilent past 1 s: closed with 4001 ({closed.value.rcvd.reason!r}) after "
        f"{time.monotonic() - started:.1f} s, 2 orders cancelled"
    )


def test_restart_cancels_the_orders_of_opted_in_sessions(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    child = subprocess.Popen([sys.executable, "-m", "bluebook.cli", "api", "--dev", "--port", "0",
                              "--data-dir", str(tmp_path)], env=env)  # fmt: skip
    try:
        info = tmp_path / "server.json"
        wait_until(lambda: info.exists(), timeout=30)
        url = orjson.loads(info.read_bytes())["url"]
        guarded, plain = (funded_client_at(url, tmp_path, address(n)) for n in (0x5000, 0x5001))
        for client, opted in ((guarded, True), (plain, False)):
            ws = WsClient(url)
            ws.login(client, cancel_on_disconnect=opted)
            quote(ws, 3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    server = start_server(tmp_path)
    try:
        left = open_orders(server, guarded.account_id), open_orders(server, plain.account_id)
        print(
            f"\nafter kill -9 and restart: opted-in session's orders left {left[0]} (of 3), "
            f"other session's {left[1]} (of 3)"
        )
        assert left == (0, 3)
    finally:
        server.stop()


def funded_client_at(url: str, data_dir: Path, who: str) -> Client:
    from bluebook.accounts import create_key, credit
    from tests.api_support import CONFIG

    issued = create_key(data_dir, who, "read,trade", "", None)
    credit(CONFIG, data_dir, who, "USDC", "100000", True, None)
    return Client(url, issued["api_key"], issued["secret"], account_id=issued["account_id"])


def test_login_needs_a_fresh_signature_and_orders_need_a_login(server: ApiServer) -> None:
    client = funded_client(server, address(0x6000), scopes="read")
    ws = WsClient(server.url)
    refused = ws.call("place", args={"symbol": SYMBOL, "side": "buy", "price": "1", "qty": "1"})
    assert refused["error"]["code"] == ErrorCode.AUTH_HEADER_MISSING
    stale = now_ms() - 10_000
    cases = {
        ErrorCode.SIGNATURE_INVALID: {"key": client.key, "timestamp": now_ms(), "signature": "00" * 32},
        ErrorCode.TIMESTAMP_STALE: {"key": client.key, "timestamp": stale, "signature": "00" * 32},
        ErrorCode.KEY_UNKNOWN: {"key": "nope", "timestamp": now_ms(), "signature": "00" * 32},
        ErrorCode.AUTH_HEADER_MISSING: {"timestamp": now_ms()},
    }
    for code, fields in cases.items():
        assert ws.call("login", **fields)["error"]["code"] == code
    ws.login(client)
    read_only = ws.call("place", args={"symbol": SYMBOL, "side": "buy", "price": "1", "qty": "1"})
    assert read_only["error"]["code"] == ErrorCode.SCOPE_MISSING
    print(f"\n{len(cases) + 2} refused logins and orders, each with its own code")


def test_fuzzed_frames_get_clear_errors_and_the_connection_survives(server: ApiServer) -> None:
    client = funded_client(server, address(0x7000))
    ws = WsClient(server.url)
    ws.login(client)
    rng = random.Random(7)
    values = [None, True, 0, -1, 2**63, 1.5, "", "x" * 50, [], {}, [1], {"a": 1}, "250", "buy", SYMBOL]
    ops = ["place", "cancel", "amend", "batch", "cancel_all", "subscribe", "unsubscribe", "login",
           "cancel_all_after", "ping", "nope", None, 3]  # fmt: skip
    fields = ["args", "actions", "channels", "seconds", "symbol", "side", "price", "qty", "order_id", "key"]
    codes: dict[int, int] = {}
    frames = 600
    for n in range(frames):
        if n % 10 == 0:
            raw = rng.choice(
                [
                    b"{",
                    b"[]",
                    b"null",
                    b"\xff\xfe",
                    b'{"op": "place", "args": ' + b"[" * 300,
                    b'{"op": "place", "id": 1e999}',
                ]
            )
            ws.socket.send(raw)
        else:
            frame = {"op": rng.choice(ops), "id": n}
            for name in rng.sample(fields, rng.randint(0, 4)):
                frame[name] = (
                    rng.choice(values)
                    if rng.random() < 0.7
                    else {k: rng.choice(values) for k in rng.sample(fields, 3)}
                )
            ws.socket.send(orjson.dumps(frame).decode())
        answer = ws.receive()
        while "channel" in answer:
            answer = ws.receive()
        if not answer["ok"]:
            codes[answer["error"]["code"]] = codes.get(answer["error"]["code"], 0) + 1
    assert ws.ok("ping")["time"] > 0
    print(f"\n{frames} fuzzed frames: {sum(codes.values())} refused, codes {sorted(codes)}, 0 server errors")
    assert ErrorCode.INTERNAL_ERROR not in codes


def test_orders_sent_right_behind_the_login_wait_for_it(server: ApiServer) -> None:
    """A client may pipeline: a login and orders sent together are handled in that order."""
    client = funded_client(server, address(0x3000))
    with connect(server.url.replace("http", "ws") + "/v1/ws") as ws:
        ts = now_ms()
        signature = hmac_hex(client.secret.encode(), canonical_payload(ts, 5000, "GET", "/v1/ws", b""))
        ws.send(
            orjson.dumps({"op": "login", "id": 1, "key": client.key, "timestamp": ts, "signature": signature})
        )
        for i in range(2, 6):
            ws.send(orjson.dumps({"op": "place", "id": i, "args": {"symbol": SYMBOL, "side": "buy",
                                                                  "price": "200", "qty": "1"}}))  # fmt: skip
        answered = []
        while len(answered) < 5:
            frame = orjson.loads(ws.recv(timeout=30))
            if "id" in frame:
                assert frame["ok"], frame
                answered.append(frame["id"])
    assert answered == [1, 2, 3, 4, 5]
    assert open_orders(server, client.account_id) == 4


def test_the_user_channel_streams_the_accounts_orders_fills_and_balances(server: ApiServer) -> None:
    """Only a session subscribed to ``user`` gets its account's stream, from whichever session
    (or REST) the orders come; a session that only enters orders gets only its answers."""
    maker, taker = funded_client(server, address(0x8001)), funded_client(server, address(0x8002))
    watcher, entry, other = WsClient(server.url), WsClient(server.url), WsClient(server.url)
    assert watcher.call("subscribe", channels=["user"])["error"]["code"] == ErrorCode.AUTH_HEADER_MISSING
    for ws, client in ((watcher, maker), (entry, maker), (other, taker)):
        ws.login(client)
    assert watcher.ok("subscribe", channels=["user"]) == {"channels": ["user"]}
    placed = entry.ok("place", args={"symbol": SYMBOL, "side": "sell", "price": "950", "qty": "2"})
    order_id = placed["order"]["order_id"]
    other.ok("place", args={"symbol": SYMBOL, "side": "buy", "price": "950", "qty": "0.5"})

    def held(frame: dict[str, Any]) -> str:
        return next(b["held"] for b in frame["balances"] if b["asset"] == "TSLAx")

    seen: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 10
    while not ({"order", "fill"} <= set(seen) and held(seen["balances"][-1]) == "1.5"):
        assert time.monotonic() < deadline, seen
        frame = watcher.receive()
        assert frame["channel"] == "user", frame
        seen.setdefault(frame["type"], []).append(frame)
    accepted = seen["order"][0]
    assert accepted["event"] == "accepted" and accepted["order_id"] == order_id and accepted["side"] == "sell"
    [fill] = seen["fill"]
    assert (fill["order_id"], fill["liquidity"], fill["qty"]) == (order_id, "maker", "0.5")
    assert fill["leaves"] == "1.5"
    assert fill["price"] == "950" and fill["settlement_status"] == "unsettled"
    assert [held(frame) for frame in seen["balances"]][-2:] == ["2", "1.5"]  # the leaves stay held

    # The sessions that did not subscribe were sent nothing but their answers.
    for ws in (entry, other):
        ws.ok("ping")
        assert not [f for f in ws.pushed if f.get("channel") == "user"], ws.pushed
    # After ``unsubscribe`` the stream stops: a cancel is answered, and the watcher hears nothing.
    watcher.ok("unsubscribe", channels=["user"])
    entry.ok("cancel", args={"symbol": SYMBOL, "order_id": order_id})
    watcher.ok("ping")
    assert not [f for f in watcher.pushed if f.get("channel") == "user"], watcher.pushed
    for ws in (watcher, entry, other):
        ws.close()
    print(f"\nuser channel: {sum(map(len, seen.values()))} frames to the subscribed session, 0 to the others")


def test_a_repeated_client_order_id_over_the_socket_returns_the_first_order(server: ApiServer) -> None:
    client = funded_client(server, address(0x8003))
    ws = WsClient(server.url)
    ws.login(client)
    args = {"symbol": SYMBOL, "side": "buy", "price": "150", "qty": "1", "client_order_id": "ws-dup-1"}
    first, again = ws.ok("place", args=args), ws.ok("place", args={**args, "qty": "2"})
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["order"]["order_id"] == first["order"]["order_id"] and again["order"]["qty"] == "1"
    assert (again["order"]["price"], again["order"]["side"]) == ("150", "buy")  # read from the engine
    assert open_orders(server, client.account_id) == 1  # no second order was made
    ws.close()


def test_a_banned_ip_cannot_log_in_even_with_a_valid_key(tmp_path: Path) -> None:
    # Route weights as in production, and an IP budget of the largest one: a few refused logins
    # exhaust it, one violation bans.
    limits = RateLimitPolicy(per_key=Limit(1_000, 60.0), per_ip=Limit(max(ROUTE_WEIGHTS.values()), 60.0),
                             ban_after=1, route_weights=ROUTE_WEIGHTS)  # fmt: skip
    server = start_server(tmp_path, limits=limits)
    try:
        client = funded_client(server, address(0x6100), scopes="read")
        ws = WsClient(server.url)
        refusals = []
        for _ in range(max(ROUTE_WEIGHTS.values()) + 2):  # bad signatures until the IP is banned
            bad = {"key": client.key, "timestamp": now_ms(), "signature": "00" * 32}
            refusals.append(ws.call("login", **bad)["error"]["code"])
        assert refusals[-1] == ErrorCode.BANNED, refusals
        ts = now_ms()
        good = hmac_hex(client.secret.encode(), canonical_payload(ts, 5000, "GET", "/v1/ws", b""))
        answer = ws.call("login", key=client.key, timestamp=ts, recv_window=5000, signature=good)
        assert answer["error"]["code"] == ErrorCode.BANNED, answer
        ws.close()
        print(f"\nlogins refused {[int(c) for c in refusals]}, then a valid one: {answer['error']['code']}")
    finally:
        server.stop()
