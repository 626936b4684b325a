"""WAL files as first-class objects: read, check, checkpoint and compact them (pure Python).

:mod:`walkit.wal.format` is the only reader and writer of the WAL format; ``walkit wal
inspect``, ``verify``, ``compact`` and the snapshot store all go through it.
"""

from __future__ import annotations

from .format import (
    Frame,
    Transaction,
    Wal,
    WalFormatError,
    WalHeader,
    build_wal,
    checksum,
    parse_wal,
    read_wal,
)
from .ops import Compaction, DbInfo, Verdict, checkpoint, compact, db_info, integrity_check, verify

__all__ = [
    "Compaction", "DbInfo", "Frame", "Transaction", "Verdict", "Wal", "WalFormatError",
    "WalHeader", "build_wal", "checkpoint", "checksum", "compact", "db_info", "integrity_check",
    "parse_wal", "read_wal", "verify",
]
