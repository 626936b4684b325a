"""Firmware, flash image and snapshot store together: `walkit snapshot take` on a flash image
written by the firmware itself (WAL on littlefs on the CFI NOR bank, power cut with frames still
in the WAL), then restore; a second take after more transactions is incremental and restores to
the new state."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest


def _walkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "walkit.cli", *args], capture_output=True, text=True,
                          timeout=300)


def _rows(path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return con.execute("SELECT id, name, payload FROM item ORDER BY id").fetchall()
    finally:
        con.close()


def _write(db, first: int, last: int) -> list[tuple]:
    rows = [(i, f"item {i}", bytes([i % 251]) * (i % 13)) for i in range(first, last + 1)]
    for i in range(0, len(rows), 10):
        db.execute("BEGIN")
        for r in rows[i:i + 10]:
            db.execute("INSERT INTO item VALUES (?, ?, ?)", r)
        db.execute("COMMIT")
    return rows


@pytest.mark.boards("qemu-virt-a15")
def test_snapshot_take_from_an_image_the_firmware_wrote(target, tmp_path):
    store = str(tmp_path / "store")
    db = target.session().connect("/app.db")
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, payload BLOB)")
    rows = _write(db, 1, 30)
    target.power_cut()  # frames are still in the -wal: the snapshot must include them

    r = _walkit("snapshot", "take", "--store", store, "--board", target.board.name, str(target.flash))
    assert r.returncode == 0, r.stderr
    r = _walkit("snapshot", "restore", "--store", store, "latest", str(tmp_path / "one.db"))
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "one.db") == rows

    target.boot()
    db = target.session().connect("/app.db")
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    rows += _write(db, 31, 50)
    target.power_cut()
    r = _walkit("snapshot", "take", "--store", store, "--board", target.board.name, str(target.flash))
    assert r.returncode == 0, r.stderr
    r = _walkit("snapshot", "list", "--store", store, "--json")
    assert r.returncode == 0, r.stderr
    assert '"incremental"' in r.stdout or '"kind": "incr' in r.stdout, r.stdout
    r = _walkit("snapshot", "restore", "--store", store, "latest", str(tmp_path / "two.db"))
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "two.db") == rows
    # the first snapshot still restores to the first state
    r = _walkit("snapshot", "restore", "--store", store, "1", str(tmp_path / "first-again.db"))
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "first-again.db") == rows[:30]
