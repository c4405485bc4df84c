"""Command codec: stamped commands ↔ compact bytes, the payload of a journal record.

A payload is the command kind (1 byte), then the command's fixed-width fields packed
little-endian with ``struct`` (integers as int64, bools and small enums as one byte), then its
strings, each as a 1-byte length + UTF-8 (an optional string uses 255 for None).

Speed: the journal sits on the order path, so each kind gets its own encoder and decoder, made
once from its layout below (one ``struct`` call, no loop over fields). Name fields (symbol,
asset) come from a small set, so their encoded bytes and decoded strings are cached; a decoded
name is then the same ``str`` object each time, whose hash is already known.

Format version 1. Compatibility rule: a later version may add command kinds, and may append
fields to a kind only behind a new kind number; it never changes an existing layout, so every
journal written now stays readable. The version is written in each segment's header (the journal).
Integers outside int64 and strings over 254 bytes are refused (``CodecError``); the engine's own
limits are far inside both.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from matcher.commands import CommandKind

FORMAT_VERSION = 1
_NONE = 255
#: At most this many distinct names are cached (symbols and assets are a few dozen).
_NAME_CACHE_LIMIT = 4096

Encoder = Callable[[tuple[Any, ...]], bytes]
Decoder = Callable[[bytes], tuple[Any, ...]]
Stamper = Callable[[tuple[Any, ...], int, int], tuple[tuple[Any, ...], bytes]]


class CodecError(ValueError):
    """A payload that does not decode, or a command that cannot be encoded."""


#: Each command kind's encoder (see ``_layout``).
ENCODERS: dict[int, Encoder] = {}
#: Each command kind's stamper, the sequencer's path: ``STAMPERS[kind](command, seq, ts)`` is
#: ``(stamped, payload)``, the command with ``seq`` and ``ts`` in its slots and the stamped
#: command's payload (what ``ENCODERS[kind](stamped)`` gives), made in one pass. It raises what
#: an encoder raises (``ENCODE_ERRORS``).
STAMPERS: dict[int, Stamper] = {}
_DECODERS: dict[int, Decoder] = {}
_encoded_names: dict[str, bytes] = {}
_decoded_names: dict[bytes, str] = {}
#: A name's bytes followed by an absent optional string: the tail of most orders and cancels.
_name_then_none: dict[str, bytes] = {}


#: What a kind's encoder raises for a command that does not fit its layout; with ``KeyError`` for
#: an unknown kind, what a caller of ``ENCODERS[kind](command)`` catches (``encode`` does this).
ENCODE_ERRORS = (struct.error, IndexError, TypeError, ValueError, KeyError)


def encode(command: tuple[Any, ...]) -> bytes:
    """The payload of a stamped command (a typed command or a plain tuple of its layout)."""
    encoder = ENCODERS.get(command[0]) if command else None
    if encoder is None:
        raise CodecError(f"not an encodable command: {command!r}")
    try:
        return encoder(command)
    except ENCODE_ERRORS as error:
        raise CodecError(f"{error}: {command!r}") from None


def decode(payload: bytes) -> tuple[Any, ...]:
    """The command a payload holds, as a plain tuple of its schema's layout."""
    decoder = _DECODERS.get(payload[0]) if payload else None
    if decoder is None:
        raise CodecError(f"unknown command kind in {payload[:1]!r}")
    try:
        return decoder(payload)
    except struct.error:
        raise CodecError("payload ends inside its fixed fields") from None
    except IndexError:
        raise CodecError("payload ends inside a string field") from None
    except UnicodeDecodeError as error:
        raise CodecError(f"bad UTF-8 in a string field: {error}") from None


# ------------------------------------------------------------------------------- strings


def _text(value: Any) -> bytes:
    """A string field's bytes: length + UTF-8."""
    if type(value) is not str:
        raise TypeError(f"expected a string, got {value!r}")
    data = value.encode("utf-8")
    if len(data) >= _NONE:
        raise ValueError(f"string field longer than {_NONE - 1} bytes: {value[:40]!r}...")
    return bytes((len(data),)) + data


def _optional_text(value: Any) -> bytes:
    """An optional string field's bytes: the None marker, or as ``_text``."""
    return b"\xff" if value is None else _text(value)


def _name(value: Any) -> bytes:
    """A name field's bytes (as ``_text``), cached."""
    cached = _encoded_names.get(value)
    if cached is None:
        cached = _text(value)
        if len(_encoded_names) < _NAME_CACHE_LIMIT:
            _encoded_names[value] = cached
    return cached


def _read_bytes(payload: bytes, pos: int) -> tuple[bytes | None, int]:
    """The raw bytes of the string field at ``pos`` (None for the None marker), and the end."""
    size = payload[pos]
    pos += 1
    if size == _NONE:
        return None, pos
    end = pos + size
    if end > len(payload):
        raise CodecError("string runs past the payload")
    return payload[pos:end], end


def _read_text(payload: bytes, pos: int) -> tuple[str, int]:
    raw, end = _read_bytes(payload, pos)
    if raw is None:
        raise CodecError("None in a string field that needs a value")
    return raw.decode("utf-8"), end


def _read_optional_text(payload: bytes, pos: int) -> tuple[str | None, int]:
    raw, end = _read_bytes(payload, pos)
    return (None if raw is None else raw.decode("utf-8")), end


def _read_name(payload: bytes, pos: int) -> tuple[str, int]:
    """As ``_read_text``, the same ``str`` object for the same name (cached)."""
    raw, end = _read_bytes(payload, pos)
    text = _decoded_names.get(raw) if raw is not None else None
    if text is None:
        text, end = _read_text(payload, pos)
        if len(_decoded_names) < _NAME_CACHE_LIMIT:
            _decoded_names[text.encode("utf-8")] = text
    return text, end


_READERS = {"N": _read_name, "S": _read_text, "O": _read_optional_text}


# ------------------------------------------------------------------------------- layouts


def _layout(kind: CommandKind, fields: str) -> None:
    """Register a kind. ``fields`` codes each slot after kind: ``q`` int64, ``B`` a byte, ``?`` a
    bool (one byte, 0 or 1), ``N`` a name (a string, cached), ``S`` a string, ``O`` an optional
    string."""
    size = 1 + len(fields)
    numbers = (0, *(i + 1 for i, code in enumerate(fields) if code in "qB?"))
    strings = tuple((i + 1, code) for i, code in enumerate(fields) if code in "NSO")
    packer = struct.Struct("<B" + "".join(code for code in fields if code in "qB?"))
    fixed = itemgetter(*numbers)
    pack = packer.pack

    writers = tuple((index, _name if code == "N" else _optional_text if code == "O" else _text)
                    for index, code in strings)  # fmt: skip

    if not writers:

        def encode_kind(command: tuple[Any, ...]) -> bytes:
            if len(command) != size:
                raise ValueError(f"{len(command)} fields where {size} were expected")
            return pack(*fixed(command))

    elif len(writers) == 1:
        ((at, write),) = writers

        def encode_kind(command: tuple[Any, ...]) -> bytes:
            if len(command) != size:
                raise ValueError(f"{len(command)} fields where {size} were expected")
            return pack(*fixed(command)) + write(command[at])

    elif tuple(code for _, code in strings) == ("N", "O"):  # orders and cancels: the hot kinds
        (name_at, _), (optional_at, _) = writers

        def encode_kind(command: tuple[Any, ...]) -> bytes:
            if len(command) != size:
                raise ValueError(f"{len(command)} fields where {size} were expected")
            return pack(*fixed(command)) + _strings(command[name_at], command[optional_at])

    else:
        (first_at, write_first), (second_at, write_second) = writers

        def encode_kind(command: tuple[Any, ...]) -> bytes:
            if len(command) != size:
                raise ValueError(f"{len(command)} fields where {size} were expected")
            return pack(*fixed(command)) + write_first(command[first_at]) + write_second(command[second_at])

    readers = tuple(_READERS[code] for _, code in strings)
    cuts = tuple(sum(1 for n in numbers if n < index) for index, _ in strings)
    fixed_size = packer.size
    unpack = packer.unpack_from

    if not readers:

        def decode_kind(payload: bytes) -> tuple[Any, ...]:
            if len(payload) != fixed_size:
                raise CodecError("the payload's size does not match its kind")
            return unpack(payload)

    elif len(readers) == 1:
        (read,), (cut,) = readers, cuts

        def decode_kind(payload: bytes) -> tuple[Any, ...]:
            values = unpack(payload)
            text, end = read(payload, fixed_size)
            if end != len(payload):
                raise CodecError(f"{len(payload) - end} bytes left over")
            return (*values[:cut], text, *values[cut:])

    else:
        (read_first, read_second), (first_cut, second_cut) = readers, cuts

        def decode_kind(payload: bytes) -> tuple[Any, ...]:
            values = unpack(payload)
            first, pos = read_first(payload, fixed_size)
            second, end = read_second(payload, pos)
            if end != len(payload):
                raise CodecError(f"{len(payload) - end} bytes left over")
            return (*values[:first_cut], first, *values[first_cut:second_cut], second, *values[second_cut:])

    ENCODERS[int(kind)] = encode_kind
    STAMPERS[int(kind)] = _stamper(encode_kind)
    _DECODERS[int(kind)] = decode_kind


def _stamper(encode_kind: Encoder) -> Stamper:
    """The stamper of a kind without one written out: stamp, then encode."""

    def stamp_kind(command: tuple[Any, ...], seq: int, ts: int) -> tuple[tuple[Any, ...], bytes]:
        stamped = (command[0], seq, ts) + command[3:]
        return stamped, encode_kind(stamped)

    return stamp_kind


def _strings(name: Any, optional: Any) -> bytes:
    """The string fields of an order or a cancel: its symbol, then its optional client id."""
    if optional is not None:
        return _name(name) + _text(optional)
    tail = _name_then_none.get(name)
    if tail is None:
        tail = _name(name) + b"\xff"
        if len(_name_then_none) < _NAME_CACHE_LIMIT:
            _name_then_none[name] = tail
    return tail


_INT64 = struct.Struct("<q")
_COUNT = struct.Struct("<I")


def _rare_layout(kind: CommandKind, fields: str) -> None:
    """Register a rarely sent kind, field by field in order (no speed needed): ``q`` int64, ``N``
    and ``S`` strings, ``L`` a list of int64 (a u32 count, then the values)."""
    size = 1 + len(fields)

    def encode_kind(command: tuple[Any, ...]) -> bytes:
        if len(command) != size:
            raise ValueError(f"{len(command)} fields where {size} were expected")
        parts = [bytes((command[0],))]
        for code, value in zip(fields, command[1:], strict=True):
            if code == "q":
                parts.append(_INT64.pack(value))
            elif code == "L":
                if type(value) not in (tuple, list):
                    raise TypeError(f"expected a list of integers, got {value!r}")
                parts.append(_COUNT.pack(len(value)) + struct.pack(f"<{len(value)}q", *value))
            else:
                parts.append(_name(value) if code == "N" else _text(value))
        return b"".join(parts)

    def decode_kind(payload: bytes) -> tuple[Any, ...]:
        values: list[Any] = [payload[0]]
        pos = 1
        for code in fields:
            if code == "q":
                values.append(_INT64.unpack_from(payload, pos)[0])
                pos += 8
            elif code == "L":
                (count,) = _COUNT.unpack_from(payload, pos)
                values.append(struct.unpack_from(f"<{count}q", payload, pos + 4))
                pos += 4 + 8 * count
            else:
                text, pos = (_read_name if code == "N" else _read_text)(payload, pos)
                values.append(text)
        if pos != len(payload):
            raise CodecError(f"{len(payload) - pos} bytes left over")
        return tuple(values)

    ENCODERS[int(kind)] = encode_kind
    STAMPERS[int(kind)] = _stamper(encode_kind)
    _DECODERS[int(kind)] = decode_kind


# Slots in schema order (matcher.commands): seq, ts, account, then the command's own.
_layout(CommandKind.PLACE_ORDER, "qqqNBBqqB?BOq")
_layout(CommandKind.CANCEL_ORDER, "qqqNqO")
_layout(CommandKind.CANCEL_ALL, "qqqN")
_layout(CommandKind.AMEND_ORDER, "qqqNqqq")
_layout(CommandKind.DEPOSIT, "qqqNqS")
_layout(CommandKind.WITHDRAW, "qqqNq")
_layout(CommandKind.TICK, "qq")
_rare_layout(CommandKind.SET_REFERENCE, "qqqNqqSS")
_rare_layout(CommandKind.SET_SESSIONS, "qqqLLqL")
_rare_layout(CommandKind.SET_TRADING_STATUS, "qqqNqq")


# ------------------------------------------------------------------------------- hot stampers
# Orders and cancels are nearly all traffic: their stampers are written out, unpacking the fields
# once and packing them in one call, where the generic one builds the stamped tuple, then picks
# the fixed fields out of it again (tests check both give the encoders' bytes).

_PLACE_FIXED = struct.Struct("<BqqqBBqqB?Bq")  # PLACE_ORDER's fixed fields, as in its layout
_CANCEL_FIXED = struct.Struct("<Bqqqq")  # CANCEL_ORDER's


def _stamp_place(command: tuple[Any, ...], seq: int, ts: int) -> tuple[tuple[Any, ...], bytes]:
    kind, _, _, account, symbol, side, order_type, price, qty, tif, post_only, stp, cid, expire_at = command
    fixed = _PLACE_FIXED.pack(
        kind, seq, ts, account, side, order_type, price, qty, tif, post_only, stp, expire_at
    )
    stamped = (
        kind,
        seq,
        ts,
        account,
        symbol,
        side,
        order_type,
        price,
        qty,
        tif,
        post_only,
        stp,
        cid,
        expire_at,
    )
    tail = _name_then_none.get(symbol) if cid is None else None
    return stamped, fixed + (tail or _strings(symbol, cid))


def _stamp_cancel(command: tuple[Any, ...], seq: int, ts: int) -> tuple[tuple[Any, ...], bytes]:
    kind, _, _, account, symbol, order_id, cid = command
    fixed = _CANCEL_FIXED.pack(kind, seq, ts, account, order_id)
    tail = _name_then_none.get(symbol) if cid is None else None
    return (kind, seq, ts, account, symbol, order_id, cid), fixed + (tail or _strings(symbol, cid))


STAMPERS[int(CommandKind.PLACE_ORDER)] = _stamp_place
STAMPERS[int(CommandKind.CANCEL_ORDER)] = _stamp_cancel
