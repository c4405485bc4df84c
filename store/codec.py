"""Command codec: stamped commands ↔ compact bytes, the payload of a journal record.

A payload is the command kind (1 byte) followed by the command's fields in schema order
(``matcher.commands``), each field packed by its type:

- ``I`` a signed integer: zig-zag varint (1 byte up to ±63, 2 up to ±8191, ...), so small ids,
  prices and quantities take a byte or two and amounts of any size fit;
- ``S`` a string: varint length + UTF-8; ``O`` an optional string: as ``S``, with length+1 and 0
  for None;
- ``B`` a bool: one byte.

Format version 1. Compatibility rule: a later version may add command kinds and append fields at
the end of a kind's layout (a decoder fills appended fields it does not find with their
defaults); it never reorders, removes or retypes a field, so every journal written now stays
readable. The version is written in each segment's header (``store.journal``).
"""

from __future__ import annotations

from typing import Any

from matcher.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CommandKind,
    Deposit,
    PlaceOrder,
    Tick,
    Withdraw,
)

FORMAT_VERSION = 1

#: Per command kind, the type code of each field after ``kind`` (seq and ts included).
LAYOUTS: dict[int, str] = {
    int(CommandKind.PLACE_ORDER): "IIISIIIIIBIOI",
    int(CommandKind.CANCEL_ORDER): "IIISIO",
    int(CommandKind.CANCEL_ALL): "IIIS",
    int(CommandKind.AMEND_ORDER): "IIISIII",
    int(CommandKind.DEPOSIT): "IIISIS",
    int(CommandKind.WITHDRAW): "IIISI",
    int(CommandKind.TICK): "II",
}

_SCHEMAS: dict[int, type[Command]] = {
    int(cls.KIND): cls for cls in (PlaceOrder, CancelOrder, CancelAll, AmendOrder, Deposit, Withdraw, Tick)
}


class CodecError(ValueError):
    """A payload that does not decode, or a command that cannot be encoded."""


def _check_layouts() -> None:
    for kind, layout in LAYOUTS.items():
        if len(layout) != len(_SCHEMAS[kind]._fields) - 1:
            raise AssertionError(f"codec layout of {_SCHEMAS[kind].__name__} does not match its fields")


_check_layouts()


def encode(command: tuple[Any, ...]) -> bytes:
    """The payload of a stamped command (a typed command or a plain tuple of its layout)."""
    kind = command[0]
    layout = LAYOUTS.get(kind)
    if layout is None or len(command) != len(layout) + 1:
        raise CodecError(f"not an encodable command: {command!r}")
    out = bytearray((kind,))
    for code, value in zip(layout, command[1:], strict=True):
        if code == "I":
            if type(value) is not int and type(value) is not bool:
                raise CodecError(f"expected an integer, got {value!r} in {command!r}")
            _put_varint(out, value * 2 if value >= 0 else -value * 2 - 1)
        elif code == "B":
            out.append(1 if value else 0)
        elif code == "S" or code == "O":
            if value is None:
                if code == "S":
                    raise CodecError(f"missing string in {command!r}")
                out.append(0)
                continue
            data = str(value).encode("utf-8")
            _put_varint(out, len(data) + (code == "O"))
            out += data
    return bytes(out)


def decode(payload: bytes) -> tuple[Any, ...]:
    """The command a payload holds, as a plain tuple of its schema's layout."""
    if not payload:
        raise CodecError("empty payload")
    kind = payload[0]
    layout = LAYOUTS.get(kind)
    if layout is None:
        raise CodecError(f"unknown command kind {kind}")
    values: list[Any] = [kind]
    pos = 1
    try:
        for code in layout:
            if code == "I":
                raw, pos = _get_varint(payload, pos)
                values.append((raw >> 1) ^ -(raw & 1))
            elif code == "B":
                values.append(payload[pos] != 0)
                pos += 1
            else:
                size, pos = _get_varint(payload, pos)
                if code == "O":
                    if size == 0:
                        values.append(None)
                        continue
                    size -= 1
                end = pos + size
                if end > len(payload):
                    raise CodecError("string runs past the payload")
                values.append(payload[pos:end].decode("utf-8"))
                pos = end
    except IndexError:
        raise CodecError("payload ends inside a field") from None
    except UnicodeDecodeError as error:
        raise CodecError(f"bad UTF-8 in a string field: {error}") from None
    if pos != len(payload):
        raise CodecError(f"{len(payload) - pos} bytes left over after a {_SCHEMAS[kind].__name__}")
    return tuple(values)


def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
