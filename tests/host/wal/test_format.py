"""walkit.wal and ``walkit wal ...`` on known WALs: reports, corruption, verify, compact."""

from __future__ import annotations

import hashlib
import json
import os
import struct

import pytest

from support.wal_helpers import make_db, rechain, set_commit, sqlite_checkpoint, sqlite_dump
from walkit.cli import main as walkit_main
from walkit.wal import WalFormatError, build_wal, checkpoint, checksum, compact, parse_wal, verify
from walkit.wal.format import HEADER_SIZE, WalHeader

T = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"


def ins(n: int, size: int = 300):
    return [("INSERT INTO t(v) VALUES (?)", (os.urandom(size),)) for _ in range(n)]


@pytest.fixture(scope="module")
def three_txns():
    """Three committed transactions, the last rewriting pages of the first."""
    return make_db(1024, [T], [ins(3), ins(2, 2000), [("UPDATE t SET v = ? WHERE id = 1", (b"x" * 200,))]])


@pytest.fixture(scope="module")
def with_tail():
    """Two committed transactions and an uncommitted tail spilled by a transaction left open."""
    return make_db(1024, [T], [ins(2), ins(2)], open_tail=ins(30, 1500), cache_pages=3)


def run_cli(capsys, *argv):
    rc = walkit_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def digest(*paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


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


def test_uncommitted_tail_is_reported_excluded_and_applies(with_tail, tmp_path, capsys):
    wal = parse_wal(with_tail.wal)
    assert wal.uncommitted and wal.valid == len(wal.frames) and not wal.clean
    assert checkpoint(with_tail.db, wal) == sqlite_checkpoint(with_tail.db, with_tail.wal)
    p = write(tmp_path, "t.wal", with_tail.wal)
    rc, out, _ = run_cli(capsys, "wal", "inspect", p)
    assert rc == 2
    assert f"uncommitted tail: frames {wal.committed + 1}-{wal.valid}" in out
    rc, out, _ = run_cli(capsys, "wal", "inspect", "--json", p)
    d = json.loads(out)
    assert d["uncommitted_frames"] == len(wal.uncommitted)
    assert [f["status"] for f in d["frames"]].count("uncommitted") == len(wal.uncommitted)
    rc, out, _ = run_cli(capsys, "wal", "compact", p, tmp_path / "c.wal")
    assert rc == 0 and "excluded: uncommitted tail" in out
    c = parse_wal((tmp_path / "c.wal").read_bytes())
    assert c.clean and {f.pgno for f in c.frames} <= {f.pgno for f in wal.frames[:wal.committed]}
    db = write(tmp_path, "t.db", with_tail.db)
    rc, out, _ = run_cli(capsys, "wal", "verify", db, p)
    assert rc == 0 and "applies: yes" in out and "uncommitted tail" in out


@pytest.mark.parametrize("mutate, message", [
    (lambda w: w[:20], "shorter than the 32-byte WAL header"),
    (lambda w: b"", "0 bytes"),
    (lambda w: b"\x12\x34\x56\x78" + w[4:], "bad magic 0x12345678"),
    (lambda w: w[:10] + bytes([w[10] ^ 0x01]) + w[11:], "bad page size"),
    (lambda w: w[:14] + bytes([w[14] ^ 0x40]) + w[15:], "header checksum mismatch"),
])
def test_unusable_header_is_a_one_line_error(three_txns, tmp_path, capsys, mutate, message):
    p = write(tmp_path, "bad.wal", mutate(three_txns.wal))
    db = write(tmp_path, "t.db", three_txns.db)
    before = digest(p, db)
    with pytest.raises(WalFormatError, match=message):
        parse_wal(p.read_bytes())
    for cmd in (["inspect"], ["inspect", "--json"], ["compact"]):
        argv = ["wal", *cmd, p] + ([tmp_path / "out.wal"] if cmd == ["compact"] else [])
        rc, out, err = run_cli(capsys, *argv)
        assert rc == 1 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out.wal").exists()
    # verify: SQLite ignores such a WAL, so it does not apply and the database stays as it is.
    rc, out, err = run_cli(capsys, "wal", "verify", "--json", db, p)
    assert rc == 2
    d = json.loads(out)
    assert not d["applies"] and message in d["wal_error"]
    assert d["after_checkpoint"]["sha256"] == hashlib.sha256(three_txns.db).hexdigest()
    assert digest(p, db) == before


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


def test_inspect_clean_wal_exit_zero_and_json_fields(three_txns, tmp_path, capsys):
    p = write(tmp_path, "t.wal", three_txns.wal)
    rc, out, _ = run_cli(capsys, "wal", "inspect", p)
    assert rc == 0 and "status: clean" in out and "little-endian checksums" in out
    rc, out, _ = run_cli(capsys, "wal", "inspect", "--json", p)
    d = json.loads(out)
    wal = parse_wal(three_txns.wal)
    assert d["header"]["byte_order"] == "little-endian"
    assert d["header"]["page_size"] == 1024
    assert len(d["frames"]) == len(wal.frames)
    assert [t["last_frame"] for t in d["transactions"]] == [t.last for t in wal.transactions]
    commits = [f for f in d["frames"] if f["commit"]]
    assert [f["db_pages"] for f in commits] == [t.db_pages for t in wal.transactions]
    assert d["valid_end"] == {"offset": len(three_txns.wal), "reason": "end-of-file",
                              "description": wal.end_description()}
    be = write(tmp_path, "be.wal", rechain(three_txns.wal, True))
    rc, out, _ = run_cli(capsys, "wal", "inspect", "--json", be)
    assert rc == 0 and json.loads(out)["header"]["byte_order"] == "big-endian"


def test_verify_reports_the_checkpointed_database_and_modifies_nothing(three_txns, tmp_path, capsys):
    db = write(tmp_path, "t.db", three_txns.db)
    w = write(tmp_path, "t.db-wal", three_txns.wal)
    before = digest(db, w)
    stamps = [os.stat(p).st_mtime_ns for p in (db, w)]
    out_db = tmp_path / "after.db"
    rc, out, _ = run_cli(capsys, "wal", "verify", "--json", "--out", out_db, db, w)
    assert rc == 0
    d = json.loads(out)
    expected = sqlite_checkpoint(three_txns.db, three_txns.wal)
    assert d["applies"] and d["after_checkpoint"]["integrity_check"] == "ok"
    assert d["after_checkpoint"]["sha256"] == hashlib.sha256(expected).hexdigest()
    assert out_db.read_bytes() == expected
    assert sqlite_dump(expected) == sqlite_dump(three_txns.db, three_txns.wal)
    assert digest(db, w) == before and [os.stat(p).st_mtime_ns for p in (db, w)] == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.db", "t.db", "t.db-wal"]  # no -shm
    rc, _, err = run_cli(capsys, "wal", "verify", "--out", out_db, db, w)
    assert rc == 1 and "already exists" in err
    rc, _, err = run_cli(capsys, "wal", "verify", "--force", "--out", db, db, w)
    assert rc == 1 and "is an input file" in err and digest(db, w) == before


def test_verify_page_size_mismatch(three_txns, tmp_path, capsys):
    other = make_db(4096, [T], [ins(1)])
    db = write(tmp_path, "other.db", other.db)
    w = write(tmp_path, "t.wal", three_txns.wal)
    rc, out, _ = run_cli(capsys, "wal", "verify", db, w)
    assert rc == 2 and "page size differs: database 4096, WAL 1024" in out and "applies: NO" in out


def test_verify_wal_of_another_database(tmp_path, capsys):
    small = make_db(1024, [T], [])
    big = make_db(1024, [T, *ins(20, 900)], [ins(1)])
    rc, out, _ = run_cli(capsys, "wal", "verify", write(tmp_path, "small.db", small.db),
                         write(tmp_path, "big.wal", big.wal))
    assert rc == 2 and "belongs to another (larger) database" in out
    # Same size, different content: page 1 from the other database's WAL over this database.
    a = make_db(1024, ["CREATE TABLE a(x)", "CREATE INDEX ai ON a(x)", *[f"INSERT INTO a VALUES ({i})" for i in range(3)]], [])
    b = make_db(1024, ["CREATE TABLE b(y TEXT)", "CREATE TABLE c(z)"], [["INSERT INTO c VALUES (1)"], ["CREATE INDEX cz ON c(z)"]])
    v = verify(a.db, b.wal)
    assert not v.applies and any("integrity_check" in p for p in v.problems)


def test_verify_db_not_sqlite_is_an_error(three_txns, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "wal", "verify", write(tmp_path, "x.db", b"hello" * 100),
                         write(tmp_path, "t.wal", three_txns.wal))
    assert rc == 1 and "not a SQLite database" in err
    rc, _, err = run_cli(capsys, "wal", "verify", tmp_path / "absent.db", tmp_path / "t.wal")
    assert rc == 1 and "absent.db: no such file" in err


def test_compact_cli(three_txns, tmp_path, capsys):
    p = write(tmp_path, "t.wal", three_txns.wal)
    out = tmp_path / "c.wal"
    rc, text, _ = run_cli(capsys, "wal", "compact", "--json", p, out)
    assert rc == 0
    d = json.loads(text)
    wal = parse_wal(three_txns.wal)
    assert d["out_size"] == out.stat().st_size < len(three_txns.wal)
    assert d["kept_frames"] + d["superseded_frames"] + d["beyond_db_size"] == wal.committed
    assert sqlite_checkpoint(three_txns.db, out.read_bytes()) == sqlite_checkpoint(three_txns.db, three_txns.wal)
    rc, _, err = run_cli(capsys, "wal", "compact", p, out)
    assert rc == 1 and "already exists" in err
    rc, _, err = run_cli(capsys, "wal", "compact", "--force", p, p)
    assert rc == 1 and "is an input file" in err
    assert p.read_bytes() == three_txns.wal


def test_compact_without_commits_is_an_empty_wal_sqlite_accepts(three_txns):
    wal = parse_wal(three_txns.wal)
    only_uncommitted = build_wal(wal.header, [(f.pgno, wal.page(f)) for f in wal.frames[:2]], 0)
    # build_wal gives the last frame commit size 0 here: no transaction ever committed.
    w = parse_wal(only_uncommitted)
    assert w.committed == 0 and len(w.uncommitted) == 2
    c = compact(w)
    assert len(c.data) == HEADER_SIZE and parse_wal(c.data).clean
    assert sqlite_checkpoint(three_txns.db, c.data) == three_txns.db == checkpoint(three_txns.db, w)


def test_compact_keeps_the_commit_when_only_truncated_pages_changed():
    """Every committed page lies past the final database size: the last frame stays so that
    the truncation is not lost (and SQLite agrees on the result)."""
    f = make_db(1024, [T, *ins(6, 600)], [])
    n = len(f.db) // 1024
    # The in-header database size counts only while "version-valid-for" equals the change
    # counter; invalidate it so that SQLite takes the size from the WAL without page 1.
    db = bytearray(f.db)
    struct.pack_into(">I", db, 92, struct.unpack_from(">I", db, 24)[0] + 1)
    db = bytes(db)
    page = bytes(1024)
    # Transaction 1 grows the database to n+1 pages, transaction 2 writes page n+2 and
    # shrinks it to n-1 pages.
    chain = build_wal(WalHeader.new(1024, 7, 9), [(n + 1, page), (n + 2, page)], n - 1)
    wal = parse_wal(set_commit(chain, 1, n + 1))
    assert [t.db_pages for t in wal.transactions] == [n + 1, n - 1]
    c = compact(wal)
    assert [fr.pgno for fr in c.kept] == [n + 2] and c.beyond_end == 1
    expected = sqlite_checkpoint(db, wal.data)
    assert len(expected) == (n - 1) * 1024
    assert checkpoint(db, wal) == expected == sqlite_checkpoint(db, c.data)


def test_page_size_65536(tmp_path):
    f = make_db(65536, [T], [ins(3, 70000), [("DELETE FROM t WHERE id = 2",)]])
    wal = parse_wal(f.wal)
    assert wal.page_size == 65536 and f.db[16:18] == b"\x00\x01"
    c = compact(wal)
    assert sqlite_checkpoint(f.db, c.data) == sqlite_checkpoint(f.db, f.wal) == checkpoint(f.db, wal)
    assert verify(f.db, f.wal).applies
