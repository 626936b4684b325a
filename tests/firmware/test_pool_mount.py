"""The firmware's flash pool (firmware/pool_mount.c) on every board: the pool partition from
board.toml formatted only when blank and mounted beside littlefs, databases on either storage
(the "pool" VFS, chosen by URI), data surviving a power-off, a partition that is neither a pool
nor blank reported and left untouched with littlefs still working, every program/erase
counted by the device (the NOR erased-word rule never refused), a torn tail in a file's last
block discarded with commits going on after it, and a damaged record with a record after it
reported with its block and offset (the host's reader agreeing), and a full pool giving
SQLITE_FULL with every acknowledged row kept."""

from __future__ import annotations

import hashlib
import re
import struct

import pytest

from walkit.boards import load_board
from walkit.image.pool import DHDR, Pool, PoolDamaged
from walkit.sql import SqlError

POOL_DB = "file:/p.db?vfs=pool"


def test_blank_pool_is_formatted_then_mounted(target_factory):
    t = target_factory()
    assert "storage: flash pool was blank: formatted" in t.boot_output
    assert t.console.stats()["pool.state"] == "formatted"
    t.shutdown()
    t.boot()
    assert "storage: flash pool mounted" in t.boot_output
    s = t.console.stats()
    assert s["pool.state"] == "mounted" and s["fs.state"] == "mounted"


def test_databases_on_both_storages_survive_power_off(target_factory, walkit_board):
    t = target_factory()
    pool = t.session().connect(POOL_DB)
    lfs = t.session().connect("/l.db")
    for db, tag in ((pool, "pool"), (lfs, "littlefs")):
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t(x)")
        for i in range(20):
            db.execute(f"INSERT INTO t VALUES ('{tag}{i}')")
    pool.close()
    lfs.close()
    assert t.shutdown() == 0
    t.boot()
    pool = t.session().connect(POOL_DB)
    lfs = t.session().connect("/l.db")
    assert [tuple(r) for r in pool.execute("SELECT count(*), min(x) FROM t")] == [(20, "pool0")]
    assert [tuple(r) for r in lfs.execute("SELECT count(*), min(x) FROM t")] == [(20, "littlefs0")]
    assert [tuple(r) for r in pool.execute("PRAGMA integrity_check")] == [("ok",)]
    pool.close()
    lfs.close()
    names = [e[0] for e in t.console.ls("/")]
    assert not any(n.startswith("p.db") for n in names), f"the pool's database is on littlefs: {names}"
    s = t.console.stats()
    assert s["pool.files"] >= 1 and s["flash.refused"] == 0
    assert s["pool.free_blocks"] < s["pool.data_blocks"]
    assert t.shutdown() == 0


def test_corrupt_pool_is_reported_never_reformatted(target_factory, walkit_board):
    f = load_board(walkit_board).flash
    t = target_factory(boot=False)
    with open(t.flash, "r+b") as img:
        img.seek(f.pool_offset + f.erase_block * 3 + 100)
        img.write(b"not a pool, not blank")
    before = t.flash.read_bytes()[f.pool_offset:f.pool_offset + f.pool_size]
    t.boot()
    assert "storage: flash pool corrupt" in t.boot_output
    s = t.console.stats()
    assert s["pool.state"] == "corrupt"
    lfs = t.session().connect("/still.db")
    lfs.execute("CREATE TABLE t(x)")
    lfs.close()
    assert t.shutdown() == 0
    after = t.flash.read_bytes()[f.pool_offset:f.pool_offset + f.pool_size]
    assert hashlib.sha256(after).digest() == hashlib.sha256(before).digest(), \
        "the firmware wrote to a corrupt pool partition"


def test_pool_barriers_are_sync_points_of_the_fault_hook(target):
    """The pool's barriers reach fault.c (its out-of-order model reverts only what was written
    since the last one): a commit at synchronous=FULL on the pool is at least one sync point,
    and creating the database (state-log records) makes more."""
    c = target.console
    c.request(".fault", "arm", "0", "nor", "3")
    db = target.session().connect(POOL_DB)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t(x)")
    before = dict(c.request(".fault", "status").rows)
    assert before["syncs"] > 0 and before["ops"] > 0
    for i in range(5):
        db.execute(f"INSERT INTO t VALUES ({i})")
    after = dict(c.request(".fault", "status").rows)
    assert after["syncs"] >= before["syncs"] + 5, (before, after)
    c.request(".fault", "off")


def _wal_image(target_factory, walkit_board):
    """A pool database whose WAL holds frames (a connection open at a power cut), 512-byte pages
    so that a 4 KiB block holds several records; returns the target, the flash geometry, the
    image bytes, the reader's view of the pool and the head block with the most records."""
    f = load_board(walkit_board).flash
    t = target_factory()
    db = t.session().connect(POOL_DB)
    db.execute("PRAGMA page_size=512")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t(x)")
    for i in range(ROWS):
        db.execute("INSERT INTO t VALUES (randomblob(100))")
    t.power_cut()
    raw = bytearray(t.flash.read_bytes())
    pool = Pool(bytes(raw[f.pool_offset:f.pool_offset + f.pool_size]), f.erase_block, f.prog_size)
    best = None
    for name, (block, used, torn) in pool.heads.items():
        recs, at = [], 0
        base = f.pool_offset + block * f.erase_block
        while at < used:
            recs.append(at)
            at += (DHDR + struct.unpack_from("<I", raw, base + at + 4)[0] + f.prog_size - 1) & -f.prog_size
        if not torn and (best is None or len(recs) > len(best[2])):
            best = (name, block, recs, used)
    assert best and len(best[2]) >= 2, pool.heads
    return t, f, raw, best


ROWS = 33  # host-sim: the WAL's last 4 KiB block then holds 4 records (30 leave a piece of one)


def test_torn_tail_is_discarded_and_appends_go_on(target_factory, walkit_board):
    """The first 16 bytes of a record header after the last record of a file's last block (a
    cut in its program): the pool mounts, every committed row reads back, new commits work
    and survive a reboot, and no program ever hits a word that was not erased."""
    t, f, raw, (name, block, recs, used) = _wal_image(target_factory, walkit_board)
    at = f.pool_offset + block * f.erase_block
    raw[at + used:at + used + 16] = raw[at + recs[-1]:at + recs[-1] + 16]
    t.flash.write_bytes(raw)
    t.boot()
    assert "storage: flash pool mounted" in t.boot_output
    db = t.session().connect(POOL_DB)
    assert [tuple(r) for r in db.execute("SELECT count(*) FROM t")] == [(ROWS,)]
    db.execute("INSERT INTO t VALUES (1)")
    db.close()
    assert t.shutdown() == 0
    t.boot()
    db = t.session().connect(POOL_DB)
    assert [tuple(r) for r in db.execute("SELECT count(*) FROM t")] == [(ROWS + 1,)]
    assert [tuple(r) for r in db.execute("PRAGMA integrity_check")] == [("ok",)]
    db.close()
    assert t.console.stats()["flash.refused"] == 0
    assert t.shutdown() == 0


def test_damage_mid_block_is_reported_with_block_and_offset(target_factory, walkit_board):
    """A flipped bit in the data of a record of a file's last block with a whole record after
    it is damage, not a torn tail: the boot names the block and offset, the pool is not
    mounted, the partition is not written, and the host's reader says the same."""
    t, f, raw, (name, block, recs, used) = _wal_image(target_factory, walkit_board)
    raw[f.pool_offset + block * f.erase_block + recs[-2] + DHDR + 20] ^= 0x08
    t.flash.write_bytes(raw)
    t.boot()
    where = f"data block {block} (file {name.decode()}) offset {recs[-2]}: damaged record"
    assert "storage: flash pool corrupt" in t.boot_output
    assert f"storage: flash pool: {where} with data after it (at offset {recs[-1]})" in t.boot_output
    assert t.console.stats()["pool.state"] == "corrupt"
    assert t.shutdown() == 0
    after = t.flash.read_bytes()
    assert after[f.pool_offset:f.pool_offset + f.pool_size] == \
        bytes(raw[f.pool_offset:f.pool_offset + f.pool_size]), "the firmware wrote to a damaged pool"
    with pytest.raises(PoolDamaged, match=re.escape(where)):
        Pool(after[f.pool_offset:f.pool_offset + f.pool_size], f.erase_block, f.prog_size)


SQLITE_FULL = 13


def _rows(db, sql):
    return [tuple(r) for r in db.execute(sql)]


def test_full_pool_gives_full_and_loses_nothing(target_factory):
    """Filling the pool partition (16 MiB on both boards) with 64 KiB transactions: SQLITE_FULL,
    every acknowledged row there, integrity ok; later writes (a checkpoint too: it needs room
    for the pages it copies) fail with SQLITE_FULL again and change nothing; after a reboot the
    same rows read back and the NOR rule was never broken."""
    t = target_factory()
    db = t.session().connect(POOL_DB)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE keep(i INTEGER PRIMARY KEY, v TEXT)")
    db.execute("INSERT INTO keep VALUES (1, 'precious')")
    db.execute("CREATE TABLE fill(i INTEGER PRIMARY KEY, b BLOB)")
    err, acked = None, 0
    for _ in range(400):  # 400 x 64 KiB = 25 MiB > the 16 MiB partition
        try:
            db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                       "i < 16) INSERT INTO fill(b) SELECT randomblob(4096) FROM n")
            acked += 16
        except SqlError as e:
            err = e
            break
    assert err is not None, "the pool never filled up"
    assert err.primary == SQLITE_FULL, err
    assert acked > 100

    def intact(db):
        assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
        assert _rows(db, "SELECT v FROM keep") == [("precious",)]
        assert _rows(db, "SELECT count(*) FROM fill") == [(acked,)]

    intact(db)
    for sql in ("DELETE FROM fill WHERE i % 2 = 0", "PRAGMA wal_checkpoint(TRUNCATE)"):
        with pytest.raises(SqlError) as e:
            db.execute(sql)
        assert e.value.primary == SQLITE_FULL, (sql, e.value)
    intact(db)
    db.close()
    assert t.shutdown() == 0
    t.boot()
    assert "storage: flash pool mounted" in t.boot_output
    db = t.session().connect(POOL_DB)
    intact(db)
    db.close()
    assert t.console.stats()["flash.refused"] == 0
    assert t.shutdown() == 0
