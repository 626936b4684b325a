"""What the tests of walkit.image share: the board whose geometry they use, a file's digest."""

from __future__ import annotations

import hashlib

BOARD = "qemu-virt-a15"


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()
