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


def _shm(args) -> int:
    from .shm import run

    print(run(rounds=args.rounds, scale=args.scale, callgrind=not args.no_callgrind))
    return 0
