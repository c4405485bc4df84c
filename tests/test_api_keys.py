"""API keys on SQLite and PostgreSQL: accounts get compact ids by address, HMAC secrets are stored
encrypted and come back for verification, Ed25519 keys store only the public key, keys are listed
and revoked (revocation takes effect at once), and no secret shows in logs or reprs."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account as EthAccount
from sqlalchemy import Engine as Database
from sqlalchemy import event, func, select

from api.addresses import normalize_address
from api.cipher import KEY_FILE_NAME, SecretCipher
from api.credentials import Scope
from api.errors import ApiError, ErrorCode
from api.keys import MAX_ACTIVE_KEYS, KeyStore
from api.signing import authenticate, sign_request
from store.models import Account, ApiKey

NOW_NS = 1_700_000_000_000_000_000


class Clock:
    def __init__(self, ns: int = NOW_NS) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def cipher(tmp_path: Path) -> SecretCipher:
    return SecretCipher.in_data_dir(tmp_path / "data")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, cipher: SecretCipher, clock: Clock) -> KeyStore:
    return KeyStore(database, cipher, clock_ns=clock)


def address() -> str:
    return EthAccount.create().address


def rejected(code: ErrorCode, call, *args, **kwargs) -> None:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is code, caught.value


def check(store: KeyStore, headers: dict[str, str], scope: Scope = Scope.READ, method: str = "GET"):
    now_ms = NOW_NS // 1_000_000
    return authenticate(
        headers,
        method,
        "/v1/account",
        b"",
        now_ms=now_ms,
        lookup=store.lookup,
        client_ip="127.0.0.1",
        scope=scope,
    )


# ------------------------------------------------------------------ accounts


def test_accounts_get_compact_ids_in_order_of_first_sight(store: KeyStore, database: Database) -> None:
    first, second = address(), address()
    assert store.find_account(first) is None
    assert store.account_id(first) == 1
    assert store.account_id(second) == 2
    assert store.account_id(first.lower()) == 1
    assert store.find_account(first.lower()) == 1
    with database.connect() as connection:
        stored = dict(connection.execute(select(Account.id, Account.address)).all())
    assert stored == {1: first, 2: second}  # stored checksummed


def test_concurrent_allocation_gives_every_address_one_distinct_id(
    database: Database, cipher: SecretCipher
) -> None:
    addresses = [address() for _ in range(24)]
    results: dict[str, set[int]] = {a: set() for a in addresses}
    errors: list[Exception] = []

    def allocate(offset: int) -> None:
        store = KeyStore(database, cipher)  # one per thread, as one per process
        try:
            for i in range(len(addresses)):
                chosen = addresses[(i + offset) % len(addresses)]
                results[chosen].add(store.account_id(chosen))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=allocate, args=(offset,)) for offset in range(0, 24, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(len(ids) == 1 for ids in results.values())
    assert sorted(next(iter(ids)) for ids in results.values()) == list(range(1, 25))


@pytest.mark.parametrize(
    "bad",
    [
        "0x52908400098527886E0F7030069857D2E4169EE7".replace("E7", "e7"),  # checksum broken
        "52908400098527886E0F7030069857D2E4169EE7",
        "0x52908400098527886E0F7030069857D2E4169E",
        "0x52908400098527886E0F7030069857D2E4169EEG",
        "",
    ],
)
def test_a_bad_address_is_refused(bad: str) -> None:
    rejected(ErrorCode.INVALID_ADDRESS, normalize_address, bad)


def test_addresses_are_checksummed() -> None:
    checksummed = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector
    assert normalize_address(checksummed.lower()) == checksummed
    assert normalize_address("0x" + checksummed[2:].upper()) == checksummed


# ------------------------------------------------------------------ HMAC keys


def test_an_hmac_key_verifies_requests_signed_with_its_secret(store: KeyStore, database: Database) -> None:
    owner = address()
    issued = store.create_hmac_key(owner, "read,trade", label="bot 1", ip_allowlist="127.0.0.0/8")
    info = issued.key
    assert (info.account_id, info.kind, info.label) == (1, "hmac", "bot 1")
    assert info.scopes == {Scope.READ, Scope.TRADE} and info.ip_allowlist == ("127.0.0.0/8",)
    assert len(info.key_id) == 32 and len(issued.secret) >= 43
    headers = sign_request(
        info.key_id, "POST", "/v1/account", now_ms=NOW_NS // 1_000_000, secret=issued.secret
    )
    assert check(store, headers, Scope.TRADE, "POST").account_id == 1
    with database.connect() as connection:
        stored = connection.execute(select(ApiKey.secret_encrypted, ApiKey.ed25519_public_key)).one()
    assert stored.ed25519_public_key is None
    assert issued.secret.encode() not in stored.secret_encrypted  # encrypted at rest


def test_the_secret_comes_back_only_with_the_key_file(
    store: KeyStore, database: Database, tmp_path: Path
) -> None:
    issued = store.create_hmac_key(address(), "read")
    same_file = KeyStore(database, SecretCipher.in_data_dir(tmp_path / "data"))
    assert same_file.lookup(issued.key.key_id).hmac_secret == issued.secret.encode()
    other_file = KeyStore(database, SecretCipher.in_data_dir(tmp_path / "elsewhere"))
    with pytest.raises(InvalidToken):
        other_file.lookup(issued.key.key_id)


def test_key_ids_and_secrets_are_random(store: KeyStore) -> None:
    owner = address()
    issued = [store.create_hmac_key(owner, "read") for _ in range(5)]
    assert len({key.key.key_id for key in issued}) == 5
    assert len({key.secret for key in issued}) == 5


# ------------------------------------------------------------------ Ed25519 keys


def test_an_ed25519_key_stores_only_the_public_key(store: KeyStore, database: Database) -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    info = store.register_ed25519_key(address(), public.hex(), ["read"], label="signer")
    assert info.kind == "ed25519"
    with database.connect() as connection:
        stored = connection.execute(select(ApiKey.secret_encrypted, ApiKey.ed25519_public_key)).one()
    assert stored.secret_encrypted is None and bytes(stored.ed25519_public_key) == public
    headers = sign_request(info.key_id, "GET", "/v1/account", now_ms=NOW_NS // 1_000_000, private_key=private)
    assert check(store, headers).key_id == info.key_id
    other = sign_request(
        info.key_id,
        "GET",
        "/v1/account",
        now_ms=NOW_NS // 1_000_000,
        private_key=Ed25519PrivateKey.generate(),
    )
    rejected(ErrorCode.SIGNATURE_INVALID, check, store, other)


# ------------------------------------------------------------------ listing and revoking


def test_keys_are_listed_oldest_first_without_secrets(store: KeyStore, clock: Clock) -> None:
    owner, stranger = address(), address()
    first = store.create_hmac_key(owner, "read", label="a")
    clock.ns += 1
    second = store.register_ed25519_key(
        owner, Ed25519PrivateKey.generate().public_key().public_bytes_raw(), "trade"
    )
    store.create_hmac_key(stranger, "read")
    listed = store.list_keys(store.account_id(owner))
    assert [(key.key_id, key.kind) for key in listed] == [
        (first.key.key_id, "hmac"),
        (second.key_id, "ed25519"),
    ]
    assert not hasattr(listed[0], "secret") and first.secret not in repr(listed)
    assert store.list_keys(999) == []


def test_revocation_takes_effect_at_once_even_when_cached(store: KeyStore, clock: Clock) -> None:
    issued = store.create_hmac_key(address(), "read")
    headers = sign_request(
        issued.key.key_id, "GET", "/v1/account", now_ms=NOW_NS // 1_000_000, secret=issued.secret
    )
    assert check(store, headers).revoked is False  # now cached
    clock.ns += 5
    revoked = store.revoke(issued.key.account_id, issued.key.key_id)
    assert revoked.revoked_at_ns == NOW_NS + 5
    rejected(ErrorCode.KEY_REVOKED, check, store, headers)
    assert store.list_keys(issued.key.account_id)[0].revoked_at_ns == NOW_NS + 5
    clock.ns += 5
    assert store.revoke(issued.key.account_id, issued.key.key_id).revoked_at_ns == NOW_NS + 5  # again: no-op


def test_another_process_sees_a_revocation_within_the_cache_ttl(
    database: Database, cipher: SecretCipher, clock: Clock
) -> None:
    gateway = KeyStore(database, cipher, clock_ns=clock, cache_ttl_ns=1_000)
    admin = KeyStore(database, cipher, clock_ns=clock)
    issued = admin.create_hmac_key(address(), "read")
    assert gateway.lookup(issued.key.key_id).revoked is False
    admin.revoke(issued.key.account_id, issued.key.key_id)
    clock.ns += 999
    assert gateway.lookup(issued.key.key_id).revoked is False  # cached, within the TTL
    clock.ns += 1
    assert gateway.lookup(issued.key.key_id).revoked is True


def test_a_revocation_racing_a_lookup_is_not_undone_by_the_cache(store: KeyStore) -> None:
    issued = store.create_hmac_key(address(), "read")
    read_credential = store._credential

    def revoked_while_reading(row):
        credential = read_credential(row)
        store.revoke(issued.key.account_id, issued.key.key_id)
        return credential

    store._credential = revoked_while_reading
    assert store.lookup(issued.key.key_id).revoked is False  # read just before the revocation
    store._credential = read_credential
    assert store.lookup(issued.key.key_id).revoked is True


def test_only_the_owner_can_revoke_a_key(store: KeyStore) -> None:
    issued = store.create_hmac_key(address(), "read")
    stranger = store.account_id(address())
    rejected(ErrorCode.KEY_NOT_FOUND, store.revoke, stranger, issued.key.key_id)
    rejected(ErrorCode.KEY_NOT_FOUND, store.revoke, issued.key.account_id, "no-such-key")
    assert store.lookup(issued.key.key_id).revoked is False


def test_unknown_key_ids_look_up_as_none(store: KeyStore) -> None:
    assert store.lookup("0" * 32) is None
    assert store.lookup("x" * 500) is None
    assert store.lookup("") is None


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"scopes": ""}, ErrorCode.INVALID_SCOPE),
        ({"scopes": "read,admin"}, ErrorCode.INVALID_SCOPE),
        ({"ip_allowlist": "10.0.0.300"}, ErrorCode.INVALID_IP_ALLOWLIST),
        ({"ip_allowlist": ",".join(f"2001:db8::{i:x}" for i in range(60))}, ErrorCode.INVALID_IP_ALLOWLIST),
        ({"label": "x" * 65}, ErrorCode.INVALID_LABEL),
        ({"label": "line\nbreak"}, ErrorCode.INVALID_LABEL),
        ({"address": "0x1234"}, ErrorCode.INVALID_ADDRESS),
    ],
)
def test_bad_key_input_is_refused_and_stores_nothing(
    store: KeyStore, database: Database, kwargs: dict, code: ErrorCode
) -> None:
    arguments = {"address": address(), "scopes": "read", **kwargs}
    rejected(code, store.create_hmac_key, arguments.pop("address"), arguments.pop("scopes"), **arguments)
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Account)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 0


def test_a_bad_public_key_is_refused(store: KeyStore) -> None:
    rejected(ErrorCode.INVALID_PUBLIC_KEY, store.register_ed25519_key, address(), b"\x01" * 31, "read")


def test_an_account_holds_a_bounded_number_of_active_keys(store: KeyStore) -> None:
    owner = address()
    keys = [store.create_hmac_key(owner, "read") for _ in range(MAX_ACTIVE_KEYS)]
    rejected(ErrorCode.KEY_LIMIT_REACHED, store.create_hmac_key, owner, "read")
    store.revoke(keys[0].key.account_id, keys[0].key.key_id)
    store.create_hmac_key(owner, "read")


# ------------------------------------------------------------------ secrets stay secret


def test_no_secret_reaches_logs_or_reprs(
    store: KeyStore, cipher: SecretCipher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # statements and parameters too
    try:
        issued = store.create_hmac_key(address(), "read,trade")
        credential = store.lookup(issued.key.key_id)
        store.revoke(issued.key.account_id, issued.key.key_id)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert issued.key.key_id in caplog.text  # the log does speak of the key
    shown = caplog.text + repr(issued) + str(issued) + repr(credential) + repr(store) + repr(cipher)
    assert issued.secret not in shown
    assert issued.secret.encode().hex() not in shown
    assert credential.hmac_secret == issued.secret.encode()


# ------------------------------------------------------------------ the key file


def test_the_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = SecretCipher.in_data_dir(data)
    path = data / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.encrypt(b"secret")
    assert SecretCipher.in_data_dir(data).decrypt(token) == b"secret"
    assert [p.name for p in data.iterdir()] == [KEY_FILE_NAME]  # no temporary file left


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    SecretCipher.in_data_dir(tmp_path)
    os.chmod(tmp_path / KEY_FILE_NAME, 0o644)
    with pytest.raises(PermissionError, match="0600"):
        SecretCipher.in_data_dir(tmp_path)


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    ciphers: list[SecretCipher] = []
    threads = [
        threading.Thread(target=lambda: ciphers.append(SecretCipher.in_data_dir(tmp_path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    token = ciphers[0].encrypt(b"x")
    assert all(cipher.decrypt(token) == b"x" for cipher in ciphers)


def test_an_unknown_key_id_is_read_once_a_cache_ttl(
    store: KeyStore, database: Database, clock: Clock
) -> None:
    reads: list[str] = []

    def count(*args: object) -> None:
        reads.append(str(args[2]))  # the statement

    event.listen(database, "before_cursor_execute", count)
    try:
        for _ in range(100):
            assert store.lookup("0" * 32) is None  # a client repeating a wrong key
        assert len(reads) == 1
        clock.ns += 2_000_000_000  # past the TTL: read again
        assert store.lookup("0" * 32) is None
        assert len(reads) == 2
    finally:
        event.remove(database, "before_cursor_execute", count)
    print(f"101 lookups of one unknown key id over two TTLs: {len(reads)} database reads")


def test_a_key_issued_under_an_id_cached_as_unknown_works_at_once(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.keys.secrets.token_hex", lambda _: "ab" * 16)
    assert store.lookup("ab" * 16) is None  # cached as unknown
    issued = store.create_hmac_key(address(), "read")
    assert issued.key.key_id == "ab" * 16
    assert store.lookup("ab" * 16) is not None
