"""Corruption campaign: seeded damage to a good image, then boot and query.

The good image holds the built-in workload's database after a few transactions and a WAL that
was not checkpointed (a connection held open, then a power cut), on littlefs or on the flash
pool (``storage``).  Each case damages one copy:

* ``db`` / ``wal``: the file's bytes as the storage holds them, rewritten so that the storage
  stays valid (through littlefs; on the pool, as the pool itself writes: new records in erased
  flash, an ALLOC for a new block, a TRUNC for a truncation): seeded bit flips, a zeroed range,
  or a truncation;
* ``fs``: raw bytes of the storage's region in blocks in use (littlefs: metadata pairs, file
  data; the pool: its state-log area and the files' data blocks): bit flips or a zeroed range,
  written straight into the image.

Then the target boots on it and answers ``.workload check``: it must answer (a row, or an error
frame such as SQLITE_CORRUPT/SQLITE_NOTADB, or "no filesystem"/no pool with the corruption on
the console), keep answering (``.ping``), never hang (every wait is bounded), never reformat
the flash (the storage's region is byte for byte the damaged image after the boot unless the
boot mounted it, and no "formatted" line), and the host's own reading (oracle.check_image)
must classify the image the same way: ``ok`` with the same (k, digest) on both sides, or
``bad`` (unreadable, integrity_check not ok, or rows that do not match their digest) on both.
"""

from __future__ import annotations

import random
import shutil
import struct
import time
import zlib
from pathlib import Path

from .. import WalkitError
from ..console import TargetError, TargetTimeout
from ..sql import SqlError
from ..target import Target
from . import oracle
from .runner import booted, check_on_target, keep_failure

KINDS = ("flip", "zero", "truncate")
WHERES = ("db", "wal", "fs")
MASK = oracle.MASK


def make_good_image(board: str, image, base: Path, out: Path, seed: int, txns: int,
                    storage: str = "littlefs") -> Path:
    """The workload's database after ``txns`` transactions, its WAL still holding frames."""
    db = oracle.target_path(storage)
    shutil.copyfile(base, out)
    with Target(board, image=image, flash=out, workdir=out.parent / "good") as t:
        t.boot()
        c = t.console
        c.request(".workload", "run", db, str(seed), str(txns - 1), "full", timeout=600)
        # A connection in WAL mode holding its shared lock keeps the last transaction's frames
        # from being checkpointed and the WAL deleted when the workload closes its own.
        c.open("hold", db)
        c.sql("hold", "SELECT count(*) FROM meta")
        c.request(".workload", "run", db, str(seed), str(txns), "full", timeout=600)
        files = {name for name, _, _ in c.ls("/")} if storage == "littlefs" else None
        t.power_cut()
    if storage == "pool":
        from ..image.pool import open_pool

        with open_pool(out, board) as pool:
            files = {e.path.lstrip("/") for e in pool.list("/")}
    if "wl.db-wal" not in files:
        raise WalkitError(f"the good image has no WAL (files: {sorted(files)})")
    return out


class PoolWriter:
    """Writes into a flash pool partition (``buf``, the partition's bytes) as flashpool.c
    does, so that the pool stays valid and only a file's bytes change: a write is new records
    in erased flash at the file's head block (or in a blank free block after an ALLOC record
    when the head is full, sealed or torn), each with the next sequence number; a truncation
    is a TRUNC record.  State-log records go after the active area's last record.  Only for
    damaging copies of a good image (no compaction, no cleaner: too little room is an error)."""

    def __init__(self, buf: bytearray, erase_block: int, prog_size: int):
        from ..image.pool import Pool

        self.buf, self.bs, self.P = buf, erase_block, prog_size
        self.pool = pool = Pool(bytes(buf), erase_block, prog_size)
        if pool.log_torn:
            raise WalkitError("pool: the state log ends in a torn record (mount compacts it first)")
        self.seq = pool.next_seq
        self.log_at = pool.active * pool.area * erase_block + pool.log_used
        self.log_end = (pool.active + 1) * pool.area * erase_block
        self.taken = {b for f in pool.files.values() for b in (f.blocks or [])}

    def _align(self, n: int) -> int:
        return (n + self.P - 1) & ~(self.P - 1)

    def _prog(self, at: int, data: bytes) -> None:
        data = data + b"\xff" * (self._align(len(data)) - len(data))
        if bytes(self.buf[at:at + len(data)]).count(0xFF) != len(data):
            raise WalkitError(f"pool: would program over programmed flash at {at}")
        self.buf[at:at + len(data)] = data

    def _log(self, typ: int, payload: bytes) -> None:
        h = struct.pack("<BBH", typ, 0, len(payload))
        rec = h + struct.pack("<I", zlib.crc32(payload, zlib.crc32(h))) + payload
        if self.log_at + self._align(len(rec)) > self.log_end:
            raise WalkitError("pool: no room left in the state-log area")
        self._prog(self.log_at, rec)
        self.log_at += self._align(len(rec))

    def _slot(self, name: bytes) -> int:
        for s, f in self.pool.files.items():
            if f.name == name:
                return s
        raise WalkitError(f"pool: no file {name!r}")

    def _alloc(self, slot: int) -> int:
        from ..image.pool import ALLOC

        p = self.pool
        for b in sorted(range(p.first_data, p.nblocks), key=lambda b: p.ec[b]):
            blk = self.buf[b * self.bs:(b + 1) * self.bs]
            if b not in self.taken and bytes(blk).count(0xFF) == self.bs:
                self._log(ALLOC, struct.pack("<BII", slot, b, p.ec[b]))
                self.taken.add(b)
                return b
        raise WalkitError("pool: no blank free block")

    def write(self, name: bytes, off: int, data: bytes) -> None:
        from ..image.pool import DATA_MAGIC, DHDR, NOSEAL

        slot = self._slot(name)
        block, used, torn = self.pool.heads.get(name, (None, 0, True))
        closed = block is None or torn or self.pool.seal[block] != NOSEAL
        while data:
            if closed or used + DHDR + self.P > self.bs:
                block, used, closed = self._alloc(slot), 0, False
            part = data[:self.bs - used - DHDR]
            h = struct.pack("<HBBIQQI", DATA_MAGIC, slot, 0, len(part), off, self.seq, zlib.crc32(part))
            self.seq += 1
            self._prog(block * self.bs + used, h + struct.pack("<I", zlib.crc32(h)) + part)
            used += self._align(DHDR + len(part))
            off, data = off + len(part), data[len(part):]
        self.pool.heads[name] = (block, used, False)

    def truncate(self, name: bytes, size: int) -> None:
        from ..image.pool import TRUNC

        self._log(TRUNC, struct.pack("<BQQ", self._slot(name), size, self.seq))
        self.seq += 1

    def rewrite(self, path: str, new: bytes) -> None:
        """Makes the file ``path`` read ``new``: a TRUNC when shorter, records for each run of
        changed bytes (runs closer than 64 bytes merged)."""
        name = path.encode()
        old = self.pool.read(path)
        if len(new) < len(old):
            self.truncate(name, len(new))
        i, n = 0, min(len(old), len(new))
        while i < n:
            if old[i] == new[i]:
                i += 1
                continue
            j = i + 1
            while j < n and (old[j] != new[j] or any(old[k] != new[k] for k in range(j, min(n, j + 64)))):
                j += 1
            self.write(name, i, new[i:j])
            i = j
        if len(new) > len(old):
            self.write(name, len(old), new[len(old):])


def _damage_bytes(data: bytes, kind: str, rnd: random.Random) -> bytes:
    b = bytearray(data)
    if not b:
        return bytes(b)
    if kind == "flip":
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif kind == "zero":
        i = rnd.randrange(len(b))
        n = rnd.randint(1, min(4096, len(b) - i))
        b[i:i + n] = bytes(n)
    else:
        b = b[:rnd.randrange(len(b))]
    return bytes(b)


def damage(good: Path, out: Path, board: str, case: dict) -> str:
    """Writes the damaged copy of ``good`` to ``out``; returns what was done, in words."""
    from ..boards import load_board
    from ..image import open_image

    rnd = random.Random(case["seed"])
    shutil.copyfile(good, out)
    if case.get("storage", "littlefs") == "pool":
        return _damage_pool(out, board, case, rnd)
    if case["where"] in ("db", "wal"):
        path = oracle.DB + ("-wal" if case["where"] == "wal" else "")
        with open_image(out, board, write=True) as img:
            if not img.exists(path):
                raise WalkitError(f"the good image has no {path}")
            img.write(path, _damage_bytes(img.read(path), case["kind"], rnd))
        return f"{case['kind']} in {path}"
    f = load_board(board).flash
    raw = bytearray(out.read_bytes())
    used = [blk for blk in range(f.fs_size // f.erase_block)
            if raw[f.fs_offset + blk * f.erase_block:f.fs_offset + (blk + 1) * f.erase_block]
            .count(0xFF) != f.erase_block]
    blk = rnd.choice(used)
    start = f.fs_offset + blk * f.erase_block
    region = bytes(raw[start:start + f.erase_block])
    end = len(region.rstrip(b"\xff")) or 1  # the programmed part of the block
    kind = "flip" if case["kind"] == "truncate" else case["kind"]
    piece = _damage_bytes(region[:end], kind, rnd)
    raw[start:start + end] = piece
    out.write_bytes(raw)
    return f"{kind} in littlefs block {blk}"


def _damage_pool(out: Path, board: str, case: dict, rnd: random.Random) -> str:
    from ..boards import load_board

    f = load_board(board).flash
    raw = bytearray(out.read_bytes())
    part = bytearray(raw[f.pool_offset:f.pool_offset + f.pool_size])
    if case["where"] in ("db", "wal"):
        path = oracle.DB + ("-wal" if case["where"] == "wal" else "")
        w = PoolWriter(part, f.erase_block, f.prog_size)
        if not w.pool.exists(path):
            raise WalkitError(f"the good image has no {path} on the pool")
        new = _damage_bytes(w.pool.read(path), case["kind"], rnd)
        w.rewrite(path, new)
        from ..image.pool import Pool

        if Pool(bytes(part), f.erase_block, f.prog_size).read(path) != new:
            raise WalkitError(f"pool: rewriting {path} did not give the damaged bytes")
        what = f"{case['kind']} in {path} (on the pool)"
    else:
        from ..image.pool import Pool

        pool = Pool(bytes(part), f.erase_block, f.prog_size)
        log = range(pool.active * pool.area, (pool.active + 1) * pool.area)
        # Half the cases hit the state log (the pool's metadata, as littlefs's metadata pairs
        # are littlefs's), half a data block of a file.
        logs = [b for b in log if b * f.erase_block < pool.active * pool.area * f.erase_block + pool.log_used]
        data = sorted(b for fl in pool.files.values() for b in (fl.blocks or []))
        blk = rnd.choice(logs if rnd.random() < 0.5 or not data else data)
        start = blk * f.erase_block
        region = bytes(part[start:start + f.erase_block])
        end = len(region.rstrip(b"\xff")) or 1
        kind = "flip" if case["kind"] == "truncate" else case["kind"]
        part[start:start + end] = _damage_bytes(region[:end], kind, rnd)
        what = f"{kind} in pool block {blk} ({'state log' if blk in log else 'data'})"
    raw[f.pool_offset:f.pool_offset + f.pool_size] = part
    out.write_bytes(raw)
    return what


def classify_target(row) -> tuple:
    integrity, k, stored, scanned, expected = row
    if integrity in ("ok", "missing") and (k < 0 or stored == scanned == expected):
        return ("ok", k, scanned)
    return ("bad",)


def classify_host(flash: Path, board: str, storage: str = "littlefs") -> tuple:
    try:
        integrity, k, stored, scanned = oracle.check_image(flash, board, storage=storage)
    except WalkitError:
        return ("bad",)
    if integrity in ("ok", "missing") and (k < 0 or stored == scanned):
        return ("ok", k, scanned)
    return ("bad",)


def run_case(spec: dict) -> dict:
    """One damaged image: boot, check, ping; the verdict (module docstring)."""
    t0 = time.monotonic()
    d = Path(spec["workdir"]) / f"c{spec['index']}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    flash = d / "flash.img"
    res = {"index": spec["index"], "where": spec["where"], "kind": spec["kind"], "ok": False,
           "reason": "", "seed": spec["seed"]}
    try:
        res["damage"] = damage(Path(spec["good"]), flash, spec["board"], spec)
        host = classify_host(flash, spec["board"], spec["storage"])
        region = _region(spec)
        before = flash.read_bytes()[region]
        with booted(spec, flash, d, timeout=60.0) as t:
            if "formatted" in t.boot_output:
                raise WalkitError("the firmware reformatted a damaged flash")
            mounted = ("flash pool mounted" if spec["storage"] == "pool" else "littlefs mounted") \
                in t.boot_output
            try:
                got = classify_target(check_on_target(t, spec, 60.0))
            except SqlError as e:
                got = ("bad",)
                res["target_error"] = str(e)
            t.console.ping(timeout=30.0)  # still answering
            t.power_cut()
        if not mounted and flash.read_bytes()[region] != before:
            raise WalkitError(f"the firmware wrote to a {spec['storage']} region it could not mount")
        res["target"], res["host"] = list(got), list(host)
        if got[0] != host[0] or (got[0] == "ok" and got != host):
            raise WalkitError(f"host and target disagree: target {got}, host {host}")
        res["ok"] = True
    except TargetTimeout as e:
        res["reason"] = "hang: " + str(e).splitlines()[0]
    except (WalkitError, TargetError, OSError) as e:
        res["reason"] = str(e).splitlines()[0]
    res["seconds"] = time.monotonic() - t0
    if res["ok"]:
        shutil.rmtree(d, ignore_errors=True)
    else:
        keep_failure(d, flash)
        res["kept"] = str(d)
    return res


def _region(spec: dict) -> slice:
    """The bytes of the image the spec's storage owns (what an unmounted storage must keep)."""
    from ..boards import load_board

    f = load_board(spec["board"]).flash
    if spec["storage"] == "pool":
        return slice(f.pool_offset, f.pool_offset + f.pool_size)
    return slice(0, None)


def corruption_campaign(board: str, *, images: int = 200, seed: int = 1, txns: int = 4,
                        image=None, workdir=None, jobs: int = 0, storage: str = "littlefs") -> dict:
    """Damages ``images`` copies of a good image, spread over WHERES x KINDS; returns a report
    with ``points`` (images tested), ``failures``, ``by_case`` and ``outcomes``.  ``storage``:
    where the database is (littlefs, or the flash pool)."""
    import os
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    from ..build import build
    from .campaign import prepare_base
    from .points import mix

    image = Path(image) if image else build(board)
    wd = Path(workdir or tempfile.mkdtemp(prefix="walkit-corrupt-"))
    wd.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    base = prepare_base(board, image, wd)
    oracle.target_path(storage)  # a known storage
    good = make_good_image(board, image, base, wd / "good.img", seed, txns, storage)
    cases = [(w, k) for w in WHERES for k in KINDS if not (w == "fs" and k == "truncate")]
    specs = [dict(board=board, storage=storage, image=str(image), good=str(good),
                  workdir=str(wd), index=i,
                  where=cases[i % len(cases)][0], kind=cases[i % len(cases)][1],
                  seed=mix(seed, i), wseed=seed) for i in range(images)]
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        results = list(pool.map(run_case, specs))
    by_case: dict[str, dict] = {}
    for r in results:
        c = by_case.setdefault(f"{r['where']}/{r['kind']}", {"images": 0, "failures": 0, "ok": 0,
                                                             "bad": 0})
        c["images"] += 1
        c["failures"] += 0 if r["ok"] else 1
        if r["ok"]:
            c[r["target"][0]] += 1
    elapsed = time.monotonic() - t0
    return {"board": board, "storage": storage, "seed": seed, "points": len(results),
            "failures": [r for r in results if not r["ok"]], "by_case": by_case,
            "seconds": round(elapsed, 2), "load_average": list(os.getloadavg())}
