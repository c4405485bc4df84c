"""Signed requests: the wire format is pinned by known answers, a good request passes with an HMAC
secret or an Ed25519 key, and every way a request can be wrong is refused with its own code."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.auth import signed_asgi
from api.credentials import Credential, Scope, parse_ip_allowlist, parse_scopes
from api.errors import ApiError, ErrorCode, error_body
from api.ratelimit import Limit, RateLimiter, RateLimitPolicy
from api.signing import authenticate as _authenticate
from api.signing import (
    canonical_payload,
    ed25519_public_bytes,
    hmac_hex,
    sign_request,
    verify_ed25519,
    verify_hmac,
)

NOW = 1_700_000_000_000
SECRET = "test-secret-0123456789"
ED_KEY = Ed25519PrivateKey.generate()
PATH = "/v1/orders?symbol=TSLAx-USDC"
BODY = b'{"side":"buy","qty":"1"}'

HMAC_KEY = Credential("hmac-key", 7, frozenset({Scope.READ, Scope.TRADE}), (), False, SECRET.encode())
ED_CREDENTIAL = Credential(
    "ed-key", 8, frozenset({Scope.READ}), (), False, ed25519_public_key=ED_KEY.public_key().public_bytes_raw()
)
KEYS = {credential.key_id: credential for credential in (HMAC_KEY, ED_CREDENTIAL)}


def authenticate(headers, method="POST", path=PATH, body=BODY, *, keys=KEYS, ip="203.0.113.9", **kwargs):
    options = {"now_ms": NOW, "scope": Scope.TRADE, **kwargs}
    return _authenticate(headers, method, path, body, lookup=keys.get, client_ip=ip, **options)


def signed(key_id="hmac-key", method="POST", path=PATH, body=BODY, *, now_ms=NOW, **kwargs):
    if "private_key" not in kwargs and "secret" not in kwargs:
        kwargs["secret"] = SECRET
    return sign_request(key_id, method, path, body, now_ms=now_ms, **kwargs)


def refused(code: ErrorCode, headers, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as caught:
        authenticate(headers, **kwargs)
    assert caught.value.code is code, caught.value
    return caught.value


# ------------------------------------------------------------------ wire format


def test_the_canonical_payload_is_the_documented_string() -> None:
    payload = canonical_payload(NOW, 5_000, "post", PATH, BODY)
    assert payload == b'1700000000000\n5000\nPOST\n/v1/orders?symbol=TSLAx-USDC\n{"side":"buy","qty":"1"}'
    # Computed apart with: printf '<payload>' | openssl dgst -sha256 -hmac test-secret-0123456789
    assert (
        hmac_hex(SECRET.encode(), payload)
        == "02117dad9d946fecc02a93be666caae31b77c3114204d1ec76fd944c5a55c0b6"
    )


def test_sign_request_sends_the_four_headers() -> None:
    headers = signed()
    assert headers == {
        "BB-KEY": "hmac-key",
        "BB-TIMESTAMP": "1700000000000",
        "BB-RECV-WINDOW": "5000",
        "BB-SIGNATURE": "02117dad9d946fecc02a93be666caae31b77c3114204d1ec76fd944c5a55c0b6",
    }


def test_verify_hmac_checks_binance_style_query_strings() -> None:
    # The example from Binance's API documentation (HMAC-SHA256 of the query string).
    secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = (
        b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        b"&recvWindow=5000&timestamp=1499827319559"
    )
    good = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert verify_hmac(secret, query, good)
    assert verify_hmac(secret, query, good.upper())
    assert not verify_hmac(secret, query.replace(b"price=0.1", b"price=0.2"), good)
    assert not verify_hmac(secret, query, good[:-2])
    assert not verify_hmac(secret, query, "zz" * 32)
    assert not verify_hmac(secret, query, "é" * 64)


def test_verify_ed25519_accepts_the_rfc_8032_vector() -> None:
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert verify_ed25519(public, b"", signature)
    assert not verify_ed25519(public, b"x", signature)
    assert not verify_ed25519(public[:31], b"", signature)


# ------------------------------------------------------------------ accepted


def test_an_hmac_signed_request_passes() -> None:
    assert authenticate(signed()) is HMAC_KEY


def test_an_ed25519_signed_request_passes() -> None:
    headers = signed("ed-key", "GET", "/v1/balances", b"", private_key=ED_KEY)
    assert len(headers["BB-SIGNATURE"]) == 128
    assert authenticate(headers, "GET", "/v1/balances", b"", scope=Scope.READ) is ED_CREDENTIAL


def test_header_names_are_case_insensitive_and_the_window_defaults_to_5s() -> None:
    headers = {name.lower(): value for name, value in signed().items()}
    assert authenticate(headers) is HMAC_KEY
    del headers["bb-recv-window"]  # signed with 5000, the default
    assert authenticate(headers) is HMAC_KEY


def test_the_edges_of_the_window_and_the_skew_pass() -> None:
    assert authenticate(signed(recv_window_ms=60_000), now_ms=NOW + 60_000) is HMAC_KEY
    assert authenticate(signed(), now_ms=NOW + 5_000) is HMAC_KEY
    assert authenticate(signed(), now_ms=NOW - 1_000) is HMAC_KEY


# ------------------------------------------------------------------ refused, each with its code


@pytest.mark.parametrize("header", ["BB-KEY", "BB-TIMESTAMP", "BB-SIGNATURE"])
def test_a_missing_header_is_refused(header: str) -> None:
    headers = signed()
    del headers[header]
    error = refused(ErrorCode.AUTH_HEADER_MISSING, headers)
    assert header in error.msg and error.status == 401


@pytest.mark.parametrize("timestamp", ["", "12a", "-5", "+5", "1e3", " 5", "١٢٣", "1" * 17])
def test_a_malformed_timestamp_is_refused(timestamp: str) -> None:
    headers = {**signed(), "BB-TIMESTAMP": timestamp}
    refused(ErrorCode.AUTH_HEADER_MISSING if not timestamp else ErrorCode.TIMESTAMP_MALFORMED, headers)


@pytest.mark.parametrize("window", ["0", "60001", "abc", "", "-1", "5000.0"])
def test_a_receive_window_out_of_range_is_refused(window: str) -> None:
    error = refused(ErrorCode.RECV_WINDOW_INVALID, {**signed(), "BB-RECV-WINDOW": window})
    assert error.status == 400


def test_a_stale_request_is_refused() -> None:
    refused(ErrorCode.TIMESTAMP_STALE, signed(), now_ms=NOW + 5_001)
    refused(ErrorCode.TIMESTAMP_STALE, signed(recv_window_ms=100), now_ms=NOW + 101)


def test_a_request_from_the_future_is_refused() -> None:
    refused(ErrorCode.TIMESTAMP_IN_FUTURE, signed(), now_ms=NOW - 1_001)
    refused(ErrorCode.TIMESTAMP_IN_FUTURE, signed(), now_ms=NOW - 201, max_skew_ms=200)


def test_an_unknown_key_is_refused() -> None:
    refused(ErrorCode.KEY_UNKNOWN, signed("no-such-key"))


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", PATH, BODY.replace(b'"1"', b'"9"')),
        ("POST", "/v1/orders?symbol=AAPLx-USDC", BODY),
        ("POST", PATH + "{", BODY[1:]),  # a byte moved from the body into the path
        ("DELETE", PATH, BODY),
    ],
    ids=["body", "query", "body-into-path", "method"],
)
def test_a_tampered_request_is_refused(method: str, path: str, body: bytes) -> None:
    refused(ErrorCode.SIGNATURE_INVALID, signed(), method=method, path=path, body=body)


@pytest.mark.parametrize("header,value", [("BB-TIMESTAMP", str(NOW + 1)), ("BB-RECV-WINDOW", "60000")])
def test_changing_a_signed_header_is_refused(header: str, value: str) -> None:
    refused(ErrorCode.SIGNATURE_INVALID, {**signed(), header: value})


@pytest.mark.parametrize(
    "signature",
    ["", "00" * 32, "not-hex-at-all", "0" * 63, "é" * 64],
    ids=["empty", "zeros", "text", "odd", "non-ascii"],
)
def test_a_wrong_or_garbled_hmac_signature_is_refused(signature: str) -> None:
    headers = {**signed(), "BB-SIGNATURE": signature}
    refused(ErrorCode.AUTH_HEADER_MISSING if not signature else ErrorCode.SIGNATURE_INVALID, headers)


def test_a_request_signed_with_another_secret_or_key_is_refused() -> None:
    refused(ErrorCode.SIGNATURE_INVALID, signed(secret="another-secret"))
    other = Ed25519PrivateKey.generate()
    refused(ErrorCode.SIGNATURE_INVALID, signed("ed-key", private_key=other), scope=Scope.READ)
    # An HMAC signature offered for an Ed25519 key, and the reverse.
    refused(ErrorCode.SIGNATURE_INVALID, signed("ed-key"), scope=Scope.READ)
    refused(ErrorCode.SIGNATURE_INVALID, signed("hmac-key", private_key=ED_KEY))


def test_a_revoked_key_is_refused_but_only_to_its_holder() -> None:
    revoked = {"hmac-key": Credential("hmac-key", 7, HMAC_KEY.scopes, (), True, SECRET.encode())}
    refused(ErrorCode.KEY_REVOKED, signed(), keys=revoked)
    refused(ErrorCode.SIGNATURE_INVALID, signed(secret="guess"), keys=revoked)


def test_a_key_is_only_usable_from_its_allowlist() -> None:
    fenced = Credential(
        "hmac-key",
        7,
        HMAC_KEY.scopes,
        parse_ip_allowlist("198.51.100.0/24, 2001:db8::1"),
        False,
        SECRET.encode(),
    )
    keys = {"hmac-key": fenced}
    assert authenticate(signed(), keys=keys, ip="198.51.100.77") is fenced
    assert authenticate(signed(), keys=keys, ip="::ffff:198.51.100.77") is fenced
    assert authenticate(signed(), keys=keys, ip="2001:db8::1") is fenced
    for ip in ("198.51.101.1", "2001:db8::2", "not-an-ip", ""):
        assert refused(ErrorCode.IP_NOT_ALLOWED, signed(), keys=keys, ip=ip).status == 403


def test_a_key_without_the_scope_is_refused() -> None:
    error = refused(ErrorCode.SCOPE_MISSING, signed(), scope=Scope.WITHDRAW)
    assert error.status == 403 and "withdraw" in error.msg
    refused(ErrorCode.SCOPE_MISSING, signed("ed-key", private_key=ED_KEY), scope=Scope.TRADE)


# ------------------------------------------------------------------ helpers and errors


def test_sign_request_needs_exactly_one_way_to_sign() -> None:
    with pytest.raises(ValueError):
        sign_request("k", "GET", "/", now_ms=NOW)
    with pytest.raises(ValueError):
        sign_request("k", "GET", "/", now_ms=NOW, secret="s", private_key=ED_KEY)


def test_an_ed25519_public_key_is_read_raw_hex_or_pem() -> None:
    public = ED_KEY.public_key()
    raw = public.public_bytes_raw()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert ed25519_public_bytes(raw) == ed25519_public_bytes(raw.hex()) == raw
    assert ed25519_public_bytes(pem) == ed25519_public_bytes(pem.decode()) == raw
    rsa_pem = (
        generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    for bad in (raw[:31], raw.hex()[:-2], "zz" * 32, rsa_pem, b"-----BEGIN PUBLIC KEY-----\ngarbage\n"):
        with pytest.raises(ApiError) as caught:
            ed25519_public_bytes(bad)
        assert caught.value.code is ErrorCode.INVALID_PUBLIC_KEY


def test_scopes_and_allowlists_refuse_bad_input() -> None:
    assert parse_scopes("read, trade") == {Scope.READ, Scope.TRADE}
    for bad in ("", "read,admin", [], ["READ"]):
        with pytest.raises(ApiError) as caught:
            parse_scopes(bad)
        assert caught.value.code is ErrorCode.INVALID_SCOPE
    assert parse_ip_allowlist("") == ()
    for bad in ("10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "example.com"):
        with pytest.raises(ApiError) as caught:
            parse_ip_allowlist(bad)
        assert caught.value.code is ErrorCode.INVALID_IP_ALLOWLIST


def test_every_error_has_the_status_of_its_group_and_one_body_shape() -> None:
    statuses = {1: {400, 401, 403}, 2: {400}, 3: {418, 429}, 4: {404}, 5: {500, 503}, 6: {400, 404}}
    assert len({int(code) for code in ErrorCode}) == len(ErrorCode)
    for code in ErrorCode:
        assert code.status in statuses[int(code) // 1000], code
        assert error_body(code) == {"code": int(code), "msg": code.message} and code.message
        error = ApiError(code, "detail")
        assert (error.status, error.body(), error.headers()) == (
            code.status,
            {"code": int(code), "msg": "detail"},
            {},
        )
    assert ApiError(ErrorCode.RATE_LIMITED, retry_after=3).headers() == {"Retry-After": "3"}


def test_a_credential_never_shows_its_secret() -> None:
    assert SECRET not in repr(HMAC_KEY) and SECRET not in str(HMAC_KEY)


def test_the_readme_lists_every_error_code_with_its_status() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for code in ErrorCode:
        assert f"| {int(code)} | `{code.name}` | {code.status} |" in readme, code


def test_a_banned_ip_is_refused_before_its_key_is_looked_up() -> None:
    class Keys:
        def lookup(self, key_id: str) -> Credential | None:
            raise AssertionError("a banned IP's key was looked up")

    policy = RateLimitPolicy(per_key=Limit(100, 60.0), per_ip=Limit(1, 60.0), ban_after=1)
    services = SimpleNamespace(limiter=RateLimiter(policy), keys=Keys(), clock_ms=lambda: NOW)
    check = signed_asgi(services, Scope.TRADE, "POST /v1/orders")  # type: ignore[arg-type]
    for _ in range(2):  # one request's weight is the IP's budget; the next is its one violation
        services.limiter.check("POST /v1/orders", "203.0.113.9")
    headers = [(name.lower().encode(), value.encode()) for name, value in signed().items()]
    asgi = {"method": "POST", "path": "/v1/orders", "query_string": b"symbol=TSLAx-USDC",
            "headers": headers, "client": ("203.0.113.9", 4000)}  # fmt: skip
    with pytest.raises(ApiError) as caught:
        check(asgi, BODY)
    assert caught.value.code is ErrorCode.BANNED and caught.value.retry_after >= 1
