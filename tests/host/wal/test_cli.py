"""``walkit wal inspect|verify|compact`` on known WALs: reports in text and JSON, an uncommitted
tail reported and excluded, one-line errors, outputs that are never overwritten unasked."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.cli import run_cli
from support.wal_helpers import digest, rechain, sqlite_checkpoint, write
from walkit.wal import WalFormatError, checkpoint, parse_wal


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
