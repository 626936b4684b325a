"""The WAL-index's life, through the walkit.sql.Session protocol: a WAL-index larger
than one 32 KiB region, the last connection checkpointing and deleting the WAL, exclusive
locking mode, and no -shm file at any point."""

from __future__ import annotations

import pytest

from walkit.sql import SQLITE_BUSY, SqlError

# Frames indexed by region 0 of the WAL-index: (32768 - 136 header bytes) / 8 per entry,
# rounded down to the hash table's page-number array.  Frame 4063 is the first in region 1.
FRAMES_IN_REGION_0 = 4062


def wal_connection(session, path="t.db", page_size=None):
    c = session.connect(path)
    c.execute("PRAGMA busy_timeout=0")
    if page_size:
        c.execute(f"PRAGMA page_size={page_size}")
    assert c.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    return c


def test_wal_index_beyond_one_region(session):
    # Small pages keep the WAL small (~2.4 MB) while it indexes more frames than region 0 holds.
    w = wal_connection(session, page_size=512)
    w.execute("PRAGMA wal_autocheckpoint=0")
    w.execute("CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB)")
    w.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4300) "
              "INSERT INTO big SELECT i, zeroblob(400) || randomblob(8) FROM n")
    digest = "SELECT count(*), sum(length(b)), group_concat(hex(substr(b, 401)), '') FROM big"
    expect = w.execute(digest)

    # Another connection reads every page through the WAL-index (its hash tables span two
    # regions), then the same after a commit that lands in region 1.
    r = session.connect("t.db")
    assert r.execute(digest) == expect
    w.execute("UPDATE big SET b = zeroblob(408) WHERE id = 4300")
    assert r.execute("SELECT b = zeroblob(408) FROM big WHERE id = 4300") == [(1,)]
    busy, log, done = tuple(r.execute("PRAGMA wal_checkpoint(PASSIVE)")[0])
    assert busy == 0 and log > FRAMES_IN_REGION_0 and done == log
    assert r.execute("PRAGMA integrity_check") == [("ok",)]
    assert not session.exists("t.db-shm")


def test_last_connection_checkpoints_and_deletes_wal(session):
    a = wal_connection(session)
    a.execute("PRAGMA wal_autocheckpoint=0")
    a.execute("CREATE TABLE t(x)")
    a.execute("INSERT INTO t VALUES (1), (2), (3)")
    b = session.connect("t.db")
    assert b.execute("SELECT count(*) FROM t") == [(3,)]
    assert session.exists("t.db-wal")
    a.close()
    assert session.exists("t.db-wal"), "not the last connection: the WAL stays"
    b.execute("INSERT INTO t VALUES (4)")
    b.close()
    assert not session.exists("t.db-wal"), "the last connection checkpoints and deletes the WAL"
    assert not session.exists("t.db-shm")
    c = session.connect("t.db")
    assert c.execute("SELECT sum(x) FROM t") == [(10,)]
    assert c.execute("PRAGMA journal_mode") == [("wal",)], "WAL mode is persistent"
    c.close()


def test_exclusive_locking_mode_before_wal(session):
    """locking_mode=EXCLUSIVE before the first WAL access: SQLite keeps the WAL-index in its own
    memory; the file is this connection's alone until it closes."""
    a = session.connect("t.db")
    a.execute("PRAGMA locking_mode=EXCLUSIVE")
    assert a.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    a.execute("CREATE TABLE t(x)")
    a.execute("INSERT INTO t VALUES (1)")
    b = session.connect("t.db")
    b.execute("PRAGMA busy_timeout=0")
    with pytest.raises(SqlError) as e:
        b.execute("SELECT count(*) FROM t")
    assert e.value.primary == SQLITE_BUSY
    assert a.execute("SELECT count(*) FROM t") == [(1,)]
    a.close()
    assert b.execute("SELECT count(*) FROM t") == [(1,)]
    assert not session.exists("t.db-shm")


def test_exclusive_locking_mode_after_wal(session):
    """A WAL connection with the shared WAL-index switches to EXCLUSIVE and back.  Every WAL
    connection holds a SHARED lock on the database file while open, so the switch succeeds only
    once the others have closed."""
    a = wal_connection(session)
    a.execute("CREATE TABLE t(x)")
    b = session.connect("t.db")
    b.execute("PRAGMA busy_timeout=0")
    assert b.execute("SELECT count(*) FROM t") == [(0,)]
    a.execute("PRAGMA locking_mode=EXCLUSIVE")
    with pytest.raises(SqlError) as e:
        a.execute("INSERT INTO t VALUES (1)")
    assert e.value.primary == SQLITE_BUSY, "b is still connected"
    b.close()
    a.execute("INSERT INTO t VALUES (1)")  # takes and keeps the exclusive lock
    b = session.connect("t.db")
    b.execute("PRAGMA busy_timeout=0")
    with pytest.raises(SqlError) as e:
        b.execute("SELECT count(*) FROM t")
    assert e.value.primary == SQLITE_BUSY
    a.execute("PRAGMA locking_mode=NORMAL")
    a.execute("SELECT count(*) FROM t")  # the next access releases the lock
    assert b.execute("SELECT count(*) FROM t") == [(1,)]
    b.execute("INSERT INTO t VALUES (2)")
    assert a.execute("SELECT count(*) FROM t") == [(2,)]
    assert not session.exists("t.db-shm")
