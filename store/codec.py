"""Command codec: stamped commands ↔ compact bytes, the payload of a journal record.

A payload is the command kind (1 byte), then the command's fixed-width fields packed
little-endian with ``struct`` (integers as int64, bools and small enums as one byte), then its
strings, each as a 1-byte length + UTF-8 (an optional string uses 255 for None). One ``struct``
call per command keeps encoding well under a microsecond.

Format version 1. Compatibility rule: a later version may add command kinds, and may append
fields to a kind only behind a new kind number; it never changes an existing layout, so every
journal written now stays readable. The version is written in each segment's header (the journal).
Integers outside int64 and strings over 254 bytes are refused (``CodecError``); the engine's own
limits are far inside both.
"""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import Any

from matcher.commands import CommandKind

FORMAT_VERSION = 1
_NONE = 255

#: Per kind: the struct of its fixed fields (kind first) and the positions of its string fields
#: in the command tuple, with whether each may be None.
_LAYOUTS: dict[int, tuple[struct.Struct, tuple[int, ...], tuple[tuple[int, bool], ...]]] = {}
#: Per kind, a C-level getter of its fixed fields after kind, in struct order.
_FIXED: dict[int, Any] = {}


def _layout(kind: CommandKind, fields: str) -> None:
    """``fields`` codes each slot after kind: ``q`` int64, ``B`` byte, ``S`` string, ``O`` optional."""
    fixed = "".join(code for code in fields if code not in "SO")
    numbers = tuple(i + 1 for i, code in enumerate(fields) if code not in "SO")
    strings = tuple((i + 1, code == "O") for i, code in enumerate(fields) if code in "SO")
    _LAYOUTS[int(kind)] = (struct.Struct("<B" + fixed), numbers, strings)
    _FIXED[int(kind)] = itemgetter(*numbers) if len(numbers) > 1 else (lambda c, i=numbers[0]: (c[i],))


# Slots in schema order (matcher.commands): seq, ts, account, then the command's own.
_layout(CommandKind.PLACE_ORDER, "qqqSBBqqBBBOq")
_layout(CommandKind.CANCEL_ORDER, "qqqSqO")
_layout(CommandKind.CANCEL_ALL, "qqqS")
_layout(CommandKind.AMEND_ORDER, "qqqSqqq")
_layout(CommandKind.DEPOSIT, "qqqSqS")
_layout(CommandKind.WITHDRAW, "qqqSq")
_layout(CommandKind.TICK, "qq")


class CodecError(ValueError):
    """A payload that does not decode, or a command that cannot be encoded."""


def encode(command: tuple[Any, ...]) -> bytes:
    """The payload of a stamped command (a typed command or a plain tuple of its layout)."""
    layout = _LAYOUTS.get(command[0]) if command else None
    if layout is None:
        raise CodecError(f"not an encodable command: {command!r}")
    packer, numbers, strings = layout
    if len(command) != 1 + len(numbers) + len(strings):
        raise CodecError(f"wrong number of fields: {command!r}")
    try:
        head = packer.pack(command[0], *_FIXED[command[0]](command))
    except struct.error as error:
        raise CodecError(f"{error}: {command!r}") from None
    if not strings:
        return head
    parts = [head]
    for index, optional in strings:
        value = command[index]
        if value is None:
            if not optional:
                raise CodecError(f"missing string in {command!r}")
            parts.append(b"\xff")
            continue
        if type(value) is not str:
            raise CodecError(f"expected a string, got {value!r} in {command!r}")
        data = value.encode("utf-8")
        if len(data) >= _NONE:
            raise CodecError(f"string field longer than {_NONE - 1} bytes: {value[:40]!r}...")
        parts.append(bytes((len(data),)))
        parts.append(data)
    return b"".join(parts)


def decode(payload: bytes) -> tuple[Any, ...]:
    """The command a payload holds, as a plain tuple of its schema's layout."""
    layout = _LAYOUTS.get(payload[0]) if payload else None
    if layout is None:
        raise CodecError(f"unknown command kind in {payload[:1]!r}")
    unpacker, numbers, strings = layout
    try:
        fixed = unpacker.unpack_from(payload)
    except struct.error:
        raise CodecError("payload ends inside its fixed fields") from None
    if not strings:
        if len(payload) != unpacker.size:
            raise CodecError("bytes left over after the fixed fields")
        return fixed
    values: list[Any] = [None] * (1 + len(numbers) + len(strings))
    values[0] = fixed[0]
    for index, value in zip(numbers, fixed[1:], strict=True):
        values[index] = value
    pos = unpacker.size
    try:
        for index, optional in strings:
            size = payload[pos]
            pos += 1
            if size == _NONE:
                if not optional:
                    raise CodecError("None in a string field that needs a value")
                continue
            end = pos + size
            if end > len(payload):
                raise CodecError("string runs past the payload")
            values[index] = payload[pos:end].decode("utf-8")
            pos = end
    except IndexError:
        raise CodecError("payload ends inside a string field") from None
    except UnicodeDecodeError as error:
        raise CodecError(f"bad UTF-8 in a string field: {error}") from None
    if pos != len(payload):
        raise CodecError(f"{len(payload) - pos} bytes left over")
    post_only = _BOOL_FIELDS.get(values[0])
    if post_only is not None:
        values[post_only] = bool(values[post_only])
    return tuple(values)


#: Bool fields travel as a byte; decode turns them back into bools.
_BOOL_FIELDS = {int(CommandKind.PLACE_ORDER): 10}
