"""States a power cut can leave, and hostile partitions, against the pool mount's judgement
(vfs/storage/flashpool.c) and the host's reader (walkit.image.pool) (docs/flashpool.md,
"Mount"), on the native pool session (host-sim's geometry, the emulated NOR of
host/walkit/native/nor_emu.c):

- the very first format cut in its first program (the emulator's own cut model: the first half
  of the HDR record's words) is a first format cut before its SNAP_END: the next boot formats,
  and the reader says there is no pool yet (not damage);
- a whole state-log record that contradicts the state or the geometry (a length, a block, a
  seal out of range) is damage for both sides, reported as PoolDamaged by the reader, never an
  IndexError or a struct.error, and never accepted by one side only;
- a file size or record offset far beyond the partition (a hostile image) is a clear error
  from the reader, without allocating it;
- a cut in the header of a record whose own data holds a whole record header (user data can be
  anything: a row holding a flash dump) leaves a torn tail, and both sides discard it as one:
  the torn header's length can only overstate the record, so a whole header before the end it
  gives is the record's own data (before that rule, both sides refused the partition after a
  mere power cut)."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.image.pool import DATA_MAGIC, DHDR, LHDR, Pool, PoolDamaged, _align
from walkit.native import POOL_GEOMETRY, POOL_IMAGE, open_session

from support.image_helpers import planted, pool_of

BS, P, SIZE = POOL_GEOMETRY["erase_block"], POOL_GEOMETRY["prog_size"], POOL_GEOMETRY["size"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A session folder whose pool.img holds t.db (rollback journal, a few rows)."""
    d = tmp_path_factory.mktemp("pool-review")
    s = open_session(d, storage="pool")
    db = s.connect("t.db")
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    for _ in range(10):
        db.execute("INSERT INTO t(v) VALUES (randomblob(200))")
    s.close()
    return d


def c_count(folder: Path) -> int:
    s = open_session(folder, storage="pool")
    try:
        return s.connect("t.db").execute("SELECT count(*) FROM t")[0][0]
    finally:
        s.close()


def log_record(typ: int, payload: bytes) -> bytes:
    h = struct.pack("<BBH", typ, 0, len(payload))
    rec = h + struct.pack("<I", zlib.crc32(payload, zlib.crc32(h))) + payload
    return rec + b"\xff" * (_align(len(rec), P) - len(rec))


def append_log(buf: bytearray, pool: Pool, rec: bytes) -> None:
    at = pool.active * pool.area * BS + pool.log_used
    assert bytes(buf[at:at + len(rec)]) == b"\xff" * len(rec)
    buf[at:at + len(rec)] = rec


def data_header(slot: int, n: int, off: int, seq: int, dcrc: int) -> bytes:
    h = struct.pack("<HBBIQQI", DATA_MAGIC, slot, 0, n, off, seq, dcrc)
    return h + struct.pack("<I", zlib.crc32(h))


def test_first_format_cut_in_its_hdr_is_formatted(tmp_path):
    """Format of a blank partition, cut at its first operation as nor_emu cuts (the first half
    of the HDR record's words programmed): nothing but a first format was ever there."""
    made = tmp_path / "made"
    made.mkdir()
    open_session(made, storage="pool").close()
    full = (made / POOL_IMAGE).read_bytes()
    hdr_words = _align(LHDR + 36, P) // P
    cut = bytearray(b"\xff" * SIZE)
    cut[:(hdr_words // 2) * P] = full[:(hdr_words // 2) * P]
    assert cut != b"\xff" * SIZE and full[0] == 1  # a HDR record, torn
    d = tmp_path / "cut"
    d.mkdir()
    (d / POOL_IMAGE).write_bytes(cut)
    with pytest.raises(WalkitError, match="no pool yet") as e:
        pool_of(bytes(cut))
    assert not isinstance(e.value, PoolDamaged)
    s = open_session(d, storage="pool")  # the C mount formats it
    s.connect("t.db").execute("CREATE TABLE t(k)")
    s.close()
    assert pool_of((d / POOL_IMAGE).read_bytes()).exists("/t.db")


def test_torn_first_hdr_with_data_elsewhere_is_still_damage(tmp_path):
    """The exception above is narrow: a torn HDR and anything programmed beyond it is no
    first format cut, and nothing is written."""
    made = tmp_path / "made"
    made.mkdir()
    open_session(made, storage="pool").close()
    full = (made / POOL_IMAGE).read_bytes()
    cut = bytearray(b"\xff" * SIZE)
    cut[:P] = full[:P]
    cut[SIZE // 2] = 0
    d = tmp_path / "cut"
    d.mkdir()
    (d / POOL_IMAGE).write_bytes(cut)
    with pytest.raises(PoolDamaged):
        pool_of(bytes(cut))
    with pytest.raises(WalkitError, match="does not mount"):
        open_session(d, storage="pool")
    assert (d / POOL_IMAGE).read_bytes() == cut


def slot_of(pool: Pool, name: bytes) -> int:
    return next(s for s, f in pool.files.items() if f.name == name)


# Whole (CRC-valid) state-log records that fp_apply refuses: (type, payload builder).
MALFORMED = {
    "seal_block_beyond": (21, lambda pool: struct.pack("<II", pool.nblocks, 0)),
    "seal_beyond_block": (21, lambda pool: struct.pack("<II", pool.first_data, BS + P)),
    "hdr_short": (1, lambda pool: b"\x57\x4b\x50\x4c"),
    "create_no_name": (16, lambda pool: bytes([9])),
    "create_slot_beyond": (16, lambda pool: bytes([40]) + b"/x"),
    "flist_ragged": (3, lambda pool: bytes([9]) + struct.pack("<I", pool.first_data) + b"\0"),
    "alloc_long": (18, lambda pool: bytes([9]) + struct.pack("<II", pool.nblocks - 1, 1) + b"\0"),
    "alloc_short": (18, lambda pool: bytes([9, 1])),
    "free_beyond": (19, lambda pool: struct.pack("<I", pool.nblocks + 5)),
    "blocks_before_data": (4, lambda pool: struct.pack("<III", 0, 0, 0xFFFFFFFF)),
    "blocks_beyond": (4, lambda pool: struct.pack("<III", pool.nblocks, 0, 0xFFFFFFFF)),
    "trunc_short": (20, lambda pool: bytes([slot_of(pool, b"/t.db")]) + bytes(8)),
    "delete_empty": (17, lambda pool: b""),
    "end_with_payload": (5, lambda pool: b"\0"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_log_record_is_damage_for_both(base, tmp_path, name):
    typ, payload = MALFORMED[name]
    d, buf = planted(base, tmp_path, lambda buf, pool: append_log(buf, pool, log_record(typ, payload(pool))))
    with pytest.raises(PoolDamaged):
        pool_of(buf)
    with pytest.raises(WalkitError, match="does not mount"):
        open_session(d, storage="pool")
    assert (d / POOL_IMAGE).read_bytes() == buf


@pytest.mark.parametrize("how", ["trunc", "record"])
def test_huge_file_is_a_clear_error_not_an_allocation(base, tmp_path, how):
    """A TRUNC to 2^62 bytes, or a whole data record at offset 2^62: the reader says so at once
    instead of materializing it; the record (the pool never writes past the partition's size)
    is damage for both sides."""
    def plant(buf, pool):
        slot = slot_of(pool, b"/t.db")
        if how == "trunc":
            append_log(buf, pool, log_record(20, bytes([slot]) + struct.pack("<QQ", 1 << 62, pool.next_seq)))
            return
        block, used, torn = pool.heads[b"/t.db"]
        assert not torn and used + 2 * DHDR < BS
        data = b"x" * P
        rec = data_header(slot, len(data), 1 << 62, pool.next_seq + 10, zlib.crc32(data)) + data
        at = block * BS + used
        buf[at:at + len(rec)] = rec
    d, buf = planted(base, tmp_path, plant)
    t0 = time.monotonic()
    if how == "trunc":
        with pytest.raises(WalkitError, match="beyond the partition"):
            pool_of(buf)
    else:
        with pytest.raises(PoolDamaged, match="a whole record header that does not fit the file"):
            pool_of(buf)
        with pytest.raises(WalkitError, match="does not mount"):
            open_session(d, storage="pool")
        assert (d / POOL_IMAGE).read_bytes() == buf
    assert time.monotonic() - t0 < 5


def test_cut_in_header_of_record_holding_a_header_is_a_torn_tail(base, tmp_path):
    """The last write to t.db's head is a record whose bytes hold a whole data record header
    (here: one of the pool's own, as a row holding a flash dump would).  NOR page programs
    leave any subset of bits cleared: the cut left one bit of the record's magic unprogrammed
    and every other byte of its first (and only) program in place, flash blank after it."""
    def plant(buf, pool):
        block, used, torn = pool.heads[b"/t.db"]
        assert not torn and used + 4 * DHDR + 512 < BS
        slot = slot_of(pool, b"/t.db")
        inner = bytes(buf[block * BS:block * BS + DHDR])  # a whole header: the block's first
        assert struct.unpack_from("<H", inner)[0] == DATA_MAGIC
        data = bytes(32) + inner + bytes(range(256)) * 2
        rec = bytearray(data_header(slot, len(data), 0, pool.next_seq + 10, zlib.crc32(data)) + data)
        rec[0] |= 0x08  # the magic's bit 3: not cleared yet when the cut came
        at = block * BS + used
        buf[at:at + len(rec)] = rec
    d, buf = planted(base, tmp_path, plant)
    assert c_count(d) == 10
    pool = pool_of(buf)
    assert pool.heads[b"/t.db"][2], "the reader did not see the torn tail"


def test_whole_header_after_a_torn_records_end_is_still_damage(base, tmp_path):
    """The torn header's length bounds what may be its data, no more: a whole header at or
    after the end that length gives cannot be the torn record's, so it is a record programmed
    after a torn one (damage) for both sides, and nothing is written."""
    def plant(buf, pool):
        block, used, torn = pool.heads[b"/t.db"]
        assert not torn and used + 4 * DHDR + 512 < BS
        slot = slot_of(pool, b"/t.db")
        data = bytes(range(256))
        rec = bytearray(data_header(slot, len(data), 0, pool.next_seq + 10, zlib.crc32(data)) + data)
        rec[0] |= 0x08  # torn, as in the test above
        at = block * BS + used
        buf[at:at + len(rec)] = rec
        later = at + _align(DHDR + len(data), P)  # where the torn record ends at the latest
        inner = bytes(buf[block * BS:block * BS + DHDR])  # a whole header
        buf[later:later + DHDR] = inner
    d, buf = planted(base, tmp_path, plant)
    with pytest.raises(PoolDamaged, match="damaged record with data after it"):
        pool_of(buf)
    with pytest.raises(WalkitError, match="does not mount"):
        open_session(d, storage="pool")
    assert (d / POOL_IMAGE).read_bytes() == buf
