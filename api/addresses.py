"""EVM addresses as the API stores and compares them: EIP-55 checksummed."""

from __future__ import annotations

import re

from eth_utils.address import to_checksum_address

from api.errors import ApiError, ErrorCode

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def normalize_address(address: str) -> str:
    """The EIP-55 checksummed form of ``0x`` + 40 hex digits.

    All-lower or all-upper hex is accepted as is; mixed case must carry a valid checksum, since a
    wrong one usually means a mistyped address. Else INVALID_ADDRESS.
    """
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ApiError(ErrorCode.INVALID_ADDRESS)
    digits = address[2:]
    checksummed = str(to_checksum_address(address))
    if digits != digits.lower() and digits != digits.upper() and checksummed != address:
        raise ApiError(ErrorCode.INVALID_ADDRESS)
    return checksummed
