"""littlefs space policy on the boards (vfs/storage/littlefs.c, docs/vfs.md "littlefs space
policy"): a flash filled in WAL mode until SQLITE_FULL is freed again by deleting rows, a
checkpoint and VACUUM, before and after a power cut; nothing acknowledged is lost.

Rows are generated on the target (a recursive CTE and randomblob) so that filling 16 MiB costs
a few hundred console lines.  Each row carries a check value derived from its id, so a row that
comes back wrong is found, not only a missing one.
"""

from __future__ import annotations

import pytest

from walkit.sql import SqlError

SQLITE_FULL = 13
ROW_BYTES = 2000
FIRST_BATCH = 512  # rows per INSERT at first; halved at each SQLITE_FULL down to one row

INSERT = ("INSERT INTO t(id, k, v) SELECT ?1 + i, (?1 + i) * 7919 % 1000003, randomblob(?3) FROM "
          "(WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?2) "
          "SELECT i FROM c)")


def _fill(db, next_id: int, acked: set[int], stop_after: int | None = None) -> int:
    """Inserts batches until even one row is refused with SQLITE_FULL (or stop_after rows were
    acknowledged); returns the next id.  Only rows of a statement that succeeded are acked."""
    batch = FIRST_BATCH
    while batch >= 1:
        if stop_after is not None and len(acked) >= stop_after:
            return next_id
        try:
            db.execute(INSERT, [next_id, batch, ROW_BYTES])
        except SqlError as e:
            assert e.code == SQLITE_FULL, e
            batch //= 2
            continue
        acked.update(range(next_id, next_id + batch))
        next_id += batch
    return next_id


def _check(db, acked: set[int]) -> None:
    assert db.execute("PRAGMA integrity_check") == [("ok",)]
    ids = {r[0] for r in db.execute("SELECT id FROM t")}
    assert acked <= ids, f"{len(acked - ids)} acknowledged rows lost"
    # rows of failed statements were rolled back: nothing but acknowledged rows exists
    assert ids == acked
    assert db.execute("SELECT count(*) FROM t WHERE k != id * 7919 % 1000003 OR length(v) != ?",
                      [ROW_BYTES]) == [(0,)]


def _blocks(target) -> tuple[int, int]:
    s = target.console.stats()
    return s["fs.blocks_used"], s["fs.block_count"]


@pytest.mark.parametrize("cut_when_full", [False, True], ids=["running", "after-power-cut"])
def test_full_flash_in_wal_mode_is_freed_by_delete_checkpoint_vacuum(target_factory, cut_when_full):
    t = target_factory()
    db = t.session().connect("/full.db")
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v BLOB NOT NULL)")
    acked: set[int] = set()
    next_id = _fill(db, 1, acked)
    assert len(acked) > 100, "the flash filled before any batch went in"
    used, total = _blocks(t)
    assert used <= total

    if cut_when_full:
        t.power_cut()
        t.boot()
        db = t.session().connect("/full.db")
        _check(db, acked)

    # Space-freeing work right at the limit: each of these failed with SQLITE_FULL before.
    half = sorted(acked)[len(acked) // 2]
    db.execute("DELETE FROM t WHERE id < ?", [half])
    acked = {i for i in acked if i >= half}
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)")[0]
    assert busy == 0
    db.execute("VACUUM")
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)")[0]
    assert busy == 0
    freed_used, _ = _blocks(t)
    assert freed_used < used, "deleting half the rows freed no flash"

    # The freed room is usable again, up to the limit, and survives a power cut.
    again = len(acked)
    next_id = _fill(db, next_id, acked)
    assert len(acked) > again + 100, "no room came back"
    t.power_cut()
    t.boot()
    db = t.session().connect("/full.db")
    _check(db, acked)
    db.execute("DELETE FROM t WHERE id < ?", [sorted(acked)[len(acked) // 2]])  # still usable
    assert db.execute("PRAGMA integrity_check") == [("ok",)]
