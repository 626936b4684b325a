"""``walkit bench ...``: benchmarks, printed, never asserted."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios side by side, instruction counts)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    s = bsub.add_parser("shm", help="stock unix VFS vs walkit VFS: writers+readers, readers, bulk load")
    s.add_argument("--rounds", type=int, default=3,
                   help="alternating stock/walkit runs per workload; the ratio printed is their "
                        "median, with min..max (default: 3)")
    s.add_argument("--scale", type=float, default=1.0,
                   help="multiply the amount of work of every workload (default: 1.0; the "
                        "full-size figures use 1.0, a quick look 0.1)")
    s.add_argument("--no-callgrind", action="store_true")
    s.set_defaults(func=_shm)


def _shm(args) -> int:
    from .shm import run

    print(run(rounds=args.rounds, scale=args.scale, callgrind=not args.no_callgrind))
    return 0
