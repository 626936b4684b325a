"""The WAL-index registry (vfs/shm/registry.c, with heap.c mapping its regions) in this process
(walkit.native), for what the shared scenarios cannot observe through SQL alone:
WALKIT_SHM_NONE (WAL only with exclusive locking), the WAL-index's memory (regions, nodes,
out-of-memory), recovery of the WAL-index from a WAL left by a dead process, and waiting locks
between threads."""

from __future__ import annotations

import os
import threading
import time

import pytest

from walkit import native
from walkit.sql import SQLITE_BUSY, SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_NOMEM, SqlError


@pytest.fixture
def session(tmp_path):
    s = native.open_session(tmp_path)
    yield s
    s.close()
    assert not sorted(tmp_path.rglob("*-shm"))


def wal(session, path="t.db"):
    c = session.connect(path)
    assert c.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    return c


# ---------------------------------------------------------------------------- WALKIT_SHM_NONE

def test_shm_none_wal_needs_exclusive_locking(tmp_path):
    before = native.stats().shm_map_calls
    with native.open_session(tmp_path, shm_mode="none") as s:
        a = s.connect("t.db")
        # No xShm methods: with NORMAL locking SQLite refuses WAL and stays in rollback mode.
        assert a.execute("PRAGMA journal_mode=WAL") == [("delete",)]
        a.execute("PRAGMA locking_mode=EXCLUSIVE")
        assert a.execute("PRAGMA journal_mode=WAL") == [("wal",)]
        a.execute("CREATE TABLE t(x)")
        a.execute("INSERT INTO t VALUES (1), (2)")
        assert s.exists("t.db-wal")
        b = s.connect("t.db")
        b.execute("PRAGMA busy_timeout=0")
        with pytest.raises(SqlError) as e:
            b.execute("SELECT count(*) FROM t")
        assert e.value.primary in (SQLITE_BUSY, SQLITE_CANTOPEN)
        b.close()
        a.close()
        assert not s.exists("t.db-wal"), "closing checkpointed and deleted the WAL"
        c = s.connect("t.db")
        c.execute("PRAGMA locking_mode=EXCLUSIVE")
        assert c.execute("SELECT sum(x) FROM t") == [(3,)]
        assert c.execute("PRAGMA journal_mode") == [("wal",)]
        c.close()
    assert native.stats().shm_map_calls == before, "SHM_NONE must never reach xShmMap"
    assert not sorted(tmp_path.rglob("*-shm"))


# --------------------------------------------------------------------- the heap WAL-index

def test_regions_and_nodes_are_counted_and_freed(session):
    base = native.stats()
    w = session.connect("t.db")
    w.execute("PRAGMA page_size=512")
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("PRAGMA wal_autocheckpoint=0")
    w.execute("CREATE TABLE big(b BLOB)")
    assert native.stats().shm_nodes == base.shm_nodes + 1
    assert native.stats().shm_regions == base.shm_regions + 1
    w.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4300) "
              "INSERT INTO big SELECT randomblob(400) FROM n")
    assert native.stats().shm_regions == base.shm_regions + 2, "frame 4063+ needs region 1"
    r = session.connect("t.db")
    assert r.execute("SELECT count(*) FROM big") == [(4300,)]
    assert native.stats().shm_nodes == base.shm_nodes + 1, "one node per file, not per connection"
    r.close()
    w.close()
    after = native.stats()
    assert (after.shm_nodes, after.shm_regions) == (base.shm_nodes, base.shm_regions)
    assert after.shm_map_calls > base.shm_map_calls and after.shm_lock_calls > base.shm_lock_calls


def _fault_sweep(run, limit=200):
    """Runs ``run()`` with the k-th walkit allocation failing, for k = 0, 1, ... until a run
    finishes without reaching the armed allocation.  Returns the SqlErrors seen."""
    errors = []
    for k in range(limit):
        before = native.stats().alloc_faults
        native.fault_alloc(k, 1)
        try:
            run()
        except SqlError as e:
            errors.append(e)
        finally:
            native.fault_alloc(0, 0)
        if native.stats().alloc_faults == before:
            return errors
    pytest.fail(f"more than {limit} allocations in one run")


@pytest.mark.parametrize("first_opener", [False, True])
def test_out_of_memory_attaching_wal_index_leaves_state_consistent(session, first_opener):
    """Every walkit allocation on a new connection's path fails in turn (files, lock table,
    WAL-index attachment and, for the first opener, the node and its first region): each
    failure is a clean SQLite error and leaves nothing behind."""
    w = wal(session)
    w.execute("CREATE TABLE t(x)")
    w.execute("INSERT INTO t VALUES (1)")
    if first_opener:
        w.close()
    base = native.stats()

    def reader():
        c = session.connect("t.db")
        try:
            assert c.execute("SELECT x FROM t") == [(1,)]
        finally:
            c.close()

    errors = _fault_sweep(reader)
    assert len(errors) >= (6 if first_opener else 3), [e.code for e in errors]
    assert all(e.primary in (SQLITE_NOMEM, SQLITE_CANTOPEN, SQLITE_IOERR) for e in errors), errors
    assert any(e.primary == SQLITE_NOMEM for e in errors), [e.code for e in errors]
    after = native.stats()
    assert (after.shm_nodes, after.shm_regions) == (base.shm_nodes, base.shm_regions)
    if first_opener:
        w = session.connect("t.db")
    w.execute("INSERT INTO t VALUES (2)")
    reader2 = session.connect("t.db")
    assert reader2.execute("SELECT count(*) FROM t") == [(2,)]
    assert reader2.execute("PRAGMA integrity_check") == [("ok",)]


def test_out_of_memory_growing_wal_index(session):
    """The write that needs region 1 fails with SQLITE_NOMEM; the WAL-index stays as it was
    (one region, every earlier frame still indexed); the same write succeeds once memory is
    back."""
    w = session.connect("t.db")
    w.execute("PRAGMA page_size=512")
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("PRAGMA wal_autocheckpoint=0")
    w.execute("CREATE TABLE big(b BLOB)")
    w.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3900) "
              "INSERT INTO big SELECT randomblob(400) FROM n")
    r = session.connect("t.db")
    assert r.execute("SELECT count(*) FROM big") == [(3900,)]
    regions = native.stats().shm_regions
    grow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) "
            "INSERT INTO big SELECT randomblob(400) FROM n")
    native.fault_alloc(0, 1000)
    try:
        with pytest.raises(SqlError) as e:
            w.execute(grow)
    finally:
        native.fault_alloc(0, 0)
    assert e.value.primary == SQLITE_NOMEM
    assert native.stats().shm_regions == regions, "a failed map must not half-add a region"
    assert r.execute("SELECT count(*) FROM big") == [(3900,)]
    w.execute(grow)
    assert native.stats().shm_regions == regions + 1
    assert r.execute("SELECT count(*) FROM big") == [(4300,)]
    assert r.execute("PRAGMA integrity_check") == [("ok",)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to leave a WAL behind")
def test_reopen_recovers_wal_index_from_wal(session, tmp_path):
    """A process dies with committed transactions only in the WAL (no checkpoint, no close):
    the next opener finds no WAL-index in memory, rebuilds it from the WAL file and sees every
    commit."""
    pid = os.fork()
    if pid == 0:  # child: commit, then vanish without closing anything
        code = 1
        try:
            c = session.connect("r.db")
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA wal_autocheckpoint=0")
            c.execute("CREATE TABLE t(x)")
            for i in range(50):
                c.execute("INSERT INTO t VALUES (?)", [i])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    wal_file = tmp_path / "r.db-wal"
    assert wal_file.stat().st_size > 50 * 4096, "the commits are in the WAL"
    db_size = (tmp_path / "r.db").stat().st_size
    c = session.connect("r.db")
    assert c.execute("SELECT count(*), sum(x) FROM t") == [(50, sum(range(50)))]
    assert c.execute("PRAGMA integrity_check") == [("ok",)]
    assert (tmp_path / "r.db").stat().st_size == db_size, "read from the WAL, not checkpointed"
    c.close()
    assert not wal_file.exists()


# --------------------------------------------------------------------- waiting between threads

def _hold(conn, sql_begin, seconds, started, sql_end="COMMIT"):
    conn.execute(sql_begin)
    started.set()
    time.sleep(seconds)
    conn.execute(sql_end)


def test_writer_waits_for_writer_with_busy_timeout(session):
    a = wal(session)
    a.execute("CREATE TABLE t(x)")
    b = session.connect("t.db")
    b.execute("PRAGMA busy_timeout=5000")
    started = threading.Event()
    t = threading.Thread(target=_hold, args=(a, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)",
                                             0.2, started))
    t.start()
    started.wait()
    waits = native.stats().shm_lock_waits
    t0 = time.monotonic()
    b.execute("BEGIN IMMEDIATE")
    waited = time.monotonic() - t0
    b.execute("INSERT INTO t VALUES (2); COMMIT")
    t.join()
    assert 0.1 < waited < 2.0, waited
    assert a.execute("SELECT count(*) FROM t") == [(2,)]
    if native.compile_option("ENABLE_SETLK_TIMEOUT"):
        assert native.stats().shm_lock_waits > waits, "the wait blocked on the lock slot"


@pytest.mark.parametrize("mode", ["RESTART", "TRUNCATE"])
def test_restart_checkpoint_waits_for_reader(session, mode):
    w = wal(session)
    w.execute("PRAGMA wal_autocheckpoint=0")
    w.execute("CREATE TABLE t(x)")
    w.execute("INSERT INTO t VALUES (1)")
    r = session.connect("t.db")
    started = threading.Event()
    t = threading.Thread(target=_hold, args=(r, "BEGIN; SELECT count(*) FROM t", 0.2, started))
    t.start()
    started.wait()
    w.execute("PRAGMA busy_timeout=0")
    assert w.execute(f"PRAGMA wal_checkpoint({mode})")[0][0] == 1, "busy without a timeout"
    w.execute("PRAGMA busy_timeout=5000")
    t0 = time.monotonic()
    busy, log, done = w.execute(f"PRAGMA wal_checkpoint({mode})")[0]
    waited = time.monotonic() - t0
    t.join()
    assert busy == 0 and waited > 0.05, (busy, waited)
    if mode == "TRUNCATE":
        assert (log, done) == (0, 0)
        assert session.exists("t.db-wal") and (session.root / "t.db-wal").stat().st_size == 0


def test_threaded_transfers_keep_invariant(session):
    """N writer threads x M transfers, reader threads checking the invariant inside read
    transactions, a checkpointer thread cycling the modes (the GIL is released during SQLite
    calls, so the threads really contend)."""
    n_writers, n_txns, n_readers, accounts = 4, 60, 2, 20
    setup = wal(session, "bank.db")
    setup.execute("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)")
    setup.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                  "INSERT INTO acct SELECT i, 100 FROM n", [accounts])
    total = accounts * 100
    done = threading.Event()
    failures: list[str] = []
    reads = [0]

    def writer(seed):
        import random
        rnd = random.Random(seed)
        c = session.connect("bank.db")
        c.execute("PRAGMA busy_timeout=10000")
        try:
            for _ in range(n_txns):
                a, b, amt = rnd.randrange(1, accounts + 1), rnd.randrange(1, accounts + 1), rnd.randrange(1, 10)
                c.execute("BEGIN IMMEDIATE")
                c.execute("UPDATE acct SET bal = bal - ? WHERE id = ?", [amt, a])
                c.execute("UPDATE acct SET bal = bal + ? WHERE id = ?", [amt, b])
                c.execute("COMMIT")
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"writer {seed}: {e!r}")
        finally:
            c.close()

    def reader():
        c = session.connect("bank.db")
        c.execute("PRAGMA busy_timeout=10000")
        try:
            while not done.is_set():
                c.execute("BEGIN")
                s1 = c.execute("SELECT sum(bal) FROM acct")[0][0]
                s2 = c.execute("SELECT sum(bal) FROM acct")[0][0]
                c.execute("COMMIT")
                if s1 != total or s2 != total:
                    failures.append(f"reader saw {s1}, {s2}")
                reads[0] += 1
        except Exception as e:  # noqa: BLE001
            failures.append(f"reader: {e!r}")
        finally:
            c.close()

    def checkpointer():
        c = session.connect("bank.db")
        c.execute("PRAGMA busy_timeout=20")
        try:
            i = 0
            while not done.is_set():
                c.execute(f"PRAGMA wal_checkpoint({('PASSIVE', 'FULL', 'RESTART', 'TRUNCATE')[i % 4]})")
                i += 1
                time.sleep(0.002)
        except Exception as e:  # noqa: BLE001
            failures.append(f"checkpointer: {e!r}")
        finally:
            c.close()

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(n_writers)]
    others = [threading.Thread(target=reader) for _ in range(n_readers)]
    others.append(threading.Thread(target=checkpointer))
    for t in writers + others:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in others:
        t.join()
    assert not failures, failures
    assert reads[0] > 0
    assert setup.execute("SELECT sum(bal), count(*) FROM acct") == [(total, accounts)]
    assert setup.execute("PRAGMA integrity_check") == [("ok",)]
    assert native.stats().os_errors == 0
