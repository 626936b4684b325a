"""The oracle of the built-in workload (firmware/workload.c): what a recovered database may be.

The target answers ``.workload check`` with (integrity, k, stored, scanned, expected): the
integrity_check line, the last committed transaction k (-1: no schema committed), the digest
stored with k, the digest of the rows as read and the digest transaction k must leave.  The
host reads the same image on its own (littlefs-python or walkit.image.pool, whichever storage
the database is on, then Python's sqlite3) into the same tuple.
A recovered state is right when:

* integrity_check says ``ok`` (or the database was never created, k = -1);
* stored == scanned == expected: the rows are exactly the state after transactions 0..k, so no
  partial transaction is visible;
* k <= last acknowledged + 1 (at most the one transaction whose COMMIT had returned but whose
  acknowledgement the cut swallowed);
* synchronous=FULL: k >= the last acknowledged transaction (nothing acknowledged is lost);
  synchronous=NORMAL: any such prefix (WAL's documented trade: the last commits before a cut
  may be lost, never half of one);
* the host's reading agrees with the target's (integrity, k, scanned).
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
import zlib
from pathlib import Path

from .. import WalkitError

MASK = (1 << 64) - 1
DB = "/wl.db"
STORAGES = ("littlefs", "pool")


def target_path(storage: str, db: str = DB) -> str:
    """What the target opens for ``db`` on ``storage``: littlefs is the default VFS, the flash
    pool is the firmware's "pool" VFS, picked by a URI filename."""
    if storage not in STORAGES:
        raise WalkitError(f"--storage {storage}: expected one of {', '.join(STORAGES)}")
    return db if storage == "littlefs" else f"file:{db}?vfs=pool"


def row_crc(rid: int, ver: int, body: bytes) -> int:
    """CRC-32 of le64(id) || le64(ver) || body, as workload.c's row_crc."""
    return zlib.crc32(body, zlib.crc32(struct.pack("<QQ", rid & MASK, ver & MASK)))


def check_sqlite(path: Path) -> tuple[str, int, int, int]:
    """(integrity, k, stored, scanned) of the workload database file at ``path`` (its -wal
    beside it is recovered by SQLite)."""
    con = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        tables = con.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").fetchone()[0]
        if tables == 0:
            return integrity, -1, 0, 0
        k, stored = con.execute("SELECT k, digest FROM meta").fetchone()
        scanned = 0
        for rid, ver, body in con.execute("SELECT id, ver, body FROM t"):
            scanned += row_crc(rid, ver, body)
        return integrity, k, stored & MASK, scanned & MASK
    finally:
        con.close()


def check_image(flash: Path, board: str, db: str = DB,
                storage: str = "littlefs") -> tuple[str, int, int, int]:
    """The host's own reading of a flash image: the database and its WAL copied out of the
    littlefs (littlefs-python) or the flash pool partition (walkit.image.pool), then
    :func:`check_sqlite`.  ("missing", -1, 0, 0) when the database file does not exist.  Raises
    WalkitError when the filesystem, the pool or the database cannot be read."""
    from ..image import open_image
    from ..image.pool import open_pool

    target_path(storage, db)  # a known storage
    with (open_pool if storage == "pool" else open_image)(flash, board) as img:
        if not img.exists(db):
            return "missing", -1, 0, 0
        files = {db: img.read(db)}
        for suffix in ("-wal", "-journal"):
            if img.exists(db + suffix):
                files[db + suffix] = img.read(db + suffix)
    with tempfile.TemporaryDirectory(prefix="walkit-check-") as d:
        for name, data in files.items():
            (Path(d) / name.lstrip("/")).write_bytes(data)
        try:
            return check_sqlite(Path(d) / db.lstrip("/"))
        except sqlite3.DatabaseError as e:
            raise WalkitError(f"host: {db}: {e}") from None


def judge(target: tuple, host: tuple | None, last_ack: int, sync: str) -> str | None:
    """None when the recovered state is right (module docstring), else why not, in a line.
    ``target``: the check row (integrity, k, stored, scanned, expected) with unsigned digests;
    ``host``: :func:`check_image`'s tuple, or None when the host was not asked."""
    integrity, k, stored, scanned, expected = target
    if k < 0:
        if integrity not in ("ok", "missing"):
            return f"integrity_check: {integrity}"
    else:
        if integrity != "ok":
            return f"integrity_check: {integrity}"
        if not stored == scanned == expected:
            return (f"the rows are not the state after transaction {k}: digest stored {stored:#x}, "
                    f"read {scanned:#x}, expected {expected:#x} (a partial or damaged transaction)")
    if k > last_ack + 1:
        return f"transaction {k} is committed but only {last_ack} were acknowledged"
    if sync == "full" and k < last_ack:
        return (f"synchronous=FULL lost acknowledged transactions: {last_ack} acknowledged, "
                f"{k} present")
    if host is not None:
        h_int, h_k, _h_stored, h_scanned = host
        if (h_int, h_k) != (integrity, k) or (k >= 0 and h_scanned != scanned):
            return (f"host and target disagree: host ({h_int}, k={h_k}, {h_scanned:#x}), target "
                    f"({integrity}, k={k}, {scanned:#x})")
    return None
