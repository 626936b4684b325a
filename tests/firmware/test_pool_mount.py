"""The firmware's flash pool (firmware/pool_mount.c) on every board: the pool partition from
board.toml formatted only when blank and mounted beside littlefs, databases on either storage
(the "pool" VFS, chosen by URI), data surviving a power-off, a partition that is neither a pool
nor blank reported and left untouched with littlefs still working, and every program/erase
counted by the device (the NOR erased-word rule never refused)."""

from __future__ import annotations

import hashlib

from walkit.boards import load_board

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
