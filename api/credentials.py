"""What a request is checked against: an API key's scopes, IP allowlist and verifying key.

A ``Credential`` is the in-memory view of one ``api_keys`` row, with an HMAC key's secret already
decrypted. It never shows the secret in its ``repr``. Scopes do not imply one another: a key with
only ``trade`` cannot read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from api.errors import ApiError, ErrorCode

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The ``api_keys.ip_allowlist`` column's width.
MAX_ALLOWLIST_CHARS = 512


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    WITHDRAW = "withdraw"


def parse_scopes(scopes: str | Iterable[str]) -> frozenset[Scope]:
    """A non-empty set of scopes from ``"read,trade"`` or an iterable of names; else INVALID_SCOPE."""
    names = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    try:
        parsed = frozenset(Scope(name.strip()) for name in names)
    except ValueError:
        raise ApiError(ErrorCode.INVALID_SCOPE) from None
    if not parsed:
        raise ApiError(ErrorCode.INVALID_SCOPE)
    return parsed


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Scopes as stored: comma separated, in ``Scope`` order."""
    chosen = set(scopes)
    return ",".join(scope.value for scope in Scope if scope in chosen)


def parse_ip_allowlist(allowlist: str | Iterable[str]) -> tuple[IpNetwork, ...]:
    """Networks from ``"203.0.113.7, 198.51.100.0/24, 2001:db8::/32"``; empty means any address.

    A bare address is a one-address network; host bits set in a network are refused
    (``10.0.0.1/8`` is more likely a typo than intent). Else INVALID_IP_ALLOWLIST.
    """
    items = allowlist.split(",") if isinstance(allowlist, str) else list(allowlist)
    try:
        return tuple(ipaddress.ip_network(item.strip()) for item in items if item.strip())
    except ValueError:
        raise ApiError(ErrorCode.INVALID_IP_ALLOWLIST) from None


def format_ip_allowlist(networks: Iterable[IpNetwork]) -> str:
    """Networks as stored: comma separated, at most ``MAX_ALLOWLIST_CHARS``."""
    text = ",".join(str(network) for network in networks)
    if len(text) > MAX_ALLOWLIST_CHARS:
        raise ApiError(
            ErrorCode.INVALID_IP_ALLOWLIST, f"the IP allowlist exceeds {MAX_ALLOWLIST_CHARS} chars"
        )
    return text


@dataclass(frozen=True, slots=True)
class Credential:
    """One API key as verification needs it. Exactly one of the two verifying keys is set."""

    key_id: str
    account_id: int
    scopes: frozenset[Scope]
    ip_allowlist: tuple[IpNetwork, ...]
    revoked: bool
    hmac_secret: bytes | None = field(default=None, repr=False)
    ed25519_public_key: bytes | None = None

    def allows_ip(self, client_ip: str) -> bool:
        """True when the allowlist is empty or holds ``client_ip`` (IPv4-mapped IPv6 as IPv4)."""
        if not self.ip_allowlist:
            return True
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.ip_allowlist)
