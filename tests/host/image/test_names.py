"""File names are bytes end to end (issue 12, item 7): a name the firmware accepts (not UTF-8,
control characters) is listed, read, snapshotted and shown escaped by the host tools, never a
UnicodeDecodeError and never raw escape sequences on the terminal."""

from __future__ import annotations

import sqlite3

import littlefs
import pytest

from support.bounded_cli import check, run_walkit
from support.image_helpers import BOARD
from walkit.boards import load_board
from walkit.image import create_image, open_image

DB_NAME = b"/data/\xff\xfe.db"
LOG_NAME = b"/log/\x1b[2J\x1b]0;pwned\x07\n.txt"


def raw_fs(buf: bytearray, board: str):
    """The image's filesystem region through littlefs-python directly (not walkit.image),
    names as latin-1 so that any byte can be written."""
    f = load_board(board).flash
    region = bytearray(buf[f.fs_offset:f.fs_offset + f.fs_size])
    fs = littlefs.LittleFS(context=littlefs.UserContext(buffer=region), mount=False,
                           filename_encoding="latin-1", block_size=f.erase_block,
                           block_count=f.fs_size // f.erase_block, read_size=f.read_size,
                           prog_size=f.prog_size)
    return fs, region, f


def sqlite_db(tmp_path) -> bytes:
    p = tmp_path / "src.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t(x)")
    con.execute("INSERT INTO t VALUES ('named in bytes')")
    con.commit()
    con.close()
    return p.read_bytes()


@pytest.fixture
def named_image(tmp_path):
    """A formatted image holding DB_NAME (a SQLite database) and LOG_NAME, written with
    littlefs directly."""
    path = create_image(tmp_path / "f.img", BOARD, format=True)
    buf = bytearray(path.read_bytes())
    fs, region, f = raw_fs(buf, BOARD)
    fs.mount()
    for name, data in ((DB_NAME, sqlite_db(tmp_path)), (LOG_NAME, b"log\n")):
        fs.makedirs(name.rsplit(b"/", 1)[0].decode("latin-1"), exist_ok=True)
        with fs.open(name.decode("latin-1"), "wb") as fh:
            fh.write(data)
    fs.unmount()
    buf[f.fs_offset:f.fs_offset + f.fs_size] = region
    path.write_bytes(buf)
    return path


def test_files_are_bytes_and_readable_by_them(named_image):
    with open_image(named_image, BOARD) as img:
        entries = {e.raw: e for e in img.files()}
        assert {DB_NAME, LOG_NAME} <= set(entries)
        assert img.read(LOG_NAME) == b"log\n"
        assert img.read(entries[LOG_NAME].path) == b"log\n"  # the str form names the same file
        assert entries[DB_NAME].path == "/data/\udcff\udcfe.db"


def test_write_keeps_the_bytes(named_image):
    name = b"/new/\x80\x01name"
    with open_image(named_image, BOARD, write=True) as img:
        img.write(name, b"payload")
    buf = bytearray(named_image.read_bytes())
    fs, _, _ = raw_fs(buf, BOARD)
    fs.mount()
    assert fs.listdir("/new") == ["\x80\x01name"]  # latin-1: the bytes as stored
    with fs.open("/new/\x80\x01name", "rb") as fh:
        assert fh.read() == b"payload"


def test_cli_shows_names_escaped(named_image, tmp_path):
    o = check(run_walkit("image", "ls", "--board", BOARD, named_image), {0})
    assert "/data/\\xff\\xfe.db" in o.stdout
    assert "/log/\\x1b[2J\\x1b]0;pwned\\x07\\n.txt" in o.stdout
    o = check(run_walkit("image", "get", "--board", BOARD, named_image, "/log/\udcff", tmp_path / "x"), {1})
    assert "/log/\\xff: no such file in the image" in o.stderr
    o = check(run_walkit("image", "get", "--board", BOARD, named_image, LOG_NAME.decode("utf-8", "surrogateescape"),
                         "-"), {0})
    assert o.out == b"log\n"


def test_snapshot_take_finds_the_database_by_its_bytes(named_image, tmp_path):
    store = tmp_path / "s"
    o = check(run_walkit("snapshot", "take", "--store", store, "--board", BOARD, named_image), {0})
    assert "pulled /data/\\xff\\xfe.db" in o.stdout
    o = check(run_walkit("snapshot", "list", "--store", store), {0})
    assert "f.img:/data/\\xff\\xfe.db" in o.stdout
    check(run_walkit("snapshot", "restore", "--store", store, "latest", tmp_path / "r.db"), {0})
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("SELECT x FROM t").fetchall() == [("named in bytes",)]
    con.close()


@pytest.mark.boards("host-sim", "qemu-virt-a15")
def test_names_the_firmware_writes(target, tmp_path):
    """End to end: the firmware creates a database whose name is not UTF-8 and holds control
    characters; Target.flash_files(), `walkit image ls` and `walkit snapshot take` read it."""
    name = "/\udcff\x1b[31m.db"
    db = target.session().connect(name)
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (42)")
    db.close()
    target.shutdown()
    raws = {e.raw for e in target.flash_files()}
    assert b"/\xff\x1b[31m.db" in raws, raws
    board = target.board.name
    o = check(run_walkit("image", "ls", "--board", board, target.flash), {0})
    assert "/\\xff\\x1b[31m.db" in o.stdout
    o = check(run_walkit("snapshot", "take", "--store", tmp_path / "s", "--board", board, target.flash), {0})
    assert "pulled /\\xff\\x1b[31m.db" in o.stdout
    check(run_walkit("snapshot", "restore", "--store", tmp_path / "s", "latest", tmp_path / "r.db"), {0})
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("SELECT x FROM t").fetchall() == [(42,)]
    con.close()
