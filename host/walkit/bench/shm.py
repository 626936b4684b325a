"""``walkit bench shm``: stock unix VFS versus the walkit VFS, one amalgamation built twice.

Both builds use the same pinned sqlite3.c and the same ``walkit_sqlite_config.h``; the stock one
sets ``SQLITE_OS_OTHER=0`` so SQLite's own unix VFS is used (WAL-index in an mmap'd ``-shm``
file, fcntl locks), the walkit one links ``vfs/`` (heap WAL-index, OS-layer locks, host files).

What it prints, each figure with the machine's load average beside it:

1. Thread scaling (shm_bench.c): point queries from 1, 2, 4, 8 connections in as many threads;
   short write transactions from 1, 2, 4, 8 writer threads plus half as many reader threads; a
   single-connection bulk load.  Each point runs for ``seconds`` (1 s at ``--scale 1``: long
   enough for a lock convoy to form), alternating stock and walkit ``--rounds`` times; the
   table gives min/median/max ops/s of the rounds and the ratio of the medians walkit/stock
   (above 1: walkit faster) with the range of the per-round ratios.  Write rows add walkit's
   commit latency p50/p99/max.
2. Blocking against non-blocking WAL-index locks: the stress driver (tests/scenarios/stress.c) with 2,
   4, 8 writers, 2 invariant readers and a checkpointer every 5 ms, built with and without
   ``SQLITE_ENABLE_SETLK_TIMEOUT``, alternated in the same run: commits/s and commit latency
   p50/p99/max.
3. Instructions per operation from callgrind (deterministic, unlike wall clock) on one thread
   with two amounts of work, subtracting so that set-up cost cancels; then the bulk load again
   with vfs/mutex.c checking what the OS mutex returns (WALKIT_MUTEX_CHECK=1, the default of
   builds without NDEBUG; the benchmark's own builds are release builds, with NDEBUG).
4. walkit's copy mode (vfs/shm/copy.c) against its heap mode: reads and writes from 4 threads
   and the bulk load, alternated, ratio copy/heap with its range; then callgrind's instructions
   per operation for both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from .. import WalkitError
from ..bootstrap import sqlite_source

HERE = Path(__file__).resolve().parent
THREADS = (1, 2, 4, 8)           # thread-scaling points for reads and writes
SECONDS = 1.0                    # per point and round at --scale 1
STRESS_WRITERS = (2, 4, 8)
STRESS_TXNS = 2000               # per writer at --scale 1
STRESS_READERS, STRESS_CKPT_MS = 2, 5
CALLGRIND_N = {"write": 200, "read": 2000, "bulk": 5000}  # at --scale 1

# Release builds on both sides: NDEBUG as SQLite itself sets it inside the amalgamation when
# SQLITE_DEBUG is off, so vfs/ is measured as a release build compiles it (WALKIT_MUTEX_CHECK 0
# in vfs/mutex.c).
BENCH_FLAGS = ("-O2", "-g", "-fPIC", "-pthread", "-flto", "-DNDEBUG")


def _binaries() -> dict[str, Path]:
    """shm_bench four times, through the host-native build (cached by the hash of every input):
    stock = the amalgamation with SQLITE_OS_OTHER=0 (its unix VFS), walkit = the same
    amalgamation and options with vfs/ (posix OS port, hostfile backend), copy = walkit in
    copy mode, checked = walkit with WALKIT_MUTEX_CHECK=1."""
    from ..native.build import CC, _run as run_cc, common_flags, build_program, sqlite_object

    walkit = build_program("shm_bench_walkit", [HERE / "shm_bench.c"],
                           flags=BENCH_FLAGS + ("-DBENCH_WALKIT",))
    stock_flags = BENCH_FLAGS + ("-DSQLITE_OS_OTHER=0",)
    sqlite_o = sqlite_object(stock_flags)
    src_hash = hashlib.sha256((HERE / "shm_bench.c").read_bytes()).hexdigest()[:16]
    stock = sqlite_o.parent / f"shm_bench_stock-{src_hash}"  # rebuilt when the source changes
    if not stock.exists():
        tmp = stock.with_suffix(".tmp")
        run_cc([CC, *common_flags(), *stock_flags, str(HERE / "shm_bench.c"), str(sqlite_o),
                "-o", str(tmp), "-lpthread", "-lm"], "linking shm_bench (stock)")
        tmp.rename(stock)
    copy = build_program("shm_bench_walkit_copy", [HERE / "shm_bench.c"],
                         flags=BENCH_FLAGS + ("-DBENCH_WALKIT",),
                         vfs_defines=("-DBENCH_WALKIT_COPY",))
    checked = build_program("shm_bench_walkit_checked", [HERE / "shm_bench.c"],
                            flags=BENCH_FLAGS + ("-DBENCH_WALKIT",),
                            vfs_defines=("-DWALKIT_MUTEX_CHECK=1",))
    return {"stock": stock, "walkit": walkit, "copy": copy, "checked": checked}


def _run(exe: Path, workload: str, threads: int, ops: int, seconds: float = 0.0,
         prefix: list[str] | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="walkit-bench-") as d:
        args = [*(prefix or []), str(exe), d, workload, str(threads), str(ops)]
        if seconds > 0:
            args.append(f"{seconds:.3f}")
        r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise WalkitError(f"{exe.name} {workload} failed: {r.stderr.strip()[-500:]}")
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        res = json.loads(lines[-1])
        res["stderr"] = r.stderr
        return res


def _callgrind_instructions(exe: Path, workload: str, ops: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "cg.out"
        res = _run(exe, workload, 1, ops, prefix=["valgrind", "--tool=callgrind",
                                                   f"--callgrind-out-file={out}"])
        for line in res["stderr"].splitlines():
            if "Collected :" in line:
                return int(line.split(":")[-1].strip().replace(",", ""))
        text = out.read_text()
        for line in text.splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise WalkitError("callgrind gave no instruction count")


def _per_op(exe: Path, workload: str, n: int) -> float:
    """Instructions per operation, (Ir(2N) - Ir(N)) / N: set-up and tear-down cancel."""
    return (_callgrind_instructions(exe, workload, 2 * n)
            - _callgrind_instructions(exe, workload, n)) / n


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def _spread(values: list[float]) -> str:
    return f"{min(values):>10.0f} {statistics.median(values):>10.0f} {max(values):>10.0f}"


def _scaling(bins: dict[str, Path], rounds: int, seconds: float, say: Callable[[str], None]) -> None:
    say(f"1. thread scaling: ops/s min/median/max of {rounds} alternating rounds of "
        f"{seconds:g} s per point; ratio = median walkit / median stock [range of per-round ratios]")
    say(f"{'workload':<7}{'thr':>4} {'stock min':>10} {'median':>10} {'max':>10}  "
        f"{'walkit min':>10} {'median':>10} {'max':>10} {'ratio':>6} {'[range]':>13}  "
        f"{'walkit commit p50/p99/max us':>29}  load 1/5/15")
    points = [("read", t) for t in THREADS] + [("write", t) for t in THREADS] + [("bulk", 1)]
    for wl, threads in points:
        rates: dict[str, list[float]] = {"stock": [], "walkit": []}
        lat: list[dict] = []
        for _ in range(rounds):
            for name in ("stock", "walkit"):
                r = _run(bins[name], wl, threads, 1, seconds)
                rates[name].append(r["ops"] / r["seconds"])
                if name == "walkit":
                    lat.append(r)
        ratios = [w / s for w, s in zip(rates["walkit"], rates["stock"])]
        ratio = statistics.median(rates["walkit"]) / statistics.median(rates["stock"])
        latency = ""
        if wl == "write":
            latency = (f"{statistics.median(r['lat_p50_us'] for r in lat):.0f}/"
                       f"{statistics.median(r['lat_p99_us'] for r in lat):.0f}/"
                       f"{max(r['lat_max_us'] for r in lat):.0f}")
        say(f"{wl:<7}{threads:>4} {_spread(rates['stock'])}  {_spread(rates['walkit'])} "
            f"{ratio:>6.2f} [{min(ratios):>5.2f}-{max(ratios):<5.2f}]  {latency:>29}  {_load()}")


def _stress(rounds: int, scale: float, say: Callable[[str], None]) -> None:
    from ..native.stress import run_stress

    txns = max(50, int(STRESS_TXNS * scale))
    say(f"2. blocking vs non-blocking WAL-index locks: stress driver, {STRESS_READERS} invariant "
        f"readers, checkpointer every {STRESS_CKPT_MS} ms, {txns} transfers per writer, "
        f"{rounds} alternating rounds; commits/s min/median/max; commit latency (first BEGIN "
        "to COMMIT) p50/p99 median of rounds, max of all rounds")
    say(f"{'writers':<8}{'locks':<13} {'min':>10} {'median':>10} {'max':>10} "
        f"{'p50 us':>9} {'p99 us':>9} {'max us':>10}  {'blocking/non':>12}  load 1/5/15")
    modes = {"blocking": (), "non-blocking": ("-DWALKIT_BLOCKING_LOCKS=0",)}
    for writers in STRESS_WRITERS:
        got: dict[str, list[dict]] = {m: [] for m in modes}
        for _ in range(rounds):
            for mode, flags in modes.items():
                with tempfile.TemporaryDirectory(prefix="walkit-bench-") as d:
                    res = run_stress(Path(d), writers, txns, STRESS_READERS, extra_flags=flags,
                                     checkpoint_ms=STRESS_CKPT_MS, timeout=1800)
                if not res.ok:
                    raise WalkitError(f"stress driver failed ({mode}, {writers} writers): "
                                      + res.output.strip()[-500:])
                got[mode].append({k: float(res.fields[k]) for k in
                                  ("commits_per_s", "latency_p50_us", "latency_p99_us",
                                   "latency_max_us")})
        med = {m: statistics.median(r["commits_per_s"] for r in got[m]) for m in modes}
        for mode in modes:
            rs = got[mode]
            ratio = f"{med['blocking'] / med['non-blocking']:>12.2f}" if mode == "blocking" else " " * 12
            say(f"{writers:<8}{mode:<13} {_spread([r['commits_per_s'] for r in rs])} "
                f"{statistics.median(r['latency_p50_us'] for r in rs):>9.0f} "
                f"{statistics.median(r['latency_p99_us'] for r in rs):>9.0f} "
                f"{max(r['latency_max_us'] for r in rs):>10.0f}  {ratio}  {_load()}")


def _callgrind(bins: dict[str, Path], scale: float, say: Callable[[str], None]) -> None:
    if not shutil.which("valgrind"):
        say("3. callgrind: valgrind not installed (apt-get install -y valgrind)")
        return
    say("3. instructions per operation (callgrind, 1 thread, (Ir(2N) - Ir(N)) / N; "
        "deterministic, independent of the load)")
    say(f"{'workload':<10}{'N':>9}{'stock':>14}{'walkit':>14}{'walkit/stock':>14}")
    for wl, n in CALLGRIND_N.items():
        n = max(10, int(n * scale))
        per = {name: _per_op(bins[name], wl, n) for name in ("stock", "walkit")}
        if wl == "bulk":
            bulk_n, stock_bulk = n, per["stock"]  # reused below, not measured twice
        say(f"{wl:<10}{n:>9}{per['stock']:>14.0f}{per['walkit']:>14.0f}"
            f"{per['walkit'] / per['stock']:>14.2f}")
    # The price of reporting OS mutex failures (vfs/mutex.c, WALKIT_MUTEX_CHECK, on in builds
    # without NDEBUG): the bulk load, whose count is mostly SQLite's own mutex calls.
    checked = _per_op(bins["checked"], "bulk", bulk_n)
    say(f"{'bulk':<10}{bulk_n:>9}{stock_bulk:>14.0f}{checked:>14.0f}"
        f"{checked / stock_bulk:>14.2f}  (walkit with WALKIT_MUTEX_CHECK=1)")


def _copy_mode(bins: dict[str, Path], rounds: int, seconds: float, scale: float, callgrind: bool,
               say: Callable[[str], None]) -> None:
    """walkit's copy mode (vfs/shm/copy.c, shm_bench.c built with -DBENCH_WALKIT_COPY) against
    its heap mode: the same workloads, alternated, then instructions per operation."""
    say(f"4. copy mode vs heap mode: ops/s min/median/max of {rounds} alternating rounds of "
        f"{seconds:g} s; ratio = median copy / median heap [range of per-round ratios]")
    say(f"{'workload':<7}{'thr':>4} {'heap min':>10} {'median':>10} {'max':>10}  "
        f"{'copy min':>10} {'median':>10} {'max':>10} {'ratio':>6} {'[range]':>13}  load 1/5/15")
    for wl, threads in (("read", 4), ("write", 4), ("bulk", 1)):
        rates: dict[str, list[float]] = {"walkit": [], "copy": []}
        for _ in range(rounds):
            for name in ("walkit", "copy"):
                r = _run(bins[name], wl, threads, 1, seconds)
                rates[name].append(r["ops"] / r["seconds"])
        ratios = [c / h for c, h in zip(rates["copy"], rates["walkit"])]
        ratio = statistics.median(rates["copy"]) / statistics.median(rates["walkit"])
        say(f"{wl:<7}{threads:>4} {_spread(rates['walkit'])}  {_spread(rates['copy'])} "
            f"{ratio:>6.2f} [{min(ratios):>5.2f}-{max(ratios):<5.2f}]  {_load()}")
    if not callgrind:
        return
    say("   instructions per operation, copy vs heap (callgrind, 1 thread, (Ir(2N) - Ir(N)) / N)")
    say(f"{'workload':<10}{'N':>9}{'heap':>14}{'copy':>14}{'copy/heap':>14}")
    for wl, n in CALLGRIND_N.items():
        n = max(10, int(n * scale))
        per = {name: _per_op(bins[name], wl, n) for name in ("walkit", "copy")}
        say(f"{wl:<10}{n:>9}{per['walkit']:>14.0f}{per['copy']:>14.0f}"
            f"{per['copy'] / per['walkit']:>14.2f}")


def run(rounds: int = 3, scale: float = 1.0, callgrind: bool = True, stress: bool = True,
        say: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
    if rounds < 1 or scale <= 0:
        raise WalkitError("bench shm: --rounds must be >= 1 and --scale > 0")
    bins = _binaries()
    say(f"bench: stock {bins['stock']}\nbench: walkit {bins['walkit']}\n"
        f"bench: walkit copy mode {bins['copy']}")
    say(f"walkit bench shm: stock unix VFS vs walkit VFS, same SQLite {sqlite_source().version}, "
        f"same options; {os.cpu_count()} CPUs; load average 1/5/15 min at start {_load()} "
        "(figures for the record need an idle machine: load below 0.5)")
    _scaling(bins, rounds, SECONDS * scale, say)
    if stress:
        _stress(rounds, scale, say)
    if callgrind:
        _callgrind(bins, scale, say)
    _copy_mode(bins, rounds, SECONDS * scale, scale, callgrind, say)
    say(f"load average at end {_load()}")
