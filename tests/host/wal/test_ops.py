"""walkit.wal.ops on known WALs: verify (the checkpointed database, a page-size mismatch, a WAL of
another database, a database that is not SQLite) and compact (no commits, only truncated pages
changed)."""

from __future__ import annotations

import hashlib
import json
import os
import struct

from support.cli import run_cli
from support.wal_helpers import (T, digest, ins, make_db, set_commit, sqlite_checkpoint,
                                 sqlite_dump, write)
from walkit.wal import build_wal, checkpoint, compact, parse_wal, verify
from walkit.wal.format import HEADER_SIZE, WalHeader


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
