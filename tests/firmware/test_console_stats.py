"""`.stats` (firmware/console.c cmd_stats): fs.blocks_used counts each littlefs block once.

A WAL synced once (a commit with synchronous=FULL, or a checkpoint) and appended to since
without a sync (synchronous=NORMAL) is an open littlefs file whose uncommitted version shares
its blocks with the committed one; lfs_fs_size() counted them twice (4420 blocks "used" of
4096)."""

from __future__ import annotations

WAL_HDR, FRAME_HDR = 32, 24
METADATA_BLOCKS = 8  # superblock/root pair and the directory pairs of a few files, generously


def test_blocks_used_counts_an_unsynced_wal_once(target, walkit_board):
    db = target.session().connect("/stats.db")
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t(v BLOB)")
    fill = ("INSERT INTO t SELECT randomblob(2000) FROM (WITH RECURSIVE c(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) SELECT i FROM c)")
    db.execute("PRAGMA synchronous=FULL")  # this commit syncs the WAL
    db.execute(fill, [1500])
    db.execute("PRAGMA synchronous=NORMAL")  # this one appends without a sync
    db.execute(fill, [10])
    s = target.console.stats()
    used, bs, total = s["fs.blocks_used"], s["fs.block_size"], s["fs.block_count"]
    db_bytes = dict((n, size) for n, _, size in target.console.ls("/"))["stats.db"]
    # Learn the WAL's frames (a PASSIVE checkpoint neither moves nor shrinks it).
    busy, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)")[0]
    page = db.execute("PRAGMA page_size")[0][0]
    wal_bytes = WAL_HDR + frames * (FRAME_HDR + page)
    assert frames > 700 and busy == 0
    assert 0 < used <= total
    blocks = -(-db_bytes // bs) + -(-wal_bytes // bs)  # the database file is not checkpointed yet
    assert used <= blocks + METADATA_BLOCKS, (used, blocks)
    # After the checkpoint: the pages are in the database file too, each block counted once.
    pages = db.execute("PRAGMA page_count")[0][0]
    after = target.console.stats()["fs.blocks_used"]
    blocks = -(-pages * page // bs) + -(-wal_bytes // bs)
    assert after <= blocks + METADATA_BLOCKS, (after, blocks)
