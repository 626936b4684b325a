"""The host's pool reader (walkit.image.pool) judges a damaged partition as the C mount
(vfs/storage/flashpool.c) does (docs/flashpool.md, "Mount"): a torn tail, the record a cut was
programming with blank flash after it, at the end of a file's last block or of the state log,
is discarded by both and the database reads the same rows on both sides; a damaged record with
whole records after it, in a file's last block or in the middle of the state log, is damage on
both: the C mount refuses the partition, the reader raises PoolDamaged naming the block (or
area) and offset.  The partitions are the native pool session's (host-sim's geometry, the
emulated NOR of host/walkit/native/nor_emu.c) after a WAL workload left frames in the WAL."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.image.pool import DATA_MAGIC, DHDR, LHDR, Pool, PoolDamaged, _align
from walkit.native import POOL_GEOMETRY, POOL_IMAGE, open_session

from support.image_helpers import planted, pool_of

BS, P = POOL_GEOMETRY["erase_block"], POOL_GEOMETRY["prog_size"]
ROWS = 60


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A session folder whose pool.img holds t.db and its WAL (frames not checkpointed)."""
    d = tmp_path_factory.mktemp("pool-base")
    s = open_session(d, storage="pool")
    db = s.connect("t.db")
    db.execute("PRAGMA page_size=1024")  # frames of 1080 bytes: several records per 4 KiB block
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    for i in range(ROWS):
        db.execute("INSERT INTO t(v) VALUES (randomblob(300))")
    # The partition as a power cut with the connection open leaves it (closing the last
    # connection would checkpoint and delete the WAL).
    image = s._pool_bytes()
    s.close()
    (d / POOL_IMAGE).write_bytes(image)
    return d


def host_rows(pool: Pool, tmp: Path) -> int:
    """Rows of t.db as the host's SQLite reads the reader's files."""
    tmp.mkdir(exist_ok=True)
    for name, data in pool.contents.items():
        (tmp / name.decode().lstrip("/")).write_bytes(data)
    con = sqlite3.connect(tmp / "t.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return con.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        con.close()


def c_rows(folder: Path) -> int:
    """Rows of t.db through the C mount (raises WalkitError when the pool does not mount)."""
    s = open_session(folder, storage="pool")
    try:
        db = s.connect("t.db")
        assert db.execute("PRAGMA integrity_check") == [("ok",)]
        return db.execute("SELECT count(*) FROM t")[0][0]
    finally:
        s.close()


def records(buf: bytes, block: int, end: int) -> list[int]:
    """Offsets of the data records in ``block`` before ``end``."""
    out, at = [], 0
    while at < end:
        out.append(at)
        n = struct.unpack_from("<I", buf, block * BS + at + 4)[0]
        at += _align(DHDR + n, P)
    return out


def log_records(buf: bytes, base: int, end: int) -> list[int]:
    out, at = [], 0
    while at < end:
        out.append(at)
        at += _align(LHDR + struct.unpack_from("<H", buf, base + at + 2)[0], P)
    return out


def wal_head(pool: Pool) -> tuple[int, int]:
    block, used, torn = pool.heads[b"/t.db-wal"]
    assert not torn and used + 4 * DHDR < BS, (block, used)
    return block, used


def test_base_has_wal_frames(base, tmp_path):
    pool = pool_of((base / POOL_IMAGE).read_bytes())
    assert len(pool.contents[b"/t.db-wal"]) > 32 + 4096
    assert host_rows(pool, tmp_path / "h") == ROWS
    d, _ = planted(base, tmp_path, lambda buf, pool: None)  # a session's close checkpoints
    assert c_rows(d) == ROWS


def test_torn_data_record_is_discarded_by_both(base, tmp_path):
    """A cut halfway through a new record's program: its header whole (a fresh sequence number),
    half its data.  Both drop it and read every row; the C mount seals the block and the next
    boot after new commits still agrees."""
    def plant(buf, pool):
        block, used = wal_head(pool)
        slot = next(s for s, f in pool.files.items() if f.name == b"/t.db-wal")
        data = bytes(range(256)) * 2
        h = struct.pack("<HBBIQQI", DATA_MAGIC, slot, 0, len(data), 1 << 20, 1 << 40, zlib.crc32(data))
        rec = h + struct.pack("<I", zlib.crc32(h)) + data
        at = block * BS + used
        buf[at:at + DHDR + 256] = rec[:DHDR + 256]
    d, buf = planted(base, tmp_path, plant)
    pool = pool_of(buf)
    assert pool.heads[b"/t.db-wal"][2], "the reader did not see the torn tail"
    assert host_rows(pool, tmp_path / "h") == ROWS
    assert c_rows(d) == ROWS
    s = open_session(d, storage="pool")
    s.connect("t.db").execute("INSERT INTO t(v) VALUES (x'00')")
    s.close()
    again = pool_of((d / POOL_IMAGE).read_bytes())
    assert host_rows(again, tmp_path / "h2") == ROWS + 1 == c_rows(d)


def test_torn_log_tail_is_discarded_by_both(base, tmp_path):
    def plant(buf, pool):
        at = pool.active * pool.area * BS + pool.log_used
        buf[at:at + 8] = bytes([18, 0, 9, 0, 1, 2, 3, 4])  # an ALLOC header, its CRC wrong
    d, buf = planted(base, tmp_path, plant)
    pool = pool_of(buf)
    assert pool.log_torn
    assert host_rows(pool, tmp_path / "h") == ROWS
    assert c_rows(d) == ROWS


@pytest.mark.parametrize("where", ["data", "header"])
def test_damage_mid_block_is_damage_for_both(base, tmp_path, where):
    """A flipped bit in a record of the WAL's last block with whole records after it."""
    seen = {}

    def plant(buf, pool):
        block, used = wal_head(pool)
        recs = records(bytes(buf), block, used)
        assert len(recs) >= 3, recs
        seen["block"], seen["at"], seen["next"] = block, recs[-3], recs[-2]
        buf[block * BS + recs[-3] + (DHDR + 100 if where == "data" else 10)] ^= 0x04
    d, buf = planted(base, tmp_path, plant)
    with pytest.raises(PoolDamaged, match=f"data block {seen['block']} .*offset {seen['at']}: "
                       f"damaged record with data after it \\(at offset {seen['next']}\\)"):
        pool_of(buf)
    with pytest.raises(WalkitError, match="does not mount"):
        c_rows(d)
    assert (d / POOL_IMAGE).read_bytes() == buf, "the C mount wrote to a damaged partition"


def test_damage_mid_log_is_damage_for_both(base, tmp_path):
    seen = {}

    def plant(buf, pool):
        base_ = pool.active * pool.area * BS
        recs = log_records(bytes(buf), base_, pool.log_used)
        assert len(recs) >= 4
        seen["area"], seen["at"] = pool.active, recs[-3]
        buf[base_ + recs[-3] + LHDR] ^= 0x01
    d, buf = planted(base, tmp_path, plant)
    with pytest.raises(PoolDamaged, match=f"state-log area {seen['area']} .*offset {seen['at']}: "
                       "damaged record with data after it"):
        pool_of(buf)
    with pytest.raises(WalkitError, match="does not mount"):
        c_rows(d)
