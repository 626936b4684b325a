"""``open_session``: a booted target as a :mod:`walkit.sql` Session (the factory the shared
scenario tests use for every board)."""

from __future__ import annotations

import os
from pathlib import Path

from ..console import ConsoleSession
from .target import Target


_session_images: dict[str, Path] = {}


def open_session(board: str, workdir: str | os.PathLike) -> ConsoleSession:
    """A booted target with a blank flash in ``workdir``, as a walkit.sql.Session; closing the
    session shuts the target down cleanly and reaps it (the factory the shared scenario tests
    use).  The firmware is built on the first call for a board in this process."""
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

    session = ConsoleSession(target.console, on_close=finish)
    session.target = target  # for tests that want the flash image or the log
    return session
