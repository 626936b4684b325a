"""Exhaustion on the target: SQLite's heap too small (SQLITE_NOMEM, through SQLite's own
hard heap limit, which fails its allocator past the limit) and the flash full (SQLITE_FULL).
Either way the database stays intact and works again once memory is back or rows are
deleted, also after a reboot."""

from __future__ import annotations

import pytest

from walkit.sql import SqlError

SQLITE_NOMEM, SQLITE_FULL = 7, 13


def _rows(c, conn, sql):
    return c.sql(conn, sql).rows


def test_heap_too_small_gives_nomem_and_an_intact_database(target):
    c = target.console
    c.open("m", "/mem.db")
    c.sql("m", "PRAGMA journal_mode=WAL")
    c.sql("m", "CREATE TABLE t(i INTEGER PRIMARY KEY, b BLOB)")
    c.sql("m", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
               "INSERT INTO t SELECT i, randomblob(300) FROM n")
    before = _rows(c, "m", "SELECT count(*), sum(length(b)) FROM t")
    used = target.console.stats()["sqlite.memory_used"]
    c.sql("m", f"PRAGMA hard_heap_limit={used + 64 * 1024}")
    with pytest.raises(SqlError) as e:
        # A sort of 2 MB of rows cannot fit in 64 KiB more.
        c.sql("m", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                   "i < 4000) INSERT INTO t(b) SELECT randomblob(500) FROM n ORDER BY random()")
    assert e.value.primary == SQLITE_NOMEM, e.value
    c.sql("m", "PRAGMA hard_heap_limit=0")  # memory is back
    assert _rows(c, "m", "PRAGMA integrity_check") == [("ok",)]
    assert _rows(c, "m", "SELECT count(*), sum(length(b)) FROM t") == before
    c.sql("m", "INSERT INTO t(b) VALUES (x'01')")
    target.reboot()
    c = target.console
    c.open("m", "/mem.db")
    assert _rows(c, "m", "PRAGMA integrity_check") == [("ok",)]
    assert _rows(c, "m", "SELECT count(*) FROM t") == [(before[0][0] + 1,)]


@pytest.mark.boards("host-sim")
def test_flash_full_gives_full_and_the_database_is_usable_after_deleting(target):
    c = target.console
    c.open("f", "/full.db")
    c.sql("f", "PRAGMA journal_mode=WAL")
    c.sql("f", "CREATE TABLE keep(i INTEGER PRIMARY KEY, v TEXT)")
    c.sql("f", "INSERT INTO keep VALUES (1, 'precious')")
    c.sql("f", "CREATE TABLE fill(i INTEGER PRIMARY KEY, b BLOB)")
    err = None
    for _ in range(400):  # 400 x 64 KiB = 25 MiB > the 16 MiB filesystem
        try:
            c.sql("f", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                       "i < 16) INSERT INTO fill(b) SELECT randomblob(4096) FROM n", timeout=120)
        except SqlError as e:
            err = e
            break
    assert err is not None, "the flash never filled up"
    assert err.primary == SQLITE_FULL, err
    assert _rows(c, "f", "PRAGMA integrity_check") == [("ok",)]
    assert _rows(c, "f", "SELECT v FROM keep") == [("precious",)]
    n = _rows(c, "f", "SELECT count(*) FROM fill")[0][0]
    c.sql("f", "DELETE FROM fill WHERE i % 2 = 0")
    c.sql("f", "PRAGMA wal_checkpoint(TRUNCATE)")
    c.sql("f", "INSERT INTO keep VALUES (2, 'after')")
    target.reboot()
    c = target.console
    c.open("f", "/full.db")
    assert _rows(c, "f", "PRAGMA integrity_check") == [("ok",)]
    assert _rows(c, "f", "SELECT v FROM keep ORDER BY i") == [("precious",), ("after",)]
    assert _rows(c, "f", "SELECT count(*) FROM fill")[0][0] == n - n // 2
