"""walkit.image.pool (the host's reader of a flash pool partition, docs/flashpool.md) and
``walkit image ls/get --partition pool``: on an image the firmware wrote (a WAL database on the
pool, then a power-off), the files and their bytes are what the firmware sees, the extracted
database opens in the host's SQLite with every row; a blank, foreign or damaged partition is a
one-line error."""

from __future__ import annotations

import sqlite3

import pytest

from support.cli import run_cli
from walkit import WalkitError
from walkit.boards import load_board
from walkit.image.pool import open_pool


@pytest.fixture
def pool_image(target_factory, walkit_board):
    t = target_factory()
    db = t.session().connect("file:/dir/p.db?vfs=pool")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    for i in range(100):  # ~300 KB: more than one erase block on every board
        db.execute(f"INSERT INTO t(v, b) VALUES ('row {i}', randomblob(3000))")
    db.execute("UPDATE t SET v = v || '!' WHERE k % 7 = 0")
    db.close()
    assert t.shutdown() == 0
    return t.flash


def test_reader_lists_and_extracts_the_database(pool_image, walkit_board, tmp_path):
    with open_pool(pool_image, walkit_board) as pool:
        names = [e.path for e in pool.list("/")]
        data = pool.read("/dir/p.db")
    assert "/dir/p.db" in names
    (tmp_path / "p.db").write_bytes(data)
    con = sqlite3.connect(tmp_path / "p.db")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT count(*), sum(v LIKE '%!') FROM t").fetchone() == (100, 14)
    con.close()


def test_cli_ls_and_get(pool_image, walkit_board, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "image", "ls", "--board", walkit_board, "--partition", "pool",
                         str(pool_image))
    assert rc == 0 and "/dir/p.db" in out
    rc, _, _ = run_cli(capsys, "image", "get", "--board", walkit_board, "-p", "pool",
                       str(pool_image), "/dir/p.db", "out.db")
    assert rc == 0
    con = sqlite3.connect(tmp_path / "out.db")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (100,)
    con.close()
    rc, _, err = run_cli(capsys, "image", "get", "--board", walkit_board, "-p", "pool",
                         str(pool_image), "/nope")
    assert rc != 0 and "no such file" in err and len(err.strip().splitlines()) == 1


def test_blank_foreign_and_damaged_partitions_are_clear_errors(pool_image, walkit_board, tmp_path):
    f = load_board(walkit_board).flash
    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\xff" * f.size)
    with pytest.raises(WalkitError, match="blank partition"):
        open_pool(blank, walkit_board).__enter__()
    foreign = tmp_path / "foreign.img"
    buf = bytearray(b"\xff" * f.size)
    buf[f.pool_offset + 5000:f.pool_offset + 5010] = b"0123456789"
    foreign.write_bytes(buf)
    with pytest.raises(WalkitError, match="not a flash pool"):
        open_pool(foreign, walkit_board).__enter__()
    # A flipped byte in the first record of a file's first block, the file spanning several
    # blocks (so not its torn tail): reported, never guessed around.
    damaged = tmp_path / "damaged.img"
    buf = bytearray(pool_image.read_bytes())
    with open_pool(pool_image, walkit_board) as pool:
        first = [fl.blocks[0] for fl in pool.files.values() if len(fl.blocks) > 1]
    assert first, "expected the database to span several blocks"
    buf[f.pool_offset + first[0] * f.erase_block + 40] ^= 1
    damaged.write_bytes(buf)
    with pytest.raises(WalkitError, match="damaged record"):
        open_pool(damaged, walkit_board).__enter__()
