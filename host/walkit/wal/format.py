"""SQLite WAL files: the one reader and the one writer walkit has.

Layout (SQLite's file format document, section "The Write-Ahead Log"; all header fields are
big-endian 32-bit integers whatever the checksum byte order):

    WAL header, 32 bytes: magic, format version (3007000), page size, checkpoint sequence,
        salt-1, salt-2, checksum-1, checksum-2 (over the first 24 bytes)
    frames: 24-byte frame header (page number, database size in pages for a commit frame
        else 0, salt-1, salt-2, checksum-1, checksum-2) followed by one page

The low bit of the magic (0x377f0682 / 0x377f0683) selects whether the checksum reads the
data as little- or big-endian 32-bit words.  Frame checksums are cumulative: each one starts
from the previous frame's (the header's for the first frame) and covers the first 8 bytes of
its frame header and the page.

SQLite reads a WAL the way :func:`parse_wal` does: a header that is too short, has a bad magic,
a bad page size or a wrong checksum makes the whole file count as empty; frames are read while
their salts equal the header's, their page number is not 0 and their checksum matches; of that
valid prefix only the frames up to the last commit frame are part of the database.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .. import WalkitError
from ..inputs import read_input, show

MAGIC = 0x377F0682  # | 1 for big-endian checksum words
VERSION = 3007000
HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
MIN_PAGE_SIZE = 512
MAX_PAGE_SIZE = 65536
_MASK = 0xFFFFFFFF
_HDR = struct.Struct(">8I")
_FRAME_HDR = struct.Struct(">6I")


class WalFormatError(WalkitError):
    """The file cannot be used as a WAL at all (header unusable); SQLite would ignore it."""


def checksum(data: bytes | memoryview, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes) continuing from (s0, s1)."""
    n = len(data) // 4
    words = struct.unpack((">" if big_endian else "<") + f"{n}I", data)
    for a, b in zip(words[0::2], words[1::2]):
        s0 = (s0 + a + s1) & _MASK
        s1 = (s1 + b + s0) & _MASK
    return s0, s1


def frame_size(page_size: int) -> int:
    return FRAME_HEADER_SIZE + page_size


@dataclass(frozen=True)
class WalHeader:
    magic: int
    version: int
    page_size: int
    checkpoint_seq: int
    salt1: int
    salt2: int
    checksum: tuple[int, int]

    @property
    def big_endian(self) -> bool:
        return bool(self.magic & 1)

    @property
    def byte_order(self) -> str:
        return "big-endian" if self.big_endian else "little-endian"

    @property
    def salts(self) -> tuple[int, int]:
        return (self.salt1, self.salt2)

    @classmethod
    def new(cls, page_size: int, salt1: int, salt2: int, checkpoint_seq: int = 0,
            big_endian: bool = False) -> "WalHeader":
        """A header with a correct checksum."""
        magic = MAGIC | int(big_endian)
        head = struct.pack(">6I", magic, VERSION, page_size, checkpoint_seq, salt1, salt2)
        return cls(magic, VERSION, page_size, checkpoint_seq, salt1, salt2, checksum(head, big_endian))

    def to_bytes(self) -> bytes:
        return _HDR.pack(self.magic, self.version, self.page_size, self.checkpoint_seq,
                         self.salt1, self.salt2, *self.checksum)


# Why the valid prefix of the frames ends, in the order SQLite tests them.
END_OF_FILE = "end-of-file"
SHORT_FRAME = "short-frame"
SALT_MISMATCH = "salt-mismatch"
PAGE_ZERO = "page-zero"
CHECKSUM_MISMATCH = "checksum-mismatch"


@dataclass(frozen=True)
class Frame:
    index: int  # 1-based position in the file
    offset: int  # of the frame header
    pgno: int
    commit: int  # database size in pages after this commit frame, else 0
    salt1: int
    salt2: int
    checksum: tuple[int, int]  # as stored
    salt_ok: bool  # salts equal the header's
    checksum_ok: bool  # stored checksum == checksum continued from the previous frame's stored one

    @property
    def is_commit(self) -> bool:
        return self.commit != 0


@dataclass(frozen=True)
class Transaction:
    number: int  # 1-based
    first: int  # frame indexes, inclusive
    last: int  # the commit frame
    db_pages: int
    pages: tuple[int, ...]  # distinct page numbers, sorted


@dataclass
class Wal:
    """A parsed WAL file.  ``frames`` holds every whole frame in the file, valid or not;
    ``valid`` of them form the prefix SQLite reads, ``committed`` of them (<= valid) end with
    the last commit frame of that prefix and are the part that belongs to the database."""

    name: str
    data: bytes
    header: WalHeader
    frames: list[Frame]
    valid: int
    committed: int
    end_reason: str
    trailing: int  # bytes after the last whole frame
    transactions: list[Transaction] = field(default_factory=list)

    @property
    def page_size(self) -> int:
        return self.header.page_size

    @property
    def frame_size(self) -> int:
        return frame_size(self.header.page_size)

    @property
    def db_pages(self) -> int | None:
        """The database size in pages after the last committed transaction (None: no commit)."""
        return self.frames[self.committed - 1].commit if self.committed else None

    @property
    def uncommitted(self) -> list[Frame]:
        """Valid frames after the last commit: a transaction that never committed."""
        return self.frames[self.committed:self.valid]

    @property
    def ignored(self) -> list[Frame]:
        """Whole frames after the valid prefix (SQLite never reads them)."""
        return self.frames[self.valid:]

    @property
    def valid_end(self) -> int:
        """Byte offset where the valid prefix ends."""
        return HEADER_SIZE + self.valid * self.frame_size

    @property
    def committed_end(self) -> int:
        return HEADER_SIZE + self.committed * self.frame_size

    @property
    def clean(self) -> bool:
        """Every byte of the file belongs to a committed transaction."""
        return self.committed == len(self.frames) and not self.trailing

    def page(self, frame: Frame) -> memoryview:
        start = frame.offset + FRAME_HEADER_SIZE
        return memoryview(self.data)[start:start + self.page_size]

    def end_description(self) -> str:
        """Where and why the valid prefix ends, in words."""
        nxt = self.valid + 1
        if self.end_reason == END_OF_FILE:
            if not self.frames:
                return "no frames after the header"
            return f"all {self.valid} frames valid to the end of the file"
        if self.end_reason == SHORT_FRAME:
            return (f"after frame {self.valid}: {self.trailing} trailing bytes, a frame is "
                    f"{self.frame_size} bytes (short frame)")
        if self.end_reason == SALT_MISMATCH:
            f = self.frames[self.valid]
            return (f"at frame {nxt} (offset {f.offset}): salt mismatch, frame has "
                    f"{f.salt1:08x}:{f.salt2:08x}, header {self.header.salt1:08x}:{self.header.salt2:08x}")
        if self.end_reason == PAGE_ZERO:
            return f"at frame {nxt} (offset {self.frames[self.valid].offset}): page number 0"
        return f"at frame {nxt} (offset {self.frames[self.valid].offset}): bad checksum"

    def committed_pages(self, after: int = 0) -> dict[int, Frame]:
        """For each page, its last frame among committed frames with index > ``after``
        (insertion order = order of those last frames in the file)."""
        last: dict[int, Frame] = {}
        for f in self.frames[after:self.committed]:
            last.pop(f.pgno, None)  # re-insert so that dict order follows the last versions
            last[f.pgno] = f
        return last


def parse_header(data: bytes, name: str = "WAL") -> WalHeader:
    """The WAL header, or :class:`WalFormatError` saying why SQLite would ignore the file."""
    if len(data) < HEADER_SIZE:
        raise WalFormatError(f"{name}: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte WAL "
                             f"header (truncated or empty; SQLite ignores it)")
    magic, version, page_size, seq, salt1, salt2, c1, c2 = _HDR.unpack_from(data)
    if magic & ~1 & _MASK != MAGIC:
        raise WalFormatError(f"{name}: bad magic 0x{magic:08x}, not a SQLite WAL "
                             f"(expected 0x{MAGIC:08x} or 0x{MAGIC | 1:08x})")
    if page_size & (page_size - 1) or not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise WalFormatError(f"{name}: bad page size {page_size} in the WAL header")
    header = WalHeader(magic, version, page_size, seq, salt1, salt2, (c1, c2))
    want = checksum(memoryview(data)[:24], header.big_endian)
    if want != (c1, c2):
        raise WalFormatError(f"{name}: WAL header checksum mismatch (stored {c1:08x}:{c2:08x}, "
                             f"computed {want[0]:08x}:{want[1]:08x}; SQLite ignores this WAL)")
    if version != VERSION:
        raise WalFormatError(f"{name}: unsupported WAL format version {version} (SQLite writes {VERSION})")
    return header


def parse_wal(data: bytes, name: str = "WAL") -> Wal:
    data = bytes(data)
    header = parse_header(data, name)
    fsize = frame_size(header.page_size)
    nframes = (len(data) - HEADER_SIZE) // fsize
    trailing = len(data) - HEADER_SIZE - nframes * fsize
    view = memoryview(data)
    frames: list[Frame] = []
    prev = header.checksum
    valid = committed = 0
    in_prefix = True
    end_reason = SHORT_FRAME if trailing else END_OF_FILE
    for i in range(nframes):
        off = HEADER_SIZE + i * fsize
        pgno, commit, s1, s2, c1, c2 = _FRAME_HDR.unpack_from(data, off)
        ck = checksum(view[off:off + 8], header.big_endian, *prev)
        ck = checksum(view[off + FRAME_HEADER_SIZE:off + fsize], header.big_endian, *ck)
        f = Frame(i + 1, off, pgno, commit, s1, s2, (c1, c2),
                  salt_ok=(s1, s2) == header.salts, checksum_ok=ck == (c1, c2))
        frames.append(f)
        prev = (c1, c2)
        if in_prefix:
            reason = (SALT_MISMATCH if not f.salt_ok else PAGE_ZERO if pgno == 0
                      else CHECKSUM_MISMATCH if not f.checksum_ok else None)
            if reason:
                in_prefix = False
                end_reason = reason
            else:
                valid = i + 1
                if commit:
                    committed = i + 1
    wal = Wal(name, data, header, frames, valid, committed, end_reason, trailing)
    wal.transactions = _transactions(frames[:committed])
    return wal


def _transactions(frames: list[Frame]) -> list[Transaction]:
    out: list[Transaction] = []
    first = 0
    for i, f in enumerate(frames):
        if f.commit:
            pages = tuple(sorted({g.pgno for g in frames[first:i + 1]}))
            out.append(Transaction(len(out) + 1, frames[first].index, f.index, f.commit, pages))
            first = i + 1
    return out


def read_wal(path: str | Path) -> Wal:
    """The WAL in the regular file ``path``, named in reports by its escaped name."""
    return parse_wal(read_input(path), show(path))


def build_wal(header: WalHeader, frames: list[tuple[int, bytes | memoryview]], db_pages: int) -> bytes:
    """A WAL holding one transaction: ``frames`` as (page number, page) in order, the last one
    the commit frame carrying ``db_pages``; salts, checkpoint sequence and byte order come from
    ``header`` and the checksum chain is computed afresh.  No frames: a header-only WAL."""
    header = WalHeader.new(header.page_size, header.salt1, header.salt2, header.checkpoint_seq,
                           header.big_endian)
    out = [header.to_bytes()]
    prev = header.checksum
    for n, (pgno, page) in enumerate(frames, 1):
        if len(page) != header.page_size:
            raise ValueError(f"page {pgno}: {len(page)} bytes, page size {header.page_size}")
        if pgno == 0:
            raise ValueError("page number 0")
        commit = db_pages if n == len(frames) else 0
        head8 = struct.pack(">II", pgno, commit)
        prev = checksum(page, header.big_endian, *checksum(head8, header.big_endian, *prev))
        out.append(head8 + struct.pack(">4I", header.salt1, header.salt2, *prev))
        out.append(bytes(page))
    return b"".join(out)
