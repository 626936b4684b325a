"""The ``walkit`` command line.

Core commands live here; a subpackage of ``walkit`` that has a ``cli`` module with a
``register(subparsers)`` function adds its own command group (``walkit wal ...``,
``walkit snapshot ...``, ``walkit image ...``, ``walkit bench ...``) without touching this file.
Every command reports user errors as one line ``walkit: error: ...`` and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import subprocess
import sys

from . import WalkitError, __version__

DEFAULT_BOARD = "qemu-virt-a15"


def _board_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", "-b", default=os.environ.get("WALKIT_BOARD", DEFAULT_BOARD),
                   help=f"board under boards/ (default: $WALKIT_BOARD or {DEFAULT_BOARD})")


def cmd_boards(args) -> int:
    from .boards import board_names, load_board

    for name in board_names():
        b = load_board(name)
        mark = " (default)" if name == DEFAULT_BOARD else ""
        print(f"{name:<16} {b.runner:<7} {b.description}{mark}")
    return 0


def cmd_build(args) -> int:
    from .build import build

    image = build(args.board, target=args.target, sqlite_src=args.sqlite_src,
                  verbose=args.verbose)
    print(image)
    return 0


def cmd_linkcheck(args) -> int:
    from .linkcheck import main as linkcheck_main

    argv = list(args.files)
    if args.map:
        argv = ["--map", args.map, *argv]
    return linkcheck_main(argv)


def cmd_size(args) -> int:
    from .size import report_for_board

    print(report_for_board(args.board, target=args.target, elf=args.elf))
    return 0


def cmd_bootstrap(args) -> int:
    from .bootstrap import main as bootstrap_main

    return bootstrap_main(["--boards", args.boards] + (["--no-venv"] if args.no_venv else []))


def cmd_run(args) -> int:
    from .terminal import interactive

    return interactive(args.board, flash=args.flash, target=args.target)


def cmd_demo(args) -> int:
    from .demo import demo

    return demo(args.board)


def cmd_test(args) -> int:
    """pytest over tests/; exit 5 (no tests collected) is a failure, never a pass."""
    from .paths import repo_root

    cmd = [sys.executable, "-m", "pytest", str(repo_root() / "tests"), *args.pytest_args]
    rc = subprocess.call(cmd, cwd=repo_root())
    if rc == 5:
        print("walkit: error: pytest collected no tests", file=sys.stderr)
        return 1
    return rc


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="walkit", description="SQLite WAL mode on single-address-space targets")
    ap.add_argument("--version", action="version", version=f"walkit {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("boards", help="list the boards")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser("bootstrap", help="install packages, venv and pinned sources (idempotent)")
    p.add_argument("--boards", default="host-sim,qemu-virt-a15")
    p.add_argument("--no-venv", action="store_true")
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("build", help="build a board image; the last line printed is its path")
    _board_arg(p)
    p.add_argument("--target", default="walkit-fw", help="image to build: walkit-fw (firmware) or walkit-smoke")
    p.add_argument("--sqlite-src", default=None, help="your own sqlite3.c (or its folder); default: pinned")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("linkcheck", help="fail if an ELF, object or archive references mmap & co.")
    p.add_argument("files", nargs="+", metavar="ELF")
    p.add_argument("--map", help="the linker map (ld -Map ... --cref) to name the referencing object")
    p.set_defaults(func=cmd_linkcheck)

    p = sub.add_parser("size", help="text/data/bss per component of a board image, stack and heap")
    _board_arg(p)
    p.add_argument("--target", default="walkit-fw")
    p.add_argument("--elf", default=None, help="report on this image instead of building")
    p.set_defaults(func=cmd_size)

    p = sub.add_parser("run", help="boot a board and open its SQL console")
    _board_arg(p)
    p.add_argument("--flash", default=None, help="flash image to use (default: build/<board>/flash.img)")
    p.add_argument("--target", default="walkit-fw")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="WAL on flash, a power cut mid-write, reboot, verify")
    _board_arg(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("test", help="run the test suite (pytest); extra arguments go to pytest")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_test)

    import walkit

    for mod in sorted(pkgutil.iter_modules(walkit.__path__), key=lambda m: m.name):
        if mod.ispkg:
            try:
                cli = importlib.import_module(f"walkit.{mod.name}.cli")
            except ModuleNotFoundError as e:
                if e.name == f"walkit.{mod.name}.cli":
                    continue  # a subpackage without commands
                _unavailable(sub, mod.name, e)
                continue
            except ImportError as e:
                _unavailable(sub, mod.name, e)
                continue
            cli.register(sub)
    return ap


def _unavailable(sub, name: str, err: Exception) -> None:
    """A command group whose dependencies do not import (e.g. a package missing from the
    environment) still appears, and says why when used; every other command keeps working."""
    def fail(args) -> int:
        raise WalkitError(f"`walkit {name}` is unavailable: {err} (run `make bootstrap`)")

    p = sub.add_parser(name, help=f"(unavailable: {err})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=fail)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except WalkitError as e:
        print(f"walkit: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
