"""``walkit bench ...``: benchmarks, printed, never asserted."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios side by side, instruction counts)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    s = bsub.add_parser("shm", help="stock unix VFS vs walkit VFS: writers+readers, readers, bulk load")
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--scale", type=float, default=1.0, help="multiply the amount of work")
    s.add_argument("--no-callgrind", action="store_true")
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

    print(run(rounds=args.rounds, scale=args.scale, callgrind=not args.no_callgrind))
    return 0


def _flash(args) -> int:
    from pathlib import Path

    from .flash import WORKLOADS, run

    print(run(args.boards or ["qemu-virt-a15", "host-sim"], args.workloads or list(WORKLOADS),
              args.commits, args.warmup, args.pool_warmup, Path(args.plot) if args.plot else None))
    return 0
