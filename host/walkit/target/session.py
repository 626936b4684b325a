"""``open_session``: a booted target as a :mod:`walkit.sql` Session (the factory the shared
scenario tests use for every board)."""

from __future__ import annotations

import os
from pathlib import Path

from ..console import ConsoleSession
from .target import Target


_session_images: dict[str, Path] = {}


class PoolSession(ConsoleSession):
    """Connections on the target's flash pool (the firmware's "pool" VFS): paths become URIs
    (``t.db`` -> ``file:/t.db?vfs=pool``), and ``exists`` reads the pool partition of the live
    flash image on the host (walkit.image.pool; every program has reached the image file when
    the console answers)."""

    def __init__(self, console, target: Target, on_close=None):
        super().__init__(console, on_close=on_close)
        self.target = target

    def connect(self, path: str):
        return super().connect(f"file:/{path.lstrip('/')}?vfs=pool")

    def exists(self, path: str) -> bool:
        from ..image.pool import pool_of_image

        pool = pool_of_image(self.target.flash, self.target.board.name)
        return ("/" + path.lstrip("/")).encode() in pool.contents


def open_session(board: str, workdir: str | os.PathLike, storage: str = "littlefs") -> ConsoleSession:
    """A booted target with a blank flash in ``workdir``, as a walkit.sql.Session on its
    littlefs or (``storage="pool"``) its flash pool; closing the session shuts the target down
    cleanly and reaps it (the factory the shared scenario tests use).  The firmware is built on
    the first call for a board in this process."""
    if storage not in ("littlefs", "pool"):
        raise ValueError(f"storage {storage!r}: littlefs or pool")
    if board not in _session_images:
        from ..build import build

        _session_images[board] = build(board)
    target = Target(board, image=_session_images[board], workdir=workdir)
    try:
        target.boot()
    except BaseException:
        target.close()
        raise

    def finish() -> None:
        try:
            target.shutdown()
        finally:
            target.close()

    session = (PoolSession(target.console, target, on_close=finish) if storage == "pool"
               else ConsoleSession(target.console, on_close=finish))
    session.target = target  # for tests that want the flash image or the log
    return session
