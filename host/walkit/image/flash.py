"""Create flash images and read or change the littlefs filesystem inside them."""

from __future__ import annotations

import os
import posixpath
import stat as statmod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import littlefs
from littlefs import LittleFSError

from .. import WalkitError
from ..boards import Flash, load_board
from ..snapshot.fsops import FileOps

DEFAULT_BOARD = "qemu-virt-a15"
ERASED = 0xFF


def flash_geometry(board: str) -> Flash:
    flash = load_board(board).flash
    if flash is None:
        raise WalkitError(f"board {board!r} has no flash")
    if flash.fs_offset + flash.fs_size > flash.size or flash.fs_size % flash.erase_block:
        raise WalkitError(f"board {board!r}: filesystem region does not fit the flash geometry")
    return flash


def _cache_size(f: Flash) -> int:
    """A cache that is a multiple of read and prog size and divides the block size; its value
    changes host speed only, never the on-disk format."""
    size = max(f.read_size, f.prog_size)
    while size * 2 <= min(f.erase_block, 4096) and f.erase_block % (size * 2) == 0:
        size *= 2
    return size


class _Region(littlefs.UserContext):
    """littlefs block device over ``buf[offset:offset + size]``; records whether it was written."""

    def __init__(self, buf: bytearray, offset: int, size: int) -> None:
        self.buffer = buf
        self.offset = offset
        self.in_size = size
        self.dirty = False

    def read(self, cfg, block: int, off: int, size: int) -> bytearray:
        start = self.offset + block * cfg.block_size + off
        return self.buffer[start:start + size]

    def prog(self, cfg, block: int, off: int, data: bytes) -> int:
        start = self.offset + block * cfg.block_size + off
        self.buffer[start:start + len(data)] = data
        self.dirty = True
        return 0

    def erase(self, cfg, block: int) -> int:
        start = self.offset + block * cfg.block_size
        self.buffer[start:start + cfg.block_size] = bytes([ERASED]) * cfg.block_size
        self.dirty = True
        return 0

    def sync(self, cfg) -> int:
        return 0


def _new_fs(region: _Region, f: Flash) -> littlefs.LittleFS:
    # mount=False: LittleFS() would otherwise format whatever fails to mount.
    return littlefs.LittleFS(
        context=region, mount=False, block_size=f.erase_block,
        block_count=f.fs_size // f.erase_block, read_size=f.read_size, prog_size=f.prog_size,
        cache_size=_cache_size(f), lookahead_size=8 * max(1, min(32, f.fs_size // f.erase_block // 64)),
    )


def _lfs_error(e: LittleFSError) -> str:
    return e.name.removeprefix("LFS_ERR_").lower()


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    is_dir: bool


def _norm(path: str) -> str:
    p = posixpath.normpath("/" + path.strip())
    if p == "/" or p.startswith("//"):
        p = "/" + p.lstrip("/")
    return p


class FlashImage:
    """The littlefs filesystem of one image file, held in memory while open.

    Obtain one with :func:`open_image`; changes reach the file only when a writable
    ``open_image`` block ends without an exception.
    """

    def __init__(self, path: Path, board: str, writable: bool) -> None:
        self.path = Path(path)
        self.board = board
        self.writable = writable
        self.flash = flash_geometry(board)
        f = self.flash
        try:
            st = os.stat(self.path)
            if not statmod.S_ISREG(st.st_mode):
                raise WalkitError(f"{self.path}: not a regular file")
            if st.st_size != f.size:
                raise WalkitError(
                    f"{self.path}: image is {st.st_size} bytes, board {board} needs exactly "
                    f"{f.size} bytes ({f.size >> 20} MiB)")
            with open(self.path, "rb") as fh:
                self._buf = bytearray(fh.read())
        except FileNotFoundError:
            raise WalkitError(f"{self.path}: no such image") from None
        except IsADirectoryError:
            raise WalkitError(f"{self.path}: not a regular file") from None
        except PermissionError:
            raise WalkitError(f"{self.path}: permission denied") from None
        if len(self._buf) != f.size:
            raise WalkitError(f"{self.path}: image changed size while being read")
        self._stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._mode = statmod.S_IMODE(st.st_mode)
        self._region = _Region(self._buf, f.fs_offset, f.fs_size)
        self._fs = _new_fs(self._region, f)
        try:
            self._fs.mount()
        except LittleFSError as e:
            lo, hi = f.fs_offset, f.fs_offset + f.fs_size
            if self._buf.count(ERASED, lo, hi) == f.fs_size:
                raise WalkitError(
                    f"{self.path}: blank image, no littlefs at 0x{lo:x}..0x{hi:x} "
                    f"(format it with `walkit image create --format` or let the firmware boot once)"
                ) from None
            raise WalkitError(
                f"{self.path}: littlefs at 0x{lo:x} does not mount (littlefs error: {_lfs_error(e)}): the "
                f"filesystem is damaged or was not made with board {board}'s geometry (block size "
                f"{f.erase_block}, {f.fs_size // f.erase_block} blocks)"
            ) from None

    def _fail(self, what: str, path: str, e: Exception) -> WalkitError:
        if isinstance(e, FileNotFoundError):
            return WalkitError(f"{self.path}: {path}: no such file in the image")
        if isinstance(e, IsADirectoryError):
            return WalkitError(f"{self.path}: {path}: is a directory")
        if isinstance(e, LittleFSError):
            if e.code == LittleFSError.Error.LFS_ERR_NOSPC:
                return WalkitError(f"{self.path}: no space left in the filesystem writing {path}")
            if e.code == LittleFSError.Error.LFS_ERR_NOENT:
                return WalkitError(f"{self.path}: {path}: no such file in the image")
            return WalkitError(f"{self.path}: littlefs error {what} {path}: {_lfs_error(e)}")
        return WalkitError(f"{self.path}: {what} {path}: {e}")

    def _stat(self, path: str):
        try:
            return self._fs.stat(path)
        except LittleFSError as e:
            if e.code == LittleFSError.Error.LFS_ERR_NOENT:
                return None
            raise self._fail("reading", path, e) from None

    def exists(self, path: str) -> bool:
        return self._stat(_norm(path)) is not None

    def is_dir(self, path: str) -> bool:
        st = self._stat(_norm(path))
        return st is not None and st.type == littlefs.LFSStat.TYPE_DIR

    def files(self, top: str = "/") -> list[FileEntry]:
        """Every file and directory under ``top`` (depth first, sorted by name)."""
        top = _norm(top)
        st = self._stat(top)
        if st is None:
            raise WalkitError(f"{self.path}: {top}: no such file in the image")
        if st.type != littlefs.LFSStat.TYPE_DIR:
            return [FileEntry(top, st.size, False)]
        out: list[FileEntry] = []

        def walk(d: str) -> None:
            try:
                entries = sorted(self._fs.scandir(d), key=lambda s: s.name)
            except (LittleFSError, OSError) as e:
                raise self._fail("listing", d, e) from None
            for s in entries:
                p = posixpath.join(d, s.name)
                is_dir = s.type == littlefs.LFSStat.TYPE_DIR
                out.append(FileEntry(p, 0 if is_dir else s.size, is_dir))
                if is_dir:
                    walk(p)

        walk(top)
        return out

    def read(self, path: str) -> bytes:
        path = _norm(path)
        try:
            with self._fs.open(path, "rb") as fh:
                return fh.read()
        except (LittleFSError, OSError) as e:
            raise self._fail("reading", path, e) from None

    def _need_writable(self) -> None:
        if not self.writable:
            raise WalkitError(f"{self.path}: opened read-only")

    def write(self, path: str, data: bytes) -> None:
        """Create or replace the file ``path``, creating missing parent directories."""
        self._need_writable()
        path = _norm(path)
        if path == "/":
            raise WalkitError(f"{self.path}: cannot write to /")
        if self.is_dir(path):
            raise WalkitError(f"{self.path}: {path}: is a directory")
        parent = posixpath.dirname(path)
        try:
            if parent != "/":
                st = self._stat(parent)
                if st is not None and st.type != littlefs.LFSStat.TYPE_DIR:
                    raise WalkitError(f"{self.path}: {parent}: not a directory")
                self._fs.makedirs(parent, exist_ok=True)
            with self._fs.open(path, "wb") as fh:
                fh.write(data)
        except (LittleFSError, OSError) as e:
            raise self._fail("writing", path, e) from None

    def remove(self, path: str) -> None:
        """Remove a file or an empty directory."""
        self._need_writable()
        path = _norm(path)
        if self._stat(path) is None:
            raise WalkitError(f"{self.path}: {path}: no such file in the image")
        try:
            self._fs.remove(path)
        except (LittleFSError, OSError) as e:
            if isinstance(e, LittleFSError) and e.code == LittleFSError.Error.LFS_ERR_NOTEMPTY:
                raise WalkitError(f"{self.path}: {path}: directory not empty") from None
            raise self._fail("removing", path, e) from None

    @property
    def modified(self) -> bool:
        return self._region.dirty

    def _unmount(self) -> None:
        try:
            self._fs.unmount()
        except LittleFSError as e:
            raise WalkitError(f"{self.path}: littlefs error on unmount: {_lfs_error(e)}") from None

    def _commit(self, ops: FileOps) -> None:
        """Write the changed image back atomically, unless the file changed since it was read."""
        self._unmount()
        if not self._region.dirty:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise WalkitError(f"{self.path}: image disappeared while open; not written") from None
        if (st.st_ino, st.st_size, st.st_mtime_ns) != self._stamp:
            raise WalkitError(f"{self.path}: image changed on disk while open; not written")
        _replace(ops, self.path, self._buf, self._mode)


def _replace(ops: FileOps, path: Path, data: bytes | bytearray, mode: int | None = None) -> None:
    try:
        ops.replace_file(path, data, mode)
    except OSError as e:
        raise WalkitError(f"{path}: cannot write: {e.strerror or e}") from None


@contextmanager
def open_image(path: str | os.PathLike, board: str = DEFAULT_BOARD, *, write: bool = False,
               ops: FileOps | None = None) -> Iterator[FlashImage]:
    """Open the filesystem of an existing image; with ``write=True`` the changes are written
    back when the block ends without an exception, and discarded otherwise."""
    img = FlashImage(Path(path), board, writable=write)
    yield img
    if write:
        img._commit(ops or FileOps())
    else:
        img._unmount()


def create_image(path: str | os.PathLike, board: str = DEFAULT_BOARD, *, format: bool = False,
                 force: bool = False, ops: FileOps | None = None) -> Path:
    """A blank (all 0xFF) image of exactly ``flash.size`` bytes; littlefs only if ``format``."""
    path = Path(path)
    f = flash_geometry(board)
    if os.path.lexists(path) and not force:
        raise WalkitError(f"{path}: already exists (use --force to replace it)")
    if path.is_dir():
        raise WalkitError(f"{path}: is a directory")
    buf = bytearray([ERASED]) * f.size
    if format:
        region = _Region(buf, f.fs_offset, f.fs_size)
        fs = _new_fs(region, f)
        try:
            fs.format()
            fs.mount()
            fs.unmount()
        except LittleFSError as e:
            raise WalkitError(f"cannot format littlefs for board {board}: {_lfs_error(e)}") from None
    if not path.parent.is_dir():
        raise WalkitError(f"{path.parent}: no such directory")
    _replace(ops or FileOps(), path, buf)
    return path


def copy_image(src: str | os.PathLike, dst: str | os.PathLike, board: str | None = None, *,
               force: bool = False, ops: FileOps | None = None) -> Path:
    """Copy an image file; with ``board`` its size is checked first."""
    src, dst = Path(src), Path(dst)
    try:
        data = src.read_bytes()
    except FileNotFoundError:
        raise WalkitError(f"{src}: no such image") from None
    except IsADirectoryError:
        raise WalkitError(f"{src}: not a regular file") from None
    if board is not None:
        f = flash_geometry(board)
        if len(data) != f.size:
            raise WalkitError(f"{src}: image is {len(data)} bytes, board {board} needs exactly {f.size} bytes")
    if os.path.lexists(dst) and not force:
        raise WalkitError(f"{dst}: already exists")
    if not dst.parent.is_dir():
        raise WalkitError(f"{dst.parent}: no such directory")
    _replace(ops or FileOps(), dst, data)
    return dst
