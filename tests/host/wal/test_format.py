"""walkit.wal.format on known WALs: headers, frames, checksums, salts and where the log ends, as
SQLite reads them; corruption in each part of a frame; unusable and unsupported headers."""

from __future__ import annotations

import json
import struct

import pytest

from support.cli import run_cli
from support.wal_helpers import T, ins, make_db, sqlite_checkpoint, write
from walkit.wal import WalFormatError, build_wal, checkpoint, checksum, compact, parse_wal, verify
from walkit.wal.format import HEADER_SIZE, WalHeader


def test_parse_real_wal(three_txns):
    wal = parse_wal(three_txns.wal)
    assert wal.header.version == 3007000
    assert wal.header.page_size == 1024
    assert not wal.header.big_endian  # SQLite on a little-endian host
    assert wal.clean and wal.end_reason == "end-of-file"
    assert len(wal.transactions) == 3
    assert [t.last for t in wal.transactions][-1] == len(wal.frames)
    assert all(f.salt_ok and f.checksum_ok for f in wal.frames)
    assert wal.db_pages == len(sqlite_checkpoint(three_txns.db, three_txns.wal)) // 1024


def test_unsupported_version_with_valid_checksum(three_txns):
    h = parse_wal(three_txns.wal).header
    head = struct.pack(">6I", h.magic, 3007001, h.page_size, h.checkpoint_seq, h.salt1, h.salt2)
    bad = head + struct.pack(">2I", *checksum(head, False)) + three_txns.wal[32:]
    with pytest.raises(WalFormatError, match="unsupported WAL format version 3007001"):
        parse_wal(bad)


def test_flipped_bit_in_each_part_of_a_frame(three_txns, tmp_path, capsys):
    wal = parse_wal(three_txns.wal)
    second = wal.transactions[1]
    f = wal.frames[second.first - 1]  # first frame of the second transaction
    fields = {"page number": 2, "commit size": 5, "salt": 9, "checksum": 17, "page data": 24 + 500}
    for what, off in fields.items():
        bad = bytearray(three_txns.wal)
        bad[f.offset + off] ^= 0x04
        w = parse_wal(bytes(bad))
        assert w.valid == f.index - 1, what
        assert w.committed == wal.transactions[0].last, what
        assert w.end_reason == ("salt-mismatch" if what == "salt" else "checksum-mismatch"), what
        assert checkpoint(three_txns.db, w) == sqlite_checkpoint(three_txns.db, bytes(bad)), what
        p = write(tmp_path, "bad.wal", bytes(bad))
        rc, out, _ = run_cli(capsys, "wal", "inspect", p)
        assert rc == 2
        assert f"at frame {f.index} (offset {f.offset})" in out
        rc, out, _ = run_cli(capsys, "wal", "inspect", "--json", p)
        d = json.loads(out)
        assert d["valid_end"]["offset"] == f.offset and d["ignored_frames"] == len(wal.frames) - f.index + 1


def test_page_number_zero_ends_the_log(three_txns):
    wal = parse_wal(three_txns.wal)
    frames = [(f.pgno, wal.page(f)) for f in wal.frames[:2]]
    good = build_wal(wal.header, frames, wal.frames[1].pgno)
    zero = bytearray(good)
    struct.pack_into(">I", zero, HEADER_SIZE + wal.frame_size, 0)  # frame 2's page number
    w = parse_wal(bytes(zero))
    assert (w.valid, w.end_reason) == (1, "page-zero")
    assert "page number 0" in w.end_description()


def test_short_frame_and_salt_change(three_txns, tmp_path, capsys):
    wal = parse_wal(three_txns.wal)
    cut = three_txns.wal[:HEADER_SIZE + 2 * wal.frame_size + 100]
    w = parse_wal(cut)
    assert (w.valid, w.trailing, w.end_reason) == (2, 100, "short-frame")
    rc, out, _ = run_cli(capsys, "wal", "inspect", write(tmp_path, "s.wal", cut))
    assert rc == 2 and "100 trailing bytes" in out and "short frame" in out
    # A new WAL generation (a restart after a checkpoint) over a longer old one: SQLite writes
    # a header with salt-1 + 1 and overwrites from frame 1, the old frames stay behind.
    h = wal.header
    new_header = WalHeader.new(h.page_size, (h.salt1 + 1) & 0xFFFFFFFF, 0x1234, h.checkpoint_seq + 1)
    first = wal.transactions[0]
    restarted = build_wal(new_header, [(f.pgno, wal.page(f)) for f in wal.frames[:first.last]],
                          first.db_pages)
    mixed = restarted + three_txns.wal[len(restarted):]
    w = parse_wal(mixed)
    assert (w.valid, w.committed, w.end_reason) == (first.last, first.last, "salt-mismatch")
    assert checkpoint(three_txns.db, w) == sqlite_checkpoint(three_txns.db, mixed)
    rc, out, _ = run_cli(capsys, "wal", "inspect", write(tmp_path, "m.wal", mixed))
    assert rc == 2 and f"at frame {first.last + 1}" in out and "salt mismatch" in out


def test_page_size_65536(tmp_path):
    f = make_db(65536, [T], [ins(3, 70000), [("DELETE FROM t WHERE id = 2",)]])
    wal = parse_wal(f.wal)
    assert wal.page_size == 65536 and f.db[16:18] == b"\x00\x01"
    c = compact(wal)
    assert sqlite_checkpoint(f.db, c.data) == sqlite_checkpoint(f.db, f.wal) == checkpoint(f.db, wal)
    assert verify(f.db, f.wal).applies
