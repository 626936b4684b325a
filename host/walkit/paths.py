"""Where the kit lives on disk: the source tree, the git-ignored cache and the build trees."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The walkit source tree (the folder holding CMakeLists.txt and boards/).

    ``WALKIT_ROOT`` overrides; otherwise the tree this package was installed from (editable
    install from ``host/``).
    """
    env = os.environ.get("WALKIT_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent, Path.cwd()):
        if (candidate / "CMakeLists.txt").is_file() and (candidate / "boards").is_dir():
            return candidate
    raise RuntimeError("cannot find the walkit source tree; set WALKIT_ROOT")


def cache_dir() -> Path:
    """Fetched third-party sources and downloads (``WALKIT_CACHE`` overrides)."""
    env = os.environ.get("WALKIT_CACHE")
    return Path(env).resolve() if env else repo_root() / ".cache" / "walkit"


def build_dir(board: str) -> Path:
    """The CMake build tree of one board (``WALKIT_BUILD`` overrides the parent folder)."""
    env = os.environ.get("WALKIT_BUILD")
    base = Path(env).resolve() if env else repo_root() / "build"
    return base / board
