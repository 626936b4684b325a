"""SQL values that must survive every trip (the console codec on the host, a board's console and
SQLite's storage): edge-case integers and floats, texts with every character class, blobs with
every byte value."""

from __future__ import annotations

import math
import os

ALL_BYTES = bytes(range(256))
TEXTS = [
    "",
    "plain",
    " spaces  and\ttabs\r\nand newlines\n",
    "%41 is not an escape here; 100% sure",
    "".join(map(chr, range(1, 256))) + "\x00in the middle\x00",
    "snowman \u2603, emoji \U0001F600, CJK \u6f22\u5b57",
    # Bytes that are not UTF-8 at all, carried as lone surrogates (surrogateescape).
    ALL_BYTES.decode("utf-8", "surrogateescape"),
]
BLOBS = [b"", ALL_BYTES, bytes(reversed(ALL_BYTES)) * 3, b"\n" * 10 + b"@1 K I0 I0\n", os.urandom(6000)]
INTS = [0, 1, -1, 255, -(1 << 63), (1 << 63) - 1, 1 << 53]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e308, -1e-308, 5e-324, math.pi, math.inf, -math.inf]
