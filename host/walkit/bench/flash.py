"""``walkit bench flash``: what a committed transaction costs the flash, littlefs versus the flash
pool (vfs/storage/flashpool.c), on each board, from the firmware's flash counters (``.stats``:
every program and erase that reached the device, so the figures are deterministic).

Workloads, each on a fresh flash image, WAL, ``synchronous=FULL``, page 4096, 100-byte rows:
  autocommit  1-row INSERTs, one commit each
  tx10        10-row transactions
  bulk        one transaction of 5000 rows (recursive CTE), repeated
  update      an update-heavy mix: 4 UPDATEs of a random row per INSERT, autocommit
Each runs a warm-up first and is measured after it: littlefs reaches its steady state (a copy
of the file's last block per sync) within a few commits; the pool's warm-up lasts until it has
erased 8 blocks (``--pool-warmup`` commits at most), i.e. a checkpoint has run and freed blocks
are being recycled (erased before reuse) rather than blank ones taken for free.

Figures: bytes programmed and erased per committed transaction / (page + 24); the erase-count
spread across the pool's data blocks (littlefs keeps no per-block counts it could report); the
acknowledged commits a cut can lose (0 for both at FULL: every commit is synced before it is
acknowledged; measured by the power-cut tests, not here); and a time per transaction estimated
from the typical figures of a parallel NOR part, the Infineon (Cypress) S29GL01GS: 512-byte
buffer program 340 us, 128 KiB sector erase 275 ms (times scale with bytes; no program/erase
overlap).  Printed side by side with pool/littlefs ratios; a PNG plot of write amplification.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PAGE = 4096
UNIT = PAGE + 24
PART = "S29GL01GS"
T_PROG_PER_BYTE = 340e-6 / 512  # s per byte programmed (buffer program, typical)
T_ERASE_PER_BYTE = 0.275 / (128 * 1024)  # s per byte erased (sector erase, typical)
STORAGES = {"littlefs": "/bench.db", "pool": "file:/bench.db?vfs=pool"}
WORKLOADS = ("autocommit", "tx10", "bulk", "update")


@dataclass
class Figure:
    board: str
    storage: str
    workload: str
    commits: int
    prog: float   # bytes programmed per commit / (page + 24)
    erase: float  # bytes erased per commit / (page + 24)
    spread: str   # erase-count spread (pool), or "-"
    seconds: float  # estimated flash time per commit

    @property
    def cut_loses(self) -> int:
        return 0


def _counters(console) -> dict:
    return console.stats()


def _transaction(conn, workload: str, i: int) -> None:
    if workload == "autocommit":
        conn.execute("INSERT INTO t(v) VALUES (randomblob(100))")
    elif workload == "tx10":
        conn.execute("BEGIN")
        for _ in range(10):
            conn.execute("INSERT INTO t(v) VALUES (randomblob(100))")
        conn.execute("COMMIT")
    elif workload == "bulk":
        conn.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) "
                     "INSERT INTO t(v) SELECT randomblob(100) FROM n")
    elif workload == "update":
        if i % 5 == 0:
            conn.execute("INSERT INTO t(v) VALUES (randomblob(100))")
        else:
            conn.execute("UPDATE t SET v = randomblob(100) WHERE k = "
                         "(SELECT abs(random()) % (SELECT max(k) FROM t) + 1)")


def measure(board: str, storage: str, workload: str, commits: int, warmup: int,
            pool_warmup: int) -> Figure:
    from ..boards import load_board
    from ..build import build
    from ..target import Target

    flash = load_board(board).flash
    with tempfile.TemporaryDirectory(prefix="walkit-bench-flash-") as d, \
            Target(board, image=build(board), workdir=d) as t:
        t.boot()
        conn = t.session().connect(STORAGES[storage])
        conn.execute(f"PRAGMA page_size={PAGE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
        for i in range(20):
            conn.execute("INSERT INTO t(v) VALUES (randomblob(100))")
        s0 = _counters(t.console)
        def warming(i: int) -> bool:
            if i < warmup:
                return True
            if storage != "pool" or i >= pool_warmup:
                return False
            if i % 50:  # the counters are read every 50 transactions
                return True
            return _counters(t.console)["flash.erase_bytes"] - s0["flash.erase_bytes"] < 8 * flash.erase_block

        i = 0
        while warming(i):
            _transaction(conn, workload, i)
            i += 1
        a = _counters(t.console)
        for j in range(commits):
            _transaction(conn, workload, i + j)
        b = _counters(t.console)
        conn.close()
        t.shutdown()
    prog = (b["flash.prog_bytes"] - a["flash.prog_bytes"]) / commits
    erase = (b["flash.erase_bytes"] - a["flash.erase_bytes"]) / commits
    spread = f"{b['pool.erase_min']}..{b['pool.erase_max']}" if storage == "pool" else "-"
    return Figure(board, storage, workload, commits, prog / UNIT, erase / UNIT, spread,
                  prog * T_PROG_PER_BYTE + erase * T_ERASE_PER_BYTE)


def run(boards: list[str], workloads: list[str], commits: int, warmup: int, pool_warmup: int,
        plot: Path | None) -> str:
    figs: list[Figure] = []
    for board in boards:
        for w in workloads:
            n = max(3, commits // 50) if w == "bulk" else commits
            for storage in STORAGES:
                figs.append(measure(board, storage, w, n, warmup if w != "bulk" else 2,
                                    pool_warmup if w != "bulk" else 2))
    load = os.getloadavg()
    lines = [f"walkit bench flash: bytes per committed transaction / (page {PAGE} + 24); flash time "
             f"estimated from {PART} typical figures (buffer program 340 us / 512 B, sector erase "
             f"275 ms / 128 KiB); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
             f"(the counters do not depend on it)",
             f"{'board':<14} {'workload':<10} {'storage':<8} {'commits':>7} {'prog x':>8} "
             f"{'erase x':>8} {'erase spread':>12} {'cut loses':>9} {'ms/tx':>9}"]
    by = {(f.board, f.workload, f.storage): f for f in figs}
    for f in figs:
        lines.append(f"{f.board:<14} {f.workload:<10} {f.storage:<8} {f.commits:>7} {f.prog:>8.3f} "
                     f"{f.erase:>8.3f} {f.spread:>12} {f.cut_loses:>9} {f.seconds * 1e3:>9.2f}")
    lines.append("ratios littlefs / pool (how many times less the pool costs):")
    for board in boards:
        for w in workloads:
            l, p = by[(board, w, "littlefs")], by[(board, w, "pool")]
            r = lambda a, b: f"{a / b:.1f}x" if b else "inf"
            lines.append(f"  {board:<14} {w:<10} programmed {r(l.prog, p.prog):>8}  erased "
                         f"{r(l.erase, p.erase):>8}  time {r(l.seconds, p.seconds):>8}")
    if plot:
        _plot(figs, boards, workloads, plot)
        lines.append(f"plot: {plot}")
    return "\n".join(lines)


def _plot(figs: list[Figure], boards: list[str], workloads: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4), squeeze=False)
    by = {(f.board, f.workload, f.storage): f for f in figs}
    for ax, board in zip(axes[0], boards):
        x = range(len(workloads))
        for k, (storage, attr, hatch) in enumerate([("littlefs", "prog", ""), ("littlefs", "erase", "//"),
                                                     ("pool", "prog", ""), ("pool", "erase", "//")]):
            vals = [getattr(by[(board, w, storage)], attr) for w in workloads]
            ax.bar([i + (k - 1.5) * 0.2 for i in x], vals, 0.2, hatch=hatch,
                   color="tab:red" if storage == "littlefs" else "tab:blue",
                   label=f"{storage} {'programmed' if attr == 'prog' else 'erased'}")
        ax.set_yscale("log")
        ax.set_xticks(list(x), workloads)
        ax.set_title(board)
        ax.set_ylabel("bytes per commit / (page + 24)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
