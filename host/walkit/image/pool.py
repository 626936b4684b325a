"""Reading a flash pool partition (vfs/storage/flashpool.c; the format is docs/flashpool.md) out
of a board's flash image: the files, their sizes and contents, exactly as the firmware's mount
would see them after a power cut (torn records at the end of a file's last block discarded,
anything else that does not check out reported as damage).  Read-only."""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import WalkitError
from ..inputs import show
from ..boards import Flash
from .flash import DEFAULT_BOARD, FileEntry, _norm, flash_geometry

SLOTS = 32
NAME_MAX = 255
AREA_MAGIC = 0x4C504B57
DATA_MAGIC = 0x4457
VERSION = 1
LHDR, DHDR = 8, 32
BLOCKS_PER_REC = 256
NOSEAL = 0xFFFFFFFF
(HDR, SNAP_FILE, SNAP_FLIST, SNAP_BLOCKS, SNAP_END) = (1, 2, 3, 4, 5)
(CREATE, DELETE, ALLOC, FREE, TRUNC, SEAL) = (16, 17, 18, 19, 20, 21)


class PoolDamaged(WalkitError):
    pass


def area_blocks(nblocks: int, erase_block: int, prog: int) -> int:
    """Blocks per state-log area: twice the largest snapshot (as flashpool.c computes it)."""
    chunks = nblocks // BLOCKS_PER_REC + 1
    snap = ((LHDR + 36 + prog) + SLOTS * (LHDR + 17 + NAME_MAX + prog) + 4 * nblocks
            + (chunks + SLOTS) * (LHDR + 1 + prog) + 8 * nblocks + chunks * (LHDR + 4 + prog)
            + LHDR + prog)
    return -(-2 * snap // erase_block)


def _align(n: int, p: int) -> int:
    return (n + p - 1) & ~(p - 1)


@dataclass
class _File:
    name: bytes | None
    trunc_size: int = 0
    trunc_seq: int = 0
    blocks: list[int] | None = None


class Pool:
    """One pool partition in memory: ``files()`` and ``read(path)``."""

    def __init__(self, buf: bytes | bytearray | memoryview, erase_block: int, prog_size: int,
                 where: str = "pool"):
        self.buf = memoryview(buf)
        self.bs, self.P, self.where = erase_block, prog_size, where
        self.nblocks = len(buf) // erase_block
        self.area = area_blocks(self.nblocks, erase_block, prog_size)
        self.first_data = 2 * self.area
        self.ec = [0] * self.nblocks
        self.seal = [NOSEAL] * self.nblocks
        self.files: dict[int, _File] = {}
        if bytes(self.buf).count(0xFF) == len(self.buf):
            raise WalkitError(f"{where}: blank partition, no pool yet (let the firmware boot once)")
        views = [self._read_area(a, apply=False) for a in (0, 1)]
        ok = [v["hdr"] and v["complete"] for v in views]
        if not any(ok):
            raise PoolDamaged(f"{where}: no complete state-log area: not a flash pool, or made "
                              f"with another geometry (erase block {erase_block}, {self.nblocks} blocks)")
        use = (1 if views[1]["gen"] > views[0]["gen"] else 0) if all(ok) else ok.index(True)
        self.generation = views[use]["gen"]
        self._read_area(use, apply=True)
        self.contents: dict[bytes, bytes] = {}  # raw absolute name -> bytes
        for slot, f in self.files.items():
            if f.name is not None:
                self.contents[f.name] = self._scan(slot, f)

    # -- state log
    def _read_area(self, area: int, apply: bool) -> dict:
        base, size = area * self.area * self.bs, self.area * self.bs
        at, v = 0, {"hdr": False, "complete": False, "gen": 0}
        while at + LHDR <= size:
            h = bytes(self.buf[base + at:base + at + LHDR])
            if h == b"\xff" * LHDR:
                break
            typ, zero, length, crc = struct.unpack("<BBHI", h)
            total = _align(LHDR + length, self.P)
            if zero != 0 or at + total > size:
                break
            payload = bytes(self.buf[base + at + LHDR:base + at + LHDR + length])
            if zlib.crc32(payload, zlib.crc32(h[:4])) != crc:
                break
            if at == 0:
                if typ != HDR or length != 36 or struct.unpack_from("<I", payload)[0] != AREA_MAGIC:
                    break
                v["hdr"] = True
                v["gen"] = struct.unpack_from("<I", payload, 8)[0]
            if typ == SNAP_END:
                v["complete"] = True
            if apply:
                self._apply(typ, payload)
            at += total
        return v

    def _owner(self, b: int) -> int | None:
        for s, f in self.files.items():
            if f.blocks and b in f.blocks:
                return s
        return None

    def _apply(self, typ: int, d: bytes) -> None:
        bad = PoolDamaged(f"{self.where}: state-log record type {typ} contradicts the state")
        if typ == HDR:
            magic, ver, slots, gen, bs, n, area, p, _seq = struct.unpack("<IHHIIIIIQ", d)
            if (ver, slots, bs, n, area, p) != (VERSION, SLOTS, self.bs, self.nblocks, self.area, self.P):
                raise PoolDamaged(f"{self.where}: pool made with another geometry or version "
                                  f"(erase block {bs}, {n} blocks, version {ver})")
        elif typ in (SNAP_FILE, CREATE):
            s = d[0]
            at = 1 if typ == CREATE else 17
            if s >= SLOTS or s in self.files:
                raise bad
            f = _File(bytes(d[at:]), blocks=[])
            if typ == SNAP_FILE:
                f.trunc_size, f.trunc_seq = struct.unpack_from("<QQ", d, 1)
            self.files[s] = f
        elif typ in (SNAP_FLIST, ALLOC):
            s = d[0]
            blocks = [struct.unpack_from("<I", d, 1)[0]] if typ == ALLOC else \
                list(struct.unpack_from(f"<{(len(d) - 1) // 4}I", d, 1))
            for b in blocks:
                if not self.first_data <= b < self.nblocks or self._owner(b) is not None:
                    raise bad
                if typ == ALLOC:
                    self.ec[b] = struct.unpack_from("<I", d, 5)[0]
                    self.seal[b] = NOSEAL
                if s in self.files:
                    self.files[s].blocks.append(b)
        elif typ == SNAP_BLOCKS:
            first = struct.unpack_from("<I", d)[0]
            for i in range((len(d) - 4) // 8):
                self.ec[first + i], self.seal[first + i] = struct.unpack_from("<II", d, 4 + 8 * i)
        elif typ == DELETE:
            if d[0] not in self.files:
                raise bad
            del self.files[d[0]]
        elif typ == FREE:
            b = struct.unpack_from("<I", d)[0]
            s = self._owner(b)
            if s is not None:
                self.files[s].blocks.remove(b)
        elif typ == TRUNC:
            f = self.files.get(d[0])
            if f is None:
                raise bad
            f.trunc_size, f.trunc_seq = struct.unpack_from("<QQ", d, 1)
        elif typ == SEAL:
            b, n = struct.unpack_from("<II", d)
            self.seal[b] = n
        elif typ != SNAP_END:
            raise bad

    # -- data
    def _scan(self, slot: int, f: _File) -> bytes:
        data = bytearray()
        size = f.trunc_size
        last_seq = 0
        for i, b in enumerate(f.blocks):
            head = i == len(f.blocks) - 1
            limit = self.bs if self.seal[b] == NOSEAL else self.seal[b]
            at, base = 0, b * self.bs
            while at + DHDR <= limit:
                h = bytes(self.buf[base + at:base + at + DHDR])
                if h == b"\xff" * DHDR:
                    break
                magic, s, _fl, n, off, seq, dcrc, hcrc = struct.unpack("<HBBIQQII", h)
                payload = bytes(self.buf[base + at + DHDR:base + at + DHDR + n]) \
                    if 0 < n <= limit - at - DHDR else b""
                if (magic != DATA_MAGIC or zlib.crc32(h[:28]) != hcrc or s != slot or not payload
                        or seq <= last_seq or zlib.crc32(payload) != dcrc):
                    if head and self.seal[b] == NOSEAL:
                        break  # a record torn by a cut at the end of the file's last block
                    raise PoolDamaged(f"{self.where}: file {show(f.name)}: damaged record in block {b} "
                                      f"at offset {at}")
                last_seq = seq
                if seq < f.trunc_seq:
                    payload = payload[:max(0, f.trunc_size - off)]
                if payload:
                    end = off + len(payload)
                    if end > len(data):
                        data.extend(bytes(end - len(data)))
                    data[off:end] = payload
                    size = max(size, end)
                at += _align(DHDR + n, self.P)
        if len(data) < size:
            data.extend(bytes(size - len(data)))
        return bytes(data[:size])

    def list(self, top: str = "/") -> list[FileEntry]:
        top = _norm(top)
        prefix = top.rstrip(b"/") + b"/"
        out = [FileEntry(n, len(c), False) for n, c in sorted(self.contents.items())
               if n == top or n.startswith(prefix) or top == b"/"]
        if not out and top != b"/":
            raise WalkitError(f"{self.where}: {show(top)}: no such file or directory")
        return out

    def exists(self, path: str) -> bool:
        return _norm(path) in self.contents

    def read(self, path: str) -> bytes:
        p = _norm(path)
        if p not in self.contents:
            raise WalkitError(f"{self.where}: {show(p)}: no such file")
        return self.contents[p]

    def erase_counts(self) -> list[int]:
        return self.ec[self.first_data:]


def pool_of_image(path: str | os.PathLike, board: str = DEFAULT_BOARD) -> Pool:
    """The pool partition of a board's flash image file."""
    f: Flash = flash_geometry(board)
    if not f.pool_size:
        raise WalkitError(f"board {board} has no pool partition (board.toml [flash] pool_size)")
    p = Path(path)
    try:
        size = p.stat().st_size
        if size != f.size:
            raise WalkitError(f"{p}: image is {size} bytes, board {board} needs exactly {f.size} bytes")
        with open(p, "rb") as fh:
            fh.seek(f.pool_offset)
            buf = fh.read(f.pool_size)
    except FileNotFoundError:
        raise WalkitError(f"{p}: no such image") from None
    except IsADirectoryError:
        raise WalkitError(f"{p}: not a regular file") from None
    return Pool(buf, f.erase_block, f.prog_size, where=f"{p} pool at 0x{f.pool_offset:x}")


@contextlib.contextmanager
def open_pool(path: str | os.PathLike, board: str = DEFAULT_BOARD) -> Iterator[Pool]:
    yield pool_of_image(path, board)
