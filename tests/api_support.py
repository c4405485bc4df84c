"""Helpers for the REST tests: a real server on a free port, and a client that signs requests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app import ROUTE_WEIGHTS
from api.ratelimit import Limit, RateLimitPolicy
from api.signing import sign_request
from bluebook.accounts import create_key, credit
from bluebook.gating_feed import ReferencePump, pinned, sessions_command
from bluebook.markets import default_markets
from bluebook.reference import StaticFeed, default_references
from bluebook.server import ApiServer, ApiSettings
from matcher.config import MarketConfig
from matcher.sessions import Session

CONFIG = default_markets()
SYMBOL = "TSLAx-USDC"
GENEROUS = RateLimitPolicy(
    per_key=Limit(1_000_000, 60), per_ip=Limit(1_000_000, 60), route_weights=ROUTE_WEIGHTS
)


def start_server(
    data_dir: Path, *, dev: bool = True, limits: RateLimitPolicy = GENEROUS, config: MarketConfig = CONFIG
) -> ApiServer:
    server = ApiServer(
        config, data_dir, ApiSettings(port=0, dev=dev, rate_limits=limits, snapshot_every_s=3_600)
    )
    server.start()
    return server


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Client:
    """Signs each request as ``api.signing`` documents: over the path and query as sent, and the body."""

    def __init__(
        self,
        url: str,
        key: str,
        secret: str | None = None,
        private_key: Ed25519PrivateKey | None = None,
        account_id: int = 0,
    ) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.key, self.secret, self.private_key = key, secret, private_key
        self.account_id = account_id

    def request(
        self,
        method: str,
        target: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        at_ms: int | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
        signed = sign_request(self.key, method, target, content, now_ms=at_ms or now_ms(), secret=self.secret,
                              private_key=self.private_key)  # fmt: skip
        return self.http.request(method, target, content=content, headers={**signed, **(headers or {})})

    def ok(self, method: str, target: str, body: Any = None) -> Any:
        response = self.request(method, target, body)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def place(self, **fields: Any) -> httpx.Response:
        return self.request("POST", "/v1/orders", {"symbol": SYMBOL, **fields})


def funded_client(server: ApiServer, address: str, scopes: str = "read,trade,withdraw") -> Client:
    """A new key for ``address`` (through the running server's admin route) with 1M USDC and 1,000
    TSLAx credited."""
    issued = create_key(server.data_dir, address, scopes, "", None)
    for asset, amount in (("USDC", "1000000"), ("TSLAx", "1000")):
        credit(CONFIG, server.data_dir, address, asset, amount, True, None)
    return Client(server.url, issued["api_key"], issued["secret"], account_id=issued["account_id"])


def start_gating(server: ApiServer, session: Session) -> ReferencePump:
    """Market-hours gating on ``server``: ``session`` pinned for all time, the development
    references fed every second (the pump is stopped by the caller)."""
    assert server.node is not None and server.services is not None
    underlyings, prices = default_references()
    pump = ReferencePump(CONFIG, underlyings, StaticFeed(prices), server.node.submit, session=session)
    pump.start()
    server.services.references = pump.manual  # as ``bluebook run`` does
    return pump


def pin_session(server: ApiServer, session: Session) -> None:
    """Switch a gated server to ``session`` for all time (a sequenced command, as the pump sends)."""
    assert server.node is not None
    server.node.submit([tuple(sessions_command(pinned(session)))]).result(30)
