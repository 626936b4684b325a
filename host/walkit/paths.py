"""Where the kit lives on disk: the source tree, the git-ignored cache and the build trees."""

from __future__ import annotations

import os
from pathlib import Path


SOURCE_ROOT_FILE = "_source_root.txt"  # written into the wheel by setup.py's build_py


def _is_tree(p: Path) -> bool:
    return (p / "CMakeLists.txt").is_file() and (p / "boards").is_dir()


def repo_root() -> Path:
    """The walkit source tree (the folder holding CMakeLists.txt and boards/): the board images
    are built from it.

    In this order: ``WALKIT_ROOT``; the tree this package sits in (an editable install, or
    ``PYTHONPATH=host``); the tree a regular install was built from (recorded in the package
    as ``_source_root.txt``); the current directory or one of its parents.
    """
    from . import WalkitError

    env = os.environ.get("WALKIT_ROOT")
    if env:
        p = Path(env).resolve()
        if not _is_tree(p):
            raise WalkitError(f"WALKIT_ROOT={env} is not a walkit source tree (no CMakeLists.txt "
                              "and boards/ there)")
        return p
    here = Path(__file__).resolve().parent
    candidates = [here.parent.parent]
    recorded = here / SOURCE_ROOT_FILE
    if recorded.is_file():
        candidates.append(Path(recorded.read_text().strip()))
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    for candidate in candidates:
        if _is_tree(candidate):
            return candidate
    raise WalkitError("cannot find the walkit source tree (the folder with CMakeLists.txt and "
                      "boards/) to build board images from: set "
                      "WALKIT_ROOT=/path/to/walkit, or run from inside the tree")


def cache_dir() -> Path:
    """Fetched third-party sources and downloads (``WALKIT_CACHE`` overrides)."""
    env = os.environ.get("WALKIT_CACHE")
    return Path(env).resolve() if env else repo_root() / ".cache" / "walkit"


def build_dir(board: str) -> Path:
    """The CMake build tree of one board (``WALKIT_BUILD`` overrides the parent folder)."""
    env = os.environ.get("WALKIT_BUILD")
    base = Path(env).resolve() if env else repo_root() / "build"
    return base / board
