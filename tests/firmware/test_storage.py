"""The firmware's boot on its flash, on every board: geometry from board.toml, littlefs formatted
only on a blank flash, a corrupt filesystem reported and left alone, flash counters."""

from __future__ import annotations

import hashlib
import re

import pytest

from walkit.boards import load_board
from walkit.sql import SQLITE_CANTOPEN, SqlError


def test_blank_flash_is_formatted_then_mounted(target_factory):
    t = target_factory()
    assert "storage: flash was blank: formatted littlefs" in t.boot_output
    assert t.console.stats()["fs.state"] == "formatted"
    t.shutdown()
    t.boot()
    assert "storage: littlefs mounted" in t.boot_output
    assert "formatted" not in t.boot_output
    assert t.console.stats()["fs.state"] == "mounted"


def test_geometry_is_the_board_file(target, walkit_board):
    f = load_board(walkit_board).flash
    s = target.console.stats()
    assert (s["flash.size"], s["flash.erase_block"]) == (f.size, f.erase_block)
    assert (s["fs.block_size"], s["fs.block_count"]) == (f.erase_block, f.fs_size // f.erase_block)
    assert s["flash.driver"] == f.driver
    m = re.search(r"flash: \S+, (\d+) bytes, erase block (\d+), filesystem at (\d+) \((\d+) bytes\)",
                  target.boot_output)
    assert m and tuple(map(int, m.groups())) == (f.size, f.erase_block, f.fs_offset, f.fs_size)


def _corrupt_superblocks(flash_path, board: str, data: bytes) -> None:
    """Writes `data` over the start of the two superblock blocks (littlefs blocks 0 and 1)."""
    f = load_board(board).flash
    with open(flash_path, "r+b") as img:
        for block in (0, 1):
            img.seek(f.fs_offset + block * f.erase_block)
            img.write(data)


@pytest.mark.parametrize("garbage", [b"\x00" * 64, bytes(range(256)) * 4],
                         ids=["zeros", "pattern"])
def test_corrupt_filesystem_is_reported_never_reformatted(target_factory, walkit_board, garbage):
    t = target_factory()
    db = t.session().connect("/keep.db")
    db.execute("CREATE TABLE k(x)")
    db.execute("INSERT INTO k VALUES (42)")
    db.close()
    assert t.shutdown() == 0
    _corrupt_superblocks(t.flash, walkit_board, garbage)
    before = hashlib.sha256(t.flash.read_bytes()).hexdigest()

    t.boot()
    assert re.search(r"storage: filesystem corrupt \(lfs error -\d+\)", t.boot_output)
    c = t.console
    assert c.stats()["fs.state"] == "corrupt"  # the console is alive without storage
    with pytest.raises(SqlError) as e:
        c.open("x", "/keep.db")
    assert e.value.code == SQLITE_CANTOPEN and "filesystem corrupt (lfs error" in e.value.message
    with pytest.raises(SqlError, match="no filesystem"):
        c.ls("/")
    c.ping()
    assert t.shutdown() == 0
    assert hashlib.sha256(t.flash.read_bytes()).hexdigest() == before, "the firmware wrote to a corrupt flash"


def test_data_past_the_superblocks_is_not_a_blank_flash(target_factory, walkit_board):
    """Erased superblocks but data further on: damaged, not new, so no format."""
    f = load_board(walkit_board).flash
    t = target_factory(boot=False)
    with open(t.flash, "r+b") as img:
        img.seek(f.fs_offset + f.fs_size - 16)
        img.write(b"not erased......")
    lfs = slice(f.fs_offset, f.fs_offset + f.fs_size)  # (a blank pool beside it is formatted)
    before = t.flash.read_bytes()[lfs]
    t.boot()
    assert "filesystem corrupt" in t.boot_output and "formatted littlefs" not in t.boot_output
    t.shutdown()
    assert t.flash.read_bytes()[lfs] == before


def test_flash_counters_follow_a_workload(target):
    c = target.console
    s0 = c.stats()
    c.open("w", "/w.db")
    c.sql("w", "CREATE TABLE t(x)")
    for i in range(20):
        c.sql("w", "INSERT INTO t VALUES (randomblob(3000))")  # made on the target: UART is slow
    s1 = c.stats()
    assert s1["flash.prog_ops"] > s0["flash.prog_ops"]
    assert s1["flash.prog_bytes"] - s0["flash.prog_bytes"] >= 20 * 3000
    assert s1["flash.erase_ops"] > s0["flash.erase_ops"]
    assert s1["flash.erase_bytes"] == s1["flash.erase_ops"] * s1["flash.erase_block"]
    assert s1["flash.read_ops"] > s0["flash.read_ops"]
    # The NOR rule held and the device never failed a read-back.
    assert s1["flash.refused"] == 0 and s1["flash.device_errors"] == 0
    assert s1["sqlite.memory_highwater"] >= s1["sqlite.memory_used"] > 0
    assert s1["heap.used"] > 0
