"""Signed requests: HMAC-SHA256 with the key's secret, or Ed25519 with the key's private key.

A client sends four headers (names are case-insensitive):

- ``BB-KEY``: the API key id;
- ``BB-TIMESTAMP``: milliseconds since the Unix epoch, ASCII digits;
- ``BB-RECV-WINDOW``: optional, milliseconds, 1 to 60000, 5000 when absent;
- ``BB-SIGNATURE``: the signature of the canonical payload in lowercase hex (64 characters for
  HMAC-SHA256, 128 for Ed25519).

The canonical payload is five fields joined by a line feed (``\\n``), as bytes::

    timestamp + "\\n" + recv_window + "\\n" + METHOD + "\\n" + path + "\\n" + body

``timestamp`` and ``recv_window`` are the header values as decimal integers (the window written
even when the header is absent, as 5000); ``METHOD`` is upper case; ``path`` is the request target
exactly as sent, the query string included (``/v1/orders?symbol=TSLAx-USDC``), not percent-decoded;
``body`` is the raw body bytes (empty for GET). Under ASGI the path is ``scope["raw_path"]``, plus
``"?"`` and ``scope["query_string"]`` when there is one, decoded as latin-1. The separators keep
bytes from moving between path and body unnoticed, and signing the window stops a captured request
being replayed with a wider one.

A request is fresh when ``now - timestamp <= recv_window`` (else TIMESTAMP_STALE) and
``timestamp - now <= max_skew`` (else TIMESTAMP_IN_FUTURE). Checks run in this order: headers,
freshness, key lookup (KEY_UNKNOWN), signature (SIGNATURE_INVALID), then revocation, IP allowlist
and scope, so only a holder of the key learns that it is revoked, fenced or lacks a scope. Within
its window a request can be replayed; what it does must be idempotent (client order ids) or
harmless.

``hmac_hex``, ``verify_hmac`` and ``check_freshness`` stand alone so the Binance-compatible routes
can verify their own payload (the query string or form body) with the same secrets.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from api.credentials import Credential, Scope
from api.errors import ApiError, ErrorCode

KEY_HEADER = "BB-KEY"
TIMESTAMP_HEADER = "BB-TIMESTAMP"
RECV_WINDOW_HEADER = "BB-RECV-WINDOW"
SIGNATURE_HEADER = "BB-SIGNATURE"
_KEY, _TIMESTAMP, _RECV_WINDOW, _SIGNATURE = (
    name.lower() for name in (KEY_HEADER, TIMESTAMP_HEADER, RECV_WINDOW_HEADER, SIGNATURE_HEADER)
)

DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_MAX_SKEW_MS = 1_000
_MAX_TIMESTAMP_DIGITS = 16


class SignedHeaders(NamedTuple):
    """The authentication headers of one request, parsed and range-checked."""

    key_id: str
    timestamp_ms: int
    recv_window_ms: int
    signature: str


def canonical_payload(timestamp_ms: int, recv_window_ms: int, method: str, path: str, body: bytes) -> bytes:
    """The bytes a request signature covers (see the module docstring)."""
    head = f"{timestamp_ms}\n{recv_window_ms}\n{method.upper()}\n{path}\n"
    return head.encode() + body


def hmac_hex(secret: bytes, payload: bytes) -> str:
    """HMAC-SHA256 of ``payload`` under ``secret``, lowercase hex."""
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def verify_hmac(secret: bytes, payload: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` (either case) is the payload's HMAC; compared in constant time."""
    signature = _from_hex(signature_hex)
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    return signature is not None and hmac.compare_digest(signature, expected)


def verify_ed25519(public_key: bytes, payload: bytes, signature: bytes) -> bool:
    """True when ``signature`` is the payload's Ed25519 signature by the raw 32-byte ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_public_bytes(public_key: bytes | str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given raw, in hex or PEM; else INVALID_PUBLIC_KEY."""
    if isinstance(public_key, str):
        text = public_key.strip()
        public_key = text.encode() if text.startswith("-----BEGIN") else (_from_hex(text) or b"")
    if public_key.startswith(b"-----BEGIN"):
        try:
            loaded = load_pem_public_key(public_key)
        except (ValueError, TypeError):
            raise ApiError(ErrorCode.INVALID_PUBLIC_KEY) from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise ApiError(ErrorCode.INVALID_PUBLIC_KEY, "the PEM key is not an Ed25519 key")
        return loaded.public_bytes_raw()
    if len(public_key) != 32:
        raise ApiError(ErrorCode.INVALID_PUBLIC_KEY)
    return public_key


def check_freshness(timestamp_ms: int, recv_window_ms: int, now_ms: int, max_skew_ms: int) -> None:
    """Refuse a timestamp older than the window (TIMESTAMP_STALE) or ahead by more than the skew."""
    if now_ms - timestamp_ms > recv_window_ms:
        raise ApiError(ErrorCode.TIMESTAMP_STALE)
    if timestamp_ms - now_ms > max_skew_ms:
        raise ApiError(ErrorCode.TIMESTAMP_IN_FUTURE)


def parse_signed_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """The four headers, looked up case-insensitively; missing or malformed ones get their code."""
    lowered = {name.lower(): value for name, value in headers.items()}
    key_id, timestamp, signature = (
        lowered.get(_KEY, ""),
        lowered.get(_TIMESTAMP, ""),
        lowered.get(_SIGNATURE, ""),
    )
    recv_window = lowered.get(_RECV_WINDOW)
    if not (key_id and timestamp and signature):
        given = {KEY_HEADER: key_id, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
        missing = ", ".join(name for name, value in given.items() if not value)
        raise ApiError(ErrorCode.AUTH_HEADER_MISSING, f"missing header {missing}")
    if not _is_digits(timestamp, _MAX_TIMESTAMP_DIGITS):
        raise ApiError(ErrorCode.TIMESTAMP_MALFORMED)
    if recv_window is None:
        recv_window_ms = DEFAULT_RECV_WINDOW_MS
    elif _is_digits(recv_window, 5) and 1 <= int(recv_window) <= MAX_RECV_WINDOW_MS:
        recv_window_ms = int(recv_window)
    else:
        raise ApiError(ErrorCode.RECV_WINDOW_INVALID)
    return SignedHeaders(key_id, int(timestamp), recv_window_ms, signature)


def asgi_signed_headers(raw: Iterable[tuple[bytes, bytes]]) -> SignedHeaders:
    """``parse_signed_headers`` over an ASGI header list (names arrive lower case; values are
    decoded as latin-1, as Starlette decodes them; a repeated header counts once, the last)."""
    return parse_signed_headers(
        {name.decode("latin-1"): value.decode("latin-1") for name, value in raw if name.startswith(b"bb-")}
    )


def authenticate(
    headers: Mapping[str, str] | SignedHeaders,
    method: str,
    path: str,
    body: bytes,
    *,
    now_ms: int,
    lookup: Callable[[str], Credential | None],
    client_ip: str,
    scope: Scope,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
) -> Credential:
    """The credential of a correctly signed, fresh request allowed ``scope`` from ``client_ip``.

    ``headers`` are the request's (or already parsed). Raises ``ApiError`` with the code of the
    first check that fails (order in the module docstring). ``lookup`` maps a key id to its
    credential, or None when no such key exists.
    """
    signed = headers if isinstance(headers, SignedHeaders) else parse_signed_headers(headers)
    check_freshness(signed.timestamp_ms, signed.recv_window_ms, now_ms, max_skew_ms)
    credential = lookup(signed.key_id)
    if credential is None:
        raise ApiError(ErrorCode.KEY_UNKNOWN)
    payload = canonical_payload(signed.timestamp_ms, signed.recv_window_ms, method, path, body)
    if not _signature_matches(credential, payload, signed.signature):
        raise ApiError(ErrorCode.SIGNATURE_INVALID)
    if credential.revoked:
        raise ApiError(ErrorCode.KEY_REVOKED)
    if not credential.allows_ip(client_ip):
        raise ApiError(ErrorCode.IP_NOT_ALLOWED)
    if scope not in credential.scopes:
        raise ApiError(ErrorCode.SCOPE_MISSING, f"this request needs the {scope.value} scope")
    return credential


def sign_request(
    key_id: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now_ms: int,
    secret: str | bytes | None = None,
    private_key: Ed25519PrivateKey | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> dict[str, str]:
    """The client side: the headers that sign one request, with an HMAC secret or an Ed25519 key."""
    payload = canonical_payload(now_ms, recv_window_ms, method, path, body)
    if private_key is not None and secret is None:
        signature = private_key.sign(payload).hex()
    elif secret is not None and private_key is None:
        signature = hmac_hex(secret.encode() if isinstance(secret, str) else secret, payload)
    else:
        raise ValueError("sign with exactly one of secret and private_key")
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: str(now_ms),
        RECV_WINDOW_HEADER: str(recv_window_ms),
        SIGNATURE_HEADER: signature,
    }


def _signature_matches(credential: Credential, payload: bytes, signature_hex: str) -> bool:
    if credential.hmac_secret is not None:
        return verify_hmac(credential.hmac_secret, payload, signature_hex)
    signature = _from_hex(signature_hex)
    if credential.ed25519_public_key is None or signature is None:
        return False
    return verify_ed25519(credential.ed25519_public_key, payload, signature)


def _from_hex(text: str) -> bytes | None:
    if not text.isascii() or len(text) % 2:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _is_digits(text: str, max_digits: int) -> bool:
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()
