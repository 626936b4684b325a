"""Reading a flash pool partition (vfs/storage/flashpool.c; the format is docs/flashpool.md) out
of a board's flash image: the files, their sizes and contents, exactly as the firmware's mount
would see them after a power cut.  It judges as the mount does (docs/flashpool.md, "Mount"): a
torn tail (the record a cut was programming, at the end of a file's last block or of the
state log, blank flash after it) is discarded; a record that does not check out with a whole
record or any data after it is damage, reported (PoolDamaged) with the block and offset, never
read past.  Read-only."""

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
TORN_MAX = 4096  # the most one program covers (flashpool.c FP_TORN_MAX)
(HDR, SNAP_FILE, SNAP_FLIST, SNAP_BLOCKS, SNAP_END) = (1, 2, 3, 4, 5)
(CREATE, DELETE, ALLOC, FREE, TRUNC, SEAL) = (16, 17, 18, 19, 20, 21)


def _dhdr_whole(h: bytes) -> bool:
    """Whether the DHDR bytes h are a whole data record header: its magic, its CRC."""
    return struct.unpack_from("<H", h)[0] == DATA_MAGIC and \
        zlib.crc32(h[:28]) == struct.unpack_from("<I", h, 28)[0]

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
        self.next_seq = 1  # above every sequence number in the pool (HDR's, records', TRUNCs')
        if bytes(self.buf).count(0xFF) == len(self.buf):
            raise WalkitError(f"{where}: blank partition, no pool yet (let the firmware boot once)")
        views = [self._read_area(a, apply=False) for a in (0, 1)]
        hdr = [v["hdr"] for v in views]
        if all(hdr) and views[0]["gen"] == views[1]["gen"]:
            raise PoolDamaged(f"{where}: state-log areas 0 and 1 both have generation {views[0]['gen']}")
        newest = None if not any(hdr) else (int(views[1]["gen"] > views[0]["gen"]) if all(hdr)
                                             else hdr.index(True))
        use = None
        if newest is not None and views[newest]["complete"]:
            use = newest
        elif newest is not None and views[1 - newest]["hdr"] and views[1 - newest]["complete"]:
            use = 1 - newest
        if use is None:
            # As the C mount formats: a first format cut before its SNAP_END (area 0 generation
            # 1 incomplete, or only the format's first record, torn, at the partition's start).
            start = (self.area * self.bs if hdr[0] and views[0]["gen"] == 1 and not hdr[1]
                     else _align(LHDR + 36, self.P) if newest is None else None)
            if start is not None and self._blank(start, len(self.buf)):
                raise WalkitError(f"{where}: a first format cut before its end, no pool yet "
                                  "(the firmware formats it at boot)")
            raise PoolDamaged(f"{where}: no complete state-log area: not a flash pool, or made "
                              f"with another geometry (erase block {erase_block}, {self.nblocks} blocks)")
        for a in dict.fromkeys((newest, use)):
            v = views[a]
            if v["tail"] == "damaged":
                raise PoolDamaged(f"{where}: state-log area {a} (generation {v['gen']}) offset "
                                  f"{v['used']}: damaged record with data after it (at offset {v['found']})")
        if use != newest and views[newest]["gen"] != views[use]["gen"] + 1:
            raise PoolDamaged(f"{where}: state-log area {newest} (generation {views[newest]['gen']}) "
                              f"is incomplete and area {use} has generation {views[use]['gen']}")
        self.generation = views[use]["gen"]
        self.active = use
        self.log_used = views[use]["used"]
        self.log_torn = views[use]["tail"] == "torn"
        self._read_area(use, apply=True)
        self.contents: dict[bytes, bytes] = {}  # raw absolute name -> bytes
        self.heads: dict[bytes, tuple[int, int, bool]] = {}  # name -> (head block, used, torn)
        for slot, f in self.files.items():
            if f.name is not None:
                self.contents[f.name] = self._scan(slot, f)

    # -- state log
    def _read_area(self, area: int, apply: bool) -> dict:
        base, size = area * self.area * self.bs, self.area * self.bs
        at, v = 0, {"hdr": False, "complete": False, "gen": 0, "used": 0, "tail": "clean", "found": 0}
        while at + LHDR <= size:
            h = bytes(self.buf[base + at:base + at + LHDR])
            if h == b"\xff" * LHDR:
                break
            typ, zero, length, crc = struct.unpack("<BBHI", h)
            total = _align(LHDR + length, self.P)
            if zero != 0 or total > TORN_MAX or at + total > size:
                break
            payload = bytes(self.buf[base + at + LHDR:base + at + LHDR + length])
            if zlib.crc32(payload, zlib.crc32(h[:4])) != crc:
                break
            if at == 0:
                if typ != HDR or length != 36 or struct.unpack_from("<I", payload)[0] != AREA_MAGIC:
                    return v
                v["hdr"] = True
                v["gen"] = struct.unpack_from("<I", payload, 8)[0]
            if typ == SNAP_END:
                v["complete"] = True
            if apply:
                self._apply(typ, payload, area, at)
            at += total
        v["used"] = at
        if v["hdr"]:
            v["tail"], found = self._tail(True, base + at, TORN_MAX, self.P, base + size)
            v["found"] = found - base
        return v

    def _blank(self, a: int, b: int) -> bool:
        return b <= a or bytes(self.buf[a:b]).count(0xFF) == b - a

    def _log_whole(self, a: int, end: int) -> bool:
        if a + LHDR > end:
            return False
        h = bytes(self.buf[a:a + LHDR])
        _typ, zero, length, crc = struct.unpack("<BBHI", h)
        total = _align(LHDR + length, self.P)
        if h == b"\xff" * LHDR or zero != 0 or total > TORN_MAX or a + total > end:
            return False
        return zlib.crc32(bytes(self.buf[a + LHDR:a + LHDR + length]), zlib.crc32(h[:4])) == crc

    def _data_whole(self, a: int, end: int) -> bool:
        return a + DHDR <= end and _dhdr_whole(bytes(self.buf[a:a + DHDR]))

    def _tail(self, log: bool, a: int, torn: int, skip: int, end: int) -> tuple[str, int]:
        """How [a, end) after a chain of records that stopped at ``a`` reads (flashpool.c
        fp_tail): "clean" (blank), "torn" (what is not blank lies within the ``torn`` bytes one
        cut program can leave and no whole record starts in them from ``a + skip`` on), or
        "damaged", with where the later record or data is."""
        if self._blank(a, end):
            return "clean", a
        wend = min(end, a + torn)
        whole = self._log_whole if log else self._data_whole
        for x in range(min(a + skip, wend), wend, self.P):
            if whole(x, end):
                return "damaged", x
        return ("torn" if self._blank(wend, end) else "damaged"), wend

    def _owner(self, b: int) -> int | None:
        for s, f in self.files.items():
            if f.blocks and b in f.blocks:
                return s
        return None

    def _apply(self, typ: int, d: bytes, area: int, at: int) -> None:
        """Replays one whole record, refusing what flashpool.c fp_apply refuses (a length, slot,
        block or seal that does not fit the state or the geometry) as damage."""
        bad = PoolDamaged(f"{self.where}: state-log area {area} offset {at}: a record (type {typ}) "
                          "that contradicts the state or the partition's geometry")
        n = len(d)
        s = d[0] if n else 0
        f = self.files.get(s) if s < SLOTS else None
        used = s < SLOTS and f is not None

        def block_ok(b: int) -> bool:
            return self.first_data <= b < self.nblocks

        if typ == HDR:
            if n != 36:
                raise bad
            magic, ver, slots, gen, bs, nb, area_, p, seq = struct.unpack("<IHHIIIIIQ", d)
            if magic != AREA_MAGIC:
                raise bad
            if (ver, slots, bs, nb, area_, p) != (VERSION, SLOTS, self.bs, self.nblocks, self.area, self.P):
                raise PoolDamaged(f"{self.where}: pool made with another geometry or version "
                                  f"(erase block {bs}, {nb} blocks, version {ver})")
            self.next_seq = max(self.next_seq, seq)
        elif typ in (SNAP_FILE, CREATE):
            name_at = 1 if typ == CREATE else 17
            if s >= SLOTS or n <= name_at or n - name_at > NAME_MAX or used:
                raise bad
            f = _File(bytes(d[name_at:]), blocks=[])
            if typ == SNAP_FILE:
                f.trunc_size, f.trunc_seq = struct.unpack_from("<QQ", d, 1)
            self.files[s] = f
        elif typ in (SNAP_FLIST, ALLOC):
            if s >= SLOTS or n < 5 or (n != 9 if typ == ALLOC else (n - 1) % 4 != 0):
                raise bad
            blocks = [struct.unpack_from("<I", d, 1)[0]] if typ == ALLOC else \
                list(struct.unpack_from(f"<{(n - 1) // 4}I", d, 1))
            for b in blocks:
                if not block_ok(b) or self._owner(b) is not None:
                    raise bad
                if typ == ALLOC:
                    self.ec[b] = struct.unpack_from("<I", d, 5)[0]
                    self.seal[b] = NOSEAL
                if used:
                    f.blocks.append(b)
        elif typ == SNAP_BLOCKS:
            first = struct.unpack_from("<I", d)[0] if n >= 4 else 0
            count = (n - 4) // 8 if n >= 4 else 0
            if n < 4 or (n - 4) % 8 or first < self.first_data or first + count > self.nblocks:
                raise bad
            for i in range(count):
                self.ec[first + i], self.seal[first + i] = struct.unpack_from("<II", d, 4 + 8 * i)
        elif typ == SNAP_END:
            if n != 0:
                raise bad
        elif typ == DELETE:
            if n != 1 or not used:
                raise bad
            del self.files[s]
        elif typ == FREE:
            if n != 4 or not block_ok(b := struct.unpack_from("<I", d)[0]):
                raise bad
            o = self._owner(b)
            if o is not None:
                self.files[o].blocks.remove(b)
        elif typ == TRUNC:
            if n != 17 or not used:
                raise bad
            f.trunc_size, f.trunc_seq = struct.unpack_from("<QQ", d, 1)
            self.next_seq = max(self.next_seq, f.trunc_seq + 1)
        elif typ == SEAL:
            if n != 8:
                raise bad
            b, at_ = struct.unpack_from("<II", d)
            if not block_ok(b) or at_ > self.bs:
                raise bad
            self.seal[b] = at_
        else:
            raise bad

    # -- data
    def _scan(self, slot: int, f: _File) -> bytes:
        data = bytearray()
        size = f.trunc_size
        name = show(f.name)
        # The reader holds each file's bytes: a size no partition can hold (a hostile image; the
        # pool never writes past its partition's size) is refused before anything is allocated.
        cap = len(self.buf)
        if size > cap:
            raise WalkitError(f"{self.where}: file {name} is {size} bytes, beyond the partition's "
                              f"{cap}: the reader does not materialize it")
        last_seq = 0
        for i, b in enumerate(f.blocks):
            head = i == len(f.blocks) - 1
            seal = self.seal[b]
            limit = self.bs if seal == NOSEAL else seal
            at, base = 0, b * self.bs
            torn, skip = TORN_MAX, self.P
            while at + DHDR <= limit:
                h = bytes(self.buf[base + at:base + at + DHDR])
                if h == b"\xff" * DHDR:
                    break
                _, s, fl, n, off, seq, dcrc, _ = struct.unpack("<HBBIQQII", h)
                if not _dhdr_whole(h):
                    # a torn header: its length reads at least what was meant (a cut leaves
                    # bits at 1, never clears more), so a whole header before that end may be
                    # the record's own data (flashpool.c fp_scan_file)
                    ends = DHDR + n
                    skip = max(self.P, torn if ends >= torn else _align(ends, self.P))
                    break
                if (s != slot or fl != 0 or n == 0 or n > limit - at - DHDR or seq <= last_seq
                        or off + n > self.nblocks * self.bs):  # the pool never writes past it
                    raise PoolDamaged(f"{self.where}: data block {b} (file {name}) offset {at}: "
                                      "a whole record header that does not fit the file")
                payload = bytes(self.buf[base + at + DHDR:base + at + DHDR + n])
                if zlib.crc32(payload) != dcrc:
                    torn = _align(DHDR + n, self.P)  # the header is whole
                    skip = torn
                    break
                last_seq = seq
                self.next_seq = max(self.next_seq, seq + 1)
                if seq < f.trunc_seq:
                    payload = payload[:max(0, f.trunc_size - off)]
                if payload:
                    end = off + len(payload)
                    if end > cap:
                        raise WalkitError(f"{self.where}: data block {b} (file {name}) offset {at}: "
                                          f"a record at file offset {off}, beyond the partition's "
                                          f"{cap} bytes: the reader does not materialize it")
                    if end > len(data):
                        data.extend(bytes(end - len(data)))
                    data[off:end] = payload
                    size = max(size, end)
                at += _align(DHDR + n, self.P)
            if seal != NOSEAL:
                if at != seal:
                    raise PoolDamaged(f"{self.where}: data block {b} (file {name}) offset {at}: "
                                      f"damaged record before the block's seal at {seal}")
                if head:
                    self.heads[f.name] = (b, at, False)
                continue
            tail, found = self._tail(False, base + at, torn, skip, base + self.bs)
            if tail == "damaged":
                raise PoolDamaged(f"{self.where}: data block {b} (file {name}) offset {at}: damaged "
                                  f"record with data after it (at offset {found - base})")
            if tail == "torn" and not head:
                raise PoolDamaged(f"{self.where}: data block {b} (file {name}) offset {at}: torn "
                                  "record in a block that is not the file's last")
            if head:
                self.heads[f.name] = (b, at, tail == "torn")
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
