"""Page checksums (vfs/cksum.c) on the boards: the firmware creates databases with 8 reserved
bytes per page and a checksum in them; a bit flipped in a page on the flash (by the host, with
littlefs-python, as a damaged NOR word would) is an error on the console, not a wrong answer.
A database made elsewhere without the reserve is read as before, unchecked."""

from __future__ import annotations

import sqlite3

import pytest

from walkit.image.flash import open_image
from walkit.sql import SqlError

SQLITE_IOERR_DATA = 10 | (32 << 8)
ROWS = ("INSERT INTO t SELECT i, printf('row-%06d', i) FROM (WITH RECURSIVE c(i) AS "
        "(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000) SELECT i FROM c)")


def _flip(image, board: str, path: str, needle: bytes) -> int:
    """Flips the lowest bit of the byte after `needle`'s 4th byte in file `path`; returns the
    page number (1-based) it lies in."""
    with open_image(image, board, write=True) as img:
        data = bytearray(img.read(path))
        page = int.from_bytes(data[16:18], "big")
        i = data.find(needle)
        assert i > 0, "the row is not in the database file"
        data[i + 4] ^= 0x01  # "row-001000" reads "row-101000" if nothing notices
        img.write(path, bytes(data))
    return i // page + 1


def test_a_flipped_bit_in_a_page_is_an_error_not_data(target_factory, walkit_board):
    t = target_factory()
    db = t.session().connect("/ck.db")
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    db.execute(ROWS)
    assert db.execute("PRAGMA walkit_page_checksums") == [("1",)]
    assert db.execute("PRAGMA main.page_size")[0][0] == 4096
    db.close()
    assert t.shutdown() == 0
    page = _flip(t.flash, walkit_board, "/ck.db", b"row-001000")

    t.boot()
    db = t.session().connect("/ck.db")
    with pytest.raises(SqlError) as e:
        db.execute("SELECT v FROM t WHERE id = 1000")
    assert e.value.code == SQLITE_IOERR_DATA, e.value
    with pytest.raises(SqlError) as e:  # no scan reads past it either
        db.execute("SELECT count(*) FROM t WHERE v LIKE 'row-1%'")
    assert e.value.code == SQLITE_IOERR_DATA
    assert db.execute("SELECT v FROM t WHERE id = 1") == [("row-000001",)]  # other pages: fine
    s = t.console.stats()
    assert s["vfs.cksum_errors"] >= 2 and s["vfs.cksum_pages"] > s["vfs.cksum_errors"]
    assert page > 1


def test_a_database_without_the_reserve_is_read_unchecked(target_factory, walkit_board, tmp_path):
    """Made by the host's SQLite (reserve 0): no room for a checksum, so nothing is verified
    and nothing is refused; the firmware cannot add the reserve to an existing database."""
    host_db = tmp_path / "plain.db"
    with sqlite3.connect(host_db) as c:
        c.execute("PRAGMA page_size=4096")
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        c.execute(ROWS)
    c.close()
    t = target_factory()
    assert t.shutdown() == 0
    with open_image(t.flash, walkit_board, write=True) as img:
        img.write("/plain.db", host_db.read_bytes())
    t.boot()
    db = t.session().connect("/plain.db")
    assert db.execute("PRAGMA walkit_page_checksums") == [("0",)]
    assert db.execute("SELECT count(*), max(v) FROM t") == [(2000, "row-002000")]
    db.execute("INSERT INTO t VALUES (2001, 'row-002001')")
    assert db.execute("PRAGMA integrity_check") == [("ok",)]
    assert t.console.stats()["vfs.cksum_errors"] == 0
