"""What the tests of walkit.image share: the board whose geometry they use, a file's digest,
and for the pool's tests a reader on the native session's pool image and a planted copy of a
session folder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

BOARD = "qemu-virt-a15"


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def pool_of(buf: bytes):
    """The host reader on a native pool session's image (host-sim's geometry)."""
    from walkit.image.pool import Pool
    from walkit.native import POOL_GEOMETRY

    return Pool(buf, POOL_GEOMETRY["erase_block"], POOL_GEOMETRY["prog_size"])


def planted(base: Path, tmp: Path, plant) -> tuple[Path, bytes]:
    """A copy of the session folder base in tmp/case whose pool image plant(buf, pool) changed
    in place (buf a bytearray, pool the reader's view before); the folder and the new bytes."""
    from walkit.native import POOL_IMAGE

    d = tmp / "case"
    shutil.copytree(base, d)
    buf = bytearray((d / POOL_IMAGE).read_bytes())
    plant(buf, pool_of(bytes(buf)))
    (d / POOL_IMAGE).write_bytes(buf)
    return d, bytes(buf)
