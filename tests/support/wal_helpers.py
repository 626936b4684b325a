"""Real SQLite databases and WALs for the tests, and oracles independent of walkit.wal.

WALs come from Python's sqlite3 with automatic checkpoints off; the files are copied while
the connection is still open (closing the last connection would checkpoint and delete the
WAL).  The byte-order rewrite and the checkpoint oracle here deliberately do not use
walkit.wal, so that walkit.wal is tested against SQLite and an independent reading of the
file format, not against itself.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

WAL_MAGIC = 0x377F0682


@dataclass
class DbFiles:
    db: bytes
    wal: bytes
    page_size: int


def _connect(path: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA wal_autocheckpoint=0")
    return con


def _run(con: sqlite3.Connection, stmt) -> None:
    if isinstance(stmt, tuple):
        con.execute(*stmt).fetchall()
    else:
        con.execute(stmt).fetchall()


def make_db(page_size: int, setup: list, transactions: list,
            open_tail: list | None = None, cache_pages: int | None = None) -> DbFiles:
    """A WAL-mode database: ``setup`` runs and is checkpointed into the database file, then
    each transaction runs (a list of statements in BEGIN..COMMIT, a list starting with
    "ROLLBACK" is rolled back instead, or a bare string such as a checkpoint pragma or VACUUM
    runs on its own).  A statement is SQL or (SQL, parameters).  ``open_tail`` runs in a transaction left open while the files are
    copied: with a small ``cache_pages`` its pages spill into the WAL uncommitted."""
    with tempfile.TemporaryDirectory(prefix="walkit-test-") as tmp:
        path = os.path.join(tmp, "t.db")
        con = _connect(path)
        con.execute(f"PRAGMA page_size={page_size}")
        assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        for stmt in setup:
            _run(con, stmt)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if cache_pages is not None:
            con.execute(f"PRAGMA cache_size={cache_pages}")
        for txn in transactions:
            if isinstance(txn, str):
                con.execute(txn).fetchall()
                continue
            rollback = bool(txn) and txn[0] == "ROLLBACK"
            con.execute("BEGIN")
            for stmt in txn[1:] if rollback else txn:
                _run(con, stmt)
            con.execute("ROLLBACK" if rollback else "COMMIT")
        if open_tail:
            con.execute("BEGIN")
            for stmt in open_tail:
                _run(con, stmt)
        files = DbFiles(Path(path).read_bytes(), Path(path + "-wal").read_bytes(), page_size)
        if open_tail:
            con.execute("ROLLBACK")
        con.close()
        return files


def sqlite_checkpoint(db: bytes, wal: bytes | None) -> bytes:
    """The database file after SQLite itself opens ``db`` with ``wal`` and runs
    ``PRAGMA wal_checkpoint(TRUNCATE)``."""
    with tempfile.TemporaryDirectory(prefix="walkit-ckpt-") as tmp:
        path = os.path.join(tmp, "c.db")
        Path(path).write_bytes(db)
        if wal is not None:
            Path(path + "-wal").write_bytes(wal)
        con = sqlite3.connect(path, isolation_level=None)
        busy = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        assert busy == 0
        con.close()
        return Path(path).read_bytes()


def sqlite_vacuum_into(db: bytes, wal: bytes | None) -> bytes:
    """``VACUUM INTO`` of the database SQLite sees in ``db`` + ``wal`` (a logical copy)."""
    with tempfile.TemporaryDirectory(prefix="walkit-vac-") as tmp:
        path = os.path.join(tmp, "v.db")
        out = os.path.join(tmp, "out.db")
        Path(path).write_bytes(db)
        if wal is not None:
            Path(path + "-wal").write_bytes(wal)
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("VACUUM INTO ?", (out,))
        con.close()
        return Path(out).read_bytes()


def sqlite_dump(db: bytes, wal: bytes | None = None) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="walkit-dump-") as tmp:
        path = os.path.join(tmp, "d.db")
        Path(path).write_bytes(db)
        if wal is not None:
            Path(path + "-wal").write_bytes(wal)
        con = sqlite3.connect(path)
        lines = list(con.iterdump())
        con.close()
        return lines


def _cksum(data: bytes, big: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack((">" if big else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def rechain(wal: bytes, big_endian: bool) -> bytes:
    """``wal`` with the other checksum byte order: the magic and the checksums of the header
    and of every frame of the valid prefix rewritten; frames after the prefix (and any partial
    frame) copied unchanged, so they stay invalid."""
    magic, version, ps, seq, salt1, salt2, c1, c2 = struct.unpack_from(">8I", wal)
    old_big = bool(magic & 1)
    assert magic & ~1 == WAL_MAGIC
    assert _cksum(wal[:24], old_big, 0, 0) == (c1, c2)
    head = struct.pack(">6I", WAL_MAGIC | int(big_endian), version, ps, seq, salt1, salt2)
    new = _cksum(head, big_endian, 0, 0)
    out = bytearray(head + struct.pack(">2I", *new))
    old = (c1, c2)
    off = 32
    while off + 24 + ps <= len(wal):
        pgno, commit, s1, s2, k1, k2 = struct.unpack_from(">6I", wal, off)
        page = wal[off + 24:off + 24 + ps]
        old = _cksum(page, old_big, *_cksum(wal[off:off + 8], old_big, *old))
        if (s1, s2) != (salt1, salt2) or pgno == 0 or old != (k1, k2):
            break
        new = _cksum(page, big_endian, *_cksum(wal[off:off + 8], big_endian, *new))
        out += struct.pack(">6I", pgno, commit, s1, s2, *new) + page
        off += 24 + ps
    out += wal[off:]
    return bytes(out)


def set_commit(wal: bytes, frame: int, db_pages: int) -> bytes:
    """``wal`` with the commit field of frame ``frame`` (1-based) set to ``db_pages`` and the
    checksum chain of all whole frames recomputed in the file's byte order."""
    magic, version, ps, seq, salt1, salt2, c1, c2 = struct.unpack_from(">8I", wal)
    big = bool(magic & 1)
    out = bytearray(wal)
    struct.pack_into(">I", out, 32 + (frame - 1) * (24 + ps) + 4, db_pages)
    prev = (c1, c2)
    off = 32
    while off + 24 + ps <= len(out):
        prev = _cksum(bytes(out[off + 24:off + 24 + ps]), big, *_cksum(bytes(out[off:off + 8]), big, *prev))
        struct.pack_into(">2I", out, off + 16, *prev)
        off += 24 + ps
    return bytes(out)


class Device:
    """A live WAL-mode database, as on a device: transactions commit into the WAL (no
    automatic checkpoints) and :meth:`files` copies the database and WAL files as they are."""

    def __init__(self, page_size: int = 1024) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="walkit-dev-")
        self.path = os.path.join(self._tmp.name, "app.db")
        self.con = _connect(self.path)
        self.con.execute(f"PRAGMA page_size={page_size}")
        assert self.con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"

    def txn(self, *stmts) -> None:
        self.con.execute("BEGIN")
        for s in stmts:
            _run(self.con, s)
        self.con.execute("COMMIT")

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        self.con.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def files(self) -> tuple[bytes, bytes | None]:
        wal = Path(self.path + "-wal")
        return Path(self.path).read_bytes(), wal.read_bytes() if wal.exists() else None

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()


# ---- small helpers for the tests of walkit.wal

T = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"


def ins(n: int, size: int = 300):
    """n inserts of random blobs of size bytes into T's table."""
    return [("INSERT INTO t(v) VALUES (?)", (os.urandom(size),)) for _ in range(n)]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def digest(*paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
