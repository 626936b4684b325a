"""The flash pool in the host-native build (walkit.native, ``storage="pool"``): the pool of
vfs/storage/flashpool.c on the emulated NOR partition (host/walkit/native/nor_emu.c).  The
partition is saved when the session closes and mounted by the next session on the folder; the
host's reader (walkit.image.pool) finds the files in it; a damaged partition is reported and
left as it was; the files live in the partition, not in the folder."""

from __future__ import annotations

import pytest

from walkit import WalkitError
from walkit.image.pool import DHDR, Pool
from walkit.native import POOL_GEOMETRY, POOL_IMAGE, open_session, saved_pool

ROWS = [(i, f"row {i}") for i in range(200)]


def _fill(session) -> None:
    db = session.connect("p.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
    for r in ROWS:
        db.execute("INSERT INTO t VALUES (?, ?)", r)
    db.close()


def test_a_second_session_mounts_what_the_first_left(tmp_path):
    with open_session(tmp_path, storage="pool") as s:
        _fill(s)
        assert s.exists("p.db") and not s.exists("p.db-shm")
    assert sorted(p.name for p in tmp_path.iterdir()) == [POOL_IMAGE]  # nothing beside it
    assert b"/p.db" in saved_pool(tmp_path).contents
    with open_session(tmp_path, storage="pool") as s:
        db = s.connect("p.db")
        assert db.execute("SELECT * FROM t ORDER BY k") == ROWS
        assert db.execute("PRAGMA integrity_check") == [("ok",)]
        db.close()


def test_a_damaged_partition_is_reported_and_left_as_it_was(tmp_path):
    with open_session(tmp_path, storage="pool") as s:
        _fill(s)
    image = tmp_path / POOL_IMAGE
    raw = bytearray(image.read_bytes())
    pool = Pool(bytes(raw), POOL_GEOMETRY["erase_block"], POOL_GEOMETRY["prog_size"])
    # The database's first data block, a byte inside its first record's data.
    slot = next(s for s, f in pool.files.items() if f.name == b"/p.db")
    first = pool.files[slot].blocks[0] * POOL_GEOMETRY["erase_block"]
    raw[first + DHDR + 10] ^= 0x40
    image.write_bytes(bytes(raw))
    with pytest.raises(WalkitError, match=r"does not mount \(error -8"):
        open_session(tmp_path, storage="pool")
    assert image.read_bytes() == bytes(raw)


def test_an_image_of_another_size_is_refused(tmp_path):
    (tmp_path / POOL_IMAGE).write_bytes(b"\xff" * 4096)
    with pytest.raises(WalkitError, match="4096 bytes, the native pool is"):
        open_session(tmp_path, storage="pool")


def test_unknown_storage_is_refused(tmp_path):
    with pytest.raises(ValueError, match="storage 'nand'"):
        open_session(tmp_path, storage="nand")
