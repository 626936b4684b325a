"""The one layer through which walkit changes durable files.

Every primitive that changes what is on disk (create, write, fsync, mkdir, rename, unlink,
rmdir, directory fsync) is one *step* of :class:`FileOps`.  :class:`FaultyOps` counts the steps
and dies at step *k*: the operation at that step does not happen (a write happens halfway, as
a torn write), and every later step raises as well, so no clean-up code can run after the
"crash".  Tests kill a persist at every *k* this way and then recover with a fresh layer.

Reading is not a step: it changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..inputs import writable_output


class Crash(Exception):
    """Raised by :class:`FaultyOps` at the injected step and at every step after it."""


class FileOps:
    """Durable file operations on the real file system."""

    def __init__(self) -> None:
        self.steps = 0
        self.log: list[tuple[str, str, str]] = []  # (operation, path, rename target or "")

    def _gate(self, op: str, path: Path, torn: Callable[[], object] | None = None,
              dst: Path | None = None) -> None:
        """Called before every primitive; ``torn`` performs the partial effect of a write."""
        self.steps += 1
        self.log.append((op, str(path), str(dst) if dst is not None else ""))

    # -- primitives -------------------------------------------------------------------------

    def mkdir(self, path: Path) -> None:
        self._gate("mkdir", path)
        os.mkdir(path)

    def write_file(self, path: Path, data: bytes) -> None:
        """Create ``path`` (which must not exist), write ``data`` and fsync it (three steps)."""
        self._gate("create", path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            self._gate("write", path, torn=lambda: os.write(fd, view[: len(view) // 2]))
            while view:
                n = os.write(fd, view)
                view = view[n:]
            self._gate("fsync", path)
            os.fsync(fd)
        finally:
            os.close(fd)

    def fsync_dir(self, path: Path) -> None:
        self._gate("fsync-dir", path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, src: Path, dst: Path) -> None:
        """Atomic rename (replaces a file ``dst``; a directory ``dst`` must not exist)."""
        self._gate("rename", src, dst=dst)
        os.rename(src, dst)

    def unlink(self, path: Path) -> None:
        self._gate("unlink", path)
        os.unlink(path)

    def rmdir(self, path: Path) -> None:
        self._gate("rmdir", path)
        os.rmdir(path)

    # -- compositions -----------------------------------------------------------------------

    def rmtree(self, path: Path) -> None:
        """Remove a directory tree bottom-up, one step per entry (never follows symlinks)."""
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            p = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                self.rmtree(p)
            else:
                self.unlink(p)
        self.rmdir(path)

    def replace_file(self, path: Path, data: bytes, mode: int | None = None) -> None:
        """Atomically make ``path`` hold ``data``: a sibling temporary file, fsync, rename,
        fsync of the directory.  A crash leaves either the old or the new content at ``path``
        (plus possibly a stale ``.NAME.tmp`` that the next replace removes).  Only a regular
        file or a new path is replaced (a symbolic link: the regular file it points to); a
        directory, FIFO, device or socket is a WalkitError and nothing is written."""
        path = writable_output(path)
        tmp = path.with_name(f".{path.name}.tmp")
        if os.path.lexists(tmp):
            self.unlink(tmp)
        self.write_file(tmp, data)
        if mode is not None:
            os.chmod(tmp, mode)
        self.rename(tmp, path)
        self.fsync_dir(path.parent)


class FaultyOps(FileOps):
    """:class:`FileOps` that crashes at step ``crash_at`` (1-based) and stays dead after it."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.crash_at = crash_at
        self.dead = False

    def _gate(self, op: str, path: Path, torn: Callable[[], object] | None = None,
              dst: Path | None = None) -> None:
        if self.dead:
            raise Crash(f"already crashed; refused {op} {path}")
        super()._gate(op, path, torn, dst)
        if self.steps == self.crash_at:
            self.dead = True
            if torn is not None:
                torn()
            raise Crash(f"injected crash at step {self.steps}: {op} {path}")
