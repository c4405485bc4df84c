"""Signed requests, sign-in, keys and rate limits through a real server (RELIABILITY.md #8, #9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import create_engine

from api.app import ROUTE_WEIGHTS
from api.cipher import SecretCipher
from api.errors import ErrorCode
from api.keys import KeyStore
from api.ratelimit import Limit, RateLimitPolicy
from bluebook.server import ApiServer
from tests.api_support import Client, funded_client, now_ms, start_server

ADDRESS = "0x00000000000000000000000000000000000000c3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("api-security")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: ApiServer) -> Client:
    return funded_client(server, ADDRESS, scopes="read,trade")


def key_store(server: ApiServer) -> KeyStore:
    database = create_engine(f"sqlite:///{server.data_dir / 'store.db'}")
    return KeyStore(database, SecretCipher.in_data_dir(server.data_dir))


def code_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


def test_every_authentication_failure_has_its_own_code(server: ApiServer, client: Client) -> None:
    target = "/v1/balances"
    assert client.request("GET", target).status_code == 200
    unsigned = client.http.get(target)
    assert code_of(unsigned) == (401, ErrorCode.AUTH_HEADER_MISSING)
    cases = {
        ErrorCode.TIMESTAMP_MALFORMED: client.request("GET", target, headers={"BB-TIMESTAMP": "soon"}),
        ErrorCode.RECV_WINDOW_INVALID: client.request("GET", target, headers={"BB-RECV-WINDOW": "60001"}),
        ErrorCode.TIMESTAMP_STALE: client.request("GET", target, at_ms=now_ms() - 6_000),
        ErrorCode.TIMESTAMP_IN_FUTURE: client.request("GET", target, at_ms=now_ms() + 5_000),
        ErrorCode.KEY_UNKNOWN: Client(server.url, "f" * 32, "nope").request("GET", target),
        ErrorCode.SIGNATURE_INVALID: Client(server.url, client.key, "another secret").request("GET", target),
    }
    for code, response in cases.items():
        assert code_of(response) == (code.status, code), code
    body = b'{"symbol":"TSLAx-USDC","side":"buy","price":"1","qty":"1"}'
    signed = client.request("POST", "/v1/orders", raw=body).request.headers
    tampered = client.http.post("/v1/orders", content=body.replace(b'"1"', b'"2"', 1), headers=dict(signed))
    assert code_of(tampered) == (401, ErrorCode.SIGNATURE_INVALID)
    moved = client.http.get("/v1/balances?x=1", headers=dict(client.request("GET", target).request.headers))
    assert code_of(moved) == (401, ErrorCode.SIGNATURE_INVALID)
    withdraw = client.request("POST", "/v1/withdrawals", {"asset": "USDC", "amount": "1"})
    assert code_of(withdraw) == (403, ErrorCode.SCOPE_MISSING)
    print(f"\nauthentication: {len(cases) + 4} kinds of bad request refused, each with its code")


def test_revoked_fenced_and_ed25519_keys(server: ApiServer, client: Client) -> None:
    store = key_store(server)
    fenced = store.create_hmac_key(ADDRESS, "read", ip_allowlist="203.0.113.7")
    response = Client(server.url, fenced.key.key_id, fenced.secret).request("GET", "/v1/balances")
    assert code_of(response) == (403, ErrorCode.IP_NOT_ALLOWED)
    private = Ed25519PrivateKey.generate()
    info = store.register_ed25519_key(ADDRESS, private.public_key().public_bytes_raw(), "read")
    ed = Client(server.url, info.key_id, private_key=private)
    assert ed.request("GET", "/v1/balances").status_code == 200
    keys = client.ok("GET", "/v1/keys")["keys"]
    assert {k["kind"] for k in keys} == {"hmac", "ed25519"} and all("secret" not in k for k in keys)
    revoked = client.ok("DELETE", f"/v1/keys/{info.key_id}")["key"]
    assert revoked["revoked_at"] is not None
    assert code_of(ed.request("GET", "/v1/balances")) == (401, ErrorCode.KEY_REVOKED)
    missing = client.request("DELETE", "/v1/keys/" + "0" * 32)
    assert code_of(missing) == (404, ErrorCode.KEY_NOT_FOUND)


def test_sign_in_with_an_address_issues_a_working_key(server: ApiServer) -> None:
    wallet = Account.create()
    http = httpx.Client(base_url=server.url)
    challenge = http.post("/v1/auth/challenge", json={"address": wallet.address, "scopes": ["read"]}).json()
    signature = wallet.sign_message(encode_defunct(text=challenge["message"])).signature.hex()
    issued = http.post(
        "/v1/auth/login", json={"message": challenge["message"], "signature": signature}
    ).json()
    assert issued["scopes"] == ["read"] and issued["secret"]
    new = Client(server.url, issued["api_key"], issued["secret"])
    assert new.ok("GET", "/v1/balances")["balances"]
    replay = http.post("/v1/auth/login", json={"message": challenge["message"], "signature": signature})
    assert code_of(replay) == (401, ErrorCode.LOGIN_NONCE_USED)
    bad = http.post("/v1/auth/challenge", json={"address": "0x123", "scopes": ["read"]})
    assert code_of(bad) == (400, ErrorCode.INVALID_ADDRESS)


def test_rate_limits_answer_429_with_retry_after_then_ban(tmp_path: Path) -> None:
    tight = RateLimitPolicy(
        per_key=Limit(20, 60), per_ip=Limit(60, 60), route_weights=ROUTE_WEIGHTS, ban_after=5, ban_s=30
    )
    server = start_server(tmp_path, limits=tight)
    try:
        client = funded_client(server, ADDRESS, scopes="read")
        statuses = [client.request("GET", "/v1/balances") for _ in range(40)]
        accepted = sum(r.status_code == 200 for r in statuses)
        limited = [r for r in statuses if r.status_code == 429]
        banned = [r for r in statuses if r.status_code == 418]
        assert accepted == 20, accepted  # the key's budget, not one more
        assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert {r.json()["code"] for r in limited} == {ErrorCode.RATE_LIMITED}
        assert banned and {r.json()["code"] for r in banned} == {ErrorCode.BANNED}
        assert all(int(r.headers["Retry-After"]) >= 1 for r in banned)
        public = [client.http.get("/v1/time").status_code for _ in range(60)]
        # The IP's budget is 60; the 20 signed requests accepted took 20 of it (refused ones take nothing).
        assert public.count(200) == 40 and set(public[40:]) == {429, 418}
        print(f"\nrate limits: 2x the key's budget sent, {accepted} accepted, {len(limited)} got 429, "
              f"{len(banned)} got 418 (banned)")  # fmt: skip
    finally:
        server.stop()
