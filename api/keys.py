"""Accounts and their API keys, over the ``accounts`` and ``api_keys`` tables (SQLite or PostgreSQL).

- An account is an EVM address, stored EIP-55 checksummed, with a compact integer id: the engine's
  account number, given out 1, 2, 3, … in order of first sight (0 is the engine's fee account).
  An address's id never changes.
- A key is HMAC (a random 256-bit secret, shown once at creation and stored encrypted by a
  ``SecretCipher``) or Ed25519 (only the public key stored). Key ids are 32 random hex characters.
- A revoked key stays listed with its revocation time and never verifies again. ``lookup`` caches a
  credential for at most ``cache_ttl_ns``: a revocation made through this store takes effect at
  once, one made by another process within the TTL.
- An account holds at most ``MAX_ACTIVE_KEYS`` unrevoked keys.
- Secrets are never logged, and ``IssuedKey`` hides its secret from ``repr``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.addresses import normalize_address
from api.cipher import SecretCipher
from api.credentials import (
    Credential,
    Scope,
    format_ip_allowlist,
    format_scopes,
    parse_ip_allowlist,
    parse_scopes,
)
from api.errors import ApiError, ErrorCode
from api.signing import ed25519_public_bytes
from store.accounts import allocate_account
from store.models import Account, ApiKey

log = logging.getLogger(__name__)

MAX_ACTIVE_KEYS = 20
MAX_LABEL_CHARS = 64
DEFAULT_CACHE_TTL_NS = 1_000_000_000
DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: everything but its secret."""

    key_id: str
    account_id: int
    kind: str  # "hmac" or "ed25519"
    label: str
    scopes: frozenset[Scope]
    ip_allowlist: tuple[str, ...]
    created_at_ns: int
    revoked_at_ns: int | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new HMAC key and its secret, which is shown to its owner this once and never again."""

    key: KeyInfo
    secret: str = field(repr=False)


class KeyStore:
    """Creates, lists, revokes and looks up API keys; allocates account ids by address."""

    def __init__(
        self,
        db: Engine,
        cipher: SecretCipher,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        cache_ttl_ns: int = DEFAULT_CACHE_TTL_NS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._clock_ns = clock_ns
        self._cache_ttl_ns = cache_ttl_ns
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[int, Credential | None]] = OrderedDict()  # None: unknown
        self._revocations = 0  # lets a lookup tell that a revocation ran during its read
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ accounts

    def account_id(self, address: str) -> int:
        """The address's account id, allocated on first sight (``store.accounts``)."""
        return allocate_account(self._db, normalize_address(address))

    def find_account(self, address: str) -> int | None:
        """The address's account id, or None if it has none yet (allocates nothing)."""
        address = normalize_address(address)
        with Session(self._db) as session:
            return session.scalar(select(Account.id).where(Account.address == address))

    # ---------------------------------------------------------------------- keys

    def create_hmac_key(
        self, address: str, scopes: str | Iterable[str], *, label: str = "", ip_allowlist: str = ""
    ) -> IssuedKey:
        """A new HMAC key for the address's account (allocated if new), with its secret."""
        secret = secrets.token_urlsafe(32)
        info = self._insert(
            address, scopes, label, ip_allowlist, secret_encrypted=self._cipher.encrypt(secret.encode())
        )
        return IssuedKey(info, secret)

    def register_ed25519_key(
        self,
        address: str,
        public_key: bytes | str,
        scopes: str | Iterable[str],
        *,
        label: str = "",
        ip_allowlist: str = "",
    ) -> KeyInfo:
        """A new key that verifies Ed25519 signatures by ``public_key`` (raw, hex or PEM)."""
        raw = ed25519_public_bytes(public_key)
        return self._insert(address, scopes, label, ip_allowlist, ed25519_public_key=raw)

    def list_keys(self, account_id: int) -> list[KeyInfo]:
        """Every key of the account, revoked ones included, oldest first."""
        with Session(self._db) as session:
            rows = session.scalars(
                select(ApiKey)
                .where(ApiKey.account_id == account_id)
                .order_by(ApiKey.created_at_ns, ApiKey.key_id)
            ).all()
            return [_info(row) for row in rows]

    def revoke(self, account_id: int, key_id: str) -> KeyInfo:
        """Revoke one of the account's keys (again is a no-op); KEY_NOT_FOUND if it has no such key."""
        with Session(self._db) as session:
            row = session.get(ApiKey, key_id)
            if row is None or row.account_id != account_id:
                raise ApiError(ErrorCode.KEY_NOT_FOUND)
            if row.revoked_at_ns is None:
                row.revoked_at_ns = self._clock_ns()
                session.commit()
                log.info("api key %s of account %d revoked", key_id, account_id)
            with self._lock:
                self._revocations += 1
                self._cache.pop(key_id, None)
            return _info(row)

    def lookup(self, key_id: str) -> Credential | None:
        """The key's credential (HMAC secret decrypted), or None for an unknown key id.

        Both are cached for ``cache_ttl_ns`` (an unknown id too: a client repeating a wrong key
        costs a dictionary lookup, not a database read on the event loop); a revocation in this
        process, or a key issued here, takes effect at once."""
        now = self._clock_ns()
        with self._lock:
            cached = self._cache.get(key_id)
            if cached is not None and 0 <= now - cached[0] < self._cache_ttl_ns:
                self._cache.move_to_end(key_id)
                return cached[1]
            revocations = self._revocations
        if not key_id or len(key_id) > 64:
            return None
        with Session(self._db) as session:
            row = session.get(ApiKey, key_id)
            credential = None if row is None else self._credential(row)
        with self._lock:
            if credential is not None and revocations != self._revocations:
                self._cache.pop(key_id, None)  # a revocation raced this read: do not cache it
            else:
                self._cache[key_id] = (now, credential)
                self._cache.move_to_end(key_id)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return credential

    # ------------------------------------------------------------------ internal

    def _insert(
        self,
        address: str,
        scopes: str | Iterable[str],
        label: str,
        ip_allowlist: str,
        *,
        secret_encrypted: bytes | None = None,
        ed25519_public_key: bytes | None = None,
    ) -> KeyInfo:
        row = ApiKey(
            key_id=secrets.token_hex(16),
            label=check_label(label),
            scopes=format_scopes(parse_scopes(scopes)),
            ip_allowlist=format_ip_allowlist(parse_ip_allowlist(ip_allowlist)),
            secret_encrypted=secret_encrypted,
            ed25519_public_key=ed25519_public_key,
            created_at_ns=self._clock_ns(),
            revoked_at_ns=None,
        )
        row.account_id = self.account_id(address)
        with Session(self._db) as session:
            active = session.execute(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.account_id == row.account_id, ApiKey.revoked_at_ns.is_(None))
            ).scalar_one()
            if active >= MAX_ACTIVE_KEYS:
                raise ApiError(
                    ErrorCode.KEY_LIMIT_REACHED, f"an account may hold {MAX_ACTIVE_KEYS} active keys"
                )
            session.add(row)
            session.commit()
            info = _info(row)
        with self._lock:
            self._cache.pop(info.key_id, None)  # were it cached as unknown
        log.info("api key %s (%s) issued to account %d", info.key_id, info.kind, info.account_id)
        return info

    def _credential(self, row: ApiKey) -> Credential:
        secret = None if row.secret_encrypted is None else self._cipher.decrypt(row.secret_encrypted)
        return Credential(
            key_id=row.key_id,
            account_id=row.account_id,
            scopes=parse_scopes(row.scopes),
            ip_allowlist=parse_ip_allowlist(row.ip_allowlist),
            revoked=row.revoked_at_ns is not None,
            hmac_secret=secret,
            ed25519_public_key=row.ed25519_public_key,
        )


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        account_id=row.account_id,
        kind="hmac" if row.secret_encrypted is not None else "ed25519",
        label=row.label,
        scopes=parse_scopes(row.scopes),
        ip_allowlist=tuple(item for item in row.ip_allowlist.split(",") if item),
        created_at_ns=row.created_at_ns,
        revoked_at_ns=row.revoked_at_ns,
    )


def check_label(label: str) -> str:
    """The label if it is printable text of at most ``MAX_LABEL_CHARS``; else INVALID_LABEL."""
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise ApiError(ErrorCode.INVALID_LABEL)
    return label
