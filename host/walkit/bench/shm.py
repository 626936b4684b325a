"""``walkit bench shm``: stock unix VFS versus the walkit VFS, one amalgamation built twice.

Both builds use the same pinned sqlite3.c and the same ``walkit_sqlite_config.h``; the stock one
sets ``SQLITE_OS_OTHER=0`` so SQLite's own unix VFS is used (WAL-index in an mmap'd ``-shm``
file, fcntl locks), the walkit one links ``vfs/`` (heap WAL-index, OS-layer locks, host files).
Workloads (shm_bench.c): (a) short write transactions from 4 connections in 4 threads with 2
reader threads, (b) point queries from 4 connections, (c) a single-connection bulk load.
Throughput is wall clock, alternated stock/walkit/copy ``--rounds`` times, median reported; the
ratios are walkit/stock (above 1: walkit faster) and copy/heap (walkit's copy mode, vfs/shm/copy.c,
against its heap mode).  Instructions per operation come from callgrind on
one thread with two amounts of work, subtracting so that set-up cost cancels.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from .. import WalkitError
from ..bootstrap import sqlite_source

HERE = Path(__file__).resolve().parent
WORKLOADS = {  # name: (threads, ops per thread) for the throughput runs
    "write": (4, 500),
    "read": (4, 20000),
    "bulk": (1, 50000),
}


BENCH_FLAGS = ("-O2", "-g", "-fPIC", "-pthread")


def _binaries() -> dict[str, Path]:
    """shm_bench twice, through the host-native build (cached by the hash of every input):
    stock = the amalgamation with SQLITE_OS_OTHER=0 (its unix VFS), walkit = the same
    amalgamation and options with vfs/ (posix OS port, hostfile backend)."""
    from ..native.build import CC, _run as run_cc, common_flags, build_program, sqlite_object

    walkit = build_program("shm_bench_walkit", [HERE / "shm_bench.c"],
                           flags=BENCH_FLAGS + ("-DBENCH_WALKIT",))
    stock_flags = BENCH_FLAGS + ("-DSQLITE_OS_OTHER=0",)
    sqlite_o = sqlite_object(stock_flags)
    stock = sqlite_o.parent / "shm_bench_stock"
    if not stock.exists():
        tmp = stock.with_suffix(".tmp")
        run_cc([CC, *common_flags(), *stock_flags, str(HERE / "shm_bench.c"), str(sqlite_o),
                "-o", str(tmp), "-lpthread", "-lm"], "linking shm_bench (stock)")
        tmp.rename(stock)
    copy = build_program("shm_bench_walkit_copy", [HERE / "shm_bench.c"],
                         flags=BENCH_FLAGS + ("-DBENCH_WALKIT",),
                         vfs_defines=("-DBENCH_WALKIT_COPY",))
    return {"stock": stock, "walkit": walkit, "copy": copy}


def _run(exe: Path, workload: str, threads: int, ops: int, prefix: list[str] | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="walkit-bench-") as d:
        r = subprocess.run([*(prefix or []), str(exe), d, workload, str(threads), str(ops)],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise WalkitError(f"{exe.name} {workload} failed: {r.stderr.strip()[-500:]}")
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        res = json.loads(lines[-1])
        res["stderr"] = r.stderr
        return res


def _callgrind_instructions(exe: Path, workload: str, ops: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "cg.out"
        res = _run(exe, workload, 1, ops, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
        for line in res["stderr"].splitlines():
            if "Collected :" in line:
                return int(line.split(":")[-1].strip().replace(",", ""))
        text = out.read_text()
        for line in text.splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise WalkitError("callgrind gave no instruction count")


def run(rounds: int = 3, scale: float = 1.0, callgrind: bool = True) -> str:
    bins = _binaries()
    print(f"bench: stock {bins['stock']}\nbench: walkit {bins['walkit']}\n"
          f"bench: walkit copy mode {bins['copy']}", flush=True)
    lines = ["walkit bench shm: stock unix VFS vs walkit VFS (heap mode; copy mode beside it), "
             f"same SQLite {sqlite_source().version}, same options; median of {rounds} "
             "alternating rounds; copy/heap min-max over the rounds",
             f"{'workload':<10}{'threads':>8}{'ops':>9}{'stock ops/s':>14}{'walkit ops/s':>14}"
             f"{'walkit/stock':>14}{'copy ops/s':>14}{'copy/heap':>11}{'min-max':>13}"]
    for wl, (threads, ops) in WORKLOADS.items():
        ops = max(1, int(ops * scale))
        rates: dict[str, list[float]] = {"stock": [], "walkit": [], "copy": []}
        for _ in range(rounds):
            for name in ("stock", "walkit", "copy"):
                r = _run(bins[name], wl, threads, ops)
                rates[name].append(r["ops"] / r["seconds"])
        s, w = statistics.median(rates["stock"]), statistics.median(rates["walkit"])
        c = statistics.median(rates["copy"])
        per_round = [cr / wr for cr, wr in zip(rates["copy"], rates["walkit"])]
        total = ops * (1 if wl == "bulk" else threads)
        lines.append(f"{wl:<10}{threads:>8}{total:>9}{s:>14.0f}{w:>14.0f}{w / s:>14.2f}"
                     f"{c:>14.0f}{c / w:>11.2f}{min(per_round):>6.2f}-{max(per_round):<6.2f}")
    if callgrind and shutil.which("valgrind"):
        lines.append("instructions per operation (callgrind, 1 thread, (Ir(2N) - Ir(N)) / N):")
        lines.append(f"{'workload':<10}{'N':>9}{'stock':>14}{'walkit':>14}{'walkit/stock':>14}"
                     f"{'copy':>14}{'copy/heap':>11}")
        for wl, n in (("write", 200), ("read", 2000), ("bulk", 5000)):
            n = max(10, int(n * scale))
            per = {}
            for name in ("stock", "walkit", "copy"):
                per[name] = (_callgrind_instructions(bins[name], wl, 2 * n)
                             - _callgrind_instructions(bins[name], wl, n)) / n
            lines.append(f"{wl:<10}{n:>9}{per['stock']:>14.0f}{per['walkit']:>14.0f}"
                         f"{per['walkit'] / per['stock']:>14.2f}{per['copy']:>14.0f}"
                         f"{per['copy'] / per['walkit']:>11.2f}")
    elif callgrind:
        lines.append("callgrind: valgrind not installed (apt-get install -y valgrind)")
    return "\n".join(lines)
