"""WAL concurrency between connections of one address space, through the walkit.sql.Session
protocol only, so the same scenarios run natively and on a board: readers keep their snapshot,
one writer at a time, and the four checkpoint modes with readers present.

Connections are driven one statement at a time from one thread: every interleaving here is
deterministic.  busy_timeout is 0 unless stated, so a conflict shows as SQLITE_BUSY at once.
"""

from __future__ import annotations

import pytest

from walkit.sql import SQLITE_BUSY, SqlError

SQLITE_BUSY_SNAPSHOT = SQLITE_BUSY | (2 << 8)


def wal_connection(session, path="t.db"):
    c = session.connect(path)
    c.execute("PRAGMA busy_timeout=0")
    assert c.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    return c


def count(c, table="t") -> int:
    return c.execute(f"SELECT count(*) FROM {table}")[0][0]


def checkpoint(c, mode: str) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames checkpointed), as PRAGMA wal_checkpoint reports."""
    return tuple(c.execute(f"PRAGMA wal_checkpoint({mode})")[0])


def test_reader_keeps_snapshot_while_writer_commits(session):
    w = wal_connection(session)
    w.execute("CREATE TABLE t(x INTEGER)")
    w.execute("INSERT INTO t VALUES (1)")
    r = session.connect("t.db")
    r.execute("BEGIN")
    assert count(r) == 1
    for i in range(3):
        w.execute("INSERT INTO t VALUES (?)", [i])
    w.execute("UPDATE t SET x = x + 100")
    assert count(w) == 4
    assert count(r) == 1, "a reader inside a transaction must keep its snapshot"
    assert r.execute("SELECT x FROM t") == [(1,)]
    r.execute("COMMIT")
    assert count(r) == 4, "a new transaction sees the writer's commits"
    assert r.execute("SELECT min(x) FROM t") == [(100,)]
    assert not session.exists("t.db-shm")


def test_second_writer_gets_busy(session):
    a = wal_connection(session)
    a.execute("CREATE TABLE t(x)")
    b = session.connect("t.db")
    b.execute("PRAGMA busy_timeout=0")
    a.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(SqlError) as e:
        b.execute("BEGIN IMMEDIATE")
    assert e.value.primary == SQLITE_BUSY
    with pytest.raises(SqlError) as e:
        b.execute("INSERT INTO t VALUES (2)")
    assert e.value.primary == SQLITE_BUSY
    assert count(b) == 0, "the blocked writer still reads the last committed state"
    a.execute("COMMIT")
    b.execute("INSERT INTO t VALUES (2)")
    assert a.execute("SELECT x FROM t ORDER BY x") == [(1,), (2,)]


def test_stale_reader_cannot_become_writer(session):
    """A read transaction that started before another connection's commit cannot write:
    SQLITE_BUSY_SNAPSHOT (its snapshot is no longer the head of the WAL)."""
    a = wal_connection(session)
    a.execute("CREATE TABLE t(x)")
    b = session.connect("t.db")
    b.execute("BEGIN")
    assert count(b) == 0
    a.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(SqlError) as e:
        b.execute("INSERT INTO t VALUES (2)")
    assert e.value.code == SQLITE_BUSY_SNAPSHOT
    b.execute("ROLLBACK")
    b.execute("INSERT INTO t VALUES (2)")
    assert count(a) == 2


def test_checkpoint_modes_with_readers(session):
    w = wal_connection(session)
    w.execute("PRAGMA wal_autocheckpoint=0")
    w.execute("CREATE TABLE t(x)")
    for i in range(10):
        w.execute("INSERT INTO t VALUES (?)", [i])
    r = session.connect("t.db")
    r.execute("PRAGMA busy_timeout=0")
    r.execute("BEGIN")
    assert count(r) == 10  # r's snapshot ends somewhere inside the WAL
    for i in range(10):
        w.execute("INSERT INTO t VALUES (?)", [100 + i])

    busy, f2, f1 = checkpoint(w, "PASSIVE")
    assert busy == 0
    assert 0 < f1 < f2, "PASSIVE backfills up to the reader's snapshot and no further"
    for mode in ("FULL", "RESTART", "TRUNCATE"):
        busy, log, done = checkpoint(w, mode)
        assert busy == 1, f"{mode} with a reader on an old snapshot reports busy"
        assert (log, done) == (f2, f1), f"{mode} may not backfill past the reader's snapshot"
    assert count(r) == 10, "the reader's frames survived every checkpoint attempt"
    assert r.execute("SELECT max(x) FROM t") == [(9,)]
    r.execute("COMMIT")

    # The reader moves to the newest snapshot: FULL can now backfill everything, but RESTART
    # and TRUNCATE must also wait for readers to stop using the WAL.
    r.execute("BEGIN")
    assert count(r) == 20
    assert checkpoint(w, "FULL") == (0, f2, f2)
    for mode in ("RESTART", "TRUNCATE"):
        busy, log, done = checkpoint(w, mode)
        assert busy == 1 and (log, done) == (f2, f2), f"{mode} with a reader in the WAL"
    r.execute("COMMIT")

    busy, log, done = checkpoint(w, "RESTART")
    assert busy == 0 and log == done
    w.execute("INSERT INTO t VALUES (1000)")  # the writer starts over at the WAL's beginning
    busy, log, done = checkpoint(w, "PASSIVE")
    assert busy == 0 and log == done and log < f2, "after RESTART the WAL is reused from frame 1"
    assert checkpoint(w, "TRUNCATE") == (0, 0, 0)
    assert count(r) == 21
    assert r.execute("PRAGMA integrity_check") == [("ok",)]
    assert not session.exists("t.db-shm")


def test_full_checkpoint_waits_for_writer(session):
    w = wal_connection(session)
    w.execute("CREATE TABLE t(x)")
    w.execute("INSERT INTO t VALUES (1)")
    c = session.connect("t.db")
    c.execute("PRAGMA busy_timeout=0")
    w.execute("BEGIN IMMEDIATE")
    w.execute("INSERT INTO t VALUES (2)")
    busy, log, done = checkpoint(c, "FULL")
    assert busy == 1, "FULL needs the writer lock: busy while a write transaction is open"
    assert checkpoint(c, "PASSIVE")[0] == 0, "PASSIVE does not need it"
    w.execute("COMMIT")
    busy, log, done = checkpoint(c, "FULL")
    assert busy == 0 and log == done


def test_conflict_within_one_task_is_busy_at_once_despite_busy_timeout(session):
    """Both connections are driven by one task (this thread natively, the console task on a
    board): the holder cannot release while that task waits, so a busy timeout must not turn
    the conflict into a hang or a wasted wait.  SQLITE_BUSY comes at once."""
    import time

    timeout_ms = 8000
    a = wal_connection(session)
    a.execute("CREATE TABLE t(x)")
    a.execute("INSERT INTO t VALUES (1)")
    b = session.connect("t.db")
    b.execute(f"PRAGMA busy_timeout={timeout_ms}")
    assert b.execute("PRAGMA busy_timeout") == [(timeout_ms,)]
    assert count(b) == 1  # b reads, so it is attached to the WAL-index

    a.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO t VALUES (2)")
    t0 = time.monotonic()
    with pytest.raises(SqlError) as e:
        b.execute("BEGIN IMMEDIATE")
    waited = time.monotonic() - t0
    assert e.value.primary == SQLITE_BUSY
    assert waited < timeout_ms / 1000 / 4, f"the writer lock conflict took {waited:.2f} s"
    a.execute("COMMIT")

    # A checkpoint that must wait for a reader of the same task: FULL reports busy at once.
    b.execute("BEGIN")
    assert count(b) == 2  # b's read mark pins the WAL
    a.execute("INSERT INTO t VALUES (3)")
    a.execute(f"PRAGMA busy_timeout={timeout_ms}")
    t0 = time.monotonic()
    busy, log, done = checkpoint(a, "RESTART")
    waited = time.monotonic() - t0
    assert busy == 1, "RESTART cannot finish while the same task's reader uses the WAL"
    assert waited < timeout_ms / 1000 / 4, f"the checkpoint waited {waited:.2f} s"
    b.execute("COMMIT")

    # Nothing is left locked: b writes, a checkpoints fully.
    b.execute("BEGIN IMMEDIATE")
    b.execute("INSERT INTO t VALUES (4)")
    b.execute("COMMIT")
    assert checkpoint(a, "RESTART")[0] == 0
    assert count(a) == 4
