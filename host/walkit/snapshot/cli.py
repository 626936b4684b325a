"""``walkit snapshot ...``: take, list, restore and check database snapshots."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .. import WalkitError
from ..inputs import read_input, show
from .store import DamagedStore, Taken, open_store

DEFAULT_STORE = "walkit-snapshots"


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", "-s", default=os.environ.get("WALKIT_STORE", DEFAULT_STORE),
                   help=f"snapshot store directory (default: $WALKIT_STORE or ./{DEFAULT_STORE})")


def _print_recovery(store) -> None:
    for line in store.recovered:
        if line != "initialised the store":
            print(f"recovery: {line}")  # names in it are already shown escaped


def _report(t: Taken) -> None:
    m = t.meta
    for n in t.notes:
        print(f"note: {n}")
    if not t.stored:
        print(t.reason)
        return
    what = (f"full, {m['size']} bytes" if m["kind"] == "full"
            else f"incremental on {m['parent']}, {m['frames']} frames, {m['size']} bytes")
    print(f"snapshot {m['id']}: {what}; database {m['db_pages']} pages, sha256 {m['db_sha256'][:16]}")
    print(f"  ({t.reason})")


def cmd_take(args) -> int:
    from .device import pull_from_image

    pulled = pull_from_image(args.image, args.board, args.db, args.wal)
    with open_store(args.store) as store:
        _print_recovery(store)
        print(f"pulled {show(pulled.db_path)} ({len(pulled.db)} bytes) and "
              + (f"{show(pulled.wal_path)} ({len(pulled.wal)} bytes)" if pulled.wal is not None else "no WAL"))
        _report(store.take(pulled.db, pulled.wal, pulled.source, full=args.full))
    return 0


def cmd_add(args) -> int:
    db = read_input(args.db)
    wal_path = args.wal or args.db + "-wal"
    wal = read_input(wal_path) if args.wal or os.path.lexists(wal_path) else None
    with open_store(args.store) as store:
        _print_recovery(store)
        _report(store.take(db, wal, os.path.abspath(args.db), full=args.full))
    return 0


def cmd_list(args) -> int:
    with open_store(args.store, create=False) as store:
        if args.json:
            print(json.dumps(store.snapshots, indent=2))
            return 0
        _print_recovery(store)
        for m in store.snapshots:
            kind = "full" if m["kind"] == "full" else f"incr<{m['parent']}"
            print(f"{m['id']:>4}  {kind:<8} {m['size']:>10} B  db {m['db_pages']:>6} pages  "
                  f"{show(m['created'])}  {show(m['source'])}")
        if not store.snapshots:
            print("no snapshots")
    return 0


def cmd_restore(args) -> int:
    with open_store(args.store, create=False) as store:
        _print_recovery(store)
        m = store.restore(args.id, Path(args.out), force=args.force)
    print(f"restored snapshot {m['id']} to {show(args.out)} ({m['db_size']} bytes)")
    return 0


def cmd_check(args) -> int:
    """Exit 2 when damage is found: a snapshot that does not rebuild, or a store whose own
    files (manifest, layout) are damaged."""
    try:
        with open_store(args.store, create=False) as store:
            _print_recovery(store)
            problems = store.check()
            for p in problems:
                print(f"problem: {p}")
            print(f"{len(store.snapshots)} snapshots, " + ("all rebuild to their recorded hashes"
                                                            if not problems else f"{len(problems)} damaged"))
    except DamagedStore as e:
        print(f"problem: {e}")
        print("the store is damaged")
        return 2
    return 2 if problems else 0


def register(subparsers) -> None:
    from ..image.cli import _board

    top = subparsers.add_parser("snapshot", help="crash-safe store of full and incremental database snapshots")
    sub = top.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("take", help="snapshot the database (and WAL) in a flash image's littlefs")
    _store_arg(p)
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--db", help="database path in the image (default: the one SQLite database there)")
    p.add_argument("--wal", help="WAL path in the image (default: the database path + '-wal')")
    p.add_argument("--full", action="store_true", help="a full snapshot even if an incremental one would do")
    p.set_defaults(func=cmd_take)

    p = sub.add_parser("add", help="snapshot a database file (and WAL) on the host")
    _store_arg(p)
    p.add_argument("db", metavar="DB")
    p.add_argument("wal", metavar="WAL", nargs="?", help="default: DB-wal if it exists")
    p.add_argument("--full", action="store_true")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="the snapshots in a store")
    _store_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("restore", help="write the database as of snapshot ID ('latest') to OUT")
    _store_arg(p)
    p.add_argument("id", metavar="ID")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--force", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("check", help="rebuild every snapshot and compare with its recorded hashes")
    _store_arg(p)
    p.set_defaults(func=cmd_check)
