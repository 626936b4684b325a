"""WAL durability on every board's flash: SQLite in WAL mode with exclusive locking on the board's
flash, through the console; data survives reboots and power cuts; the host reads the flash image
after a cut and Python's sqlite3 agrees with the target.  Each test that is about the storage
runs on both of the board's storages (``store``): littlefs (the default VFS) and the flash pool
(the "pool" VFS; the host reads its partition with walkit.image.pool)."""

from __future__ import annotations

import sqlite3

import pytest

from walkit.image.pool import pool_of_image
from walkit.sql import SqlError
from walkit.target.session import PoolSession

ROWS = [(i, f"row {i}", bytes([i % 256]) * (i % 7)) for i in range(1, 31)]


class Store:
    """One storage of the target: sessions on it, and its files as the host reads the image."""

    def __init__(self, name: str, target):
        self.name, self.target = name, target

    def session(self):
        """A session on this storage (call again after every boot: a boot is a new console)."""
        t = self.target
        return PoolSession(t.console, t) if self.name == "pool" else t.session()

    def files(self) -> dict[str, int]:
        """Path -> size of the files on this storage in the flash image, read on the host."""
        t = self.target
        if self.name == "pool":
            pool = pool_of_image(t.flash, t.board.name)
            return {n.decode(): len(c) for n, c in pool.contents.items()}
        return {f.path: f.size for f in t.flash_files()}

    def read(self, path: str) -> bytes:
        t = self.target
        if self.name == "pool":
            return pool_of_image(t.flash, t.board.name).read(path)
        return t.read_flash_file(path)


@pytest.fixture(params=["littlefs", "pool"])
def store(request, target) -> Store:
    return Store(request.param, target)


def _wal_db(session, path="/wal.db"):
    db = session.connect(path)
    assert db.execute("PRAGMA locking_mode=EXCLUSIVE") == [("exclusive",)]
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, s TEXT, b BLOB)")
    return db


def _insert_in_transactions(db, rows, per_txn=10):
    for i in range(0, len(rows), per_txn):
        db.execute("BEGIN")
        for r in rows[i:i + per_txn]:
            db.execute("INSERT INTO t VALUES (?, ?, ?)", r)
        db.execute("COMMIT")


def _reopen(store, path="/wal.db"):
    db = store.session().connect(path)
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    return db


def test_wal_with_exclusive_locking_has_a_wal_file_and_never_a_shm_file(target, store):
    s = store.session()
    db = _wal_db(s)
    assert not s.exists("/wal.db-shm")
    for i, r in enumerate(ROWS[:5]):
        db.execute("INSERT INTO t VALUES (?, ?, ?)", r)
        assert s.exists("/wal.db-wal"), f"no -wal after insert {i}"
        assert not s.exists("/wal.db-shm"), f"a -shm file after insert {i}"
    assert db.execute("PRAGMA journal_mode") == [("wal",)]
    assert db.execute("PRAGMA locking_mode") == [("exclusive",)]
    if store.name == "littlefs":  # the target's own listing (the console lists littlefs)
        names = {e[0] for e in target.console.ls("/")}
        assert "wal.db-wal" in names and not any(n.endswith("-shm") for n in names)
    target.power_cut()
    on_flash = set(store.files())
    assert "/wal.db-wal" in on_flash and not any(p.endswith("-shm") for p in on_flash)


def test_vfs_without_shm_methods_needs_exclusive_locking_for_wal(target):
    """The second VFS (no xShm methods): SQLite refuses WAL in normal locking mode, allows it
    with EXCLUSIVE, as it specifies for such VFSes."""
    s = target.session()
    db = s.connect("file:/noshm.db?vfs=walkit-noshm")
    assert db.execute("PRAGMA journal_mode=WAL") == [("delete",)]
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (1)")
    assert s.exists("/noshm.db-wal") and not s.exists("/noshm.db-shm")


def test_data_survives_every_kind_of_restart(target, store):
    db = _wal_db(store.session())
    _insert_in_transactions(db, ROWS[:10])
    target.reboot()  # power cut + boot
    db = _reopen(store)
    assert db.execute("SELECT * FROM t ORDER BY id") == ROWS[:10]
    _insert_in_transactions(db, ROWS[10:20])
    target.console_reboot()  # the firmware's .reboot: clean close, exit 126, powered up again
    assert target.boots == 3
    db = _reopen(store)
    assert db.execute("SELECT * FROM t ORDER BY id") == ROWS[:20]
    _insert_in_transactions(db, ROWS[20:])
    assert target.shutdown() == 0
    target.boot()
    db = _reopen(store)
    assert db.execute("SELECT * FROM t ORDER BY id") == ROWS
    assert db.execute("PRAGMA journal_mode") == [("wal",)]
    assert db.execute("PRAGMA integrity_check") == [("ok",)]


def _host_copy(store, tmp_path, name="wal.db"):
    """Copies the database and its WAL out of the flash image; returns a sqlite3 connection."""
    files = store.files()
    local = tmp_path / name
    local.write_bytes(store.read("/" + name))
    if f"/{name}-wal" in files:
        (tmp_path / f"{name}-wal").write_bytes(store.read(f"/{name}-wal"))
    return sqlite3.connect(local)


def test_power_cut_between_transactions_host_reads_the_image(target, store, tmp_path):
    db = _wal_db(store.session())
    _insert_in_transactions(db, ROWS)
    seen = db.execute("SELECT * FROM t ORDER BY id")
    assert seen == ROWS
    target.power_cut()  # right after the last COMMIT answered: between transactions

    files = store.files()
    assert files.get("/wal.db-wal", 0) > 0, files  # the committed rows are in the WAL
    host = _host_copy(store, tmp_path)
    try:
        assert host.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert host.execute("SELECT * FROM t ORDER BY id").fetchall() == seen
    finally:
        host.close()

    target.boot()
    db = _reopen(store)
    assert db.execute("PRAGMA integrity_check") == [("ok",)]
    assert db.execute("SELECT * FROM t ORDER BY id") == seen


def test_power_cut_inside_a_transaction_keeps_only_what_was_committed(target, store, tmp_path):
    db = _wal_db(store.session())
    db.execute("PRAGMA cache_size=10")  # spill uncommitted pages to the WAL on the flash
    _insert_in_transactions(db, ROWS[:10])
    before = target.console.stats()["flash.prog_ops"]
    db.execute("BEGIN")
    # Generated on the target: 150 KB through QEMU's UART would take seconds.
    db.execute("WITH RECURSIVE c(x) AS (SELECT 100 UNION ALL SELECT x + 1 FROM c WHERE x < 399) "
               "INSERT INTO t SELECT x, 'uncommitted', randomblob(500) FROM c")
    db.execute("INSERT INTO t VALUES (?, ?, ?)", (400, "uncommitted", b"\xee"))
    assert target.console.stats()["flash.prog_ops"] > before  # the open transaction hit the flash
    target.power_cut()

    host = _host_copy(store, tmp_path)
    try:
        assert host.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert host.execute("SELECT * FROM t ORDER BY id").fetchall() == ROWS[:10]
    finally:
        host.close()
    target.boot()
    db = _reopen(store)
    assert db.execute("SELECT count(*) FROM t WHERE s = 'uncommitted'") == [(0,)]
    assert db.execute("SELECT * FROM t ORDER BY id") == ROWS[:10]
    assert db.execute("PRAGMA integrity_check") == [("ok",)]


def test_committed_data_in_the_wal_is_readable_by_a_second_boot_before_any_checkpoint(target,
                                                                                      store):
    """No clean close ever happens: every boot ends with a cut, so the WAL is never
    checkpointed by a close; each boot recovers it and adds to it."""
    db = _wal_db(store.session())
    for k in range(3):
        db.execute("INSERT INTO t VALUES (?, ?, ?)", ROWS[k])
        target.reboot()
        db = _reopen(store)
        assert db.execute("SELECT * FROM t ORDER BY id") == ROWS[:k + 1]
    with pytest.raises(SqlError):
        db.execute("INSERT INTO t VALUES (?, ?, ?)", ROWS[0])  # still a primary key
