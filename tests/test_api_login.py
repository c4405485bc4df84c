"""Sign-in with Ethereum on SQLite and PostgreSQL: a real wallet signs the server's challenge and
gets a working API key with the scopes it signed; every wrong message, signature or nonce is
refused with its own code; a nonce works once, expires, and is not burnt by a stranger."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct
from sqlalchemy import Engine as Database
from sqlalchemy import func, select

from api.cipher import SecretCipher
from api.credentials import Scope
from api.errors import ApiError, ErrorCode
from api.keys import KeyStore
from api.login import LoginPolicy, LoginService
from api.signing import authenticate, sign_request
from api.siwe import SiweMessage, parse_message, rfc3339
from store.models import LoginNonce

NOW_NS = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
POLICY = LoginPolicy(domain="bluebook.example", uri="https://bluebook.example/v1/login", chain_id=31337)

SPEC_EXAMPLE = """\
example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


class Clock:
    def __init__(self) -> None:
        self.ns = NOW_NS

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(database: Database, tmp_path: Path, clock: Clock) -> KeyStore:
    return KeyStore(database, SecretCipher.in_data_dir(tmp_path), clock_ns=clock)


@pytest.fixture
def login(database: Database, keys: KeyStore, clock: Clock) -> LoginService:
    return LoginService(database, keys, POLICY, clock_ns=clock)


def sign(wallet, text: str) -> str:
    return wallet.sign_message(encode_defunct(text=text)).signature.hex()


def refused(code: ErrorCode, call, *args, **kwargs) -> None:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is code, caught.value


def signed_variant(login: LoginService, wallet, **changes) -> tuple[str, str]:
    """A challenge for ``wallet`` with some fields changed, then signed by it."""
    message = dataclasses.replace(login.challenge(wallet.address).message, **changes).text()
    return message, sign(wallet, message)


# ------------------------------------------------------------------ the message format


def test_the_spec_example_parses_and_rebuilds_to_the_same_text() -> None:
    message = parse_message(SPEC_EXAMPLE)
    assert (message.domain, message.chain_id, message.nonce) == ("example.com", 1, "32891756")
    assert message.statement.startswith("I accept") and len(message.resources) == 2
    assert message.text() == SPEC_EXAMPLE


def test_every_optional_field_round_trips() -> None:
    full = SiweMessage(
        domain="localhost:8080",
        scheme="http",
        address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        uri="http://localhost:8080/v1/login",
        chain_id=31337,
        nonce="abcdEFGH1234",
        issued_at="2026-11-26T07:00:00.000Z",
        expiration_time="2026-11-26T07:05:00+01:00",
        not_before="2026-11-26T06:59:00.5Z",
        request_id="req-1",
        resources=("urn:bluebook:scope:read",),
    )
    text = full.text()
    assert "\n\n\nURI: " in text  # no statement: one more empty line, as the ABNF says
    assert parse_message(text) == full


@pytest.mark.parametrize(
    "old,new",
    [
        ("example.com wants", "example.com asks"),
        ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"),
        ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756C"),
        ("Version: 1", "Version: 2"),
        ("Chain ID: 1", "Chain ID: one"),
        ("Nonce: 32891756", "Nonce: 3289175"),
        ("Nonce: 32891756", "Nonce: 32891756!"),
        ("2021-09-30T16:25:24Z", "2021-09-30 16:25:24Z"),
        ("2021-09-30T16:25:24Z", "2021-09-30T16:25:24"),
        ("2021-09-30T16:25:24Z", "2021-02-30T16:25:24Z"),
        ("URI: https://example.com/login", "URI: not a uri"),
        ("tos\n\nURI", "tos\nURI"),
        ("Terms of Service", "Terms of\tService"),
        ("Terms of Service", "Terms of Service 🙂"),
        ("\n", "\r\n"),
        ("https://example.com/my-web2-claim.json", "https://example.com/my-web2-claim.json\n"),
        ("Resources:\n", "Resources:\n- \n"),
    ],
)
def test_a_malformed_message_is_refused(old: str, new: str) -> None:
    refused(ErrorCode.LOGIN_MESSAGE_MALFORMED, parse_message, SPEC_EXAMPLE.replace(old, new))


def test_an_oversized_message_is_refused() -> None:
    refused(ErrorCode.LOGIN_MESSAGE_MALFORMED, parse_message, SPEC_EXAMPLE + "\n- urn:x:" + "a" * 4_096)


# ------------------------------------------------------------------ a good sign-in


def test_a_wallet_signs_in_and_gets_a_working_key(login: LoginService, keys: KeyStore) -> None:
    wallet = EthAccount.create()
    challenge = login.challenge(wallet.address.lower(), "read,trade")
    message = challenge.message.text()
    assert message.startswith(
        "bluebook.example wants you to sign in with your Ethereum account:\n" + wallet.address
    )
    assert challenge.expires_at_ns == NOW_NS + POLICY.nonce_ttl_ns
    assert "Expiration Time: " + rfc3339(challenge.expires_at_ns) in message
    issued = login.login(message, sign(wallet, message), label="laptop")
    assert issued.key.scopes == {Scope.READ, Scope.TRADE} and issued.key.label == "laptop"
    assert keys.account_id(wallet.address) == issued.key.account_id
    now_ms = NOW_NS // 1_000_000
    headers = sign_request(
        issued.key.key_id, "POST", "/v1/orders", b"{}", now_ms=now_ms, secret=issued.secret
    )
    credential = authenticate(
        headers,
        "POST",
        "/v1/orders",
        b"{}",
        now_ms=now_ms,
        lookup=keys.lookup,
        client_ip="::1",
        scope=Scope.TRADE,
    )
    assert credential.account_id == issued.key.account_id


def test_the_key_has_only_the_scopes_the_wallet_signed(login: LoginService) -> None:
    wallet = EthAccount.create()
    message, signature = signed_variant(login, wallet, resources=("https://bluebook.example/tos",))
    assert login.login(message, signature).key.scopes == {Scope.READ}
    message = login.challenge(wallet.address, ["read", "withdraw"]).message.text()
    assert login.verify(message, sign(wallet, message)).scopes == {Scope.READ, Scope.WITHDRAW}
    # Adding a scope after signing breaks the signature.
    message = login.challenge(wallet.address).message.text()
    signature = sign(wallet, message)
    widened = message + "\n- urn:bluebook:scope:withdraw"
    refused(ErrorCode.LOGIN_SIGNATURE_INVALID, login.verify, widened, signature)
    message, signature = signed_variant(login, wallet, resources=("urn:bluebook:scope:admin",))
    refused(ErrorCode.INVALID_SCOPE, login.verify, message, signature)


def test_a_nonce_outlives_the_service_that_issued_it(
    login: LoginService, database: Database, keys, clock
) -> None:
    wallet = EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    restarted = LoginService(database, keys, POLICY, clock_ns=clock)
    assert restarted.verify(message, sign(wallet, message)).address == wallet.address


# ------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    "changes,code",
    [
        ({"domain": "evil.example"}, ErrorCode.LOGIN_DOMAIN_MISMATCH),
        ({"scheme": "http"}, ErrorCode.LOGIN_DOMAIN_MISMATCH),
        ({"uri": "https://evil.example/v1/login"}, ErrorCode.LOGIN_URI_MISMATCH),
        ({"chain_id": 1}, ErrorCode.LOGIN_CHAIN_MISMATCH),
        ({"nonce": "NeverIssued123"}, ErrorCode.LOGIN_NONCE_UNKNOWN),
        ({"expiration_time": rfc3339(NOW_NS)}, ErrorCode.LOGIN_MESSAGE_EXPIRED),
        ({"not_before": rfc3339(NOW_NS + SECOND)}, ErrorCode.LOGIN_MESSAGE_NOT_YET_VALID),
        ({"issued_at": rfc3339(NOW_NS + 61 * SECOND)}, ErrorCode.LOGIN_MESSAGE_NOT_YET_VALID),
    ],
)
def test_a_signed_message_with_a_wrong_field_is_refused(login: LoginService, changes: dict, code) -> None:
    refused(code, login.login, *signed_variant(login, EthAccount.create(), **changes))


def test_the_edges_of_the_time_checks_pass(login: LoginService) -> None:
    wallet = EthAccount.create()
    edges = {"not_before": rfc3339(NOW_NS), "issued_at": rfc3339(NOW_NS + 60 * SECOND)}
    assert login.verify(*signed_variant(login, wallet, **edges)).address == wallet.address


def test_a_signature_by_another_key_is_refused(login: LoginService) -> None:
    wallet, thief = EthAccount.create(), EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    refused(ErrorCode.LOGIN_SIGNATURE_INVALID, login.login, message, sign(thief, message))


@pytest.mark.parametrize("garble", ["", "0x", "0x1234", "zz" * 65, "0x" + "00" * 65, "é" * 130])
def test_a_garbled_signature_is_refused(login: LoginService, garble: str) -> None:
    wallet = EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    refused(ErrorCode.LOGIN_SIGNATURE_INVALID, login.login, message, garble)
    refused(ErrorCode.LOGIN_SIGNATURE_INVALID, login.login, message, garble.encode())


def test_a_nonce_signs_in_once(login: LoginService) -> None:
    wallet = EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    signature = sign(wallet, message)
    login.login(message, signature)
    refused(ErrorCode.LOGIN_NONCE_USED, login.login, message, signature)


def test_a_nonce_expires(login: LoginService, clock: Clock) -> None:
    wallet = EthAccount.create()
    message, signature = signed_variant(login, wallet, expiration_time=None)
    clock.ns += POLICY.nonce_ttl_ns
    refused(ErrorCode.LOGIN_NONCE_EXPIRED, login.login, message, signature)


def test_failed_attempts_do_not_spend_the_nonce(login: LoginService) -> None:
    wallet = EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    signature = sign(wallet, message)
    refused(ErrorCode.LOGIN_SIGNATURE_INVALID, login.login, message, sign(EthAccount.create(), message))
    refused(ErrorCode.INVALID_LABEL, login.login, message, signature, label="x" * 65)
    refused(ErrorCode.INVALID_IP_ALLOWLIST, login.login, message, signature, ip_allowlist="nowhere")
    assert login.login(message, signature).key.scopes == {Scope.READ}


def test_racing_logins_with_one_nonce_issue_one_key(login: LoginService, keys: KeyStore) -> None:
    wallet = EthAccount.create()
    message = login.challenge(wallet.address).message.text()
    signature = sign(wallet, message)
    outcomes: list[object] = []

    def attempt() -> None:
        try:
            outcomes.append(login.login(message, signature))
        except ApiError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)).count(str(ErrorCode.LOGIN_NONCE_USED)) == 5
    assert len(keys.list_keys(keys.account_id(wallet.address))) == 1


def test_long_expired_nonces_are_deleted(login: LoginService, database: Database, clock: Clock) -> None:
    wallet = EthAccount.create()
    old = login.challenge(wallet.address).message.text()
    clock.ns += POLICY.nonce_ttl_ns + 3_600 * SECOND + 1
    login.issue_nonce()
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(LoginNonce)).scalar_one() == 1
    message = parse_message(old)
    text = dataclasses.replace(message, expiration_time=None, issued_at=rfc3339(clock.ns)).text()
    refused(ErrorCode.LOGIN_NONCE_UNKNOWN, login.login, text, sign(wallet, text))
