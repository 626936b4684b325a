"""A runaway query can be stopped: `Connection.execute(timeout=...)` sends `.interrupt`, which the
firmware sees while the statement runs (console_watch.c) and turns into SQLITE_INTERRUPT; Ctrl-C
does the same in interactive mode.  Bytes that arrive while a statement runs are not lost."""

from __future__ import annotations

import time

import pytest

from walkit.sql import SQLITE_INTERRUPT, SqlError

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_execute_timeout_interrupts_a_runaway_query(db):
    db.execute("CREATE TABLE t(x)")
    t0 = time.monotonic()
    with pytest.raises(SqlError) as e:
        db.execute(RUNAWAY, timeout=0.5)
    assert e.value.primary == SQLITE_INTERRUPT
    assert "still running after timeout=0.5 s" in str(e.value)
    assert time.monotonic() - t0 < 10
    assert db.execute("SELECT 6 * 7") == [(42,)]  # the connection, and the console, go on
    db.execute("INSERT INTO t VALUES (1)")
    assert db.execute("SELECT count(*) FROM t", timeout=30) == [(1,)]


def test_requests_sent_while_a_statement_runs_are_answered_in_turn(target):
    c = target.console
    c.open("w", "/w.db")
    rid = c.start("sql", "w", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                              "WHERE x < 300000) SELECT count(*) FROM c")
    pings = [c.start(".ping") for _ in range(20)]  # read ahead by the watch, kept, answered
    assert c.read_reply(rid, 60).rows == [(300000,)]
    for p in pings:
        c.read_reply(p, 30)
    assert c.sql("w", "SELECT 1").rows == [(1,)]


def test_ctrl_c_interrupts_a_running_statement_in_interactive_mode(target):
    target.console.request(".mode", "interactive")
    link = target.link
    link.expect(rb"walkit> $", 10)
    link.write(b".open main /i.db\r")
    link.expect(rb"main> $", 10)
    link.write(RUNAWAY.encode() + b";\r")
    time.sleep(0.5)
    link.write(b"\x03")
    m = link.expect(rb"main> $", 30, "the prompt after Ctrl-C")
    assert b"Error: interrupted (code 9)" in m.string[:m.start()]
    link.write(b"SELECT 'after';\r")
    m = link.expect(rb"main> $", 10)
    assert b"after\r\n(1 row)" in m.string[:m.start()]
