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
from ..inputs import name_bytes, os_problem, read_regular, show
from ..snapshot.fsops import FileOps

DEFAULT_BOARD = "qemu-virt-a15"
ERASED = 0xFF
# littlefs stores names as opaque bytes.  littlefs-python converts them to and from str with
# this codec; latin-1 maps each byte to one character and back, so every name the firmware can
# write reaches walkit as its exact bytes (see _lfs / _raw).
_LFS_CODEC = "latin-1"


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
        context=region, mount=False, filename_encoding=_LFS_CODEC, block_size=f.erase_block,
        block_count=f.fs_size // f.erase_block, read_size=f.read_size, prog_size=f.prog_size,
        cache_size=_cache_size(f), lookahead_size=8 * max(1, min(32, f.fs_size // f.erase_block // 64)),
    )


def _lfs_error(e: LittleFSError) -> str:
    return e.name.removeprefix("LFS_ERR_").lower()


@dataclass(frozen=True)
class FileEntry:
    raw: bytes  # the absolute path in the image, exactly as littlefs stores it
    size: int
    is_dir: bool

    @property
    def path(self) -> str:
        """``raw`` as str (UTF-8, undecodable bytes as surrogateescape): accepted back by every
        :class:`FlashImage` method; :func:`walkit.inputs.show` prints it."""
        return self.raw.decode("utf-8", "surrogateescape")


def _norm(path: str | bytes) -> bytes:
    """The absolute, normalised name of ``path`` in the image, as bytes."""
    raw = name_bytes(path)
    if b"\0" in raw:
        raise WalkitError(f"{show(path)}: a file name cannot hold a NUL byte")
    p = posixpath.normpath(b"/" + raw)
    if p == b"/" or p.startswith(b"//"):
        p = b"/" + p.lstrip(b"/")
    return p


def _lfs(raw: bytes) -> str:
    """A name as littlefs-python takes it (see _LFS_CODEC)."""
    return raw.decode(_LFS_CODEC)


def _raw(name: str) -> bytes:
    """A name as littlefs-python returns it, back to its bytes."""
    return name.encode(_LFS_CODEC)


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

        def check_size(size: int) -> None:
            if size != f.size:
                raise WalkitError(
                    f"{show(self.path)}: image is {size} bytes, board {board} needs exactly "
                    f"{f.size} bytes ({f.size >> 20} MiB)")

        got = read_regular(self.path, check_size, missing="no such image")
        self._buf = bytearray(got.data)
        if len(self._buf) != f.size:
            raise WalkitError(f"{show(self.path)}: image changed size while being read")
        st = got.stat
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
                    f"{show(self.path)}: blank image, no littlefs at 0x{lo:x}..0x{hi:x} "
                    f"(format it with `walkit image create --format` or let the firmware boot once)"
                ) from None
            raise WalkitError(
                f"{show(self.path)}: littlefs at 0x{lo:x} does not mount (littlefs error: {_lfs_error(e)}): the "
                f"filesystem is damaged or was not made with board {board}'s geometry (block size "
                f"{f.erase_block}, {f.fs_size // f.erase_block} blocks)"
            ) from None

    def _fail(self, what: str, path: bytes, e: Exception) -> WalkitError:
        img, name = show(self.path), show(path)
        if isinstance(e, FileNotFoundError):
            return WalkitError(f"{img}: {name}: no such file in the image")
        if isinstance(e, IsADirectoryError):
            return WalkitError(f"{img}: {name}: is a directory")
        if isinstance(e, LittleFSError):
            if e.code == LittleFSError.Error.LFS_ERR_NOSPC:
                return WalkitError(f"{img}: no space left in the filesystem writing {name}")
            if e.code == LittleFSError.Error.LFS_ERR_NOENT:
                return WalkitError(f"{img}: {name}: no such file in the image")
            if e.code == LittleFSError.Error.LFS_ERR_NAMETOOLONG:
                return WalkitError(f"{img}: {name}: name too long for the filesystem")
            return WalkitError(f"{img}: littlefs error {what} {name}: {_lfs_error(e)}")
        return WalkitError(f"{img}: {what} {name}: {show(str(e))}")

    def _stat(self, path: bytes):
        try:
            return self._fs.stat(_lfs(path))
        except LittleFSError as e:
            if e.code == LittleFSError.Error.LFS_ERR_NOENT:
                return None
            raise self._fail("reading", path, e) from None

    def exists(self, path: str | bytes) -> bool:
        return self._stat(_norm(path)) is not None

    def is_dir(self, path: str | bytes) -> bool:
        st = self._stat(_norm(path))
        return st is not None and st.type == littlefs.LFSStat.TYPE_DIR

    def files(self, top: str | bytes = "/") -> list[FileEntry]:
        """Every file and directory under ``top`` (depth first, sorted by name bytes)."""
        top = _norm(top)
        st = self._stat(top)
        if st is None:
            raise WalkitError(f"{show(self.path)}: {show(top)}: no such file in the image")
        if st.type != littlefs.LFSStat.TYPE_DIR:
            return [FileEntry(top, st.size, False)]
        out: list[FileEntry] = []

        def walk(d: bytes) -> None:
            try:
                entries = sorted(((_raw(s.name), s) for s in self._fs.scandir(_lfs(d))),
                                 key=lambda e: e[0])
            except (LittleFSError, OSError) as e:
                raise self._fail("listing", d, e) from None
            for name, s in entries:
                p = posixpath.join(d, name)
                is_dir = s.type == littlefs.LFSStat.TYPE_DIR
                out.append(FileEntry(p, 0 if is_dir else s.size, is_dir))
                if is_dir:
                    walk(p)

        walk(top)
        return out

    def read(self, path: str | bytes) -> bytes:
        path = _norm(path)
        try:
            with self._fs.open(_lfs(path), "rb") as fh:
                return fh.read()
        except (LittleFSError, OSError) as e:
            raise self._fail("reading", path, e) from None

    def _need_writable(self) -> None:
        if not self.writable:
            raise WalkitError(f"{show(self.path)}: opened read-only")

    def write(self, path: str | bytes, data: bytes) -> None:
        """Create or replace the file ``path``, creating missing parent directories."""
        self._need_writable()
        path = _norm(path)
        img = show(self.path)
        if path == b"/":
            raise WalkitError(f"{img}: cannot write to /")
        if self.is_dir(path):
            raise WalkitError(f"{img}: {show(path)}: is a directory")
        parent = posixpath.dirname(path)
        try:
            if parent != b"/":
                st = self._stat(parent)
                if st is not None and st.type != littlefs.LFSStat.TYPE_DIR:
                    raise WalkitError(f"{img}: {show(parent)}: not a directory")
                self._fs.makedirs(_lfs(parent), exist_ok=True)
            with self._fs.open(_lfs(path), "wb") as fh:
                fh.write(data)
        except (LittleFSError, OSError) as e:
            raise self._fail("writing", path, e) from None

    def remove(self, path: str | bytes) -> None:
        """Remove a file or an empty directory."""
        self._need_writable()
        path = _norm(path)
        if self._stat(path) is None:
            raise WalkitError(f"{show(self.path)}: {show(path)}: no such file in the image")
        try:
            self._fs.remove(_lfs(path))
        except (LittleFSError, OSError) as e:
            if isinstance(e, LittleFSError) and e.code == LittleFSError.Error.LFS_ERR_NOTEMPTY:
                raise WalkitError(f"{show(self.path)}: {show(path)}: directory not empty") from None
            raise self._fail("removing", path, e) from None

    @property
    def modified(self) -> bool:
        return self._region.dirty

    def _unmount(self) -> None:
        try:
            self._fs.unmount()
        except LittleFSError as e:
            raise WalkitError(f"{show(self.path)}: littlefs error on unmount: {_lfs_error(e)}") from None

    def _commit(self, ops: FileOps) -> None:
        """Write the changed image back atomically, unless the file changed since it was read."""
        self._unmount()
        if not self._region.dirty:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise WalkitError(f"{show(self.path)}: image disappeared while open; not written") from None
        if (st.st_ino, st.st_size, st.st_mtime_ns) != self._stamp:
            raise WalkitError(f"{show(self.path)}: image changed on disk while open; not written")
        _replace(ops, self.path, self._buf, self._mode)


def _replace(ops: FileOps, path: Path, data: bytes | bytearray, mode: int | None = None) -> None:
    try:
        ops.replace_file(path, data, mode)
    except OSError as e:
        raise WalkitError(f"{show(path)}: cannot write: {os_problem(e)}") from None


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
        raise WalkitError(f"{show(path)}: already exists (use --force to replace it)")
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
        raise WalkitError(f"{show(path.parent)}: no such directory")
    _replace(ops or FileOps(), path, buf)
    return path


def copy_image(src: str | os.PathLike, dst: str | os.PathLike, board: str | None = None, *,
               force: bool = False, ops: FileOps | None = None) -> Path:
    """Copy an image file; with ``board`` its size is checked first."""
    src, dst = Path(src), Path(dst)
    check_size = None
    if board is not None:
        f = flash_geometry(board)

        def check_size(size: int) -> None:
            if size != f.size:
                raise WalkitError(f"{show(src)}: image is {size} bytes, board {board} needs exactly "
                                  f"{f.size} bytes")

    data = read_regular(src, check_size, missing="no such image").data
    if os.path.lexists(dst) and not force:
        raise WalkitError(f"{show(dst)}: already exists")
    if not dst.parent.is_dir():
        raise WalkitError(f"{show(dst.parent)}: no such directory")
    _replace(ops or FileOps(), dst, data)
    return dst
