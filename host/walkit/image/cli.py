"""``walkit image ...``: create flash images and move files in and out of their littlefs."""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
from pathlib import Path

from .. import WalkitError
from ..inputs import os_problem, read_input, show
from ..snapshot.fsops import FileOps
from .flash import DEFAULT_BOARD, create_image, open_image


def _board(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", "-b", default=os.environ.get("WALKIT_BOARD", DEFAULT_BOARD),
                   help=f"board whose flash geometry to use (default: $WALKIT_BOARD or {DEFAULT_BOARD})")


def cmd_create(args) -> int:
    path = create_image(args.image, args.board, format=args.format, force=args.force)
    print(f"{show(path)}: blank image for {args.board}" + (", littlefs formatted" if args.format else ""))
    return 0


def cmd_ls(args) -> int:
    with open_image(args.image, args.board) as img:
        for e in img.files(args.path):
            print(f"{'dir' if e.is_dir else 'file':<4}  {e.size:>10}  {show(e.raw)}{'/' if e.is_dir else ''}")
    return 0


def cmd_get(args) -> int:
    with open_image(args.image, args.board) as img:
        data = img.read(args.path)
    if args.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.out or posixpath.basename(args.path.rstrip("/")) or "out")
    if out.is_dir():
        out = out / posixpath.basename(args.path.rstrip("/"))
    try:
        FileOps().replace_file(out, data)  # refuses anything but a regular file or a new path
    except OSError as e:
        raise WalkitError(f"{show(out)}: cannot write: {os_problem(e)}") from None
    print(f"{show(args.path)} -> {show(out)} ({len(data)} bytes)")
    return 0


def cmd_put(args) -> int:
    local = Path(args.local)
    data = read_input(local)
    dest = args.path or "/" + local.name
    with open_image(args.image, args.board, write=True) as img:
        if dest.endswith("/") or img.is_dir(dest):
            dest = posixpath.join(dest, local.name)
        img.write(dest, data)
    print(f"{show(local)} -> {show(args.image)}:{show(dest)} ({len(data)} bytes)")
    return 0


def cmd_rm(args) -> int:
    with open_image(args.image, args.board, write=True) as img:
        img.remove(args.path)
    return 0


def register(subparsers) -> None:
    top = subparsers.add_parser("image", help="flash images: create, list, get and put files in their littlefs")
    sub = top.add_subparsers(dest="image_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("create", help="a blank (erased, 0xFF) flash image of the board's size")
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--format", action="store_true", help="also format littlefs in the filesystem region")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("ls", help="list the files in an image's littlefs")
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH", nargs="?", default="/")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("get", help="copy a file out of an image (OUT '-' is stdout)")
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH")
    p.add_argument("out", metavar="OUT", nargs="?", default=None,
                   help="local file or directory (default: PATH's name in the current directory)")
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("put", help="copy a local file into an image (parent directories are created)")
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("local", metavar="LOCAL")
    p.add_argument("path", metavar="PATH", nargs="?", default=None,
                   help="destination in the image (default: /LOCAL's name; a directory keeps the name)")
    p.set_defaults(func=cmd_put)

    p = sub.add_parser("rm", help="remove a file or an empty directory from an image")
    _board(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_rm)
