"""Corruption campaign: seeded damage to a good image, then boot and query.

The good image holds the built-in workload's database after a few transactions and a WAL that
was not checkpointed (a connection held open, then a power cut).  Each case damages one copy:

* ``db`` / ``wal``: the file's bytes as littlefs stores them (rewritten through littlefs, so
  the filesystem stays valid): seeded bit flips, a zeroed range, or a truncation;
* ``fs``: raw bytes of the littlefs region in blocks in use (metadata pairs, file data): bit
  flips or a zeroed range, written straight into the image.

Then the target boots on it and answers ``.workload check``: it must answer (a row, or an error
frame such as SQLITE_CORRUPT/SQLITE_NOTADB, or "no filesystem" with the corruption on the
console), keep answering (``.ping``), never hang (every wait is bounded), never reformat the
flash (the filesystem region is byte for byte the damaged image after the boot unless the
boot mounted it, and no "formatted" line), and the host's own reading (oracle.check_image)
must classify the image the same way: ``ok`` with the same (k, digest) on both sides, or
``bad`` (unreadable, integrity_check not ok, or rows that do not match their digest) on both.
"""

from __future__ import annotations

import random
import shutil
import time
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


def make_good_image(board: str, image, base: Path, out: Path, seed: int, txns: int) -> Path:
    """The workload's database after ``txns`` transactions, its WAL still holding frames."""
    shutil.copyfile(base, out)
    with Target(board, image=image, flash=out, workdir=out.parent / "good") as t:
        t.boot()
        c = t.console
        c.request(".workload", "run", oracle.DB, str(seed), str(txns - 1), "full", timeout=600)
        # A connection in WAL mode holding its shared lock keeps the last transaction's frames
        # from being checkpointed and the WAL deleted when the workload closes its own.
        c.open("hold", oracle.DB)
        c.sql("hold", "SELECT count(*) FROM meta")
        c.request(".workload", "run", oracle.DB, str(seed), str(txns), "full", timeout=600)
        files = {name for name, _, _ in c.ls("/")}
        t.power_cut()
    if "wl.db-wal" not in files:
        raise WalkitError(f"the good image has no WAL (files: {sorted(files)})")
    return out


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


def classify_target(row) -> tuple:
    integrity, k, stored, scanned, expected = row
    if integrity in ("ok", "missing") and (k < 0 or stored == scanned == expected):
        return ("ok", k, scanned)
    return ("bad",)


def classify_host(flash: Path, board: str) -> tuple:
    try:
        integrity, k, stored, scanned = oracle.check_image(flash, board)
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
        host = classify_host(flash, spec["board"])
        before = flash.read_bytes()
        with booted(spec, flash, d, timeout=60.0) as t:
            if "formatted" in t.boot_output:
                raise WalkitError("the firmware reformatted a damaged flash")
            mounted = "littlefs mounted" in t.boot_output
            try:
                got = classify_target(check_on_target(t, spec, 60.0))
            except SqlError as e:
                got = ("bad",)
                res["target_error"] = str(e)
            t.console.ping(timeout=30.0)  # still answering
            t.power_cut()
        if not mounted and flash.read_bytes() != before:
            raise WalkitError("the firmware wrote to a flash it could not mount")
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


def corruption_campaign(board: str, *, images: int = 200, seed: int = 1, txns: int = 4,
                        image=None, workdir=None, jobs: int = 0) -> dict:
    """Damages ``images`` copies of a good image, spread over WHERES x KINDS; returns a report
    with ``points`` (images tested), ``failures``, ``by_case`` and ``outcomes``."""
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
    good = make_good_image(board, image, base, wd / "good.img", seed, txns)
    cases = [(w, k) for w in WHERES for k in KINDS if not (w == "fs" and k == "truncate")]
    specs = [dict(board=board, storage="littlefs", image=str(image), good=str(good),
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
    return {"board": board, "seed": seed, "points": len(results),
            "failures": [r for r in results if not r["ok"]], "by_case": by_case,
            "seconds": round(elapsed, 2), "load_average": list(os.getloadavg())}
