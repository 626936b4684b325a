"""A small real snapshot store to damage: a full snapshot 1, incrementals 2 (on 1) and 3 (on 2)."""

from __future__ import annotations

import json
from pathlib import Path

from support.wal_helpers import Device
from walkit.snapshot import open_store


def _blob(n: int, seed: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(n))


def build_store(root: Path) -> Path:
    d = Device(1024)
    try:
        d.txn("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)",
              *[("INSERT INTO t(v) VALUES (?)", (_blob(900, i),)) for i in range(30)])
        d.checkpoint("TRUNCATE")
        for n in range(3):
            d.txn(("UPDATE t SET v = ? WHERE id = ?", (_blob(900, 100 + n), n + 1)))
            db, wal = d.files()
            with open_store(root) as store:
                store.take(db, wal, "device")
    finally:
        d.close()
    kinds = [(m["kind"], m["parent"]) for m in json.loads((root / "manifest.json").read_text())["snapshots"]]
    assert kinds == [("full", None), ("incremental", 1), ("incremental", 2)], kinds
    return root
