"""What walkit does with a parsed WAL: checkpoint it into a database, compact it, verify that
it belongs to a database.  All of it is pure (bytes in, bytes out); nothing here writes files.

"The database after a checkpoint" means what SQLite's full checkpoint produces: the committed
frames of the valid prefix copied into the database file, the last version of each page
winning, and the file truncated (or extended) to the database size of the last commit frame.
Frames of an uncommitted tail and frames after the valid prefix (other salts, bad checksum,
short frame) are not part of the database and change nothing.  A WAL whose header SQLite
rejects changes nothing either: the database after a checkpoint is the database file as is.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import WalkitError
from .format import Frame, Wal, WalFormatError, build_wal, parse_wal

DB_MAGIC = b"SQLite format 3\x00"
DB_HEADER_SIZE = 100


@dataclass(frozen=True)
class DbInfo:
    """The facts of a database file's 100-byte header that decide whether a WAL fits it."""

    size: int
    page_size: int | None  # None: empty file
    header_pages: int | None  # the in-header database size when it is valid
    write_version: int | None  # 1 rollback journal, 2 WAL
    read_version: int | None

    @property
    def pages(self) -> int:
        return self.size // self.page_size if self.page_size else 0

    @property
    def wal_mode(self) -> bool:
        return self.write_version == 2 and self.read_version == 2


def db_page_size(header: bytes) -> int:
    raw = struct.unpack_from(">H", header, 16)[0]
    return 65536 if raw == 1 else raw


def db_info(data: bytes, name: str = "database") -> DbInfo:
    if not data:
        return DbInfo(0, None, None, None, None)
    if len(data) < DB_HEADER_SIZE or not data.startswith(DB_MAGIC):
        raise WalkitError(f"{name}: not a SQLite database (no 'SQLite format 3' header)")
    ps = db_page_size(data)
    if ps & (ps - 1) or not 512 <= ps <= 65536:
        raise WalkitError(f"{name}: bad page size {ps} in the database header")
    change, in_header, valid_for = (struct.unpack_from(">I", data, off)[0] for off in (24, 28, 92))
    return DbInfo(len(data), ps, in_header if in_header and change == valid_for else None,
                  data[18], data[19])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checkpoint(db: bytes, wal: Wal, *, after: int = 0) -> bytes:
    """The database file after checkpointing the committed frames of ``wal`` with index >
    ``after`` into ``db``.  The page size must match (:func:`page_size_mismatch`), and every
    page of the result must come from ``db`` or from those frames (:func:`unsupplied_pages`):
    so the result is never larger than ``db`` plus the WAL, whatever size a commit frame
    claims."""
    if wal.committed <= after:
        return bytes(db)
    problem = page_size_mismatch(db, wal)
    if problem:
        raise WalkitError(problem)
    ps, n = wal.page_size, wal.db_pages
    gaps = unsupplied_pages(len(db) // ps, wal, after)
    if gaps:
        raise WalkitError(unsupplied_message(gaps, wal, len(db) // ps, "the database file"))
    out = bytearray(db[:n * ps])
    out.extend(bytes(n * ps - len(out)))
    for pgno, f in wal.committed_pages(after).items():
        if pgno <= n:  # pages past the final size are cut off by the truncation anyway
            out[(pgno - 1) * ps:pgno * ps] = wal.page(f)
    return bytes(out)


def unsupplied_pages(have: int, wal: Wal, after: int = 0) -> list[tuple[int, int]]:
    """Pages of the database after the checkpoint (``wal.db_pages`` of them) that neither a
    database file of ``have`` whole pages nor the committed frames > ``after`` hold, as
    inclusive ranges.  Computed from the frames present, never by counting up to the
    claimed size, so the work is bounded by the WAL's real size."""
    n = wal.db_pages
    supplied = sorted(p for p in wal.committed_pages(after) if have < p <= n)
    gaps, nxt = [], have + 1
    for p in supplied + [n + 1]:
        if p > nxt:
            gaps.append((nxt, p - 1))
        nxt = p + 1
    return gaps


def unsupplied_message(gaps: list[tuple[int, int]], wal: Wal, have: int, db_name: str) -> str:
    return (f"the WAL's database has {wal.db_pages} pages but {db_name} has {have} and the WAL "
            f"does not hold pages {_ranges(gaps)}: the WAL belongs to another (larger) database")


def page_size_mismatch(db: bytes, wal: Wal) -> str | None:
    if not db:
        return None
    info = db_info(db)
    if info.page_size != wal.page_size:
        return f"page size differs: database {info.page_size}, WAL {wal.page_size}"
    return None


@dataclass
class Compaction:
    """The result of :func:`compact` and what it left out, for the report."""

    data: bytes
    source: Wal
    after: int
    kept: list[Frame]
    superseded: int  # committed frames replaced by a later version of their page
    beyond_end: int  # committed last versions of pages past the final database size
    db_pages: int | None

    @property
    def considered(self) -> int:
        return max(0, self.source.committed - self.after)


def compact(wal: Wal, *, after: int = 0) -> Compaction:
    """A WAL with one transaction holding, for each page, its last version among the
    committed frames with index > ``after``, in the order of those versions in ``wal``; same
    salts, checkpoint sequence and checksum byte order, a fresh checksum chain, and the last
    frame carrying the database size of ``wal``'s last commit.

    Checkpointing the result into a database gives the same file as checkpointing ``wal``'s
    frames > ``after`` into it.  Pages past the final size are dropped (the checkpoint
    truncates them away) unless nothing else is left, in which case the last frame stays so
    that the commit, and with it the new size, is not lost."""
    considered = wal.frames[after:wal.committed]
    if not considered:
        return Compaction(build_wal(wal.header, [], 0), wal, after, [], 0, 0, wal.db_pages)
    n = wal.db_pages
    last = wal.committed_pages(after)
    in_range = [f for f in last.values() if f.pgno <= n]
    kept = in_range or [considered[-1]]  # considered[-1] is the commit frame: a last version
    data = build_wal(wal.header, [(f.pgno, wal.page(f)) for f in kept], n)
    return Compaction(data, wal, after, kept, superseded=len(considered) - len(last),
                      beyond_end=len(last) - len(kept), db_pages=n)


@dataclass
class Verdict:
    """Whether a WAL applies to a database, and the database after a checkpoint."""

    db: DbInfo
    wal: Wal | None
    wal_error: str | None = None
    problems: list[str] = field(default_factory=list)  # any: the WAL does not apply
    notes: list[str] = field(default_factory=list)
    result: bytes | None = None
    changed_pages: list[int] = field(default_factory=list)
    integrity: str | None = None

    @property
    def applies(self) -> bool:
        return not self.problems


def verify(db: bytes, wal_data: bytes, db_name: str = "DB", wal_name: str = "WAL", *,
           integrity: bool = True) -> Verdict:
    info = db_info(db, db_name)
    try:
        wal = parse_wal(wal_data, wal_name)
    except WalFormatError as e:
        v = Verdict(info, None, wal_error=str(e), result=bytes(db))
        v.problems.append(f"{e}; after a checkpoint the database is {db_name} unchanged")
        return v
    v = Verdict(info, wal)
    if info.size and not info.wal_mode:
        v.notes.append(f"{db_name} header says rollback-journal mode (versions "
                       f"{info.write_version}/{info.read_version}); SQLite still applies an existing WAL")
    if info.size and info.page_size and info.size % info.page_size:
        v.problems.append(f"{db_name} is {info.size} bytes, not a whole number of {info.page_size}-byte pages")
    mismatch = page_size_mismatch(db, wal)
    if mismatch:
        v.problems.append(mismatch)
        return v
    h = wal.header
    if wal.valid:
        v.notes.append(f"salts {h.salt1:08x}:{h.salt2:08x}: frames 1-{wal.valid} carry them")
    if wal.ignored or wal.trailing:
        v.notes.append(f"valid log ends {wal.end_description()}; "
                       f"{len(wal.ignored)} frames and {wal.trailing} bytes after it are ignored")
    if wal.uncommitted:
        u = wal.uncommitted
        v.notes.append(f"uncommitted tail: frames {u[0].index}-{u[-1].index} are excluded")
    if not wal.committed:
        v.notes.append("no committed transaction: a checkpoint leaves the database as it is")
        v.result = bytes(db)
        return v
    n, ps = wal.db_pages, wal.page_size
    gaps = unsupplied_pages(len(db) // ps, wal)
    if gaps:  # there is no database after a checkpoint to describe (checkpoint() refuses)
        v.problems.append(unsupplied_message(gaps, wal, len(db) // ps, db_name))
        return v
    v.result = checkpoint(db, wal)
    head = v.result[:DB_HEADER_SIZE]
    if not head.startswith(DB_MAGIC):
        v.problems.append("page 1 after the checkpoint has no SQLite header")
    elif db_page_size(head) != ps:
        v.problems.append(f"page 1 after the checkpoint declares page size {db_page_size(head)}, WAL has {ps}")
    old = bytes(db)
    v.changed_pages = [p for p in range(1, n + 1)
                       if old[(p - 1) * ps:p * ps] != v.result[(p - 1) * ps:p * ps]]
    if integrity and not v.problems:
        v.integrity = integrity_check(v.result)
        if v.integrity != "ok":
            v.problems.append(f"integrity_check of the database after the checkpoint: {v.integrity}")
    return v


def integrity_check(db: bytes) -> str:
    """SQLite's ``PRAGMA integrity_check`` of a database image, run on a private copy."""
    with tempfile.TemporaryDirectory(prefix="walkit-verify-") as tmp:
        path = os.path.join(tmp, "check.db")
        Path(path).write_bytes(db)
        try:
            con = sqlite3.connect(path)
            try:
                rows = con.execute("PRAGMA integrity_check").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            return str(e)
    msgs = [r[0] for r in rows]
    return "ok" if msgs == ["ok"] else "; ".join(msgs[:5]) + (f" (+{len(msgs) - 5} more)" if len(msgs) > 5 else "")


def _ranges(ranges: list[tuple[int, int]]) -> str:
    out = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:8]]
    return ",".join(out) + (",..." if len(ranges) > 8 else "")
