"""Snapshots of device databases: full (checkpointed database) and incremental (compacted
WAL) ones in a store that survives a crash at any step of saving one (:mod:`.store`), with
every durable file operation going through one layer (:mod:`.fsops`)."""

from __future__ import annotations

from .fsops import Crash, FaultyOps, FileOps
from .store import DamagedStore, SnapshotStore, Taken, open_store

__all__ = ["Crash", "DamagedStore", "FaultyOps", "FileOps", "SnapshotStore", "Taken", "open_store"]
