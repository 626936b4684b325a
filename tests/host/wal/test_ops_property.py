"""Property tests of walkit.wal against real SQLite.

Random schemas and transaction sequences (inserts with overflow pages, updates, deletes, index
changes, rollbacks, explicit checkpoints that restart the WAL, VACUUM that shrinks the file,
and an uncommitted tail spilled from a transaction left open) produce a database and a WAL
with Python's sqlite3.  SQLite itself is the oracle: the database it has after
``wal_checkpoint(TRUNCATE)`` and its ``VACUUM INTO`` copy must not change when the WAL is
replaced by its compaction, and walkit's own idea of "the database after a checkpoint" must be
the same bytes.  Every property runs with little- and big-endian checksums.

Example counts: ``WALKIT_PROPERTY_EXAMPLES`` (default 40, the CI profile).  The full-size run:

    WALKIT_PROPERTY_EXAMPLES=500 .venv/bin/pytest tests/host/wal/test_ops_property.py
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import string
import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from support.wal_helpers import make_db, rechain, sqlite_checkpoint, sqlite_vacuum_into
from walkit.cli import main as walkit_main
from walkit.wal import WalFormatError, checkpoint, compact, parse_wal
from walkit.wal.format import HEADER_SIZE, checksum

EXAMPLES = int(os.environ.get("WALKIT_PROPERTY_EXAMPLES", "40"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TYPES = ["INTEGER", "TEXT", "BLOB", "REAL"]


def _value(ty: str, size: int, rng: random.Random):
    if ty == "INTEGER":
        return rng.randrange(-(1 << 40), 1 << 40)
    if ty == "TEXT":
        return "".join(rng.choices(string.ascii_letters, k=size))
    if ty == "BLOB":
        return rng.randbytes(size)
    return rng.random() * 1e6


@st.composite
def scenarios(draw):
    """(page_size, setup, transactions, open_tail, cache_pages) for wal_helpers.make_db."""
    page_size = draw(st.sampled_from([512, 1024, 2048, 4096]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    tables = []
    setup: list = []
    for t in range(draw(st.integers(1, 3))):
        cols = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4))
        tables.append((f"t{t}", cols))
        setup.append(f"CREATE TABLE t{t}(id INTEGER PRIMARY KEY, "
                     + ", ".join(f"c{i} {ty}" for i, ty in enumerate(cols)) + ")")

    def insert(table, cols, rows: int, size: int):
        sql = f"INSERT INTO {table}({', '.join(f'c{i}' for i in range(len(cols)))}) VALUES ({', '.join('?' * len(cols))})"
        return [(sql, tuple(_value(ty, size, rng) for ty in cols)) for _ in range(rows)]

    for name, cols in tables:
        setup += insert(name, cols, draw(st.integers(0, 5)), draw(st.integers(0, 1500)))

    op_kinds = st.sampled_from(["insert", "insert", "update", "delete", "index"])

    def statements():
        out = []
        for _ in range(draw(st.integers(1, 5))):
            name, cols = tables[draw(st.integers(0, len(tables) - 1))]
            kind = draw(op_kinds)
            if kind == "insert":
                out += insert(name, cols, draw(st.integers(1, 12)), draw(st.integers(0, 3000)))
            elif kind == "update":
                i = draw(st.integers(0, len(cols) - 1))
                out.append((f"UPDATE {name} SET c{i} = ? WHERE id % ? = ?",
                            (_value(cols[i], draw(st.integers(0, 2500)), rng),
                             draw(st.integers(1, 4)), draw(st.integers(0, 3)))))
            elif kind == "delete":
                out.append((f"DELETE FROM {name} WHERE id % ? = ?",
                            (draw(st.integers(2, 5)), draw(st.integers(0, 4)))))
            else:
                out.append(f"DROP INDEX IF EXISTS {name}_i" if draw(st.booleans())
                           else f"CREATE INDEX IF NOT EXISTS {name}_i ON {name}(c0)")
        return out

    transactions: list = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["commit", "commit", "commit", "rollback", "checkpoint", "vacuum"]))
        if kind == "commit":
            transactions.append(statements())
        elif kind == "rollback":
            transactions.append(["ROLLBACK"] + statements())
        elif kind == "checkpoint":
            transactions.append(f"PRAGMA wal_checkpoint({draw(st.sampled_from(['PASSIVE', 'RESTART', 'TRUNCATE']))})")
        else:
            transactions.append("VACUUM")
    # The WAL always ends with committed changes, so that a WAL SQLite ignored would show.
    name, cols = tables[0]
    transactions.append(insert(name, cols, draw(st.integers(1, 4)), draw(st.integers(0, 2000))))
    open_tail = insert(name, cols, draw(st.integers(5, 30)), 2000) if draw(st.booleans()) else None
    cache_pages = draw(st.sampled_from([None, 3, 10])) if open_tail is None else 3
    return page_size, setup, transactions, open_tail, cache_pages


def _events(wal) -> None:
    """Hypothesis statistics (--hypothesis-show-statistics): which WAL shapes were covered."""
    event(f"frames: {min(len(wal.frames) // 25 * 25, 200)}+")
    event(f"transactions: {min(len(wal.transactions), 5)}{'+' if len(wal.transactions) >= 5 else ''}")
    if wal.uncommitted:
        event("uncommitted tail")
    if wal.ignored:
        event(f"valid prefix ends with {wal.end_reason}")
    if any(t.db_pages < wal.transactions[0].db_pages for t in wal.transactions[1:]):
        event("database shrinks")


def _wal_for(files, big_endian: bool) -> bytes:
    return rechain(files.wal, True) if big_endian else files.wal


@PROFILE
@given(scenario=scenarios(), big_endian=st.booleans())
def test_compaction_never_changes_the_checkpointed_database(scenario, big_endian):
    files = make_db(*scenario)
    wal_bytes = _wal_for(files, big_endian)
    ref = sqlite_checkpoint(files.db, wal_bytes)
    assert ref != files.db  # SQLite applied the WAL: it ends with committed changes
    if big_endian:
        assert ref == sqlite_checkpoint(files.db, files.wal)  # SQLite accepts the rechained WAL
    ref_vacuum = sqlite_vacuum_into(files.db, wal_bytes)

    wal = parse_wal(wal_bytes)
    _events(wal)
    assert wal.header.big_endian == big_endian
    # walkit's "database after a checkpoint" is SQLite's, byte for byte.
    assert checkpoint(files.db, wal) == ref

    c = compact(wal)
    assert len(c.data) <= len(wal_bytes)
    out = parse_wal(c.data)
    assert out.clean and out.committed == len(out.frames) == len(c.kept)
    assert len(out.transactions) == 1
    assert out.header.salts == wal.header.salts
    assert out.header.big_endian == big_endian
    assert out.header.checkpoint_seq == wal.header.checkpoint_seq
    assert out.frames[-1].commit == wal.db_pages
    assert all(f.commit == 0 for f in out.frames[:-1])
    assert len({f.pgno for f in out.frames}) == len(out.frames)
    assert [f.index for f in c.kept] == sorted(f.index for f in c.kept)  # original order
    assert sqlite_checkpoint(files.db, c.data) == ref
    assert sqlite_vacuum_into(files.db, c.data) == ref_vacuum
    assert compact(out).data == c.data  # a compacted WAL is a fixed point


@PROFILE
@given(scenario=scenarios(), big_endian=st.booleans(), data=st.data())
def test_incremental_compaction_applies_on_the_earlier_state(scenario, big_endian, data):
    """compact(wal, after=k), checkpointed by SQLite into the database as it was at commit
    frame k, gives the database of the whole WAL (the snapshot store's incrementals)."""
    files = make_db(*scenario)
    wal_bytes = _wal_for(files, big_endian)
    wal = parse_wal(wal_bytes)
    boundaries = [0] + [t.last for t in wal.transactions]
    k = data.draw(st.sampled_from(boundaries), label="after")
    earlier = sqlite_checkpoint(files.db, wal_bytes[:HEADER_SIZE + k * wal.frame_size])
    assert checkpoint(files.db, wal, after=0) == checkpoint(earlier, wal, after=k)
    incr = compact(wal, after=k)
    assert all(f.index > k for f in incr.kept)
    assert sqlite_checkpoint(earlier, incr.data) == sqlite_checkpoint(files.db, wal_bytes)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = walkit_main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@PROFILE
@given(scenario=scenarios(), big_endian=st.booleans(), data=st.data())
def test_corrupted_wal_reads_like_sqlite_reads_it(scenario, big_endian, data, tmp_path_factory):
    """A flipped bit anywhere, a truncation anywhere, or new salts from some frame on: walkit
    and SQLite agree on the database after a checkpoint, and the CLI reports with exit status
    1 or 2 and no traceback."""
    files = make_db(*scenario)
    wal_bytes = bytearray(_wal_for(files, big_endian))
    kind = data.draw(st.sampled_from(["flip", "truncate", "salt"]), label="corruption")
    if kind == "flip":
        bit = data.draw(st.integers(0, len(wal_bytes) * 8 - 1), label="bit")
        wal_bytes[bit // 8] ^= 1 << (bit % 8)
    elif kind == "truncate":
        del wal_bytes[data.draw(st.integers(0, len(wal_bytes) - 1), label="length"):]
    else:
        wal = parse_wal(bytes(wal_bytes))
        salt_from = None
        if wal.valid:
            # Frames from k on carry other salts with a self-consistent checksum chain, like
            # frames left over from an earlier WAL generation.
            k = salt_from = data.draw(st.integers(0, wal.valid - 1), label="first frame with new salts")
            prev = wal.frames[k - 1].checksum if k else wal.header.checksum
            for f in wal.frames[k:]:
                struct.pack_into(">2I", wal_bytes, f.offset + 8, wal.header.salt1 ^ 0x5A5A, wal.header.salt2)
                prev = checksum(wal_bytes[f.offset + 24:f.offset + wal.frame_size], big_endian,
                                *checksum(wal_bytes[f.offset:f.offset + 8], big_endian, *prev))
                struct.pack_into(">2I", wal_bytes, f.offset + 16, *prev)
    wal_bytes = bytes(wal_bytes)
    ref = sqlite_checkpoint(files.db, wal_bytes)
    try:
        wal = parse_wal(wal_bytes)
    except WalFormatError:
        assert ref == files.db  # SQLite ignores a WAL whose header it rejects
        expected_status = 1
    else:
        assert checkpoint(files.db, wal) == ref
        if kind == "salt" and salt_from is not None:
            assert (wal.valid, wal.end_reason) == (salt_from, "salt-mismatch")
        expected_status = 0 if wal.clean else 2

    d = tmp_path_factory.mktemp("corrupt")
    path, db_path, out_path = d / "x.wal", d / "x.db", d / "c.wal"
    path.write_bytes(wal_bytes)
    db_path.write_bytes(files.db)
    for argv in (["wal", "inspect", str(path)], ["wal", "inspect", "--json", str(path)]):
        rc, out, err = run_cli(*argv)
        assert rc == expected_status
        assert "Traceback" not in err
        if expected_status == 1:
            assert err.startswith("walkit: error: ") and err.count("\n") == 1
    # compact: refused for an unusable header; otherwise a WAL that checkpoints to the same.
    rc, out, err = run_cli("wal", "compact", str(path), str(out_path))
    assert "Traceback" not in err
    if expected_status == 1:
        assert rc == 1 and not out_path.exists() and err.count("\n") == 1
    else:
        assert rc == 0 and sqlite_checkpoint(files.db, out_path.read_bytes()) == ref
    # verify: a WAL cut short anywhere past its header still gives a transaction-consistent
    # database (it applies); an unusable header does not apply and changes nothing.
    rc, out, err = run_cli("wal", "verify", "--json", str(db_path), str(path))
    assert "Traceback" not in err
    report = json.loads(out)
    assert rc == (2 if expected_status == 1 else 0), report["problems"]
    assert report["after_checkpoint"]["sha256"] == hashlib.sha256(ref).hexdigest()
    assert path.read_bytes() == wal_bytes and db_path.read_bytes() == files.db
