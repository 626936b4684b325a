"""The value codec of the console's machine mode (docs/console.md): one token per SQLite value."""

from __future__ import annotations

import struct
from typing import Any

_TEXT_SAFE = frozenset(range(0x21, 0x7F)) - {ord("%")}
_HEX = "0123456789ABCDEF"


def encode_text_bytes(data: bytes) -> str:
    return "T" + "".join(chr(b) if b in _TEXT_SAFE else "%" + _HEX[b >> 4] + _HEX[b & 15]
                         for b in data)


def encode_value(v: Any) -> str:
    """One value token.  ``str`` is sent as UTF-8 (lone surrogates from ``surrogateescape``
    decoding become the bytes they stand for, so any byte string survives as TEXT)."""
    if v is None:
        return "N"
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        if not -(1 << 63) <= v < (1 << 63):
            raise OverflowError(f"integer {v} does not fit SQLite's 64 bits")
        return f"I{v}"
    if isinstance(v, float):
        return "F" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return encode_text_bytes(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "B" + bytes(v).hex()
    raise TypeError(f"cannot send a {type(v).__name__} to SQLite (None, int, float, str, bytes)")


def _unescape(tok: str) -> bytes:
    out = bytearray()
    i, n = 0, len(tok)
    while i < n:
        c = tok[i]
        if c == "%":
            if i + 3 > n:
                raise ValueError("truncated %XX escape")
            out.append(int(tok[i + 1:i + 3], 16))
            i += 3
        else:
            if not 0x21 <= ord(c) < 0x7F:
                raise ValueError(f"raw byte {ord(c):#x} in a text token")
            out.append(ord(c))
            i += 1
    return bytes(out)


def decode_value(tok: str) -> Any:
    """The inverse of :func:`encode_value`; TEXT decodes as UTF-8 with ``surrogateescape``."""
    kind, body = tok[:1], tok[1:]
    if kind == "N" and not body:
        return None
    if kind == "I":
        return int(body)
    if kind == "F" and len(body) == 16:
        return struct.unpack(">d", bytes.fromhex(body))[0]
    if kind == "T":
        return _unescape(body).decode("utf-8", "surrogateescape")
    if kind == "B" and len(body) % 2 == 0:
        return bytes.fromhex(body)
    raise ValueError(f"bad value token {tok[:40]!r}")
