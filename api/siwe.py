"""EIP-4361 (Sign-In with Ethereum) messages: build one, and parse one strictly.

The text layout, fields in this order, lines joined by a line feed::

    [scheme://]domain wants you to sign in with your Ethereum account:
    address
    (empty line)
    [statement, then an empty line]   (without a statement: just one more empty line)
    URI: uri
    Version: 1
    Chain ID: chain-id
    Nonce: nonce                       (8 or more ASCII letters and digits)
    Issued At: RFC 3339 date-time
    [Expiration Time: RFC 3339 date-time]
    [Not Before: RFC 3339 date-time]
    [Request ID: text]
    [Resources:
    - uri
    - uri ...]

``parse_message`` refuses anything else with LOGIN_MESSAGE_MALFORMED (a bad address checksum
included), so ``parse_message(message.text()) == message`` for every valid message. Times stay the
strings that were signed; ``timestamp_ns`` reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from api.addresses import normalize_address
from api.errors import ApiError, ErrorCode

MAX_MESSAGE_CHARS = 4_096
_HEADER = " wants you to sign in with your Ethereum account:"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_DOMAIN = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]+")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:@-]*")
_STATEMENT = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;= -]+")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_OPTIONAL_FIELDS = (
    ("expiration_time", "Expiration Time: "),
    ("not_before", "Not Before: "),
    ("request_id", "Request ID: "),
)


@dataclass(frozen=True, slots=True)
class SiweMessage:
    """One sign-in message's fields; ``address`` is kept exactly as written."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    scheme: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()

    def text(self) -> str:
        """The message as the wallet shows and signs it."""
        origin = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [origin + _HEADER, self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines.append("")
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        for name, prefix in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                lines.append(prefix + value)
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def rfc3339(ns: int) -> str:
    """A UTC RFC 3339 time with milliseconds, as wallets write it: ``2026-11-26T07:00:00.000Z``."""
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns // 1_000_000 % 1_000:03d}Z"


def timestamp_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 date-time (zone required, digits past the
    microsecond dropped); else LOGIN_MESSAGE_MALFORMED."""
    if not _DATE_TIME.fullmatch(text):
        raise _malformed("a time is not an RFC 3339 date-time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _malformed("a time is out of range") from None
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def parse_message(text: str) -> SiweMessage:
    """The fields of a well-formed EIP-4361 message; LOGIN_MESSAGE_MALFORMED otherwise."""
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS or not text.isascii():
        raise _malformed("the message is not ASCII text of at most 4096 characters")
    lines = _Lines(text.split("\n"))
    first = lines.take()
    if not first.endswith(_HEADER):
        raise _malformed("the first line is not a sign-in request")
    origin = first[: -len(_HEADER)]
    scheme, _, domain = origin.partition("://") if "://" in origin else ("", "", origin)
    if (scheme and not _SCHEME.fullmatch(scheme)) or not _DOMAIN.fullmatch(domain):
        raise _malformed("the domain is not an RFC 3986 authority")
    address = lines.take()
    try:
        normalize_address(address)
    except ApiError:
        raise _malformed("the address is not an EIP-55 address") from None
    lines.expect("")
    statement = lines.take()
    if statement:
        if not _STATEMENT.fullmatch(statement):
            raise _malformed("the statement has characters RFC 3986 neither reserves nor allows")
        lines.expect("")
    uri = lines.field("URI: ", _URI)
    version = lines.field("Version: ", re.compile("1"))
    chain_id = lines.field("Chain ID: ", re.compile(r"[1-9][0-9]{0,18}"))
    nonce = lines.field("Nonce: ", _NONCE)
    issued_at = lines.field("Issued At: ")
    timestamp_ns(issued_at)
    optional = {name: lines.optional_field(prefix) for name, prefix in _OPTIONAL_FIELDS}
    for time_field in (optional["expiration_time"], optional["not_before"]):
        if time_field is not None:
            timestamp_ns(time_field)
    if optional["request_id"] is not None and not _REQUEST_ID.fullmatch(optional["request_id"]):
        raise _malformed("the request id has characters a URI path may not")
    resources: list[str] = []
    if lines.optional_line("Resources:"):
        while lines.remaining():
            resources.append(lines.field("- ", _URI))
    if lines.remaining():
        raise _malformed("unexpected text after the last field")
    return SiweMessage(
        domain=domain,
        address=address,
        uri=uri,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        statement=statement or None,
        scheme=scheme or None,
        version=version,
        resources=tuple(resources),
        **optional,
    )


class _Lines:
    """A cursor over the message's lines for the strict, in-order parse."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._at = 0

    def remaining(self) -> bool:
        return self._at < len(self._lines)

    def take(self) -> str:
        if not self.remaining():
            raise _malformed("the message ends early")
        self._at += 1
        return self._lines[self._at - 1]

    def expect(self, line: str) -> None:
        if self.take() != line:
            raise _malformed(f"line {self._at} should be {line!r}")

    def field(self, prefix: str, pattern: re.Pattern[str] | None = None) -> str:
        line = self.take()
        value = line[len(prefix) :]
        if not line.startswith(prefix) or (pattern is not None and not pattern.fullmatch(value)):
            raise _malformed(f"line {self._at} should be a valid {prefix.strip(' :-') or 'resource'}")
        return value

    def optional_field(self, prefix: str) -> str | None:
        if self.remaining() and self._lines[self._at].startswith(prefix):
            return self.take()[len(prefix) :]
        return None

    def optional_line(self, line: str) -> bool:
        if self.remaining() and self._lines[self._at] == line:
            self._at += 1
            return True
        return False


def _malformed(detail: str) -> ApiError:
    return ApiError(ErrorCode.LOGIN_MESSAGE_MALFORMED, f"not an EIP-4361 message: {detail}")
