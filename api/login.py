"""Sign-in with an EVM address: a server-issued nonce, an EIP-4361 message signed by the
address's key (EIP-191 ``personal_sign``, recovered with eth-account), then a new API key.

- A nonce is 32 random hex characters kept in ``login_nonces``, so it holds across requests,
  restarts and every process on one database. It is accepted until it expires (5 minutes by
  default) and only once: one conditional UPDATE marks it used, so two racing logins cannot both
  pass. Nonces are deleted an hour after they expire, when new ones are issued.
- The message must name this server's domain (and its scheme, when it names one), URI and chain
  id; be issued no later than now plus the allowed skew; be neither expired nor before its
  ``Not Before``; and be signed by the address it names. Contract wallets (EIP-1271) are not
  supported: ``api/`` never talks to the chain.
- The issued key has the scopes the user signed, as resources ``urn:bluebook:scope:<scope>``
  (``read`` alone when there are none); other resources are ignored.
- Checks run: format, domain, URI, chain, times, signature, then nonce. A nonce is consumed only by
  a message its own address signed, so nobody can burn another user's nonce.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from api.addresses import normalize_address
from api.credentials import Scope, format_ip_allowlist, parse_ip_allowlist, parse_scopes
from api.errors import ApiError, ErrorCode
from api.keys import IssuedKey, KeyStore, check_label
from api.siwe import SiweMessage, parse_message, rfc3339, timestamp_ns
from store.models import LoginNonce

SCOPE_RESOURCE = "urn:bluebook:scope:"
DEFAULT_STATEMENT = "Sign in to bluebook to issue an API key with the scopes listed below."
_NONCE_RETENTION_NS = 3_600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """What a sign-in message must name, and how long its nonce lives."""

    domain: str
    uri: str
    chain_id: int
    scheme: str = "https"
    nonce_ttl_ns: int = 300 * 1_000_000_000
    max_skew_ns: int = 60 * 1_000_000_000
    statement: str = DEFAULT_STATEMENT


@dataclass(frozen=True, slots=True)
class Challenge:
    """A fresh nonce and the message for the address to sign (``message.text()``)."""

    nonce: str
    expires_at_ns: int
    message: SiweMessage


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    """A sign-in that passed every check; its nonce is spent."""

    address: str
    scopes: frozenset[Scope]


class LoginService:
    """Issues nonces and challenges; turns a signed sign-in message into an API key."""

    def __init__(
        self, db: Engine, keys: KeyStore, policy: LoginPolicy, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self._db = db
        self._keys = keys
        self._policy = policy
        self._clock_ns = clock_ns

    def issue_nonce(self) -> tuple[str, int]:
        """A new nonce and the time it expires (ns); deletes nonces long expired."""
        now = self._clock_ns()
        nonce = secrets.token_hex(16)
        expires_at = now + self._policy.nonce_ttl_ns
        with Session(self._db) as session:
            session.execute(delete(LoginNonce).where(LoginNonce.expires_at_ns < now - _NONCE_RETENTION_NS))
            session.add(LoginNonce(nonce=nonce, issued_at_ns=now, expires_at_ns=expires_at, used_at_ns=None))
            session.commit()
        return nonce, expires_at

    def challenge(self, address: str, scopes: str | Iterable[str] = (Scope.READ,)) -> Challenge:
        """A new nonce in a message for ``address`` to sign, asking for ``scopes``."""
        address = normalize_address(address)
        wanted = parse_scopes(scopes)
        nonce, expires_at = self.issue_nonce()
        policy = self._policy
        message = SiweMessage(
            domain=policy.domain,
            address=address,
            uri=policy.uri,
            chain_id=policy.chain_id,
            nonce=nonce,
            issued_at=rfc3339(self._clock_ns()),
            statement=policy.statement,
            expiration_time=rfc3339(expires_at),
            resources=tuple(SCOPE_RESOURCE + scope.value for scope in Scope if scope in wanted),
        )
        return Challenge(nonce, expires_at, message)

    def verify(self, message: str, signature: str | bytes) -> VerifiedLogin:
        """Check a signed sign-in message and spend its nonce; ``ApiError`` with the failing check."""
        parsed = parse_message(message)
        scopes = _signed_scopes(parsed.resources)
        self._check_origin(parsed)
        self._check_times(parsed)
        address = normalize_address(parsed.address)
        if _recover(message, signature) != address:
            raise ApiError(ErrorCode.LOGIN_SIGNATURE_INVALID)
        self._spend(parsed.nonce)
        return VerifiedLogin(address, scopes)

    def login(
        self, message: str, signature: str | bytes, *, label: str = "", ip_allowlist: str = ""
    ) -> IssuedKey:
        """An HMAC key for the address that signed ``message``, with the scopes it signed."""
        check_label(label)
        format_ip_allowlist(parse_ip_allowlist(ip_allowlist))  # refuse bad input before the nonce is spent
        verified = self.verify(message, signature)
        return self._keys.create_hmac_key(
            verified.address, verified.scopes, label=label, ip_allowlist=ip_allowlist
        )

    def _check_origin(self, message: SiweMessage) -> None:
        policy = self._policy
        if message.domain != policy.domain or message.scheme not in (None, policy.scheme):
            raise ApiError(ErrorCode.LOGIN_DOMAIN_MISMATCH)
        if message.uri != policy.uri:
            raise ApiError(ErrorCode.LOGIN_URI_MISMATCH)
        if message.chain_id != policy.chain_id:
            raise ApiError(ErrorCode.LOGIN_CHAIN_MISMATCH)

    def _check_times(self, message: SiweMessage) -> None:
        now = self._clock_ns()
        if timestamp_ns(message.issued_at) > now + self._policy.max_skew_ns:
            raise ApiError(ErrorCode.LOGIN_MESSAGE_NOT_YET_VALID, "the message is issued in the future")
        if message.not_before is not None and now < timestamp_ns(message.not_before):
            raise ApiError(ErrorCode.LOGIN_MESSAGE_NOT_YET_VALID)
        if message.expiration_time is not None and now >= timestamp_ns(message.expiration_time):
            raise ApiError(ErrorCode.LOGIN_MESSAGE_EXPIRED)

    def _spend(self, nonce: str) -> None:
        now = self._clock_ns()
        unspent = (
            LoginNonce.nonce == nonce,
            LoginNonce.used_at_ns.is_(None),
            LoginNonce.expires_at_ns > now,
        )
        with self._db.begin() as connection:
            spent = connection.execute(update(LoginNonce).where(*unspent).values(used_at_ns=now))
        if spent.rowcount == 1:
            return
        with self._db.connect() as connection:
            row = connection.execute(select(LoginNonce.used_at_ns).where(LoginNonce.nonce == nonce)).first()
        if row is None:
            raise ApiError(ErrorCode.LOGIN_NONCE_UNKNOWN)
        if row.used_at_ns is not None:
            raise ApiError(ErrorCode.LOGIN_NONCE_USED)
        raise ApiError(ErrorCode.LOGIN_NONCE_EXPIRED)


def _signed_scopes(resources: tuple[str, ...]) -> frozenset[Scope]:
    names = [resource[len(SCOPE_RESOURCE) :] for resource in resources if resource.startswith(SCOPE_RESOURCE)]
    return parse_scopes(names) if names else frozenset({Scope.READ})


def _recover(message: str, signature: str | bytes) -> str | None:
    """The address whose key made the EIP-191 signature of ``message``, or None if none can."""
    if isinstance(signature, str):
        text = signature[2:] if signature[:2] in ("0x", "0X") else signature
        if not text.isascii() or len(text) != 130:
            return None
        try:
            signature = bytes.fromhex(text)
        except ValueError:
            return None
    if len(signature) != 65:
        return None
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except (BadSignature, ValidationError, ValueError):
        return None
