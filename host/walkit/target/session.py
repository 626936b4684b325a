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


class _OnCores:
    """A mixin for a session on a multi-core board: connection n (0, 1, ...) runs its SQL on
    worker core 1 + n % (cores - 1) (the console's ``.core NAME K``, firmware/tasks.h), so
    connections opened one after the other are driven by different cores: different tasks to
    the VFS, with the WAL-index shared between the cores.  ``one_core`` puts every connection
    on core 1 instead (one task driving them all, on a worker core)."""

    def __init__(self, *args, cores: int, one_core: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.cores = cores
        self.one_core = one_core
        self._opened = 0

    def connect(self, path: str):
        conn = super().connect(path)
        core = 1 if self.one_core else 1 + self._opened % (self.cores - 1)
        self._opened += 1
        self.console.request(".core", conn.name, str(core))
        conn.core = core
        return conn


class CoresSession(_OnCores, ConsoleSession):
    """Connections on a multi-core board's littlefs, spread over its worker cores."""


class CoresPoolSession(_OnCores, PoolSession):
    """Connections on a multi-core board's flash pool, spread over its worker cores."""


def cores_of(board: str) -> int:
    """The cores a board's target runs with: QEMU's ``-smp N`` in board.toml, else 1."""
    from ..boards import load_board

    args = load_board(board).qemu_args
    return int(args[args.index("-smp") + 1]) if "-smp" in args else 1


def open_session(board: str, workdir: str | os.PathLike, storage: str = "littlefs",
                 one_core: bool = False) -> ConsoleSession:
    """A booted target with a blank flash in ``workdir``, as a walkit.sql.Session on its
    littlefs or (``storage="pool"``) its flash pool; closing the session shuts the target down
    cleanly and reaps it (the factory the shared scenario tests use).  On a multi-core board
    the connections are spread over the worker cores (``_OnCores``; ``one_core``: all on one).
    The firmware is built on the first call for a board in this process."""
    if storage not in ("littlefs", "pool"):
        raise ValueError(f"storage {storage!r}: littlefs or pool")
    cores = cores_of(board)
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

    if cores > 1:
        session = (CoresPoolSession(target.console, target, on_close=finish, cores=cores,
                                    one_core=one_core) if storage == "pool"
                   else CoresSession(target.console, on_close=finish, cores=cores,
                                     one_core=one_core))
    else:
        session = (PoolSession(target.console, target, on_close=finish) if storage == "pool"
                   else ConsoleSession(target.console, on_close=finish))
    session.target = target  # for tests that want the flash image or the log
    return session
