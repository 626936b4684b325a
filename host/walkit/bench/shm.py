"""``walkit bench shm``: stock unix VFS versus the walkit VFS, one amalgamation built twice.

Both builds use the same pinned sqlite3.c and the same ``walkit_sqlite_config.h``; the stock one
sets ``SQLITE_OS_OTHER=0`` so SQLite's own unix VFS is used (WAL-index in an mmap'd ``-shm``
file, fcntl locks), the walkit one links ``vfs/`` (heap WAL-index, OS-layer locks, host files).
Workloads (shm_bench.c): (a) short write transactions from 4 connections in 4 threads with 2
reader threads, (b) point queries from 4 connections, (c) a single-connection bulk load.
Throughput is wall clock, alternated stock/walkit ``--rounds`` times, median reported; the ratio
is walkit/stock (above 1: walkit faster).  Instructions per operation come from callgrind on
one thread with two amounts of work, subtracting so that set-up cost cancels.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from .. import WalkitError
from ..bootstrap import require_tool, sqlite_source
from ..paths import cache_dir, repo_root

HERE = Path(__file__).resolve().parent
WORKLOADS = {  # name: (threads, ops per thread) for the throughput runs
    "write": (4, 500),
    "read": (4, 20000),
    "bulk": (1, 50000),
}


def walkit_c_sources() -> list[Path]:
    vfs = repo_root() / "vfs"
    files = sorted(vfs.glob("*.c")) + sorted(vfs.glob("shm/*.c")) + sorted(vfs.glob("storage/*.c"))
    return files + [vfs / "os" / "posix.c"]


def _binaries(opt: str = "-O2") -> dict[str, Path]:
    """Compile shm_bench twice (cached by the hash of every input)."""
    cc = require_tool("cc", "gcc")
    src = sqlite_source()
    root = repo_root()
    config = root / "vfs" / "walkit_sqlite_config.h"
    inputs = [HERE / "shm_bench.c", config, src.dir / "sqlite3.c", *walkit_c_sources(),
              *sorted((root / "vfs").rglob("*.h"))]
    h = hashlib.sha256(opt.encode())
    for f in inputs:
        h.update(f.read_bytes())
    out = cache_dir() / "bench" / h.hexdigest()[:16]
    common = [cc, opt, "-g", "-include", str(config), "-I", str(src.dir), "-I", str(root / "vfs" / "include"),
              "-I", str(root / "vfs"), "-DSQLITE_DEFAULT_MEMSTATUS=0"]
    variants = {
        "stock": common + ["-DSQLITE_OS_OTHER=0", str(HERE / "shm_bench.c"), str(src.dir / "sqlite3.c")],
        "walkit": common + ["-DBENCH_WALKIT", "-DWALKIT_HOSTED=1", str(HERE / "shm_bench.c"),
                            str(src.dir / "sqlite3.c"), *map(str, walkit_c_sources())],
    }
    bins = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, cmd in variants.items():
        exe = out / f"shm_bench_{name}"
        if not exe.exists():
            print(f"bench: compiling {name} (sqlite3.c takes a minute)", flush=True)
            r = subprocess.run(cmd + ["-o", str(exe) + ".tmp", "-lpthread", "-lm"], capture_output=True, text=True)
            if r.returncode != 0:
                raise WalkitError(f"compiling shm_bench ({name}) failed: " + r.stderr.strip()[-2000:])
            Path(str(exe) + ".tmp").rename(exe)
        bins[name] = exe
    return bins


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
    lines = ["walkit bench shm: stock unix VFS vs walkit VFS, same SQLite "
             f"{sqlite_source().version}, same options; median of {rounds} alternating rounds",
             f"{'workload':<10}{'threads':>8}{'ops':>9}{'stock ops/s':>14}{'walkit ops/s':>14}{'walkit/stock':>14}"]
    for wl, (threads, ops) in WORKLOADS.items():
        ops = max(1, int(ops * scale))
        rates: dict[str, list[float]] = {"stock": [], "walkit": []}
        for _ in range(rounds):
            for name in ("stock", "walkit"):
                r = _run(bins[name], wl, threads, ops)
                rates[name].append(r["ops"] / r["seconds"])
        s, w = statistics.median(rates["stock"]), statistics.median(rates["walkit"])
        total = ops * (1 if wl == "bulk" else threads)
        lines.append(f"{wl:<10}{threads:>8}{total:>9}{s:>14.0f}{w:>14.0f}{w / s:>14.2f}")
    if callgrind and shutil.which("valgrind"):
        lines.append("instructions per operation (callgrind, 1 thread, (Ir(2N) - Ir(N)) / N):")
        lines.append(f"{'workload':<10}{'N':>9}{'stock':>14}{'walkit':>14}{'walkit/stock':>14}")
        for wl, n in (("write", 200), ("read", 2000), ("bulk", 5000)):
            n = max(10, int(n * scale))
            per = {}
            for name in ("stock", "walkit"):
                per[name] = (_callgrind_instructions(bins[name], wl, 2 * n)
                             - _callgrind_instructions(bins[name], wl, n)) / n
            lines.append(f"{wl:<10}{n:>9}{per['stock']:>14.0f}{per['walkit']:>14.0f}"
                         f"{per['walkit'] / per['stock']:>14.2f}")
    elif callgrind:
        lines.append("callgrind: valgrind not installed (apt-get install -y valgrind)")
    return "\n".join(lines)
