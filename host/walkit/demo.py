"""``walkit demo``: the kit's story on a board, each step checked and printed.

  1. boot the board on a blank flash (the firmware formats littlefs);
  2. four connections to one database in WAL mode with NORMAL locking (what needs walkit: stock
     SQLite without mmap can do WAL only with EXCLUSIVE locking and one connection): a writer
     commits while a reader keeps its snapshot and a checkpointer runs, which can copy back only
     the frames that reader does not need; `.stats` shows the single WAL-index the four share,
     in heap memory, and no -shm file exists anywhere;
  3. start a long write and cut the power while the target is programming the flash (the
     harness watches the flash image file change, then stops the machine dead);
  4. recovery on the host: read the flash image, copy the database and its WAL out and let
     Python's sqlite3 recover them: integrity ok, every committed row there, the cut write all
     or nothing;
  5. recovery on the target: boot again on the same flash, several connections again, the same
     checks.
Exit status 0 only when every check passed.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

from .console import Console
from .paths import build_dir
from .sql import SqlError
from .target import Target

BATCHES = 5
ROWS_PER_BATCH = 20
CUT_BATCH = 99
CUT_ROWS = 20000  # rows in the write that the power cut interrupts
DB = "/demo.db"


class DemoFailure(Exception):
    pass


def _check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {what}", flush=True)
    if not ok:
        raise DemoFailure(what)


def _batches(rows) -> dict[int, int]:
    return {b: n for b, n in rows}


def _cut_during_write(t: Target, console: Console, conn: str) -> tuple[int, float, bool]:
    """Starts the long INSERT, waits until the flash image changes, cuts the power.  Returns
    (request id, seconds from request to cut, whether the target had sent the write's reply
    when it stopped: looked at after the cut, so a commit that lands just before the power
    goes counts as finished)."""
    before = os.stat(t.flash).st_mtime_ns
    sql = ("INSERT INTO readings(batch, payload) "
           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
           "SELECT ?, printf('%080d', x) FROM c")
    t0 = time.monotonic()
    rid = console.start("sql", conn, sql, CUT_ROWS, CUT_BATCH)
    deadline = t0 + 60
    while os.stat(t.flash).st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise DemoFailure("the target never wrote to its flash during the long INSERT")
        time.sleep(0.001)
    elapsed = time.monotonic() - t0
    link = t.link  # power_cut() closes it, after reading everything the target sent
    t.power_cut()
    finished = f"@{rid} K".encode() in link.log_bytes()
    return rid, elapsed, finished


def _host_check(t: Target, committed: int) -> dict[int, int]:
    files = {f.path: f.size for f in t.flash_files()}
    print(f"  flash image holds: {', '.join(f'{p} ({n} bytes)' for p, n in sorted(files.items()))}")
    _check(DB in files and DB + "-wal" in files, "the database and its -wal file are on the flash")
    _check(DB + "-shm" not in files, "no -shm file on the flash")
    with tempfile.TemporaryDirectory(prefix="walkit-demo-") as d:
        local = Path(d) / "demo.db"
        local.write_bytes(t.read_flash_file(DB))
        Path(str(local) + "-wal").write_bytes(t.read_flash_file(DB + "-wal"))
        con = sqlite3.connect(local)
        try:
            _check(con.execute("PRAGMA integrity_check").fetchall() == [("ok",)],
                   "host sqlite3: PRAGMA integrity_check = ok")
            by_batch = _batches(con.execute(
                "SELECT batch, count(*) FROM readings GROUP BY batch ORDER BY batch").fetchall())
        finally:
            con.close()
    got = sum(n for b, n in by_batch.items() if b != CUT_BATCH)
    _check(got == committed, f"host sqlite3: all {committed} committed rows are there ({got})")
    return by_batch


def _open_normal(c: Console, names: list[str]) -> None:
    """Opens each connection on DB, in WAL mode with NORMAL locking, checking both."""
    for name in names:
        c.open(name, DB)
        mode = c.sql(name, "PRAGMA locking_mode=NORMAL").rows[0][0]
        jm = c.sql(name, "PRAGMA journal_mode=WAL").rows[0][0]
        if mode != "normal" or jm != "wal":
            _check(False, f"{name}: locking_mode={mode}, journal_mode={jm}")


def _count(c: Console, conn: str) -> int:
    return c.sql(conn, "SELECT count(*) FROM readings").rows[0][0]


def _commit_batch(c: Console, conn: str, b: int) -> None:
    c.sql(conn, "BEGIN")
    for i in range(ROWS_PER_BATCH):
        c.sql(conn, "INSERT INTO readings(batch, payload) VALUES (?, ?)", (b, f"batch {b} row {i}"))
    c.sql(conn, "COMMIT")


def demo(board: str) -> int:
    workdir = build_dir(board) / "demo"
    flash = workdir / "flash.img"
    workdir.mkdir(parents=True, exist_ok=True)
    flash.unlink(missing_ok=True)
    print(f"walkit demo on {board}: several connections in WAL mode with NORMAL locking, "
          "a power cut mid-write, recovery", flush=True)
    t = Target(board, flash=flash, workdir=workdir)
    try:
        t.boot()
        print(f"\n1. booted in {t.boot_seconds * 1000:.0f} ms on a blank flash:")
        for line in t.boot_output.splitlines():
            if line.startswith("walkit: "):
                print(f"     | {line.strip()}")
        c = t.console

        print("\n2. four connections to one database, WAL mode, NORMAL locking:")
        _open_normal(c, ["writer", "reader", "other", "ckpt"])
        _check(True, "writer, reader, other, ckpt: locking_mode=normal, journal_mode=wal")
        # A small page cache makes SQLite spill pages of a big write to the WAL early, so the
        # power cut below lands while the write is programming the flash.
        c.sql("writer", "PRAGMA cache_size=20")
        c.sql("writer", "CREATE TABLE readings(id INTEGER PRIMARY KEY, batch INTEGER, payload TEXT)")
        _commit_batch(c, "writer", 1)
        c.sql("reader", "BEGIN")
        snapshot = _count(c, "reader")  # the read transaction's snapshot starts here
        for b in range(2, BATCHES + 1):
            _commit_batch(c, "writer", b)
        committed = BATCHES * ROWS_PER_BATCH
        print(f"     the writer committed {BATCHES} transactions of {ROWS_PER_BATCH} rows "
              f"({committed} rows); the reader began its read after the first")
        _check(_count(c, "reader") == snapshot == ROWS_PER_BATCH,
               f"reader, inside its transaction, still sees its snapshot ({snapshot} rows)")
        _check(_count(c, "other") == committed,
               f"other connection sees every commit ({committed} rows)")
        busy, log, done = c.sql("ckpt", "PRAGMA wal_checkpoint(PASSIVE)").rows[0]
        _check(busy == 0 and 0 < done < log,
               f"checkpointer ran while the reader held its snapshot: {done} of {log} WAL "
               "frames copied back (the rest are still needed by the reader)")
        _check(_count(c, "reader") == snapshot, "reader's snapshot survived the checkpoint")
        c.sql("reader", "COMMIT")
        busy, log, done = c.sql("ckpt", "PRAGMA wal_checkpoint(PASSIVE)").rows[0]
        _check(busy == 0 and done == log,
               f"reader done: the checkpointer copies back all {log} frames")
        stats = c.stats()
        _check(stats["vfs.shm_nodes"] == 1 and stats["vfs.shm_regions"] >= 1,
               f".stats: one WAL-index shared by the 4 connections (vfs.shm_nodes="
               f"{stats['vfs.shm_nodes']}), {stats['vfs.shm_regions']} region(s) of 32 KiB in "
               f"heap memory, {stats['vfs.shm_lock_calls']} lock-slot calls, "
               f"{stats['vfs.shm_lock_busy']} found busy")
        names = {e[0] for e in c.ls("/")}
        _check("demo.db-wal" in names and "demo.db-shm" not in names,
               "on the target: demo.db-wal exists, no demo.db-shm (nothing is mmap'ed)")
        for name in ("reader", "other", "ckpt"):
            c.close_conn(name)

        print(f"\n3. a write of {CUT_ROWS} more rows, and the power cut:")
        rid, elapsed, finished = _cut_during_write(t, c, "writer")
        print(f"     power cut {elapsed * 1000:.0f} ms after the write started, as the flash "
              f"image changed; the write had {'already finished' if finished else 'not finished'}")
        print(f"     (before the write: {stats['flash.prog_ops']} flash programs, "
              f"{stats['flash.erase_ops']} erases since boot)")

        print("\n4. recovery on the host, from the flash image:")
        by_batch = _host_check(t, committed)
        cut_rows = by_batch.get(CUT_BATCH, 0)
        _check(cut_rows in (0, CUT_ROWS),
               f"host sqlite3: the interrupted write is all or nothing ({cut_rows} of {CUT_ROWS} rows)")

        print("\n5. recovery on the target: boot again on the same flash:")
        t.boot()
        print(f"     booted in {t.boot_seconds * 1000:.0f} ms")
        c = t.console
        _open_normal(c, ["writer", "reader"])
        _check(c.sql("reader", "PRAGMA journal_mode").rows == [("wal",)],
               "two connections again, NORMAL locking; journal_mode is still wal")
        _check(c.sql("reader", "PRAGMA integrity_check").rows == [("ok",)],
               "target: PRAGMA integrity_check = ok")
        on_target = _batches(c.sql("reader", "SELECT batch, count(*) FROM readings GROUP BY batch "
                                             "ORDER BY batch").rows)
        _check(all(on_target.get(b) == ROWS_PER_BATCH for b in range(1, BATCHES + 1)),
               f"target: every committed row is present ({committed})")
        _check(on_target == by_batch, "target and host see the same rows")
        if finished:
            _check(on_target.get(CUT_BATCH) == CUT_ROWS,
                   f"target: the write acknowledged before the cut is all there ({CUT_ROWS} rows)")
        elif CUT_BATCH in on_target:
            # Possible only in the instants between its commit reaching the flash and its reply
            # leaving the UART: committed, not yet acknowledged; all or nothing held above.
            print("     the interrupted write had committed before the cut, its reply not yet sent")
        else:
            _check(True, "target: no row of the interrupted write")
        c.sql("writer", "INSERT INTO readings(batch, payload) VALUES (?, 'after the cut')",
              (BATCHES + 1,))
        _check(c.sql("reader", "SELECT count(*) FROM readings WHERE batch = ?", (BATCHES + 1,)).rows
               == [(1,)], "the database takes new writes; the other connection sees them")
        status = t.shutdown()
        _check(status == 0, "clean shutdown")
        print(f"\nwalkit demo: every check passed.  Console log: {t.console_log}")
        return 0
    except DemoFailure as e:
        print(f"\nwalkit demo: FAILED: {e}.  Console log: {t.console_log}")
        return 1
    except SqlError as e:  # the target refused a step of the story: say which, in one line
        what = " ".join(str(e).split())
        print(f"\nwalkit demo: FAILED: unexpected SQL error: {what}.  Console log: {t.console_log}")
        return 1
    finally:
        t.close()
