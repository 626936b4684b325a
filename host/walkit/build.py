"""``walkit build``: configure and build one board with CMake; returns the image path.

The build tree is ``build/<board>/``.  SQLite is compiled once per board and configuration and
cached there by CMake (it rebuilds only when sqlite3.c, the config header or the flags change).
Builds of one tree take turns: CMake and make are not safe against a second run in the same
tree (both rewrite the same generated files and objects), so each build holds an exclusive
``flock`` on ``build/<board>.lock`` from configure to the image check; parallel test runs then
wait for each other instead of failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path

from . import WalkitError
from .boards import load_board
from .bootstrap import require_tool, sqlite_source
from .paths import build_dir, repo_root


def image_path(board: str, target: str = "walkit-fw") -> Path:
    b = load_board(board)
    return build_dir(board) / (target + ("" if b.runner == "native" else ".elf"))


def _run(cmd: list[str], verbose: bool, what: str) -> None:
    r = subprocess.run(cmd, capture_output=not verbose, text=True)
    if r.returncode != 0:
        # CMake and the compilers report on stderr (make's progress is on stdout); the last
        # lines name the problem, including the object a failed link check blames.
        lines = [l for l in (r.stderr or r.stdout or "").splitlines() if l.strip()]
        raise WalkitError(f"{what} failed (exit {r.returncode}):\n" + "\n".join(lines[-20:]))


@contextlib.contextmanager
def build_lock(bdir: Path):
    """Holds the exclusive lock of build tree ``bdir`` (waits for another build to finish).

    The lock file sits beside the tree, not in it, so that removing the tree while a build
    waits cannot leave two holders of two different files.  The kernel drops the lock when the
    holder dies, so a killed build never blocks the next one.
    """
    bdir.parent.mkdir(parents=True, exist_ok=True)
    with open(bdir.parent / (bdir.name + ".lock"), "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"walkit: waiting for another build of {bdir}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(board: str, target: str = "walkit-fw", sqlite_src: str | None = None,
          verbose: bool = False, extra_defs: dict[str, str] | None = None) -> Path:
    b = load_board(board)
    require_tool("cmake", "cmake")
    require_tool(b.cc, b.apt[0] if b.apt else "gcc")
    src = sqlite_source(sqlite_src)
    print(f"walkit: board {board}; {src.describe()}", flush=True)
    bdir = build_dir(board)
    defs = {
        "WALKIT_BOARD": board,
        "WALKIT_PYTHON": sys.executable,
        "WALKIT_SQLITE_SRC": str(src.dir) if src.origin != "pinned" else "",
        **(extra_defs or {}),
    }
    cmd = ["cmake", "-S", str(repo_root()), "-B", str(bdir)]
    cmd += [f"-D{k}={v}" for k, v in defs.items()]
    jobs = str(os.cpu_count() or 2)
    image = image_path(board, target)
    with build_lock(bdir):
        _run(cmd, verbose, f"cmake configure for {board}")
        _run(["cmake", "--build", str(bdir), "--target", target, "-j", jobs], verbose,
             f"build of {target} for {board}")
        if not image.is_file():
            raise WalkitError(f"build of {target} for {board} produced no {image}")
    return image
