"""Connections bound to cores (.core NAME K, firmware/tasks.h) on qemu-virt-a15-smp: a bound
connection's statements run on its core, so two connections on two cores are two tasks to the
VFS (a lock conflict between them is a real wait, bounded by the busy timeout), and two on one
core are one task (the conflict is SQLITE_BUSY at once: the holder cannot release while its
own task waits).  The shared WAL scenarios (tests/scenarios) run on this board with every
connection on a worker core of its own (walkit.target.open_session)."""

from __future__ import annotations

import time

import pytest

from walkit.sql import SQLITE_BUSY, SqlError

TIMEOUT_MS = 4000

pytestmark = pytest.mark.qemu


@pytest.fixture
def console(target):
    return target.console


def begin_immediate_wait(c, name: str) -> float:
    """Seconds b's BEGIN IMMEDIATE took to answer BUSY."""
    t0 = time.monotonic()
    with pytest.raises(SqlError) as e:
        c.sql(name, "BEGIN IMMEDIATE")
    assert e.value.primary == SQLITE_BUSY, e.value
    return time.monotonic() - t0


def test_connections_on_two_cores_are_two_tasks(console):
    c = console
    c.open("a", "/t.db")
    c.open("b", "/t.db")
    c.request(".core", "a", "1")
    c.request(".core", "b", "2")
    c.sql("a", "PRAGMA journal_mode=WAL")
    c.sql("a", "CREATE TABLE t(x)")
    c.sql("a", "INSERT INTO t VALUES (1)")
    c.sql("b", f"PRAGMA busy_timeout={TIMEOUT_MS}")
    assert c.sql("b", "SELECT count(*) FROM t").rows == [(1,)]

    c.sql("a", "BEGIN IMMEDIATE")
    c.sql("a", "INSERT INTO t VALUES (2)")
    waited = begin_immediate_wait(c, "b")
    assert waited >= TIMEOUT_MS / 1000 * 0.9, (
        f"b (core 2) answered BUSY after {waited:.2f} s: a conflict with another task waits "
        "for the busy timeout")
    c.request(".core", "b", "1")  # now one task with a
    waited = begin_immediate_wait(c, "b")
    assert waited < TIMEOUT_MS / 1000 / 2, f"the same-task conflict took {waited:.2f} s"
    c.sql("a", "COMMIT")

    c.request(".core", "b", "3")  # and b writes from a third core, a reads from core 0
    c.sql("b", "INSERT INTO t VALUES (3)")
    c.request(".core", "a", "0")
    assert c.sql("a", "SELECT sum(x), (SELECT * FROM pragma_integrity_check) FROM t").rows == [(6, "ok")]
    c.close_conn("a")
    c.close_conn("b")


def test_core_binding_errors(console):
    c = console
    with pytest.raises(SqlError, match="no open connection"):
        c.request(".core", "nobody", "1")
    c.open("a", "/t.db")
    for bad in ("4", "-1", "x", "1x"):
        with pytest.raises(SqlError, match=r"usage: \.core NAME K \(K a core, 0 to 3"):
            c.request(".core", "a", bad)
    c.request(".core", "a", "3")
    assert c.sql("a", "SELECT 41 + 1").rows == [(42,)]
