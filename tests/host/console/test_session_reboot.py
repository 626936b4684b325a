"""A connection after its target powered off: a clear error at once (it used to be `TargetGone:
cannot write to the console: [Errno 9] Bad file descriptor ... running`, after 2 s), and the
`db` fixture's teardown does not wait either."""

from __future__ import annotations

import time

import pytest

from walkit.sql import SQLITE_MISUSE, SqlError


def test_a_connection_after_a_reboot_says_open_a_new_one(db, target):
    db.execute("CREATE TABLE t(x)")
    target.reboot()
    t0 = time.monotonic()
    with pytest.raises(SqlError) as e:
        db.execute("SELECT * FROM t")
    assert time.monotonic() - t0 < 0.5
    assert e.value.code == SQLITE_MISUSE
    assert "connections do not survive that; open a new one" in str(e.value)
    assert "TargetGone" not in repr(e.value) and "Bad file descriptor" not in str(e.value)
    t0 = time.monotonic()
    db.close()  # what the fixture's teardown does: nothing to send, nothing to wait for
    assert time.monotonic() - t0 < 0.5
    fresh = target.session().connect("/test.db")
    assert fresh.execute("SELECT count(*) FROM t") == [(0,)]


def test_after_a_power_cut_too(target):
    c = target.session().connect("/p.db")
    target.power_cut()
    with pytest.raises(SqlError, match="was closed: the target was powered off"):
        c.execute("SELECT 1")
