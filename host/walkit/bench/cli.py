"""``walkit bench ...``: benchmarks, printed, never asserted."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from .shm import SECONDS, STRESS_TXNS, THREADS, STRESS_WRITERS

    p = sub.add_parser("bench", help="benchmarks (ratios side by side, instruction counts)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    s = bsub.add_parser(
        "shm", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="stock unix VFS vs walkit VFS: thread scaling, blocking vs non-blocking locks, "
             "instructions per operation",
        description=(
            "Stock unix VFS vs walkit VFS, one SQLite amalgamation built twice.\n"
            f"1. thread scaling: point reads and short writes at {', '.join(map(str, THREADS))} "
            "threads, a bulk load;\n   ops/s min/median/max of the rounds, ratio walkit/stock, "
            "walkit commit latency p50/p99/max\n"
            f"2. stress driver with {', '.join(map(str, STRESS_WRITERS))} writers: blocking vs "
            "non-blocking WAL-index locks,\n   commits/s and commit latency p50/p99/max\n"
            "3. callgrind instructions per operation (read, bulk, write; release builds, and the bulk "
            "load\n   with SQLite mutex results checked)\n"
            "The load average is printed beside every figure; take figures for the record on "
            "an idle machine."))
    s.add_argument("--rounds", type=int, default=3,
                   help="alternating stock/walkit (or blocking/non-blocking) runs per point; "
                        "the spread min/median/max is over these (default: 3)")
    s.add_argument("--scale", type=float, default=1.0,
                   help=f"multiply the amount of work: {SECONDS:g} s per thread-scaling point "
                        f"and round, {STRESS_TXNS} transfers per stress writer and the callgrind "
                        "sizes are at scale 1; below 1 the points are shorter than a second, "
                        "too short for a convoy to show (default: 1.0)")
    s.add_argument("--no-stress", action="store_true", help="skip the blocking/non-blocking section")
    s.add_argument("--no-callgrind", action="store_true", help="skip the callgrind section")
    s.set_defaults(func=_shm)
    f = bsub.add_parser("flash", help="flash cost per transaction: littlefs vs the flash pool, per board")
    f.add_argument("--board", "-b", action="append", dest="boards",
                   help="board (repeat; default: qemu-virt-a15 and host-sim)")
    f.add_argument("--workload", "-w", action="append", dest="workloads",
                   choices=("autocommit", "tx10", "bulk", "update"), help="workload (repeat; default: all)")
    f.add_argument("--commits", type=int, default=200, help="measured transactions per run")
    f.add_argument("--warmup", type=int, default=50, help="transactions before measuring")
    f.add_argument("--pool-warmup", type=int, default=5000,
                   help="pool: warm up until it has erased 8 blocks, at most this many transactions")
    f.add_argument("--plot", default="bench-flash.png", help="PNG of write amplification ('' = none)")
    f.set_defaults(func=_flash)


def _shm(args) -> int:
    from .shm import run

    run(rounds=args.rounds, scale=args.scale, callgrind=not args.no_callgrind,
        stress=not args.no_stress)
    return 0


def _flash(args) -> int:
    from pathlib import Path

    from .flash import WORKLOADS, run

    print(run(args.boards or ["qemu-virt-a15", "host-sim"], args.workloads or list(WORKLOADS),
              args.commits, args.warmup, args.pool_warmup, Path(args.plot) if args.plot else None))
    return 0
