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


def _show(tok: str) -> str:
    v = decode_value(tok)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bytes):
        return "x'" + v[:32].hex() + ("...'" if len(v) > 32 else "'")
    return "NULL" if v is None else repr(v)


def _readable_line(line: str) -> str:
    if line.startswith(">> "):  # a request the harness sent, as the log records it
        rid, _, rest = line[3:].partition(" ")
        verb, _, args = rest.partition(" ")
        toks = args.split()
        if verb == "sql" and len(toks) >= 2:
            conn, sql = decode_value(toks[0]), decode_value(toks[1])
            params = ", ".join(_show(t) for t in toks[2:])
            return f"> #{rid} {conn}: {sql}" + (f"   -- with ({params})" if params else "")
        return " ".join([f"> #{rid} {verb}", *(str(decode_value(t)) for t in toks)])
    if line.startswith("@"):  # a reply frame
        rid, _, rest = line[1:].partition(" ")
        kind, _, args = rest.partition(" ")
        toks = args.split()
        if kind == "K" and len(toks) == 2:
            return f"< #{rid} ok ({decode_value(toks[0])} changed, last rowid {decode_value(toks[1])})"
        if kind == "E" and len(toks) == 2:
            return f"< #{rid} error {toks[0]}: {decode_value(toks[1])}"
        if kind == "C":
            return f"< #{rid} columns: " + ", ".join(str(decode_value(t)) for t in toks[1:])
        if kind == "R":
            return f"< #{rid} row: (" + ", ".join(_show(t) for t in toks) + ")"
    return line


def readable_log(text: str) -> str:
    """A console log for a person: machine-mode requests (``>> ...``) and reply frames
    (``@id ...``) decoded into SQL and values, one line each; every other line (boot, log
    lines, interactive output) as it was.  A line that does not decode stays as it is."""
    out = []
    for line in text.split("\n"):
        try:
            out.append(_readable_line(line.rstrip("\r")))
        except (ValueError, IndexError):
            out.append(line)
    return "\n".join(out)
